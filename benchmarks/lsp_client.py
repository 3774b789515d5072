"""A pygls client for the language-server benchmarks: it answers what the server asks (settings,
progress tokens, hint refreshes) and takes its notifications without printing them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient


def quiet_client(
    name: str,
    settings: dict[str, Any],
    on_progress: Callable[[types.ProgressParams], None] | None = None,
) -> LanguageClient:
    client = LanguageClient(name, "1")

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [settings for _ in params.items]

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def create_progress(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def refresh(params: None) -> None:
        return None

    @client.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        if on_progress is not None:
            on_progress(params)

    for notification in (
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        types.WINDOW_SHOW_MESSAGE,
        types.WINDOW_LOG_MESSAGE,
        "cwm/status",
    ):
        client.feature(notification)(_ignore)
    return client


def _ignore(params: Any) -> None:
    return None
