"""Flow-constrained decoding in the native backend, with a model taught a trace that is wrong.

The small model below (run by the native backend and, as a GGUF, by llama.cpp) learns a trace of ``f(1)`` that skips the line ``k += 1`` (as a weak
model does). Free decoding reproduces the skip; the default decoder keeps each frame's line on
the control flow, so the frame after ``k = n`` names ``k += 1``, the only line that can run
next, and every later frame names a line of the context.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cwm_lsp.backends.base import PredictionRequest
from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.runtime.testing import (
    trace_model_config,
    write_taught_traces,
)
from cwm_lsp.trace.flow import SourceFlow
from cwm_lsp.trace.flow_tracker import FlowTracker
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.parser import parse_trace

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

SOURCE = "def f(n):\n    k = n\n    k += 1\n    return k\n"
CONTEXT = SOURCE + "\ndef main():  # << START_OF_TRACE\n    return f(1)\n"
SKIPPING = [
    Frame(Event.CALL, "def main():  # << START_OF_TRACE\n", {}),
    Frame(Event.LINE, "    return f(1)\n", {}),
    Frame(Event.CALL, "def f(n):\n", {"n": "1"}),
    Frame(Event.LINE, "    k = n\n", {"n": ".."}),
    Frame(Event.LINE, "    return k\n", {"n": "..", "k": "1"}),
    Frame(Event.RETURN, "    return k\n", arg="1"),
    Frame(Event.RETURN, "    return f(1)\n", arg="1"),
]


@pytest.fixture(scope="module")
def skipping_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("skipping-model")
    # a window that covers the whole trace, so llama.cpp (every layer global) computes the same
    return write_taught_traces(
        directory, CONTEXT, [SKIPPING], config=trace_model_config(sliding_window=1024)
    )


def _request(max_frames: int = 12) -> PredictionRequest:
    return PredictionRequest(
        context=CONTEXT,
        source=SOURCE,
        call="f(1)",
        function="f",
        harness="main",
        max_frames=max_frames,
    )


def _off_flow(frames: list[Frame]) -> list[str]:
    flow = SourceFlow.from_context(CONTEXT)
    assert flow is not None
    tracker = FlowTracker(flow)
    found = []
    for frame in frames:
        allowed = tracker.allowed(frame.event)
        if allowed is not None and frame.line not in allowed:
            found.append(f"{frame.event.value} {frame.line!r}")
        tracker.advance(frame.event, frame.line)
    return found


def test_free_decoding_repeats_what_the_model_learned(skipping_model: Path) -> None:
    result = NativePredictor(skipping_model, follow_flow=False).predict(_request())
    assert result.frames == SKIPPING
    assert _off_flow(result.frames) == ["line '    return k\\n'"]


def test_the_default_decoder_keeps_every_frame_on_the_flow(skipping_model: Path) -> None:
    result = NativePredictor(skipping_model).predict(_request())
    assert [f.line for f in result.frames[:5]] == [
        "def main():  # << START_OF_TRACE\n",
        "    return f(1)\n",
        "def f(n):\n",
        "    k = n\n",
        "    k += 1\n",
    ]
    assert result.frames[4].event is Event.LINE
    # past that point the model is off what it learned (its locals may not even parse, and the
    # trace parser drops such frames), but every line it names is still a line of the context
    assert {f.line for f in result.frames} <= set(CONTEXT.splitlines(keepends=True))


def test_drafting_and_constraint_give_the_same_trace(skipping_model: Path) -> None:
    drafted = NativePredictor(skipping_model, lookahead=16).predict(_request())
    stepped = NativePredictor(skipping_model, lookahead=0).predict(_request())
    assert drafted.trace_text == stepped.trace_text


def test_a_context_that_does_not_parse_is_decoded_freely(skipping_model: Path) -> None:
    broken = CONTEXT.replace("def f(n):", "def f(n:")
    request = _request()
    request = PredictionRequest(**{**request.__dict__, "context": broken})
    result = NativePredictor(skipping_model).predict(request)
    assert result.frames  # no constraint, no crash: the model writes what it writes


def test_llama_cpp_backend_keeps_the_frames_on_the_flow_too(
    skipping_model: Path, tmp_path: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from cwm_lsp.backends.llama_cpp import LlamaCppPredictor
    from cwm_lsp.runtime.gguf_writer import convert_checkpoint

    gguf = tmp_path / "skipping.gguf"
    convert_checkpoint(skipping_model, gguf, file_type="f32")
    free = LlamaCppPredictor(gguf, follow_flow=False).predict(_request())
    assert free.frames == SKIPPING
    kept = LlamaCppPredictor(gguf).predict(_request())
    assert kept.frames[4].event is Event.LINE and kept.frames[4].line == "    k += 1\n"
    assert {f.line for f in kept.frames} <= set(CONTEXT.splitlines(keepends=True))


def test_the_cli_flag_turns_the_constraint_off(skipping_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "skip.py"
    source.write_text(SOURCE)
    command = [sys.executable, "-m", "cwm_lsp", "predict", str(source), "--function", "f"]
    command += ["--call", "f(1)", "--model", str(skipping_model), "--format", "cwm"]
    command += ["--max-frames", "6"]
    # the exit status says whether the trace completed; only the lines matter here
    kept = subprocess.run(command, capture_output=True, text=True, timeout=120)
    free = subprocess.run(
        [*command, "--free-decoding"], capture_output=True, text=True, timeout=120
    )
    free_lines = [frame.line for frame in parse_trace(free.stdout).frames]
    kept_lines = [frame.line for frame in parse_trace(kept.stdout).frames]
    assert free_lines[4] == "    return k\n"
    assert kept_lines[4] == "    k += 1\n"
