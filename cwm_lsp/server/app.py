"""The language server core: state shared by the features, and how they are wired together.

Each feature (inlay hints, hover, code actions, commands, diagnostics, documents,
configuration) lives in its own module under :mod:`cwm_lsp.server.features` and registers its
handlers on a :class:`CwmServer`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from cwm_lsp import __version__
from cwm_lsp.server.cache import ResultCache
from cwm_lsp.server.jobs import PredictionJobs
from cwm_lsp.server.runs import RunStore
from cwm_lsp.server.settings import Settings
from cwm_lsp.server.workspace import CwmWorkspace

logger = logging.getLogger(__name__)

REFRESH_INTERVAL = 0.25  # at most 4 inlay-hint refresh requests a second
SYNC_KIND = types.TextDocumentSyncKind.Incremental


class CwmProtocol(LanguageServerProtocol):
    """pygls' protocol, also telling running predictions when the client cancels a request, and
    keeping documents in a :class:`CwmWorkspace` (lines split the LSP way).

    pygls answers a cancelled ``workspace/executeCommand`` itself but cannot stop the work
    behind it; the prediction's cancel token does.
    """

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        result = yield from super().lsp_initialize(params)
        # pygls builds its own Workspace here; no document is open before initialize returns.
        self._workspace = CwmWorkspace(self.workspace, SYNC_KIND)
        return result

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        super()._handle_cancel_notification(msg_id)
        server = self._server
        if isinstance(server, CwmServer):
            server.jobs.cancel_request(msg_id)


class Notifier:
    """User-facing problems: each distinct message shown once, details always logged."""

    def __init__(self, server: CwmServer) -> None:
        self._server = server
        self._shown: set[str] = set()

    def problem(self, message: str, *, details: str | None = None, error: bool = False) -> None:
        kind = types.MessageType.Error if error else types.MessageType.Warning
        self.log(message + (f"\n{details}" if details else ""), kind)
        if message in self._shown:
            return
        self._shown.add(message)
        self._server.window_show_message(
            types.ShowMessageParams(type=kind, message=f"Prophecy: {message}")
        )

    def info(self, message: str) -> None:
        self.log(message, types.MessageType.Info)
        self._server.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=f"Prophecy: {message}")
        )

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        logger.info("%s", message)
        self._server.window_log_message(types.LogMessageParams(type=kind, message=message))

    def forget(self) -> None:
        """Show problems again (after the settings changed, old problems may come back new)."""
        self._shown.clear()


class Refresher:
    """Asks the client to re-request inlay hints, coalescing bursts (rate limited)."""

    def __init__(self, server: CwmServer) -> None:
        self._server = server
        self._last = 0.0
        self._scheduled: asyncio.TimerHandle | None = None
        self.sent = 0

    def request(self) -> None:
        if not self._server.supports_inlay_hint_refresh():
            return
        if self._scheduled is not None:
            return
        wait = self._last + REFRESH_INTERVAL - time.monotonic()
        if wait <= 0:
            self._send()
            return
        loop = asyncio.get_running_loop()
        self._scheduled = loop.call_later(wait, self._send)

    def _send(self) -> None:
        self._scheduled = None
        self._last = time.monotonic()
        self.sent += 1
        future = self._server.workspace_inlay_hint_refresh(None)
        future.add_done_callback(_ignore_failure)


def _ignore_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.info("inlay hint refresh failed: %s", future.exception())


class CwmServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "cwm-lsp",
            __version__,
            protocol_cls=CwmProtocol,
            text_document_sync_kind=SYNC_KIND,
        )
        self.settings = Settings()
        self.cache = ResultCache()
        self.runs = RunStore()
        self.jobs = PredictionJobs(self)
        self.notifier = Notifier(self)
        self.refresher = Refresher(self)
        self.publish_diagnostics: Any = None  # set by the diagnostics feature
        self._settings_ready: asyncio.Event | None = None

    # ------------------------------------------------------------------ settings

    def _ready_event(self) -> asyncio.Event:
        if self._settings_ready is None:
            self._settings_ready = asyncio.Event()
        return self._settings_ready

    def settings_loaded(self) -> None:
        """The first settings arrived (or could not be had): predictions may start, and the
        configured model loads in the background meanwhile."""
        event = self._ready_event()
        if event.is_set():
            return
        event.set()
        self.jobs.preload()

    async def wait_for_settings(self, timeout: float = 10.0) -> None:
        """Wait for the client's first answer to ``workspace/configuration``."""
        try:
            await asyncio.wait_for(self._ready_event().wait(), timeout)
        except asyncio.TimeoutError:
            self.settings_loaded()

    # ------------------------------------------------------------------ client capabilities

    def _capabilities(self) -> types.ClientCapabilities | None:
        try:
            return self.client_capabilities
        except AttributeError:
            return None

    def supports_work_done_progress(self) -> bool:
        capabilities = self._capabilities()
        window = capabilities.window if capabilities else None
        return bool(window and window.work_done_progress)

    def supports_inlay_hint_refresh(self) -> bool:
        capabilities = self._capabilities()
        workspace = capabilities.workspace if capabilities else None
        inlay = workspace.inlay_hint if workspace else None
        return bool(inlay and inlay.refresh_support)

    # ------------------------------------------------------------------ results

    def results_changed(self, uri: str, *, diagnostics: bool = True) -> None:
        """Runs of ``uri`` changed: update diagnostics and ask for fresh hints."""
        if diagnostics and self.publish_diagnostics is not None:
            self.publish_diagnostics(uri)
        self.refresher.request()

    def document_source(self, uri: str) -> str | None:
        try:
            return self.workspace.get_text_document(uri).source
        except Exception:  # pygls raises different errors for unknown and unreadable files
            return None

    def document_location(self, uri: str) -> tuple[str | None, str | None]:
        """The file path of ``uri`` (``None`` unless a ``file:`` URI) and the workspace folder
        holding it (``None`` when no folder does)."""
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            return None, None
        path = Path(url2pathname(unquote(parsed.path)))
        folders = [urlparse(folder.uri) for folder in self.workspace.folders.values()]
        roots = [Path(url2pathname(unquote(folder.path))) for folder in folders]
        if self.workspace.root_path:
            roots.append(Path(self.workspace.root_path))
        holding = [root for root in roots if root == path or root in path.parents]
        root = max(holding, key=lambda root: len(root.parts), default=None)
        return str(path), None if root is None else str(root)


def create_server() -> CwmServer:
    from cwm_lsp.server.features import register_all

    server = CwmServer()
    register_all(server)
    return server
