"""Helpers for the language-server end-to-end tests (tests/e2e/test_server_*.py).

Every test talks to the real ``cwm-lsp serve`` process over stdio through pytest-lsp, with the
capabilities of a real client (VS Code or Neovim).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "cwm_lsp", "serve"])
CLIENTS = ("visual-studio-code", "neovim")
RUN = {"backend": "run", "allowExecution": True}


def with_refresh_counter(client: LanguageClient) -> None:
    """Answer ``workspace/inlayHint/refresh`` and count the requests."""
    client.refresh_count = 0  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def refresh(params: None) -> None:
        client.refresh_count += 1  # type: ignore[attr-defined]


def with_registrations(client: LanguageClient) -> None:
    """Accept ``client/registerCapability`` (as VS Code does) and keep the registrations."""
    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]


def with_code_action_fix(client: LanguageClient) -> None:
    """lsprotocol reads every code action that has a ``command`` as a bare ``Command``; a code
    action's ``command`` is an object, a bare command's a string (as real clients tell them)."""
    converter = client.protocol._converter

    def structure(value: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


async def start(
    client: LanguageClient,
    client_name: str,
    settings: dict[str, Any] | None,
    root: Path,
    *,
    initialization_options: Any = None,
) -> None:
    with_refresh_counter(client)
    with_registrations(client)
    with_code_action_fix(client)
    client.set_configuration({"cwm": settings} if settings is not None else {})
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(client_name),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="project")],
            initialization_options=initialization_options,
        )
    )


def open_file(client: LanguageClient, path: Path, text: str) -> str:
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    return uri


_versions: dict[str, int] = {}


def edit(
    client: LanguageClient,
    uri: str,
    line: int,
    character: int,
    text: str,
    *,
    end: tuple[int, int] | None = None,
) -> None:
    """Replace the range (line, character)-``end`` (default: an insertion) with ``text``."""
    version = _versions.get(uri, 1) + 1
    _versions[uri] = version
    end_line, end_character = end if end is not None else (line, character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=line, character=character),
                        end=types.Position(line=end_line, character=end_character),
                    ),
                    text=text,
                )
            ],
        )
    )


async def hints(client: LanguageClient, uri: str, last_line: int = 200) -> list[types.InlayHint]:
    result = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=last_line, character=0),
            ),
        )
    )
    return list(result or [])


def labels(found: list[types.InlayHint]) -> dict[int, str]:
    """Hint labels by 0-based line."""
    return {hint.position.line: str(hint.label) for hint in found}


async def hover(client: LanguageClient, uri: str, line: int) -> str | None:
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=4),
        )
    )
    if result is None:
        return None
    contents = result.contents
    assert isinstance(contents, types.MarkupContent)
    return contents.value


async def code_actions(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=line, character=0),
                end=types.Position(line=line, character=0),
            ),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [action for action in result or [] if isinstance(action, types.CodeAction)]


def titled(actions: list[types.CodeAction], prefix: str) -> types.CodeAction:
    matching = [action for action in actions if action.title.startswith(prefix)]
    assert matching, f"no action starting {prefix!r} in {[a.title for a in actions]}"
    return matching[0]


async def execute(client: LanguageClient, command: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


def execute_cancellable(
    client: LanguageClient, request_id: str, command: str, *arguments: Any
) -> asyncio.Future[Any]:
    """Send a command with a known request id, for :func:`cancel_request`."""
    params = types.ExecuteCommandParams(command=command, arguments=list(arguments))
    return asyncio.ensure_future(
        client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=request_id
        )
    )


def cancel_request(client: LanguageClient, request_id: str) -> None:
    """``$/cancelRequest`` (pygls' client does not send it when a request task is cancelled)."""
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))


async def run_action(client: LanguageClient, action: types.CodeAction) -> Any:
    assert action.command is not None
    return await execute(client, action.command.command, *(action.command.arguments or []))


async def wait_for(
    condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_for_hints(
    client: LanguageClient,
    uri: str,
    condition: Callable[[dict[int, str]], bool],
    timeout: float = 10.0,
) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        found = labels(await hints(client, uri))
        if condition(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"hints never matched; last: {found}")
        await asyncio.sleep(0.1)


def shown_messages(client: LanguageClient) -> list[str]:
    return [message.message for message in client.messages]


def progress_ends(client: LanguageClient) -> list[types.WorkDoneProgressEnd]:
    return [
        report
        for reports in client.progress_reports.values()
        for report in reports
        if isinstance(report, types.WorkDoneProgressEnd)
    ]


def apply_edit(text: str, edit: types.TextEdit) -> str:
    lines = text.splitlines(keepends=True)

    def offset(position: types.Position) -> int:
        return sum(len(line) for line in lines[: position.line]) + position.character

    return text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
