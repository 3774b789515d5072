"""GeneratedTrace: frame texts from a local model become a PredictionResult."""

from __future__ import annotations

import json
import time

import pytest
from goldens import GOLDEN_FILES

from cwm_lsp.backends.assembly import GeneratedTrace
from cwm_lsp.backends.base import STOP_NO_TERMINATION, STOP_TIMEOUT, PredictionCancelled
from cwm_lsp.budget import Deadline
from cwm_lsp.provenance import Origin, Provenance
from cwm_lsp.trace import tokens
from cwm_lsp.trace.frames import Frame

PROVENANCE = Provenance(origin=Origin.PREDICTED, backend="native", model="test")


def golden_frame_texts() -> tuple[list[str], int]:
    """A golden trace cut into the per-frame texts a generator yields (no end-of-text)."""
    golden = json.loads(GOLDEN_FILES[0].read_text())
    text = golden["trace_text"]
    assert text.endswith(tokens.END_OF_TEXT)
    body = text[: -len(tokens.END_OF_TEXT)]
    parts = body.split(tokens.FRAME_SEP)
    assert parts[-1] == ""  # every frame ends with the separator
    return [part + tokens.FRAME_SEP for part in parts[:-1]], len(golden["frames"])


def first_frames_of_a_golden(count: int, *, context: str) -> GeneratedTrace:
    """A generation that produced a golden trace's first ``count`` frames and then stopped."""
    trace = GeneratedTrace(None, time.monotonic(), context=context)
    for text in golden_frame_texts()[0][:count]:
        trace.feed(text)
    return trace


def test_finished_trace_reports_every_frame_and_ends_with_end_of_text() -> None:
    texts, frame_count = golden_frame_texts()
    seen: list[Frame] = []
    trace = GeneratedTrace(seen.append, time.monotonic(), context="the model's context")
    for text in texts:
        trace.feed(text)
    result = trace.result(
        provenance=PROVENANCE, stopped_by=None, finished=True, tokens_generated=42
    )
    assert len(result.frames) == frame_count == len(seen)
    assert result.trace_text == json.loads(GOLDEN_FILES[0].read_text())["trace_text"]
    assert result.finished and result.limit is None and result.problems == []
    assert result.tokens_generated == 42 and result.provenance is PROVENANCE


def test_limits_and_warnings_are_reported_in_order() -> None:
    trace = first_frames_of_a_golden(3, context="the llama.cpp context")
    result = trace.result(
        provenance=PROVENANCE,
        stopped_by="max_tokens",
        finished=False,
        tokens_generated=7,
        warnings=["past the window"],
    )
    assert result.limit == (
        "token limit reached: stopped when the llama.cpp context (or a frame's token limit) "
        "was full"
    )
    assert result.stop == "max_tokens"
    assert result.problems[-2:] == [result.limit, "past the window"]
    assert not result.finished and not result.trace_text.endswith(tokens.END_OF_TEXT)


def test_frame_limit_names_the_frame_count() -> None:
    trace = first_frames_of_a_golden(2, context="the model's context")
    result = trace.result(
        provenance=PROVENANCE, stopped_by="max_frames", finished=False, tokens_generated=3
    )
    count = len(result.frames)
    assert result.limit == f"frame limit ({count}) reached: stopped after {count} frames"
    assert result.stop == "max_frames"


def test_cancelled_generation_raises() -> None:
    trace = GeneratedTrace(None, time.monotonic(), context="the model's context")
    with pytest.raises(PredictionCancelled):
        trace.result(
            provenance=PROVENANCE, stopped_by="cancelled", finished=False, tokens_generated=0
        )


def test_a_limit_the_caller_worded_is_reported_as_is() -> None:
    trace = first_frames_of_a_golden(2, context="the server's context")
    result = trace.result(
        provenance=PROVENANCE,
        stopped_by=None,
        finished=False,
        tokens_generated=3,
        limit="stopped: the server's token limit was reached",
    )
    assert result.limit == "stopped: the server's token limit was reached"
    assert result.problems[-1] == result.limit


def test_a_timed_out_generation_says_how_long_it_ran_and_is_not_finished() -> None:
    deadline = Deadline(0.5, time.monotonic() - 0.75)
    trace = GeneratedTrace(None, time.monotonic(), context="the model's context", deadline=deadline)
    for text in golden_frame_texts()[0][:3]:
        trace.feed(text)
    result = trace.result(
        provenance=PROVENANCE, stopped_by="timeout", finished=False, tokens_generated=9
    )
    assert result.stop == STOP_TIMEOUT and not result.finished
    assert result.limit is not None
    assert result.limit.startswith("time limit (0.5 s) exceeded: stopped after 0.")
    assert result.problems[-1] == result.limit and len(result.frames) == 3


def test_a_repeating_state_stops_the_trace_with_its_line() -> None:
    context = "def spin(n):\n    while n:\n        n = n\n    return n\n"
    frames = [
        '<|call_sep|>{"n": "1"}<|action_sep|>def spin(n):\n<|frame_sep|>',
        '<|line_sep|>{"n": ".."}<|action_sep|>    while n:\n<|frame_sep|>',
        '<|line_sep|>{"n": ".."}<|action_sep|>        n = n\n<|frame_sep|>',
        '<|line_sep|>{"n": ".."}<|action_sep|>    while n:\n<|frame_sep|>',
    ]
    trace = GeneratedTrace(None, time.monotonic(), context="c", trace_context=context)
    stops = [trace.feed(text) for text in frames]
    assert stops == [False, False, False, True]
    result = trace.result(
        provenance=PROVENANCE, stopped_by=None, finished=False, tokens_generated=40
    )
    assert result.stop == STOP_NO_TERMINATION and not result.finished
    assert result.limit == "predicted not to terminate (state at line 2 repeats)"
