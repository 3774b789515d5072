"""What the editor shows for one trace, indexed for the server's requests.

A thin layer over :func:`cwm_lsp.trace.timeline.build_timeline`: executions grouped by 0-based
context line (LSP lines), the loops of the context (for iteration focus), and the uncaught
exception's raising line (for diagnostics).

A model can name a line that no statement starts on (a docstring, a comment, a blank line): such
executions are left out of the view and counted in ``dropped``, so no hint lands there.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from cwm_lsp.lines import source_lines
from cwm_lsp.syntax import parsed_or_none
from cwm_lsp.trace.frames import Frame
from cwm_lsp.trace.timeline import LineExecution, Timeline, build_timeline


@dataclass
class LineView:
    line: int  # 0-based context line
    text: str
    executions: list[LineExecution] = field(default_factory=list)


@dataclass(frozen=True)
class Uncaught:
    line: int  # 0-based context line where the exception was raised
    description: str  # "ZeroDivisionError: division by zero"


@dataclass
class RunView:
    timeline: Timeline
    lines: dict[int, LineView]
    finished: bool
    loops: dict[int, int] = field(default_factory=dict)  # loop header -> last body line (0-based)
    dropped: dict[int, int] = field(default_factory=dict)  # line that holds no values -> runs
    tables: dict[tuple[object, ...], str] = field(default_factory=dict)  # hover tables, rendered
    # Rendered (label, tooltip table) per line, per (width, observed, focus): a line run 100 000
    # times takes a while to render, so it is rendered once per view, not once per request.
    rendered: dict[tuple[object, ...], dict[int, tuple[str, str] | None]] = field(
        default_factory=dict
    )

    @property
    def returned(self) -> str | None:
        """What the traced call returned, when it did."""
        result = self.timeline.result
        if result.exception is not None or not result.complete:
            return None
        return result.value

    @property
    def uncaught(self) -> Uncaught | None:
        """The exception that left the traced call, located where it was raised."""
        result = self.timeline.result
        if result.exception is None:
            return None
        for execution in self.timeline.executions:
            exception = execution.exception
            if exception and exception.uncaught and exception.raised_here and execution.line:
                return Uncaught(execution.line - 1, exception.describe())
        if result.exception.line:
            return Uncaught(result.exception.line - 1, result.exception.describe())
        return None


def _loops(context: str) -> dict[int, int]:
    tree = parsed_or_none(context)
    if tree is None:
        return {}
    return {
        node.lineno - 1: (node.end_lineno or node.lineno) - 1
        for node in ast.walk(tree)
        if isinstance(node, ast.For | ast.While | ast.AsyncFor)
    }


def _docstring_lines(tree: ast.Module) -> set[int]:
    """0-based lines of the module's, classes' and functions' docstrings."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            found.update(range(first.lineno - 1, (first.end_lineno or first.lineno)))
    return found


@functools.lru_cache(maxsize=16)  # a streaming prediction rebuilds its view a few times a second
def valueless_lines(context: str) -> frozenset[int]:
    """0-based lines of ``context`` that cannot hold values: blank lines, comment lines and
    docstrings."""
    lines = source_lines(context)
    found = {
        number
        for number, text in enumerate(lines)
        if not text.strip() or text.lstrip().startswith("#")
    }
    tree = parsed_or_none(context)
    if tree is not None:  # a context that does not parse has no docstrings to skip
        found |= _docstring_lines(tree)
    return frozenset(found)


def build_view(frames: Sequence[Frame], context: str, *, finished: bool) -> RunView:
    """The view of ``frames`` (a whole or partial trace) of ``context``."""
    return view_of(build_timeline(frames, context), context, finished=finished)


def view_of(timeline: Timeline, context: str, *, finished: bool) -> RunView:
    """The view of an already built timeline of ``context``."""
    context_lines = source_lines(context)
    valueless = valueless_lines(context)
    lines: dict[int, LineView] = {}
    dropped: dict[int, int] = {}
    for number in timeline.line_numbers():
        executions = timeline.executions_on(number)
        if number - 1 in valueless:
            dropped[number - 1] = len(executions)
            continue
        text = context_lines[number - 1] if 0 < number <= len(context_lines) else ""
        lines[number - 1] = LineView(number - 1, text, executions)
    return RunView(timeline, lines, finished, _loops(context), dropped=dropped)


@dataclass(frozen=True)
class Iteration:
    """One pass through a loop: the header's execution and the frames up to the next one."""

    index: int
    header: LineExecution
    first_frame: int
    end_frame: int  # exclusive


def loop_iterations(view: RunView, header: int) -> list[Iteration]:
    """The passes through the loop whose header is context line ``header`` (in the first
    invocation that ran it); a final header check that leaves the loop is not a pass."""
    line = view.lines.get(header)
    last_body = view.loops.get(header)
    if line is None or last_body is None or not line.executions:
        return []
    invocation = line.executions[0].invocation
    headers = [e for e in line.executions if e.invocation == invocation]
    body_starts = sorted(
        e.frame_index
        for number, body in view.lines.items()
        if header < number <= last_body
        for e in body.executions
        if e.invocation == invocation
    )
    passes: list[Iteration] = []
    for position, execution in enumerate(headers):
        end = headers[position + 1].frame_index if position + 1 < len(headers) else 1 << 60
        if any(execution.frame_index < start < end for start in body_starts):
            passes.append(Iteration(len(passes), execution, execution.frame_index, end))
    return passes


def enclosing_loop(view: RunView, line: int) -> int | None:
    """The innermost loop header whose loop holds context line ``line``."""
    holding = [h for h, last in view.loops.items() if h <= line <= last and h in view.lines]
    return max(holding) if holding else None


def focused_executions(
    view: RunView, line: LineView, focus: tuple[int, int] | None
) -> tuple[list[LineExecution], str]:
    """The executions of ``line`` to show when pinned to one loop pass, and a label suffix."""
    if focus is None:
        return line.executions, ""
    header, iteration = focus
    last = view.loops.get(header)
    if last is None or not header <= line.line <= last:
        return line.executions, ""
    passes = loop_iterations(view, header)
    if not 0 <= iteration < len(passes):
        return line.executions, ""
    chosen = passes[iteration]
    if line.line == header:
        return [chosen.header], f" (iteration {iteration + 1} of {len(passes)})"
    invocation = chosen.header.invocation
    inside = [
        e
        for e in line.executions
        if e.invocation == invocation and chosen.first_frame < e.frame_index < chosen.end_frame
    ]
    return inside, ""
