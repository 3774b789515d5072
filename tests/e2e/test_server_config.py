"""Settings: pulled on start, changed while running, validated, and predictOn = save."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES
from server_support import (
    CLIENTS,
    RUN,
    SERVER,
    code_actions,
    edit,
    execute,
    hints,
    labels,
    open_file,
    shown_messages,
    start,
    wait_for,
    wait_for_hints,
)

LOOP = """\
# prophecy: f(2, 4)
def f(a, b):
    y = a
    for i in range(b):
        y += y * i
    return y
"""


@pytest_lsp.fixture(config=SERVER, params=CLIENTS)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient):
    lsp_client.client_name = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def change_configuration(client: LanguageClient, pushed: object = None) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=pushed))


async def test_bad_values_warn_and_fall_back_to_defaults(
    client: LanguageClient, tmp_path: Path
) -> None:
    settings = {**RUN, "hintWidth": "wide", "maxFrames": -3, "predictOn": "always"}
    await start(client, client.client_name, settings, tmp_path)  # type: ignore[attr-defined]
    await wait_for(lambda: len(client.messages) >= 3, what="three warnings")
    messages = shown_messages(client)
    assert (
        "Prophecy: cwm.hintWidth must be a whole number from 8 to 1000, got 'wide'; using 60"
        in messages
    )
    assert any(m.startswith("Prophecy: cwm.maxFrames must be") for m in messages)
    assert any(
        m.startswith("Prophecy: cwm.predictOn must be one of 'demand', 'save'") for m in messages
    )
    assert all(m.type == types.MessageType.Warning for m in client.messages)
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    assert (await execute(client, "cwm.predict", uri, 1))[
        "status"
    ] == "done"  # the good values hold


async def test_execution_needs_consent_and_configuration_changes_apply(
    client: LanguageClient, tmp_path: Path
) -> None:
    await start(client, client.client_name, {"backend": "run"}, tmp_path)  # type: ignore[attr-defined]
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    result = await execute(client, "cwm.predict", uri, 1)
    assert result["status"] == "failed" and "cwm.allowExecution" in result["message"]
    assert (await execute(client, "cwm.verify", uri, 1))["status"] == "refused"
    titles = [action.title for action in await code_actions(client, uri, 2)]
    assert not any("verify" in title for title in titles)
    assert labels(await hints(client, uri)) == {}
    assert any("allowExecution" in m for m in shown_messages(client))

    if client.client_name == "visual-studio-code":  # type: ignore[attr-defined]
        await wait_for(lambda: client.registrations, what="registration")  # type: ignore[attr-defined]
    methods = [r.method for r in client.registrations]  # type: ignore[attr-defined]
    if client.client_name == "visual-studio-code":  # type: ignore[attr-defined]
        assert methods == ["workspace/didChangeConfiguration"]  # VS Code wants it registered
    else:
        assert methods == []  # Neovim does not support dynamic registration of it

    client.set_configuration({"cwm": RUN})  # the user opts in: the server pulls the new values
    change_configuration(client)
    await wait_for(
        lambda: any("allow_execution=True" in m.message for m in client.log_messages),
        what="new settings",
    )
    assert (await execute(client, "cwm.predict", uri, 1))["status"] == "done"
    assert labels(await hints(client, uri))[4] == "y = 2 → 4 → 12 → 48"

    change_configuration(client, {"cwm": {**RUN, "hintWidth": 10}})  # pushed values
    narrow = await wait_for_hints(client, uri, lambda found: found.get(4) != "y = 2 → 4 → 12 → 48")
    assert narrow[4] == "y = 2 → … (4×) → 48"  # too long for the width: elided
    assert narrow[2] == "y = 2"


async def test_initialization_options_are_settings_too(
    client: LanguageClient, tmp_path: Path
) -> None:
    await start(client, client.client_name, None, tmp_path, initialization_options={"cwm": RUN})  # type: ignore[attr-defined]
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    assert (await execute(client, "cwm.predict", uri, 1))["status"] == "done"


async def test_predict_on_save_predicts_functions_whose_examples_changed(
    client: LanguageClient, tmp_path: Path
) -> None:
    await start(client, client.client_name, {**RUN, "predictOn": "save"}, tmp_path)  # type: ignore[attr-defined]
    source = "def g(n):\n    return n + 1\n\n\n" + LOOP.replace("# prophecy: f(2, 4)\n", "")
    uri = open_file(client, tmp_path / "loop.py", source)
    edit(client, uri, 4, 0, "# prophecy: f(2, 4)\n")
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    found = await wait_for_hints(client, uri, lambda found: 9 in found)
    assert found[9] == "⮐ 48"
    assert 1 not in found  # g has no example call: not predicted


async def test_serve_over_tcp(tmp_path: Path) -> None:
    """``cwm-lsp serve --tcp HOST:PORT`` speaks the same protocol on a socket."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cwm_lsp", "serve", "--tcp", f"127.0.0.1:{port}"
    )
    client = LanguageClient(configuration={"": {"cwm": RUN}})
    try:
        for _ in range(100):  # wait for the port to open
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        for method, handler in DEFAULT_CLIENT_FEATURES.items():
            client.feature(method)(handler)
        result = await client.initialize_session(
            types.InitializeParams(capabilities=client_capabilities("neovim"))
        )
        assert result.server_info is not None and result.server_info.name == "cwm-lsp"
        assert result.capabilities.inlay_hint_provider
        uri = open_file(client, tmp_path / "loop.py", LOOP)
        assert (await execute(client, "cwm.predict", uri, 1))["status"] == "done"
        assert labels(await hints(client, uri))[5] == "⮐ 48"
        await client.shutdown_async(None)
        client.exit(None)
        assert await asyncio.wait_for(server.wait(), 10) == 0
    finally:
        if server.returncode is None:
            server.kill()
        with contextlib.suppress(ConnectionError):  # the server has closed the socket already
            await client.stop()


def test_a_bad_tcp_address_is_a_clear_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "serve", "--tcp", "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--tcp needs HOST:PORT" in done.stderr and "Traceback" not in done.stderr
