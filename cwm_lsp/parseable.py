"""The part of a source that parses, when the whole does not.

A syntax error in one function should not stop predictions of the others. The source is cut
into top-level blocks (a statement at column 0 with its indented body, decorators and
``else``/``except``/``finally`` clauses); blocks that do not parse on their own become blank
lines, so every line keeps its number and positions in the editor stay valid.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from cwm_lsp.lines import source_lines

# A line at column 0 starting with one of these continues the block above it.
_CONTINUES = ("else", "elif", "except", "finally", "case")


@dataclass(frozen=True)
class SyntaxProblem:
    """Where a source fails to parse: 1-based line, 0-based columns (end exclusive)."""

    message: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Trimmed:
    """``source`` with the blocks that do not parse blanked out (``left_out``: 1-based
    inclusive line spans), and the first syntax error of the whole source."""

    source: str
    left_out: tuple[tuple[int, int], ...]
    problem: SyntaxProblem

    def describe(self) -> str:
        spans = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in self.left_out)
        return f"line {self.problem.line}: {self.problem.message}; left out line(s) {spans}"


def syntax_problem(source: str) -> SyntaxProblem | None:
    """The first syntax error of ``source``, or ``None`` when it parses."""
    try:
        ast.parse(source)
    except SyntaxError as error:
        line = error.lineno or 1
        column = max((error.offset or 1) - 1, 0)
        end_line = error.end_lineno or line
        end_column = (error.end_offset or 0) - 1
        if end_line == line and end_column <= column:
            end_column = column + 1
        return SyntaxProblem(error.msg, line, column, end_line, end_column)
    except ValueError as error:  # null bytes
        return SyntaxProblem(str(error), 1, 0, 1, 1)
    return None


def _starts_block(text: str) -> bool:
    if not text or text[0] in " \t#" or not text.strip():
        return False
    word = text.split(None, 1)[0].rstrip(":")
    return word not in _CONTINUES


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """0-based inclusive line spans of the top-level blocks."""
    starts = [number for number, text in enumerate(lines) if _starts_block(text)]
    # Decorators belong to the definition under them.
    merged: list[int] = []
    previous: int | None = None
    for start in starts:
        if previous is None or not lines[previous].startswith("@"):
            merged.append(start)
        previous = start
    spans: list[tuple[int, int]] = []
    for index, start in enumerate(merged):
        end = merged[index + 1] - 1 if index + 1 < len(merged) else len(lines) - 1
        spans.append((start, end))
    if merged and merged[0] > 0:
        spans.insert(0, (0, merged[0] - 1))
    return spans


def trim_to_parseable(source: str) -> Trimmed | None:
    """The source with its unparseable blocks blanked out, or ``None`` when it parses as it
    is or when no trimming makes it parse."""
    problem = syntax_problem(source)
    if problem is None:
        return None
    lines = source_lines(source, keepends=True)
    bare = [line.rstrip("\r\n") for line in lines]
    kept = list(lines)
    left_out: list[tuple[int, int]] = []
    for first, last in _blocks(bare):
        block = "".join(lines[first : last + 1])
        if syntax_problem(block) is None:
            continue
        for number in range(first, last + 1):
            ending = lines[number][len(bare[number]) :]
            kept[number] = ending or "\n"
        left_out.append((first + 1, last + 1))
    trimmed = "".join(kept)
    if not left_out or syntax_problem(trimmed) is not None:
        return None
    return Trimmed(trimmed, tuple(left_out), problem)
