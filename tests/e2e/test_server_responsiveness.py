"""Long predictions: streaming, answering requests meanwhile, cancellation, edits while running.

The long prediction is a sandboxed run of an endless loop (run backend, 60 s sandbox limit):
only a working cancellation ends it within the test's time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import LanguageClient
from server_support import (
    CLIENTS,
    RUN,
    SERVER,
    cancel_request,
    edit,
    execute,
    execute_cancellable,
    hints,
    hover,
    labels,
    open_file,
    progress_ends,
    start,
    wait_for,
    wait_for_hints,
)

ENDLESS = """\
# prophecy: spin(0)
def spin(k):
    while True:
        k += 1
"""

LONG_RUN = {**RUN, "timeout": 60, "maxFrames": 1_000_000}
STOP_WITHIN = 8.0  # seconds; the sandbox itself would only stop the loop after 60


@pytest_lsp.fixture(config=SERVER, params=CLIENTS)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Path):
    await start(lsp_client, request.param, LONG_RUN, tmp_path)
    lsp_client.client_name = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def sandbox_children(client: LanguageClient) -> list[psutil.Process]:
    server = client._server  # the server process pytest-lsp started
    assert server is not None
    try:
        return psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


async def start_endless(
    client: LanguageClient, uri: str, request_id: str = "spin"
) -> asyncio.Future[Any]:
    task = execute_cancellable(client, request_id, "cwm.predict", uri, 1, None)
    # Streamed partial hints show the loop running before anything finished.
    await wait_for_hints(client, uri, lambda found: "→" in found.get(3, ""), timeout=15)
    return task


async def test_cancel_request_stops_the_run_and_leaves_no_hints(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "spin.py", ENDLESS)
    task = await start_endless(client, uri)
    assert sandbox_children(client), "the sandboxed run should be a child process"
    started = time.monotonic()
    cancel_request(client, "spin")
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(task, STOP_WITHIN)
    await wait_for(
        lambda: progress_ends(client), timeout=STOP_WITHIN, what="the prediction to stop"
    )
    assert time.monotonic() - started < STOP_WITHIN
    assert progress_ends(client)[-1].message == "cancelled"
    await wait_for(
        lambda: not sandbox_children(client), timeout=STOP_WITHIN, what="the sandbox to be killed"
    )
    assert labels(await hints(client, uri)) == {}
    assert await hover(client, uri, 3) is None


async def test_progress_cancel_stops_the_run(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_file(client, tmp_path / "spin.py", ENDLESS)
    task = await start_endless(client, uri)
    token = next(iter(client.progress_reports))
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(task, STOP_WITHIN)
    assert result["status"] == "cancelled"
    assert labels(await hints(client, uri)) == {}


async def test_hints_and_hover_are_answered_while_a_prediction_runs(
    client: LanguageClient, tmp_path: Path
) -> None:
    finished = "# prophecy: f(3)\ndef f(n):\n    m = n * 2\n    return m\n\n"
    uri = open_file(client, tmp_path / "both.py", finished + ENDLESS)
    assert (await execute(client, "cwm.predict", uri, 2))["status"] == "done"
    refreshes, window_start = client.refresh_count, time.monotonic()  # type: ignore[attr-defined]
    task = execute_cancellable(client, "spin", "cwm.predict", uri, 6, None)
    await wait_for_hints(client, uri, lambda found: "→" in found.get(8, ""), timeout=15)
    for _ in range(5):
        started = time.monotonic()
        found = labels(await hints(client, uri))
        text = await hover(client, uri, 2)
        assert time.monotonic() - started < 2.0  # generous: answered from the stored results
        assert found[2] == "m = 6"
        assert text is not None and "| 6 |" in text
    assert not task.done()
    # Streaming asks for refreshes (when the client supports them), at most 4 a second.
    sent = client.refresh_count - refreshes  # type: ignore[attr-defined]
    if client.client_name == "neovim":  # type: ignore[attr-defined]
        assert 1 <= sent <= 4 * (time.monotonic() - window_start) + 1
    else:
        assert sent == 0
    cancel_request(client, "spin")
    await wait_for(
        lambda: progress_ends(client), timeout=STOP_WITHIN, what="the prediction to stop"
    )


async def test_edit_during_prediction_never_shows_its_values_as_current(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "spin.py", ENDLESS)
    task = await start_endless(client, uri)
    edit(client, uri, 3, 8, "k -= 1\n        ")  # inside the running function
    result = await asyncio.wait_for(task, STOP_WITHIN)
    assert result["status"] in ("cancelled", "stale")
    found = labels(await hints(client, uri))
    assert all("k =" not in label for label in found.values())
    assert "stale" in found.get(1, "")


async def test_second_prediction_of_a_function_cancels_the_first(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = ENDLESS + "\n\n# prophecy: spin2(0)\ndef spin2(k):\n    while True:\n        k += 2\n"
    uri = open_file(client, tmp_path / "spin.py", text)
    first = await start_endless(client, uri)
    execute_cancellable(client, "second", "cwm.predict", uri, 1, "spin(5)")
    assert (await asyncio.wait_for(first, STOP_WITHIN))["status"] == "cancelled"
    await wait_for_hints(
        client, uri, lambda found: found.get(3, "").startswith("k = 6 → 7"), timeout=15
    )
    cancel_request(client, "second")
    await wait_for(
        lambda: len(progress_ends(client)) == 2, timeout=STOP_WITHIN, what="both runs to stop"
    )
