"""Where a block of lines is after an edit, or that the edit touched it.

Results are tied to the lines they were predicted for. After an edit inside those lines the
results describe code that no longer exists (they become stale); after an edit above them they
still hold, only further down or up. Lines are 0-based, spans inclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cwm_lsp.lines import line_break_count


@dataclass(frozen=True)
class LineSpan:
    first: int
    last: int

    def shifted(self, delta: int) -> LineSpan:
        return LineSpan(self.first + delta, self.last + delta)

    def contains(self, line: int) -> bool:
        return self.first <= line <= self.last


@dataclass(frozen=True)
class TextChange:
    """An incremental change: the text between two positions replaced by ``text``."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    text: str

    @property
    def line_delta(self) -> int:
        return line_break_count(self.text) - (self.end_line - self.start_line)


def span_after_change(span: LineSpan, change: TextChange) -> LineSpan | None:
    """``span`` after ``change``, or ``None`` when the change touched it."""
    if change.end_line < span.first:
        return span.shifted(change.line_delta)
    inserts_whole_lines_above = (
        change.start_line == change.end_line == span.first
        and change.start_character == change.end_character == 0
        and change.text.endswith(("\n", "\r"))
    )
    if inserts_whole_lines_above:
        return span.shifted(change.line_delta)
    if change.start_line > span.last:
        return span
    return None


def relocate_lines(old_lines: Sequence[str], new_lines: Sequence[str], near: int) -> int | None:
    """The first line of the occurrence of ``old_lines`` in ``new_lines`` closest to ``near``.

    Used when a client sends the whole document instead of a change: the block moved if it is
    still there verbatim, and was edited if not.
    """
    if not old_lines:
        return None
    width = len(old_lines)
    candidates = [
        start
        for start in range(len(new_lines) - width + 1)
        if new_lines[start] == old_lines[0]
        and list(new_lines[start : start + width]) == list(old_lines)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda start: abs(start - near))
