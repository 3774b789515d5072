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

BUDGET = (
    0.5  # seconds: well under what the demo model takes for SWAP (1.5 s quiet, 10 s at load 10)
)

# The demo model writes a long trace for this call (39 frames: a generator expression).
SWAP = """\
# prophecy: swap_case('PyThOn')
def swap_case(text):
    return ''.join(c.lower() if c.isupper() else c.upper() for c in text)
"""


async def begin(client: LanguageClient, tmp_path: Path, budget: float) -> None:
    settings = {"backend": "auto", "predictionTimeout": budget, "maxFrames": 100_000}
    await start(client, "visual-studio-code", settings, tmp_path)


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


def _progress_titles(client: LanguageClient) -> list[str]:
    return [
        report.title
        for reports in client.progress_reports.values()
        for report in reports
        if isinstance(report, types.WorkDoneProgressBegin)
    ]


async def test_model_loads_ahead_and_hints_stream_while_predicting(
    client: LanguageClient, tmp_path: Path
) -> None:
    await begin(client, tmp_path, 0)  # no time limit
    # the model loads right after initialized, before anything is asked for
    await wait_for(
        lambda: "Loading the model…" in _progress_titles(client), timeout=10, what="load progress"
    )
    await wait_for(lambda: progress_ends(client), timeout=120, what="the model to load")
    assert progress_ends(client)[0].message == "ready"

    uri = open_file(client, tmp_path / "swap.py", SWAP)
    task = asyncio.ensure_future(execute(client, "cwm.predict", uri, 1, None))
    # partial hints while the prediction streams: predicted values before the command answers
    streamed = await wait_for_hints(
        client, uri, lambda found: any("≈" in label for label in found.values()), timeout=60
    )
    assert not task.done(), f"the prediction finished before hints were read: {streamed}"
    result = await asyncio.wait_for(task, timeout=300)
    assert result["status"] == "done"


async def test_the_budget_stops_a_prediction_with_a_label(
    client: LanguageClient, tmp_path: Path
) -> None:
    await begin(client, tmp_path, BUDGET)
    await wait_for(lambda: progress_ends(client), timeout=120, what="the model to load")
    uri = open_file(client, tmp_path / "swap.py", SWAP)
    result = await execute(client, "cwm.predict", uri, 1, None)
    label = f"time limit ({BUDGET} s) exceeded: stopped after "
    shown = shown_messages(client)
    assert any(f"swap_case: {label}" in message for message in shown) or (
        result["status"] == "failed" and label in result["message"]  # stopped before a frame
    ), (result, shown)
    if result["status"] == "failed":
        return
    assert result["status"] == "done" and result["frames"] > 0
    found = await hints(client, uri)
    stopped = [hint for hint in found if hint.position.line == 1]
    assert labels(stopped)[1].startswith("⏹ " + label)
    tooltip = stopped[0].tooltip
    assert isinstance(tooltip, types.MarkupContent)
    assert "cwm-lsp demo model (not CWM)" in tooltip.value
    assert "so the trace ends early" in tooltip.value
    assert progress_ends(client)[-1].message == "done"  # the prediction's progress closed
