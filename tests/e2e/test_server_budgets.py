"""The language server with the demo model (not CWM): the model loads in the background after
``initialized``, hints stream in while a prediction runs, and the time budget stops a long one
with a label on the def line, in the tooltip and in a message, never as a finished trace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from server_support import (
    SERVER,
    execute,
    hints,
    labels,
    open_file,
    progress_ends,
    shown_messages,
    start,
    wait_for,
    wait_for_hints,
)

from cwm_lsp.backends.registry import demo_model_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(demo_model_path() is None, reason="the demo model is not installed"),
]

BUDGET = 8  # seconds: the demo model writes a few frames of the 300-round loop, not all

LONG = """\
# prophecy: count(300)
def count(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path: Path):
    settings = {"backend": "auto", "predictionTimeout": BUDGET, "maxFrames": 100_000}
    await start(lsp_client, "visual-studio-code", settings, tmp_path)
    yield
    await lsp_client.shutdown_session()


def _progress_titles(client: LanguageClient) -> list[str]:
    return [
        report.title
        for reports in client.progress_reports.values()
        for report in reports
        if isinstance(report, types.WorkDoneProgressBegin)
    ]


async def test_model_loads_ahead_hints_stream_and_the_budget_stops_with_a_label(
    client: LanguageClient, tmp_path: Path
) -> None:
    # the model loads right after initialized, before anything is asked for
    await wait_for(
        lambda: "Loading the model…" in _progress_titles(client), timeout=10, what="load progress"
    )
    await wait_for(lambda: progress_ends(client), timeout=120, what="the model to load")
    assert progress_ends(client)[0].message == "ready"

    uri = open_file(client, tmp_path / "count.py", LONG)
    task = asyncio.ensure_future(execute(client, "cwm.predict", uri, 1, None))
    # partial hints while the prediction streams: predicted values before the command answers
    streamed = await wait_for_hints(
        client, uri, lambda found: any("≈" in label for label in found.values()), timeout=BUDGET
    )
    assert not task.done(), f"the prediction finished before hints were read: {streamed}"

    result = await asyncio.wait_for(task, timeout=BUDGET + 60)
    assert result["status"] == "done" and result["frames"] > 0
    found = await hints(client, uri)
    stopped = [hint for hint in found if hint.position.line == 1]
    label = labels(stopped)[1]
    assert label.startswith(f"⏹ time limit ({BUDGET} s) exceeded: stopped after")
    tooltip = stopped[0].tooltip
    assert isinstance(tooltip, types.MarkupContent)
    assert "cwm-lsp demo model (not CWM)" in tooltip.value
    assert "so the trace ends early" in tooltip.value
    assert any(
        f"count: time limit ({BUDGET} s) exceeded" in message for message in shown_messages(client)
    )
    assert progress_ends(client)[-1].message == "done"  # the prediction's progress closed
