"""Text shown in the editor: inlay-hint labels, tooltips and hover tables.

Hint labels come from :mod:`cwm_lsp.trace.render`, so the CLI and the editor agree: predicted
values read ``y ≈ 12``, observed ones ``y = 12`` (LSP inlay hints have no style, so the label
itself must tell them apart). Tooltips and hovers carry full values.
"""

from __future__ import annotations

from collections.abc import Sequence

from cwm_lsp.provenance import Origin
from cwm_lsp.server.run_table import SHOWN_ROWS, build_table, to_markdown, to_plaintext
from cwm_lsp.server.runs import FunctionRun
from cwm_lsp.server.view import RunView, focused_executions
from cwm_lsp.trace import render
from cwm_lsp.trace.timeline import LineExecution

STALE_LABEL = "⟳ stale: edited since the prediction"
RUNNING_LABEL = "… predicting"
INVENTED_LABEL = "invented call: "
STOPPED_LABEL = "⏹ "  # before the limit that stopped a trace early, on the def line


def cut(text: str, width: int) -> str:
    return render.format_value(text, width)


def inlay_label(
    executions: Sequence[LineExecution], width: int, *, observed: bool, suffix: str = ""
) -> str | None:
    """The inlay hint for one line, or ``None`` when the line changed nothing."""
    origin = Origin.OBSERVED if observed else Origin.PREDICTED
    label = render.hint_label(executions, width, origin)
    return label + suffix if label else None


def execution_table(
    executions: Sequence[LineExecution],
    *,
    plain: bool = False,
    limit: int = SHOWN_ROWS,
    show_all: str | None = None,
) -> str:
    """Every run of a line as a table (Markdown, or aligned plain text when ``plain``): one
    column per changed local, plus what the line returned or raised; capped at ``limit`` rows
    with a summary row."""
    table = build_table(executions, limit=limit)
    if plain:
        return to_plaintext(table, show_all=show_all)
    return to_markdown(table, show_all=show_all)


def dropped_note(view: RunView) -> str | None:
    """The hover note on frames that named lines holding no values, or ``None``."""
    runs = sum(view.dropped.values())
    if not runs:
        return None
    lines = len(view.dropped)
    where = "a line" if lines == 1 else f"{lines} lines"
    return (
        f"Not shown: {runs} step{'s' if runs != 1 else ''} of the trace named {where} that "
        "cannot hold values (a docstring, a comment or a blank line)."
    )


def render_lines(
    view: RunView,
    width: int,
    *,
    observed: bool,
    focus: tuple[int, int] | None = None,
    plain: bool = False,
) -> dict[int, tuple[str, str] | None]:
    """``(label, tooltip table)`` for every line of ``view`` (``None``: nothing to show),
    rendered once per view, width, origin, focus and markup."""
    key = (width, observed, focus, plain)
    rendered = view.rendered.get(key)
    if rendered is None:
        rendered = {}
        for number, line in view.lines.items():
            executions, suffix = focused_executions(view, line, focus)
            label = inlay_label(executions, width, observed=observed, suffix=suffix)
            table = execution_table(executions, plain=plain) if label else ""
            rendered[number] = (label, table) if label else None
        view.rendered[key] = rendered
    return rendered


def provenance_text(run: FunctionRun, *, plain: bool = False) -> str:
    """Where a run's values came from: the call and the model (or the sandboxed run)."""
    quoted = run.call if plain else f"`{run.call}`"
    call = quoted if run.call else "inputs invented by the model"
    where = run.provenance.describe() if run.provenance else "prediction running"
    if run.interpreter:
        where += f" with Python {run.interpreter}"
    if run.limit:  # never shown as a finished trace
        return f"From {call}, {where}; {run.limit}, so the trace ends early"
    return f"From {call}, {where}"
