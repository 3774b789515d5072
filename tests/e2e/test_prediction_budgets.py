"""Predictions that finish: a small model taught to loop, the time budget, and the labels.

The model below learns a trace of ``spin(1)`` whose ``while`` loop goes round and round with
nothing changing (``n = n``). Asked to predict, it keeps writing the loop: the native backend
(and llama.cpp, on the same model as a GGUF file) must notice the repeated state and stop with
"predicted not to terminate", and a budget of no time at all must stop with a "time limit"
label, never as a finished trace.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cwm_lsp.backends.base import STOP_NO_TERMINATION, STOP_TIMEOUT, PredictionRequest
from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.backends.registry import demo_model_path
from cwm_lsp.runtime.testing import (
    trace_model_config,
    write_taught_traces,
)
from cwm_lsp.trace.frames import Event, Frame

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

SOURCE = "def spin(n):\n    while n:\n        n = n\n    return n\n"
CONTEXT = SOURCE + "\ndef main():  # << START_OF_TRACE\n    return spin(1)\n"
ROUNDS = 6  # loop rounds in the taught trace: enough that the model goes on with them

LOOPING = [
    Frame(Event.CALL, "def main():  # << START_OF_TRACE\n", {}),
    Frame(Event.LINE, "    return spin(1)\n", {}),
    Frame(Event.CALL, "def spin(n):\n", {"n": "1"}),
    *[
        frame
        for _ in range(ROUNDS)
        for frame in (
            Frame(Event.LINE, "    while n:\n", {"n": ".."}),
            Frame(Event.LINE, "        n = n\n", {"n": ".."}),
        )
    ],
]


@pytest.fixture(scope="module")
def looping_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("looping-model")
    return write_taught_traces(
        directory,
        CONTEXT,
        [LOOPING],
        finished=False,
        config=trace_model_config(sliding_window=1024),
    )


def _request(*, timeout: float | None = None, max_frames: int = 200) -> PredictionRequest:
    return PredictionRequest(
        context=CONTEXT,
        source=SOURCE,
        call="spin(1)",
        function="spin",
        harness="main",
        max_frames=max_frames,
        prediction_timeout=timeout,
    )


def test_a_model_that_loops_is_stopped_at_the_repeated_state(looping_model: Path) -> None:
    result = NativePredictor(looping_model).predict(_request())
    assert result.stop == STOP_NO_TERMINATION
    assert result.limit == "predicted not to terminate (state at line 2 repeats)"
    assert not result.finished
    # the loop went round once: while, n = n, and the same state at the while line again
    assert [frame.line for frame in result.frames[3:]] == [
        "    while n:\n",
        "        n = n\n",
        "    while n:\n",
    ]
    assert len(result.frames) < 10  # far from the 200-frame cap


def test_a_budget_that_ran_out_is_labelled_and_not_finished(looping_model: Path) -> None:
    predictor = NativePredictor(looping_model)
    predictor.load()
    result = predictor.predict(_request(timeout=1e-9))
    assert result.stop == STOP_TIMEOUT and not result.finished
    assert result.limit is not None
    assert result.limit.startswith("time limit (1e-09 s) exceeded: stopped after ")


def test_the_frame_cap_still_applies(looping_model: Path) -> None:
    result = NativePredictor(looping_model).predict(_request(max_frames=4))
    assert result.stop == "max_frames"
    assert result.limit == "frame limit (4) reached: stopped after 4 frames"


def test_llama_cpp_stops_the_loop_too(looping_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from cwm_lsp.backends.llama_cpp import LlamaCppPredictor
    from cwm_lsp.runtime.gguf_writer import convert_checkpoint

    gguf = tmp_path / "looping.gguf"
    convert_checkpoint(looping_model, gguf, file_type="f32")
    result = LlamaCppPredictor(gguf).predict(_request())
    assert result.stop == STOP_NO_TERMINATION
    assert result.limit == "predicted not to terminate (state at line 2 repeats)"


def test_the_cli_prints_the_label_in_the_header_and_json(
    looping_model: Path, tmp_path: Path
) -> None:
    source = tmp_path / "spin.py"
    source.write_text(SOURCE)
    command = [sys.executable, "-m", "cwm_lsp", "predict", str(source), "--call", "spin(1)"]
    command += ["--model", str(looping_model)]
    text = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert text.returncode == 1
    header = text.stdout.splitlines()[0]
    assert header.endswith("; predicted not to terminate (state at line 2 repeats))")
    assert "trace incomplete: predicted not to terminate" in text.stderr
    document = json.loads(
        subprocess.run(
            [*command, "--format", "json"], capture_output=True, text=True, timeout=300
        ).stdout
    )
    assert document["stop"] == "no_termination" and document["finished"] is False


LONG_LOOP = """\
def count(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""


@pytest.mark.skipif(demo_model_path() is None, reason="the demo model is not installed")
def test_the_cli_labels_a_prediction_that_ran_out_of_time(tmp_path: Path) -> None:
    # The budget counts from the request, which includes loading the model and reading the
    # prompt (about 0.1 s here). 0.2 s used to be enough to cut the trace short; the faster
    # decoder now finishes the demo model's whole (two-round) prediction of this loop in about
    # that time, so the budget is well below the start-up cost instead.
    source = tmp_path / "count.py"
    source.write_text(LONG_LOOP)
    command = [sys.executable, "-m", "cwm_lsp", "predict", str(source), "--call", "count(500)"]
    command += ["--prediction-timeout", "0.02"]
    text = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert text.returncode == 1
    assert "time limit (0.02 s) exceeded: stopped after " in text.stderr
    header = text.stdout.splitlines()[0]
    assert "time limit (0.02 s) exceeded: stopped after " in header
    document = json.loads(
        subprocess.run(
            [*command, "--format", "json"], capture_output=True, text=True, timeout=300
        ).stdout
    )
    assert document["stop"] == "timeout" and document["finished"] is False
