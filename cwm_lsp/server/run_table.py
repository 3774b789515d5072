"""The table of one line's runs, shown in hovers and hint tooltips as Markdown or plain text.

What would repeat in every row is said once: each variable is named in its column's header only,
a column with the same value in every run is left out and stated above the table, and the call
and iteration columns appear only when they tell runs apart. A long table shows its first rows
and a summary row (how many runs; first, last, and for numbers min and max of each column).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cwm_lsp.trace import render
from cwm_lsp.trace.timeline import LineExecution

SHOWN_ROWS = 6  # rows of a capped table (with the summary row, it fits a hover without scrolling)
ALL_ROWS = 2000  # rows of an expanded table ("show all"); a hover has to stay readable
FULL_WIDTH = 10_000  # "no cut"
MISSING = "?"  # the trace does not give the value


@dataclass(frozen=True)
class RunTable:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the rows shown
    total: int  # how many runs the line had
    constants: tuple[tuple[str, str], ...]  # (column, value) the same in every run
    summary: tuple[str, ...] | None  # over every run, when rows were left out

    @property
    def hidden(self) -> int:
        """Runs left out of the rows (none when there are no columns to show)."""
        return self.total - len(self.rows) if self.columns else 0


def _value(text: str | None) -> str:
    return MISSING if text is None else render.format_value(text, FULL_WIDTH)


def _number(text: str) -> float | None:
    """``text`` as a number when it is an int or float literal (C parsers: a column can have
    100 000 cells)."""
    if not text or text[-1] in "jJ" or text.strip() != text:
        return None
    try:
        return float(int(text))
    except OverflowError:
        return None
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


class _Column:
    """One column's raw cells (``None``: the run did not set it), read lazily, with what the
    table needs from all of them gathered in one pass: whether it varies, its first and last
    values, and min/max while every value is a number."""

    def __init__(self, name: str, cell: Callable[[LineExecution], str | None]) -> None:
        self.name = name
        self.cell = cell

    def scan(self, executions: Sequence[LineExecution], *, numbers: bool) -> None:
        self.first: str | None = None
        self.last: str | None = None
        self.varies = False
        self.gaps = False
        self.low: tuple[float, str] | None = None
        self.high: tuple[float, str] | None = None
        self.numeric = numbers
        for execution in executions:
            value = self.cell(execution)
            if value is None:
                self.gaps = True
                continue
            if self.first is None:
                self.first = value
            elif value != self.first:
                self.varies = True
            self.last = value
            if self.numeric:
                number = _number(value)
                if number is None:
                    self.numeric = False
                    continue
                if self.low is None or number < self.low[0]:
                    self.low = (number, value)
                if self.high is None or number > self.high[0]:
                    self.high = (number, value)

    def summary(self) -> str:
        if self.first is None:
            return ""
        parts = [f"first {_value(self.first)}", f"last {_value(self.last)}"]
        if self.numeric and self.low is not None and self.high is not None:
            parts += [f"min {self.low[1]}", f"max {self.high[1]}"]
        return ", ".join(parts)


def _local(name: str) -> Callable[[LineExecution], str | None]:
    def cell(execution: LineExecution) -> str | None:
        if name not in execution.values:
            return None
        value = execution.values[name]
        return MISSING if value is None else value

    return cell


def _candidate_columns(executions: Sequence[LineExecution]) -> list[_Column]:
    calls: dict[int, int] = {}
    names: dict[str, None] = {}
    returns = raises = False
    for execution in executions:
        calls.setdefault(execution.invocation, len(calls) + 1)
        for name in execution.values:
            names.setdefault(name)
        returns = returns or (
            execution.returned is not None and execution.text.lstrip().startswith("return")
        )
        raises = raises or execution.exception is not None
    columns = [
        _Column("call", lambda e: str(calls[e.invocation])),
        _Column("iteration", lambda e: str(e.iteration + 1)),
    ]
    columns += [_Column(name, _local(name)) for name in names]
    if returns:
        columns.append(_Column("returns", lambda e: e.returned))
    if raises:
        columns.append(_Column("raises", lambda e: e.exception.describe() if e.exception else None))
    return columns


def build_table(executions: Sequence[LineExecution], *, limit: int = SHOWN_ROWS) -> RunTable:
    """The table of ``executions``, showing at most ``limit`` rows."""
    total = len(executions)
    capped = total > limit
    keep: list[_Column] = []
    constants: list[tuple[str, str]] = []
    for column in _candidate_columns(executions):
        structural = column.name in ("call", "iteration")
        column.scan(executions, numbers=capped and not structural)
        if structural:
            if column.varies:
                keep.append(column)
        elif total > 1 and not column.varies and not column.gaps and column.first is not None:
            constants.append((column.name, _value(column.first)))
        else:
            keep.append(column)
    if all(column.name in ("call", "iteration") for column in keep):
        return RunTable((), (), total, tuple(constants), None)  # nothing differs
    if capped and keep[0].name not in ("call", "iteration"):
        numbered = {id(e): str(number) for number, e in enumerate(executions, start=1)}
        keep.insert(0, _Column("runs", lambda e: numbered[id(e)]))
    rows = tuple(
        tuple(_cell(column, execution) for column in keep) for execution in executions[:limit]
    )
    summary: tuple[str, ...] | None = None
    if capped:
        summaries = [
            "" if column.name in ("call", "iteration", "runs") else column.summary()
            for column in keep
        ]
        summary = (f"{total} runs", *summaries[1:])
    return RunTable(tuple(c.name for c in keep), rows, total, tuple(constants), summary)


def _cell(column: _Column, execution: LineExecution) -> str:
    value = column.cell(execution)
    if value is None:
        return ""
    if column.name in ("call", "iteration", "runs", "raises"):
        return value
    return _value(value)


# ---------------------------------------------------------------------------------------- text


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _md_header(column: str) -> str:
    return column if column in ("call", "iteration", "returns", "raises", "runs") else f"`{column}`"


def to_markdown(table: RunTable, *, show_all: str | None = None) -> str:
    """The table as Markdown; ``show_all`` is a link target offered when rows were left out."""
    out: list[str] = []
    for column, value in table.constants:
        out.append(f"{_md_header(column)} = `{_md_cell(value)}` in every run")
    if table.columns:
        if out:
            out.append("")
        out.append("| " + " | ".join(_md_header(c) for c in table.columns) + " |")
        out.append("|" + "---|" * len(table.columns))
        out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows)
        if table.summary is not None:
            out.append(
                "| " + " | ".join(f"*{_md_cell(c)}*" if c else "" for c in table.summary) + " |"
            )
    if table.hidden > 0:
        note = f"Showing {len(table.rows)} of {table.total} runs."
        out += ["", note + (f" [Show all {table.total} runs]({show_all})" if show_all else "")]
    return "\n".join(out)


def to_plaintext(table: RunTable, *, show_all: str | None = None) -> str:
    """The table as aligned plain text; ``show_all`` names how to see every row."""
    out: list[str] = [f"{column} = {value} in every run" for column, value in table.constants]
    if table.columns:
        body = [list(table.columns), *(list(row) for row in table.rows)]
        if table.summary is not None:
            body.append(list(table.summary))
        widths = [max(len(row[i]) for row in body) for i in range(len(table.columns))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in body
        ]
        rule = "  ".join("-" * w for w in widths)
        if out:
            out.append("")
        out += [lines[0], rule, *lines[1 : 1 + len(table.rows)]]
        if table.summary is not None:
            out += [rule, lines[-1]]
    if table.hidden > 0:
        note = f"Showing {len(table.rows)} of {table.total} runs."
        out += ["", note + (f" {show_all}" if show_all else "")]
    return "\n".join(out)
