"""How a timeline is shown: one hint per source line, the same in the CLI and the editor.

All label formatting lives here (:func:`hint_label`, :func:`hint_labels`, :func:`format_value`)
so ``cwm-lsp`` CLI output and the language server's inlay hints always agree.

Label grammar (``≈`` marks predicted values, ``=`` observed ones; see :func:`relation`)::

    y ≈ 12                          one run assigned y = 12 (predicted)
    y = 2 → 4 → 12 → 48             four runs of the line (observed)
    i = 0 → 1 → … (100×) → 99       a long series: first two, count of all values, last
    a ≈ 1 → 2; b ≈ 2 → 3            several locals, separated by "; "
    ⮐ ≈ 48                          the line returned 48 (predicted); observed: ``⮐ 48``
    ⚠ ≈ ZeroDivisionError: division by zero      the line raised (observed: ``⚠ ZeroDivision…``)

Parts appear in the order values, return, exception, joined by ``"; "``. A value the trace does
not give is ``?``. Values longer than ``width`` characters are cut with ``…``. A comprehension's
own return (internal to the enclosing expression) and the implicit ``None`` of a function that ran off its
end are not shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cwm_lsp.lines import source_lines
from cwm_lsp.provenance import Origin
from cwm_lsp.trace.timeline import LineExecution, Timeline, timeline_to_json

__all__ = [
    "format_series",
    "format_value",
    "hint_label",
    "hint_labels",
    "relation",
    "render_text",
    "timeline_to_json",
]

ARROW = " → "
ELLIPSIS = "…"
RETURN_MARK = "⮐"
EXCEPTION_MARK = "⚠"
UNKNOWN_MARK = "?"
MAX_SERIES = 6  # longer series keep the first two values and the last one
PART_SEPARATOR = "; "


def relation(origin: Origin | str) -> str:
    """``≈`` for predicted values, ``=`` for observed ones.

    ``origin`` is an :class:`Origin` or its value (``"predicted"``, ``"observed"``); anything
    else counts as predicted.
    """
    return "=" if origin == Origin.OBSERVED else "≈"


def format_value(value: str | None, width: int = 60) -> str:
    """A repr for display: one line, at most ``width`` characters (cut with ``…``)."""
    if value is None:
        return UNKNOWN_MARK
    text = re.sub(r"\s*\n\s*", " ", value)
    width = max(width, 2)
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def format_series(values: Sequence[str | None], width: int = 60) -> str:
    """``2 → 4 → 12 → 48``; long series elided in the middle with the count of all values.

    A series of long values that would exceed ``width`` keeps only its first and last value,
    each cut to half the width: ``{1: 'a'} → … (4×) → {1: 'a', 2: …``.
    """
    shown = [format_value(value, width) for value in values]
    if len(shown) > MAX_SERIES:
        shown = [*shown[:2], f"{ELLIPSIS} ({len(values)}×)", shown[-1]]
    text = ARROW.join(shown)
    if len(values) > 1 and len(text) > width:
        half = max(width // 2, 8)
        middle = [f"{ELLIPSIS} ({len(values)}×)"] if len(values) > 2 else []
        text = ARROW.join([format_value(values[0], half), *middle, format_value(values[-1], half)])
    return text


def _shows_return(execution: LineExecution) -> bool:
    """False for returns an editor should not show: a comprehension's internal result, and the
    implicit ``None`` of a function or class body that ran off its end."""
    if execution.returned is None or execution.scope_kind == "comprehension":
        return False
    implicit = not execution.text.lstrip().startswith("return")
    return not (implicit and execution.returned == "None" and execution.scope_kind != "lambda")


def _mark(symbol: str, origin: Origin | str) -> str:
    return symbol if relation(origin) == "=" else f"{symbol} {relation(origin)}"


def hint_label(
    executions: Sequence[LineExecution],
    width: int = 60,
    origin: Origin | str = Origin.PREDICTED,
) -> str:
    """The hint for one source line from all its executions (in trace order).

    Returns ``""`` when the line changed nothing, returned nothing and raised nothing.
    """
    series: dict[str, list[str | None]] = {}
    returns: list[str | None] = []
    exceptions: list[str] = []
    for execution in executions:
        for name, value in execution.values.items():
            series.setdefault(name, []).append(value)
        if _shows_return(execution):
            returns.append(execution.returned)
        if execution.exception is not None:
            exceptions.append(execution.exception.describe())
    parts = [
        f"{name} {relation(origin)} {format_series(values, width)}"
        for name, values in series.items()
    ]
    if returns:
        parts.append(f"{_mark(RETURN_MARK, origin)} {format_series(returns, width)}")
    if exceptions:
        text = format_value(exceptions[-1], width)
        if len(exceptions) > 1:
            text += f" ({len(exceptions)}×)"
        parts.append(f"{_mark(EXCEPTION_MARK, origin)} {text}")
    return PART_SEPARATOR.join(parts)


def hint_labels(
    timeline: Timeline,
    *,
    width: int = 60,
    origin: Origin | str = Origin.PREDICTED,
    first_line: int = 1,
    last_line: int | None = None,
) -> dict[int, str]:
    """Non-empty hint labels by context line (1-based), for lines in the given range."""
    labels: dict[int, str] = {}
    for line in timeline.line_numbers():
        if line < first_line or (last_line is not None and line > last_line):
            continue
        label = hint_label(timeline.executions_on(line), width, origin)
        if label:
            labels[line] = label
    return labels


def _summary(timeline: Timeline, origin: Origin | str, width: int) -> str:
    result = timeline.result
    if result.exception is not None:
        return f"{_mark(EXCEPTION_MARK, origin)} raised {result.exception.describe()}"
    if result.complete:
        return f"{_mark(RETURN_MARK, origin)} {format_value(result.value, width)}"
    return "trace incomplete: the call did not return"


def render_text(
    timeline: Timeline,
    context_or_source: str,
    *,
    width: int = 60,
    first_line: int = 1,
    last_line: int | None = None,
    origin: Origin | str = Origin.PREDICTED,
    origin_label: str | None = None,
    line_numbers: bool = False,
    summary: bool = True,
) -> str:
    """The source annotated the way the editor shows it: ``code  # hint`` on lines with a hint.

    ``context_or_source`` is the trace context or just the module source (the context starts
    with it, so line numbers agree). Lines ``first_line`` to ``last_line`` (inclusive, default:
    all) are printed. ``origin`` picks the value marker (``≈`` predicted, ``=`` observed);
    ``origin_label`` (e.g. ``"predicted by CWM 32B (int8)"``) is printed as a first comment
    line when given; ``summary`` adds a last comment line with the call's result.
    """
    lines = source_lines(context_or_source)
    last = len(lines) if last_line is None else min(last_line, len(lines))
    labels = hint_labels(
        timeline, width=width, origin=origin, first_line=first_line, last_line=last
    )
    number_width = len(str(max(last, 1)))
    out: list[str] = []
    if origin_label:
        out.append(f"# {origin_label}")
    for number in range(max(first_line, 1), last + 1):
        text = lines[number - 1]
        label = labels.get(number)
        if label:
            text = f"{text}  # {label}"
        if line_numbers:
            text = f"{number:>{number_width}} | {text}"
        out.append(text)
    if summary:
        out.append(f"# {_summary(timeline, origin, width)}")
    return "\n".join(out) + "\n"
