"""record_call through the real sandboxed child reproduces the golden traces byte for byte."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import goldens
import pytest
from goldens import harness, load, py311

from cwm_lsp.backends.base import BackendError, CancelToken, PredictionCancelled, PredictionRequest
from cwm_lsp.backends.run import RunPredictor
from cwm_lsp.execution import (
    AUDIT_HOOK,
    BUBBLEWRAP,
    SandboxLimits,
    TracerError,
    bubblewrap_works,
    choose_sandbox,
    record_call,
)
from cwm_lsp.provenance import Origin
from cwm_lsp.trace.frames import Frame

GOLDEN_FILES = sorted(goldens.GOLDEN_DIR.glob("*.json"))
SANDBOXES = [
    pytest.param(
        BUBBLEWRAP,
        marks=pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap unavailable here"),
    ),
    AUDIT_HOOK,
]


@py311
@pytest.mark.parametrize("sandbox", SANDBOXES)
@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_trace_through_the_sandbox(path: Path, sandbox: str) -> None:
    golden = load(path)
    streamed: list[Frame] = []
    recording = record_call(golden["context"], sandbox=sandbox, on_frame=streamed.append)
    assert recording.trace_text == golden["trace_text"]
    assert [f.to_json() for f in recording.frames] == golden["frames"]
    assert streamed == recording.frames
    assert recording.uncaught == golden["uncaught"]
    assert recording.finished
    assert recording.limit is None
    assert recording.sandbox == sandbox


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_set_order_is_that_of_hash_seed_zero(sandbox: str) -> None:
    literal = "{'pear', 'fig', 'kiwi', 'plum', 'lime', 'date', 'sloe'}"
    expected = subprocess.run(
        [sys.executable, "-c", f"print(repr({literal}))"],
        env={"PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    context = harness(f"def letters():\n    return {literal}\n", "letters()")
    first = record_call(context, sandbox=sandbox)
    second = record_call(context, sandbox=sandbox)
    assert first.frames[-1].arg == expected
    assert first.trace_text == second.trace_text


def test_line_numbers_point_into_the_context() -> None:
    golden = load(GOLDEN_FILES[0])
    recording = record_call(golden["context"], sandbox=AUDIT_HOOK)
    lines = golden["context"].splitlines(keepends=True)
    assert len(recording.line_numbers) == len(recording.frames)
    for frame, number in zip(recording.frames, recording.line_numbers, strict=True):
        assert lines[number - 1] == frame.line


def test_stdout_of_the_program_is_captured() -> None:
    context = harness("def hello():\n    print('hi there')\n    return 3\n", "hello()")
    recording = record_call(context, sandbox=AUDIT_HOOK)
    assert recording.stdout == "hi there\n"
    assert recording.frames[-1].arg == "3"


def test_marked_function_with_parameters_is_refused() -> None:
    with pytest.raises(TracerError, match="takes arguments"):
        record_call("def f(x):  # << START_OF_TRACE\n    return x\n")


def test_sandbox_choice_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWM_LSP_SANDBOX", "audit-hook")
    assert choose_sandbox() == AUDIT_HOOK
    with pytest.raises(TracerError, match="unknown sandbox"):
        choose_sandbox("chroot")


def _request(context: str, call: str | None = "main()") -> PredictionRequest:
    return PredictionRequest(context=context, source=context, call=call, function="f")


def test_run_predictor_observes_the_golden_trace() -> None:
    golden = load(GOLDEN_FILES[0])
    predictor = RunPredictor(sandbox=AUDIT_HOOK)
    result = predictor.predict(_request(golden["context"]))
    assert predictor.name == "run"
    assert result.provenance.origin is Origin.OBSERVED
    assert result.provenance.backend == "run"
    assert result.finished
    if sys.version_info[:2] == (3, 11):
        assert result.trace_text == golden["trace_text"]


def test_run_predictor_refuses_invented_inputs_clearly() -> None:
    context = "def f(x):  # << START_OF_TRACE\n    return x\n"
    with pytest.raises(BackendError, match="takes arguments"):
        RunPredictor(sandbox=AUDIT_HOOK).predict(_request(context, call=None))


def test_run_predictor_cancel_kills_the_run() -> None:
    context = harness("import time\ndef slow():\n    time.sleep(30)\n", "slow()")
    cancel = CancelToken()
    frames: list[Frame] = []

    def on_frame(frame: Frame) -> None:
        frames.append(frame)
        if len(frames) == 4:  # inside slow(), about to sleep
            threading.Timer(0.2, cancel.cancel).start()

    predictor = RunPredictor(SandboxLimits(wall_seconds=20), sandbox=AUDIT_HOOK)
    with pytest.raises(PredictionCancelled):
        predictor.predict(_request(context), on_frame=on_frame, cancel=cancel)
    assert len(frames) == 4
