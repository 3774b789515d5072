"""Failures: a clear message once per problem, details in the log, no stale hints, and the server
keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from server_support import (
    CLIENTS,
    RUN,
    SERVER,
    code_actions,
    execute,
    hints,
    labels,
    open_file,
    shown_messages,
    start,
    wait_for,
)

GOOD = "# prophecy: f(2)\ndef f(a):\n    b = a + 1\n    return b\n"


@pytest_lsp.fixture(config=SERVER, params=CLIENTS)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient):
    lsp_client.client_name = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def neovim(lsp_client: LanguageClient):
    """One client is enough for the slow case (a server that is never initialized would not
    stop cleanly, so this is a fixture of its own rather than a skip)."""
    lsp_client.client_name = "neovim"  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def begin(client: LanguageClient, settings: dict[str, object], root: Path) -> None:
    await start(client, client.client_name, settings, root)  # type: ignore[attr-defined]


async def assert_still_serving(client: LanguageClient, root: Path) -> None:
    """A good file still predicts (with the run backend)."""
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"cwm": RUN})
    )
    uri = open_file(client, root / "good.py", GOOD)
    assert (await execute(client, "cwm.predict", uri, 2))["status"] == "done"
    assert labels(await hints(client, uri)) == {2: "b = 3", 3: "⮐ 3"}


async def test_syntax_error(client: LanguageClient, tmp_path: Path) -> None:
    await begin(client, RUN, tmp_path)
    uri = open_file(
        client, tmp_path / "broken.py", "# prophecy: f(1)\ndef f(a):\n    b = (a +\n    return b\n"
    )
    result = await execute(client, "cwm.predict", uri, 1)
    assert result["status"] == "failed"
    assert "syntax error at line 3" in result["message"]
    assert any("syntax error at line 3" in m for m in shown_messages(client))
    assert labels(await hints(client, uri)) == {}
    await assert_still_serving(client, tmp_path)


async def test_missing_model_is_reported_once(client: LanguageClient, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    await begin(client, {"backend": "native", "modelPath": str(missing)}, tmp_path)
    uri = open_file(client, tmp_path / "good.py", GOOD)
    titles = [action.title for action in await code_actions(client, uri, 2)]
    assert "Prophecy: predict with invented inputs" in titles  # a model backend can invent
    assert not any("verify" in title for title in titles)  # execution is not allowed
    for _ in range(2):
        result = await execute(client, "cwm.predict", uri, 2)
        assert result["status"] == "failed"
        assert str(missing) in result["message"]
    problems = [m for m in shown_messages(client) if str(missing) in m]
    assert len(problems) == 1  # shown once per distinct problem ...
    logged = [m for m in client.log_messages if m.message.startswith("model not found")]
    assert len(logged) == 2  # ... and logged every time
    assert labels(await hints(client, uri)) == {}
    await assert_still_serving(client, tmp_path)


async def test_corrupt_model_file(neovim: LanguageClient, tmp_path: Path) -> None:
    client = neovim  # one client: loading the native backend (torch) takes a few seconds
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{ this is not json")
    (model / "model.safetensors").write_bytes(b"\x00garbage" * 64)
    await begin(client, {"backend": "native", "modelPath": str(model)}, tmp_path)
    uri = open_file(client, tmp_path / "good.py", GOOD)
    result = await execute(client, "cwm.predict", uri, 2)
    assert result["status"] == "failed"
    assert "cannot use model" in result["message"]
    await wait_for(
        lambda: any("cannot use model" in m for m in shown_messages(client)), what="message"
    )
    assert labels(await hints(client, uri)) == {}
    await assert_still_serving(client, tmp_path)


async def test_sandbox_limit_shows_the_trace_up_to_it(
    client: LanguageClient, tmp_path: Path
) -> None:
    await begin(client, {**RUN, "maxFrames": 12}, tmp_path)
    source = "# prophecy: total(100)\ndef total(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n"
    uri = open_file(client, tmp_path / "total.py", source)
    result = await execute(client, "cwm.predict", uri, 1)
    assert result["status"] == "done"
    assert any("frame limit (12) reached" in m for m in shown_messages(client))
    found = labels(await hints(client, uri))
    assert found[4].startswith("t = 0 → 1 → 3")
    assert 5 not in found  # the limit came before the return: nothing claims it


async def test_crashing_run_is_reported_and_server_keeps_serving(
    client: LanguageClient, tmp_path: Path
) -> None:
    await begin(client, RUN, tmp_path)
    source = "# prophecy: die()\ndef die():\n    import os\n    os.kill(os.getpid(), 9)\n"
    uri = open_file(client, tmp_path / "die.py", source)
    result = await execute(client, "cwm.predict", uri, 1)
    assert result["status"] in ("done", "failed")
    await wait_for(lambda: any("killed" in m for m in shown_messages(client)), what="message")
    assert all("⮐" not in label for label in labels(await hints(client, uri)).values())
    await assert_still_serving(client, tmp_path)


@pytest.mark.slow
async def test_garbage_model_output(neovim: LanguageClient, tmp_path: Path) -> None:
    """A real (random, tiny) checkpoint run by the native backend writes no usable trace."""
    client = neovim
    from cwm_lsp.runtime.testing import write_checkpoint

    write_checkpoint(tmp_path / "tiny")
    settings = {"backend": "native", "modelPath": str(tmp_path / "tiny"), "maxFrames": 5}
    await begin(client, settings, tmp_path)
    uri = open_file(client, tmp_path / "good.py", GOOD)
    result = await execute(client, "cwm.predict", uri, 2)
    assert result["status"] == "failed"
    assert "could not be read as a trace" in result["message"]
    assert labels(await hints(client, uri)) == {}
    await assert_still_serving(client, tmp_path)
