"""The table of one line's runs, shown in hovers and hint tooltips as Markdown or plain text.

What would repeat in every row is said once: each variable is named in its column's header only,
a column with the same value in every run is left out and stated above the table, and the call
and iteration columns appear only when they tell runs apart. A long table shows its first rows
and a summary row (how many runs; first, last, and for numbers min and max of each column).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from cwm_lsp.trace import render
from cwm_lsp.trace.timeline import LineExecution

SHOWN_ROWS = 12  # rows of a capped table
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


def _columns(executions: Sequence[LineExecution]) -> tuple[list[str], list[list[str]]]:
    """Every candidate column and every row's cells (empty: the run did not set it)."""
    calls: dict[int, int] = {}
    for execution in executions:
        calls.setdefault(execution.invocation, len(calls) + 1)
    names: list[str] = []
    for execution in executions:
        names.extend(name for name in execution.values if name not in names)
    returns = any(
        e.returned is not None and e.text.lstrip().startswith("return") for e in executions
    )
    raises = any(e.exception is not None for e in executions)
    columns = ["call", "iteration", *names]
    columns += ["returns"] if returns else []
    columns += ["raises"] if raises else []
    rows: list[list[str]] = []
    for execution in executions:
        row = [str(calls[execution.invocation]), str(execution.iteration + 1)]
        row += [_value(execution.values[n]) if n in execution.values else "" for n in names]
        if returns:
            row.append(_value(execution.returned) if execution.returned is not None else "")
        if raises:
            exception = execution.exception
            row.append(exception.describe() if exception else "")
        rows.append(row)
    return columns, rows


def _number(text: str) -> float | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _summarize(values: list[str]) -> str:
    present = [value for value in values if value]
    if not present:
        return ""
    parts = [f"first {present[0]}", f"last {present[-1]}"]
    numbers = [(number, value) for value in present if (number := _number(value)) is not None]
    if len(numbers) == len(present):
        parts += [f"min {min(numbers)[1]}", f"max {max(numbers)[1]}"]
    return ", ".join(parts)


def build_table(executions: Sequence[LineExecution], *, limit: int = SHOWN_ROWS) -> RunTable:
    """The table of ``executions``, showing at most ``limit`` rows."""
    columns, rows = _columns(executions)
    keep: list[int] = []
    constants: list[tuple[str, str]] = []
    for index, column in enumerate(columns):
        distinct = {row[index] for row in rows}
        if column in ("call", "iteration"):
            if len(distinct) > 1:
                keep.append(index)
        elif len(rows) > 1 and len(distinct) == 1 and "" not in distinct:
            constants.append((column, next(iter(distinct))))
        else:
            keep.append(index)
    if all(columns[i] in ("call", "iteration") for i in keep):
        return RunTable((), (), len(rows), tuple(constants), None)  # nothing differs
    kept_rows = [tuple(row[i] for i in keep) for row in rows]
    kept_columns = tuple(columns[i] for i in keep)
    summary: tuple[str, ...] | None = None
    if len(rows) > limit:
        if not kept_columns or kept_columns[0] not in ("call", "iteration"):
            kept_columns = ("runs", *kept_columns)
            kept_rows = [(str(number), *row) for number, row in enumerate(kept_rows, start=1)]
        summaries = [
            "" if column in ("call", "iteration") else _summarize([row[i] for row in kept_rows])
            for i, column in enumerate(kept_columns)
        ]
        summary = (f"{len(rows)} runs", *summaries[1:])
    return RunTable(kept_columns, tuple(kept_rows[:limit]), len(rows), tuple(constants), summary)


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
