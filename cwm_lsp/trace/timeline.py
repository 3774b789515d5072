"""What a trace means per source line: invocations, line executions and their effects.

:func:`build_timeline` turns frames (diff form, as parsed) and the trace context into a
:class:`Timeline`:

- one :class:`Invocation` per scope (function, method, lambda, comprehension call): its name,
  call line, arguments, depth, caller, return value or escaping exception;
- one :class:`LineExecution` per line frame: the line number in the context, the state before
  the line ran, the values it produced (``changes``: the difference between its own state and
  the next state of the same scope), its iteration index within the invocation, the value it
  returned, the exception it raised, and the calls it made.

A line's effect shows in the *next* frame of its scope (a line frame is recorded before the line
runs), so the last line of an unfinished trace has ``effect_known = False``.

Line numbers are those of the context. The context starts with the user's module source
verbatim, so for the module part they are the file's line numbers.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.linemap import ContextIndex, LineMap, map_lines
from cwm_lsp.trace.resolve import ResolvedFrame, resolve_states

__all__ = [
    "EntryResult",
    "ExceptionInfo",
    "Invocation",
    "LineExecution",
    "Timeline",
    "TimelineBuilder",
    "TimelineProblem",
    "build_timeline",
    "describe_exception",
    "timeline_to_json",
]

_TRIPLE_RE = re.compile(r"^\(<class '(?P<type>[^']*)'>, (?P<value>.*), <traceback object>\)$", re.S)
_CALL_RE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\((?P<args>.*)\)$", re.S)


@dataclass
class ExceptionInfo:
    """An exception event. ``text`` is the raw repr from the trace.

    ``raised_here`` is False when the exception came out of a call made on this line.
    ``caught`` is True when a line of the same invocation ran after it (it was handled there).
    ``uncaught`` is True when it left the entry scope: the traced call raised it.
    """

    text: str
    type_name: str
    message: str
    line: int | None
    invocation: int
    raised_here: bool = True
    caught: bool = False
    uncaught: bool = False
    from_invocation: int | None = None  # the callee it came out of, when not raised here

    def describe(self) -> str:
        """``ZeroDivisionError: division by zero`` (just the type when there is no message)."""
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


def describe_exception(text: str) -> tuple[str, str]:
    """``(type name, message)`` from an exception repr or ``(type, value, traceback)`` triple."""
    value = text.strip()
    type_name = ""
    triple = _TRIPLE_RE.match(value)
    if triple:
        type_name = triple.group("type").rsplit(".", 1)[-1]
        value = triple.group("value").strip()
    call = _CALL_RE.match(value)
    if not call:
        return type_name or value, "" if not type_name else value
    type_name = type_name or call.group("name").rsplit(".", 1)[-1]
    args_text = call.group("args")
    args: tuple[Any, ...] = ()
    try:
        if args_text.strip():
            args = tuple(ast.literal_eval(f"({args_text},)"))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return type_name, args_text
    if len(args) == 1:
        return type_name, str(args[0])
    return type_name, ", ".join(repr(arg) for arg in args)


@dataclass
class LineExecution:
    """One run of one line in one invocation.

    ``iteration`` counts runs of this line within its invocation from 0. ``state`` is the locals
    before the line ran; ``changes`` maps each local the line created or changed to its new repr
    (None when the trace does not give it); ``removed`` lists locals that disappeared.
    ``values`` is what an editor shows for the run: ``changes`` plus the locals the line's
    statement assigns even when the value stayed the same (``y += y * 0`` still shows ``y = 2``;
    a ``for`` header's target only when the loop body runs next).
    """

    line: int | None
    text: str
    invocation: int
    iteration: int
    frame_index: int
    state: dict[str, str | None]
    changes: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, str | None] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    returned: str | None = None
    exception: ExceptionInfo | None = None
    calls: list[int] = field(default_factory=list)
    effect_known: bool = False
    scope_kind: str = "function"  # the invocation's kind (a comprehension's return is internal)

    @property
    def did_return(self) -> bool:
        return self.returned is not None


@dataclass
class Invocation:
    """One call (scope). ``function`` is the qualified name when the code block is known.

    ``kind`` is the code block kind (``function``, ``class``, ``lambda``, ``comprehension``,
    ``inline`` or ``unknown``). ``caller_execution`` indexes ``Timeline.executions``.
    """

    id: int
    function: str
    kind: str
    call_line: int | None
    def_text: str
    arguments: dict[str, str | None]
    depth: int
    caller: int | None
    caller_line: int | None
    caller_execution: int | None
    start_line: int | None = None
    end_line: int | None = None
    executions: list[int] = field(default_factory=list)
    return_value: str | None = None
    exception: ExceptionInfo | None = None
    finished: bool = False

    @property
    def raised(self) -> bool:
        return self.exception is not None


@dataclass
class EntryResult:
    """The traced call's outcome: its return value's repr, or the exception that left it."""

    value: str | None
    exception: ExceptionInfo | None
    complete: bool

    @property
    def raised(self) -> bool:
        return self.exception is not None


@dataclass(frozen=True)
class TimelineProblem:
    frame_index: int
    message: str

    def __str__(self) -> str:
        return f"frame {self.frame_index}: {self.message}"


@dataclass
class Timeline:
    invocations: list[Invocation]
    executions: list[LineExecution]
    result: EntryResult
    problems: list[TimelineProblem]
    frame_count: int
    source_path: str | None = None
    _by_line: dict[int, list[int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """The entry scope returned or raised out (the trace covers the whole call)."""
        return self.result.complete

    @property
    def entry(self) -> Invocation | None:
        return self.invocations[0] if self.invocations else None

    def line_numbers(self) -> list[int]:
        """Context lines that ran at least once, in order."""
        return sorted(self._by_line)

    def executions_on(self, line: int) -> list[LineExecution]:
        """Every run of ``line`` across all invocations, in trace order."""
        return [self.executions[i] for i in self._by_line.get(line, [])]

    def invocations_of(self, function: str) -> list[Invocation]:
        """Invocations whose (qualified or plain) name is ``function``."""
        return [
            inv
            for inv in self.invocations
            if inv.function == function or inv.function.rsplit(".", 1)[-1] == function
        ]


class TimelineBuilder:
    """Rebuilds a timeline as frames stream in, parsing the context only once.

    Each :meth:`timeline` call with new frames rebuilds in time linear in the trace length (a
    later frame can change how earlier lines map), so a streaming caller should rebuild at a
    bounded rate rather than on every frame.
    """

    def __init__(self, context: str | ContextIndex, *, source_path: str | None = None) -> None:
        self.index = context if isinstance(context, ContextIndex) else ContextIndex(context)
        self.source_path = source_path
        self.frames: list[Frame] = []
        self._built: Timeline | None = None

    def add(self, frames: Sequence[Frame]) -> None:
        if frames:
            self.frames.extend(frames)
            self._built = None

    def timeline(self) -> Timeline:
        if self._built is None:
            self._built = build_timeline(self.frames, self.index, source_path=self.source_path)
        return self._built


def build_timeline(
    frames: Sequence[Frame], context: str | ContextIndex, *, source_path: str | None = None
) -> Timeline:
    """Build the timeline of a trace. Never raises on model mistakes (they become problems).

    ``context`` is the trace context text (or a :class:`ContextIndex` of it, to reuse).
    """
    resolution = resolve_states(frames)
    index = context if isinstance(context, ContextIndex) else ContextIndex(context)
    line_map = map_lines(frames, index)
    problems = [TimelineProblem(p.frame_index, p.message) for p in resolution.problems]
    problems += [TimelineProblem(p.frame_index, p.message) for p in line_map.problems]
    problems.sort(key=lambda problem: problem.frame_index)

    invocations: list[Invocation] = []
    executions: list[LineExecution] = []
    current: dict[int, int] = {}  # scope -> index of its running execution
    pending_exception: dict[int, ExceptionInfo] = {}
    iteration_counts: dict[tuple[int, int | str], int] = {}

    def close(
        scope: int, state: dict[str, str | None], next_line: int | None
    ) -> LineExecution | None:
        running = current.pop(scope, None)
        if running is None:
            return None
        execution = executions[running]
        execution.effect_known = True
        bound: tuple[str, ...] = ()
        if execution.line is not None and execution.exception is None:
            bound = index.bindings.get(execution.line, ())
            if (
                next_line is not None
                and next_line > execution.line
                and any(
                    start < next_line <= end for start, end in index.loops.get(execution.line, ())
                )
            ):
                bound += index.loop_targets.get(execution.line, ())
        for name, value in state.items():
            if name not in execution.state or execution.state[name] != value:
                execution.changes[name] = value
                execution.values[name] = value
            elif name in bound:
                execution.values[name] = value
        execution.removed = [name for name in execution.state if name not in state]
        return execution

    for resolved in resolution.frames:
        frame, scope, i = resolved.frame, resolved.scope, resolved.index
        line = line_map.lines[i]
        if len(invocations) <= scope:
            invocations.append(_new_invocation(resolved, line_map, executions, current, line))
        invocation = invocations[scope]
        if frame.event is Event.CALL:
            continue
        if frame.event is Event.LINE:
            close(scope, resolved.state, line)
            handled = pending_exception.pop(scope, None)
            if handled is not None:
                handled.caught = True
            key: tuple[int, int | str] = (scope, line if line is not None else frame.line)
            iteration = iteration_counts.get(key, 0)
            iteration_counts[key] = iteration + 1
            execution = LineExecution(line, frame.line, scope, iteration, i, dict(resolved.state))
            execution.scope_kind = invocation.kind
            current[scope] = len(executions)
            invocation.executions.append(len(executions))
            executions.append(execution)
        elif frame.event is Event.EXCEPTION:
            info = _exception_info(frame, line, scope, i, resolution.frames, invocations)
            pending_exception[scope] = info
            if scope in current:
                executions[current[scope]].exception = info
        else:  # RETURN
            finished = close(scope, resolved.state, None)
            invocation.finished = True
            escaping = pending_exception.pop(scope, None)
            if escaping is not None:
                invocation.exception = escaping
            else:
                invocation.return_value = frame.arg
                if finished is not None:
                    finished.returned = frame.arg

    result = _entry_result(invocations)
    timeline = Timeline(invocations, executions, result, problems, len(frames), source_path)
    for position, execution in enumerate(executions):
        if execution.line is not None:
            timeline._by_line.setdefault(execution.line, []).append(position)
    return timeline


def _new_invocation(
    resolved: ResolvedFrame,
    line_map: LineMap,
    executions: list[LineExecution],
    current: dict[int, int],
    line: int | None,
) -> Invocation:
    scope = line_map.scopes[resolved.scope]
    block = line_map.blocks[resolved.scope]
    caller_execution = current.get(scope.parent) if scope.parent is not None else None
    caller_line = None
    if caller_execution is not None:
        executions[caller_execution].calls.append(scope.id)
        caller_line = executions[caller_execution].line
    is_call = resolved.frame.event is Event.CALL
    return Invocation(
        id=scope.id,
        function=block.qualname if block is not None else _name_from_def(resolved.frame.line),
        kind=block.kind if block is not None else "unknown",
        call_line=line if is_call else None,
        def_text=resolved.frame.line if is_call else "",
        arguments=dict(resolved.state) if is_call else {},
        depth=scope.depth,
        caller=scope.parent,
        caller_line=caller_line,
        caller_execution=caller_execution,
        start_line=block.start if block is not None else None,
        end_line=block.end if block is not None else None,
    )


def _name_from_def(text: str) -> str:
    match = re.match(r"\s*(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", text)
    return match.group(1) if match else "<unknown>"


def _exception_info(
    frame: Frame,
    line: int | None,
    scope: int,
    index: int,
    resolved_frames: Sequence[ResolvedFrame],
    invocations: list[Invocation],
) -> ExceptionInfo:
    type_name, message = describe_exception(frame.arg or "")
    info = ExceptionInfo(frame.arg or "", type_name, message, line, scope)
    if index > 0:
        before = resolved_frames[index - 1]
        if (
            before.frame.event is Event.RETURN
            and before.scope != scope
            and invocations[before.scope].exception is not None
        ):
            info.raised_here = False
            info.from_invocation = before.scope
    return info


def _entry_result(invocations: list[Invocation]) -> EntryResult:
    if not invocations:
        return EntryResult(None, None, False)
    entry = invocations[0]
    if entry.exception is not None:
        info: ExceptionInfo | None = entry.exception
        while info is not None:
            info.uncaught = True
            origin = info.from_invocation
            info = invocations[origin].exception if origin is not None else None
        return EntryResult(None, entry.exception, entry.finished)
    return EntryResult(entry.return_value, None, entry.finished)


def timeline_to_json(timeline: Timeline, *, states: bool = False) -> dict[str, Any]:
    """A JSON-serializable dict of the whole timeline (stable keys, for the CLI and caches).

    Each execution's full ``state`` (the locals before the line) is included only when
    ``states`` is true: it repeats every local on every line and makes long traces large.
    """
    executions = [dataclasses.asdict(execution) for execution in timeline.executions]
    if not states:
        for execution in executions:
            del execution["state"]
    return {
        "complete": timeline.complete,
        "source_path": timeline.source_path,
        "frame_count": timeline.frame_count,
        "result": dataclasses.asdict(timeline.result),
        "invocations": [dataclasses.asdict(inv) for inv in timeline.invocations],
        "executions": executions,
        "lines": {str(line): timeline._by_line[line] for line in timeline.line_numbers()},
        "problems": [dataclasses.asdict(problem) for problem in timeline.problems],
    }
