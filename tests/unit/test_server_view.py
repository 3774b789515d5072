"""The server's view of a trace (golden traces): lines, loop passes, focus, uncaught exceptions,
labels, and where a predicted trace departs from an observed one."""

from __future__ import annotations

import json
from dataclasses import replace

import goldens

from cwm_lsp.compare import first_divergence, same_value
from cwm_lsp.server.labels import execution_table, inlay_label
from cwm_lsp.server.view import build_view, enclosing_loop, focused_executions, loop_iterations
from cwm_lsp.trace.frames import Frame

GOLDEN = goldens.GOLDEN_DIR


def golden(name: str) -> tuple[list[Frame], str]:
    data = json.loads((GOLDEN / f"{name}.json").read_text())
    return [Frame.from_json(frame) for frame in data["frames"]], data["context"]


def test_lines_are_zero_based_and_labels_tell_predicted_from_observed() -> None:
    frames, context = golden("loop_accumulate")
    view = build_view(frames, context, finished=True)
    body = view.lines[3]
    assert body.text == "        y += y * i"
    assert inlay_label(body.executions, 60, observed=False) == "y ≈ 2 → 4 → 12 → 48"
    assert inlay_label(body.executions, 60, observed=True) == "y = 2 → 4 → 12 → 48"
    assert view.returned == "48" and view.uncaught is None


def test_loop_passes_and_focus() -> None:
    frames, context = golden("loop_accumulate")
    view = build_view(frames, context, finished=True)
    assert view.loops == {2: 3}
    assert enclosing_loop(view, 3) == 2 and enclosing_loop(view, 4) is None
    passes = loop_iterations(view, 2)
    assert len(passes) == 4  # the final check that leaves the loop is not a pass
    shown, suffix = focused_executions(view, view.lines[3], (2, 1))
    assert inlay_label(shown, 60, observed=True) == "y = 4" and suffix == ""
    header, header_suffix = focused_executions(view, view.lines[2], (2, 1))
    assert (
        inlay_label(header, 60, observed=True) == "i = 1" and header_suffix == " (iteration 2 of 4)"
    )
    outside, _ = focused_executions(view, view.lines[4], (2, 1))
    assert outside == view.lines[4].executions


def test_while_loop_passes() -> None:
    frames, context = golden("while_break")
    view = build_view(frames, context, finished=True)
    header = next(line for line, text in enumerate(context.splitlines()) if "while" in text)
    assert len(loop_iterations(view, header)) == 4


def test_uncaught_exception_points_at_the_raising_line() -> None:
    frames, context = golden("escaping_exception")
    view = build_view(frames, context, finished=True)
    assert view.uncaught is not None
    assert context.splitlines()[view.uncaught.line] == "    return first / total"
    assert view.uncaught.description == "ZeroDivisionError: division by zero"
    assert view.returned is None


def test_caught_exception_is_not_uncaught() -> None:
    frames, context = golden("caught_exception")
    assert build_view(frames, context, finished=True).uncaught is None


def test_hover_table_has_a_column_per_changed_local() -> None:
    frames, context = golden("loop_accumulate")
    view = build_view(frames, context, finished=True)
    table = execution_table(view.lines[3].executions).splitlines()
    assert table[0] == "| iteration | `y` |"
    assert table[2:] == ["| 1 | 2 |", "| 2 | 4 |", "| 3 | 12 |", "| 4 | 48 |"]


def test_a_partial_trace_still_has_a_view() -> None:
    frames, context = golden("loop_accumulate")
    view = build_view(frames[:9], context, finished=False)
    assert inlay_label(view.lines[3].executions, 60, observed=True) == "y = 2 → 4"
    assert view.returned is None


def test_identical_traces_agree_and_sets_compare_without_order() -> None:
    frames, context = golden("loop_accumulate")
    assert first_divergence(frames, frames, context) is None
    assert same_value("{'a', 'b'}", "{'b', 'a'}")
    assert same_value("frozenset({1, 2})", "frozenset({2, 1})")
    assert not same_value("['a', 'b']", "['b', 'a']")
    assert not same_value("{'a': 1}", "{'a': 2}")


def test_first_divergence_is_reported_at_the_line_that_produced_it() -> None:
    frames, context = golden("loop_accumulate")
    wrong = list(frames)
    index = next(i for i, f in enumerate(frames) if f.locals.get("y") == "12")
    wrong[index] = replace(frames[index], locals={**frames[index].locals, "y": "13"})
    divergence = first_divergence(wrong, frames, context)
    assert divergence is not None and divergence.line is not None
    assert context.splitlines()[divergence.line - 1] == "        y += y * i"
    assert divergence.message == "predicted y = 13, observed y = 12"


def test_divergence_in_return_value_and_in_length() -> None:
    frames, context = golden("loop_accumulate")
    wrong = [*frames[:-1], replace(frames[-1], arg="49")]
    divergence = first_divergence(wrong, frames, context)
    assert (
        divergence is not None and divergence.message == "predicted returns 49, observed returns 48"
    )
    short = first_divergence(frames[:5], frames, context)
    assert short is not None and "prediction stops here" in short.message
