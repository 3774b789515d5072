"""Text shown in the editor: inlay-hint labels, tooltips and hover tables.

Hint labels come from :mod:`cwm_lsp.trace.render`, so the CLI and the editor agree: predicted
values read ``y ≈ 12``, observed ones ``y = 12`` (LSP inlay hints have no style, so the label
itself must tell them apart). Tooltips and hovers carry full values.
"""

from __future__ import annotations

from collections.abc import Sequence

from cwm_lsp.backends.base import Origin
from cwm_lsp.server.view import RunView, focused_executions
from cwm_lsp.trace import render
from cwm_lsp.trace.timeline import LineExecution

STALE_LABEL = "⟳ stale: edited since the prediction"
RUNNING_LABEL = "… predicting"
FULL_WIDTH = 10_000  # "no cut" for tooltips and hovers
MAX_ROWS = 40


def cut(text: str, width: int) -> str:
    return render.format_value(text, width)


def hint_label(
    executions: Sequence[LineExecution], width: int, *, observed: bool, suffix: str = ""
) -> str | None:
    """The inlay hint for one line, or ``None`` when the line changed nothing."""
    origin = Origin.OBSERVED if observed else Origin.PREDICTED
    label = render.hint_label(executions, width, origin)
    return label + suffix if label else None


def tooltip_table(executions: Sequence[LineExecution], *, observed: bool) -> str:
    """Every run of a line with full values (Markdown)."""
    origin = Origin.OBSERVED if observed else Origin.PREDICTED
    return render.execution_table(list(executions)[:MAX_ROWS], width=FULL_WIDTH, origin=origin)


def _cell(text: str | None) -> str:
    shown = "?" if text is None else render.format_value(text, FULL_WIDTH)
    return shown.replace("|", "\\|").replace("`", "'")


def execution_table(executions: Sequence[LineExecution]) -> str:
    """A Markdown table: one row per execution (its iteration), one column per changed local,
    plus what the line returned or raised."""
    rows = list(executions)
    names: list[str] = []
    for execution in rows:
        for name in execution.values:
            if name not in names:
                names.append(name)
    has_return = any(e.returned is not None and e.text.lstrip().startswith("return") for e in rows)
    has_raise = any(e.exception is not None for e in rows)
    header = ["iteration", *names]
    header += ["returns"] if has_return else []
    header += ["raises"] if has_raise else []
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for execution in rows[:MAX_ROWS]:
        cells = [str(execution.iteration + 1)]
        cells += [_cell(execution.values[n]) if n in execution.values else "" for n in names]
        if has_return:
            cells.append(_cell(execution.returned) if execution.returned is not None else "")
        if has_raise:
            exception = execution.exception
            cells.append(_cell(exception.describe()) if exception else "")
        out.append("| " + " | ".join(cells) + " |")
    if len(rows) > MAX_ROWS:
        out.append(f"\n… and {len(rows) - MAX_ROWS} more runs")
    return "\n".join(out)


def render_lines(
    view: RunView, width: int, *, observed: bool, focus: tuple[int, int] | None = None
) -> dict[int, tuple[str, str] | None]:
    """``(label, tooltip table)`` for every line of ``view`` (``None``: nothing to show),
    rendered once per view, width, origin and focus."""
    key = (width, observed, focus)
    rendered = view.rendered.get(key)
    if rendered is None:
        rendered = {}
        for number, line in view.lines.items():
            executions, suffix = focused_executions(view, line, focus)
            label = hint_label(executions, width, observed=observed, suffix=suffix)
            table = tooltip_table(executions, observed=observed) if label else ""
            rendered[number] = (label, table) if label else None
        view.rendered[key] = rendered
    return rendered
