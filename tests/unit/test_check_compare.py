"""Predicted vs observed traces: the first divergence, located and described."""

from __future__ import annotations

import dataclasses
import json

import goldens

from cwm_lsp.compare import canonical_repr, first_divergence, same_value
from cwm_lsp.trace.frames import Event, Frame

GOLDEN = json.loads((goldens.GOLDEN_DIR / "loop_accumulate.json").read_text(encoding="utf-8"))
FRAMES = [Frame.from_json(item) for item in GOLDEN["frames"]]
CONTEXT = GOLDEN["context"]


def test_identical_traces_do_not_diverge() -> None:
    assert first_divergence(FRAMES, list(FRAMES), CONTEXT) is None


def test_a_wrong_value_is_reported_at_the_line_that_produced_it() -> None:
    index = next(
        i
        for i, frame in enumerate(FRAMES)
        if frame.event is Event.LINE and frame.locals.get("y") not in (None, "..", "2")
    )
    wrong = dict(FRAMES[index].locals, y="999")
    predicted = list(FRAMES)
    predicted[index] = dataclasses.replace(FRAMES[index], locals=wrong)
    found = first_divergence(predicted, FRAMES, CONTEXT)
    assert found is not None
    assert (found.frame_index, found.what, found.variable) == (index, "variable", "y")
    assert found.predicted == "999" and found.observed == FRAMES[index].locals["y"]
    assert found.line == 4 and found.source_line == "        y += y * i\n"
    assert found.describe() == f"line 4 `y += y * i`: y predicted 999, observed {found.observed}"


def test_a_shorter_prediction_diverges_where_it_ends() -> None:
    found = first_divergence(FRAMES[:5], FRAMES, CONTEXT)
    assert found is not None
    assert (found.frame_index, found.what, found.predicted) == (5, "next event", "end of trace")
    assert found.observed == "line at `y += y * i`"


def test_a_different_return_value_and_a_different_path() -> None:
    predicted = list(FRAMES)
    predicted[-1] = dataclasses.replace(FRAMES[-1], arg="0")
    found = first_divergence(predicted, FRAMES, CONTEXT)
    assert found is not None and found.what == "return value"
    assert (found.predicted, found.observed) == ("0", FRAMES[-1].arg)

    skipped = FRAMES[:4] + FRAMES[5:]
    path = first_divergence(skipped, FRAMES, CONTEXT)
    assert path is not None and path.frame_index == 4 and path.what == "line"
    assert path.describe(in_file=False).startswith("frame 4 ")


def test_set_order_does_not_matter_but_set_contents_do() -> None:
    def trace(value: str) -> list[Frame]:
        return [
            Frame(Event.CALL, "def main():  # << START_OF_TRACE\n", {}),
            Frame(Event.LINE, "    return f()\n", {}),
            Frame(Event.RETURN, "    return f()\n", {}, value),
        ]

    context = "def f():\n    return {1, 2}\n\ndef main():  # << START_OF_TRACE\n    return f()\n"
    assert first_divergence(trace("{2, 1}"), trace("{1, 2}"), context) is None
    assert first_divergence(trace("{1, 3}"), trace("{1, 2}"), context) is not None


def test_canonical_repr_sorts_nested_sets_and_blanks_addresses() -> None:
    assert same_value("{'b', 'a'}", "{'a', 'b'}")
    assert same_value("frozenset({3, 1, 2})", "frozenset({1, 2, 3})")
    assert same_value("{'k': {2, 1}, 'j': [{'y', 'x'}]}", "{'k': {1, 2}, 'j': [{'x', 'y'}]}")
    assert not same_value("{'k': 1, 'j': 2}", "{'j': 2, 'k': 1}")  # dict order is real
    assert not same_value("[2, 1]", "[1, 2]")
    assert same_value("<m.Box object at 0x7f00aa>", "<m.Box object at 0x7f11bb>")
    assert canonical_repr("not python (") == "not python ("
    assert not same_value(None, "1") and same_value(None, None)
