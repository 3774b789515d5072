"""Hint labels and the annotated source, as the CLI and the editor show them."""

from __future__ import annotations

import json

import goldens

from cwm_lsp.provenance import Origin
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.parser import parse_trace
from cwm_lsp.trace.render import (
    format_series,
    format_value,
    hint_label,
    hint_labels,
    render_text,
)
from cwm_lsp.trace.timeline import LineExecution, Timeline, build_timeline

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDENS = {p.stem: json.loads(p.read_text()) for p in sorted(GOLDEN_DIR.glob("*.json"))}


def timeline_of(name: str) -> Timeline:
    golden = GOLDENS[name]
    return build_timeline(parse_trace(golden["trace_text"]).frames, golden["context"])


def test_loop_accumulate_observed_render() -> None:
    golden = GOLDENS["loop_accumulate"]
    text = render_text(timeline_of("loop_accumulate"), golden["source"], origin="observed")
    assert text == (
        "def f(a, b):\n"
        "    y = a  # y = 2\n"
        "    for i in range(b):  # i = 0 → 1 → 2 → 3\n"
        "        y += y * i  # y = 2 → 4 → 12 → 48\n"
        "    return y  # ⮐ 48\n"
        "# ⮐ 48\n"
    )


def test_predicted_labels_differ_from_observed() -> None:
    timeline = timeline_of("loop_accumulate")
    predicted = hint_labels(timeline, origin=Origin.PREDICTED)
    observed = hint_labels(timeline, origin=Origin.OBSERVED)
    assert predicted[4] == "y ≈ 2 → 4 → 12 → 48"
    assert predicted[5] == "⮐ ≈ 48"
    assert all(predicted[line] != observed[line] for line in predicted)
    default_width = hint_labels(timeline_of("count_letters"), origin="observed")
    assert default_width[3] == "c = 's' → 't' → … (10×) → 'y'"


def test_exception_return_and_recursion_labels() -> None:
    escaping = hint_labels(timeline_of("escaping_exception"), origin="observed")
    assert escaping[4] == "⚠ ZeroDivisionError: division by zero"
    assert escaping[2] == "total = 0"
    recursion = hint_labels(timeline_of("recursion"), origin="observed")
    assert recursion[4] == "⮐ 6 → 2"
    assert recursion[3] == "⮐ 1"
    assert 2 not in recursion  # `if n <= 1:` changes nothing
    closure = hint_labels(timeline_of("comprehension_and_closure"), origin="observed")
    assert closure[3] == "⮐ 10 → 30"
    assert closure[4] == "v = 1 → 0 → 3; ⮐ [10, 30]"  # the comprehension's own return is hidden
    method = hint_labels(timeline_of("method_and_object"), origin="observed")
    assert 3 not in method  # __init__'s implicit None is not shown
    caught = hint_labels(timeline_of("caught_exception"), origin="observed")
    assert caught[3].startswith("⚠ ValueError: invalid literal")
    assert caught[7] == "⮐ None"  # an explicit `return None` is


def _run(value: str, iteration: int) -> LineExecution:
    return LineExecution(2, "    i += 1\n", 1, iteration, iteration, {}, values={"i": value})


def test_long_series_and_long_values_are_cut() -> None:
    runs = [_run(str(k), k) for k in range(100)]
    assert hint_label(runs, 60, "observed") == "i = 0 → 1 → … (100×) → 99"
    assert format_series(["1", None], 60) == "1 → ?"
    assert format_value("x" * 100, 10) == "x" * 9 + "…"
    assert format_value("'a\nb'", 10) == "'a b'"
    label = hint_label([_run("[" + "7, " * 50 + "]", 0)], 20, "observed")
    assert label == "i = " + ("[" + "7, " * 50)[:19] + "…"
    wide = hint_label([_run("{1: " + "x" * 40 + "}", k) for k in range(3)], 30, "observed")
    assert wide.startswith("i = {1: xxx") and "… (3×) →" in wide
    assert len(wide) < 50


def test_render_range_numbers_and_header() -> None:
    golden = GOLDENS["count_letters"]
    text = render_text(
        timeline_of("count_letters"),
        golden["context"],
        first_line=2,
        last_line=5,
        origin=Origin.PREDICTED,
        origin_label="predicted by CWM 32B (int8)",
        line_numbers=True,
        width=12,
    )
    assert text.splitlines() == [
        "# predicted by CWM 32B (int8)",
        "2 |     n = 0  # n ≈ 0",
        "3 |     for c in s:  # c ≈ 's' → … (10×) → 'y'",  # narrow: first and last only
        "4 |         n += int(c == letter)  # n ≈ 0 → … (10×) → 3",
        "5 |     return n  # ⮐ ≈ 3",
        "# ⮐ ≈ 'Found 0003…",
    ]


def test_render_summaries_for_raised_and_incomplete() -> None:
    golden = GOLDENS["escaping_exception"]
    raised = render_text(timeline_of("escaping_exception"), golden["source"], origin="observed")
    assert raised.endswith("# ⚠ raised ZeroDivisionError: division by zero\n")
    frames = parse_trace(GOLDENS["loop_accumulate"]["trace_text"]).frames[:6]
    partial = build_timeline(frames, GOLDENS["loop_accumulate"]["context"])
    text = render_text(partial, GOLDENS["loop_accumulate"]["source"], summary=True)
    assert text.endswith("# trace incomplete: the call did not return\n")
    assert "    for i in range(b):  # i ≈ 0\n" in text
    assert "    y += y * i\n" in text  # its effect is not known yet: no hint


def test_unknown_values_and_garbage_do_not_break_rendering() -> None:
    frames = [
        Frame(Event.CALL, "def f(a):\n", {"a": ".."}),
        Frame(Event.LINE, "    b = a\n", {"a": ".."}),
        Frame(Event.LINE, "    return b\n", {"a": "..", "b": ".."}),
        Frame(Event.EXCEPTION, "    return b\n", {}, "not a triple"),
    ]
    timeline = build_timeline(frames, "def f(a):\n    b = a\n    return b\n")
    text = render_text(timeline, "def f(a):\n    b = a\n    return b\n", origin="observed")
    assert "    b = a  # b = ?\n" in text
    assert "    return b  # ⚠ not a triple\n" in text


def test_lines_are_numbered_as_python_numbers_them() -> None:
    # A form feed or U+2028 inside a line does not end it for Python; labels stay on their line.
    golden = GOLDENS["loop_accumulate"]
    source = golden["source"].replace("def f(a, b):", "def f(a, b):  # page\x0cbreak \u2028", 1)
    text = render_text(timeline_of("loop_accumulate"), source, origin="observed")
    assert text.split("\n")[:3] == [
        "def f(a, b):  # page\x0cbreak \u2028",
        "    y = a  # y = 2",
        "    for i in range(b):  # i = 0 → 1 → 2 → 3",
    ]
