"""A model backend end to end: the shipped demo model through the native runtime.

The demo model is small and not CWM: what it predicts may be wrong, so these tests check how
predictions are shown and compared, not their values.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from server_support import (
    SERVER,
    code_actions,
    execute,
    hints,
    open_file,
    progress_ends,
    run_action,
    start,
    titled,
    wait_for,
)

from cwm_lsp.backends.registry import demo_model_path

pytestmark = pytest.mark.skipif(demo_model_path() is None, reason="the demo model is not installed")

LOOP = """\
# prophecy: f(2, 4)
def f(a, b):
    y = a
    for i in range(b):
        y += y * i
    return y
"""


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path: Path):
    settings = {"backend": "auto", "allowExecution": True, "maxFrames": 200}
    await start(lsp_client, "neovim", settings, tmp_path)
    yield
    await lsp_client.shutdown_session()


async def test_demo_model_prediction_is_labelled_predicted_and_verified(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    titles = [action.title for action in await code_actions(client, uri, 3)]
    assert "Prophecy: predict with invented inputs" in titles

    result = await run_action(
        client, titled(await code_actions(client, uri, 3), "Prophecy: verify")
    )
    assert result["status"] in ("match", "mismatch")
    begins = [
        report
        for reports in client.progress_reports.values()
        for report in reports
        if isinstance(report, types.WorkDoneProgressBegin)
    ]
    # the model loads in the background right after initialized, then the two predictions
    titles = ["Loading the model…", "Predicting f…", "Running f…"]
    assert [begin.title for begin in begins] == titles
    await wait_for(lambda: len(progress_ends(client)) == 3, what="all three progress ends")

    for hint in await hints(client, uri):  # whatever it predicted is marked as predicted
        assert "≈" in str(hint.label)
        assert isinstance(hint.tooltip, types.MarkupContent)
        assert "predicted by cwm-lsp demo model (not CWM)" in hint.tooltip.value
    if result["status"] == "mismatch":
        diagnostics = client.diagnostics.get(uri, [])
        information = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Information]
        assert len(information) == 1
        assert information[0].range.start.line == result["line"]
        assert "predicted" in information[0].message and "observed" in information[0].message


async def test_invented_inputs_run_through_the_model(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    action = titled(await code_actions(client, uri, 3), "Prophecy: predict with invented inputs")
    result = await run_action(client, action)
    assert result["status"] in ("done", "failed")  # a small model may write no usable trace
    if result["status"] == "failed":
        assert "could not be read as a trace" in result["message"]
    assert (await execute(client, "cwm.clear", uri))["status"] == "cleared"
