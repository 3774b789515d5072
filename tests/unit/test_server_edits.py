"""Following results through edits: moved blocks, stale blocks, and whole-document changes."""

from __future__ import annotations

from cwm_lsp.server.edits import LineSpan, TextChange, relocate_lines, span_after_change

SPAN = LineSpan(10, 14)


def insert(line: int, character: int, text: str) -> TextChange:
    return TextChange(line, character, line, character, text)


def test_an_edit_above_moves_the_span() -> None:
    assert span_after_change(SPAN, insert(2, 0, "x = 1\ny = 2\n")) == LineSpan(12, 16)
    assert span_after_change(SPAN, TextChange(3, 0, 5, 0, "")) == LineSpan(8, 12)
    assert span_after_change(SPAN, insert(9, 4, "more text")) == SPAN  # same line count


def test_whole_lines_inserted_at_the_first_line_move_it() -> None:
    assert span_after_change(SPAN, insert(10, 0, "# prophecy: f(1)\n")) == LineSpan(11, 15)


def test_an_edit_inside_makes_it_stale() -> None:
    assert span_after_change(SPAN, insert(12, 4, "z")) is None
    assert span_after_change(SPAN, insert(10, 3, "\n")) is None
    assert span_after_change(SPAN, TextChange(8, 0, 11, 0, "")) is None  # overlaps the start
    assert span_after_change(SPAN, insert(14, 8, "+1")) is None


def test_an_edit_below_changes_nothing() -> None:
    assert span_after_change(SPAN, insert(15, 0, "def g():\n    pass\n")) == SPAN


def test_relocating_after_a_full_document_change() -> None:
    old = ["def f():", "    return 1"]
    assert relocate_lines(old, ["import os", "", "def f():", "    return 1"], 0) == 2
    assert relocate_lines(old, ["def f():", "    return 2"], 0) is None
    twice = ["def f():", "    return 1", "def f():", "    return 1"]
    assert relocate_lines(old, twice, 2) == 2
    assert relocate_lines([], twice, 0) is None
