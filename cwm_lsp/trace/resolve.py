"""Scopes and full local states for diff-form frames (the ``".."`` encoding), and the inverse.

A *scope* is one active call: a call frame opens it, its return frame closes it, and the line
and exception frames in between belong to the innermost open scope. In diff form a line frame
writes ``".."`` for a value unchanged since the previous frame of the same scope; call frames,
and the first frame of a scope right after a frame of another scope, carry every value in full.

:func:`resolve_states` turns diff-form frames into full states (tolerating model mistakes: a
``".."`` with nothing to copy gives an unknown value, ``None``, and a problem). :func:`diff_states`
is the inverse, used by the tracer: ``encode_trace(diff_states(full_frames))`` reproduces the
golden trace text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cwm_lsp.trace.frames import UNCHANGED, Event, Frame

__all__ = [
    "UNKNOWN_VALUE",
    "Resolution",
    "ResolveProblem",
    "ResolvedFrame",
    "TraceScope",
    "assign_scopes",
    "diff_states",
    "resolve_states",
]

# Shown for a value the trace does not give (a ".." with nothing to copy).
UNKNOWN_VALUE = "<unknown>"


@dataclass(frozen=True)
class ResolveProblem:
    frame_index: int
    message: str

    def __str__(self) -> str:
        return f"frame {self.frame_index}: {self.message}"


@dataclass
class TraceScope:
    """One invocation. ``call_index`` is None for a scope the trace never opened (model error or
    a trace that starts mid-call); ``return_index`` is None while it has not returned."""

    id: int
    call_index: int | None
    parent: int | None
    depth: int
    return_index: int | None = None
    frame_indices: list[int] = field(default_factory=list)


@dataclass
class ResolvedFrame:
    """A frame with its scope and the full local state.

    For call and line frames ``state`` is the frame's own locals with every ``".."`` replaced;
    for return and exception frames it is the scope's last known state. A value is ``None`` when
    the trace does not give it.
    """

    index: int
    frame: Frame
    scope: int
    depth: int
    state: dict[str, str | None]

    def full_frame(self) -> Frame:
        """The frame with full locals (unknown values written as ``UNKNOWN_VALUE``)."""
        if not self.frame.has_locals:
            return self.frame
        values = {k: UNKNOWN_VALUE if v is None else v for k, v in self.state.items()}
        return Frame(self.frame.event, self.frame.line, values, self.frame.arg)


@dataclass
class Resolution:
    frames: list[ResolvedFrame]
    scopes: list[TraceScope]
    problems: list[ResolveProblem]


def assign_scopes(
    frames: Sequence[Frame],
) -> tuple[list[int], list[TraceScope], list[ResolveProblem]]:
    """The scope id of every frame, the scopes (ids are list indices) and structural problems."""
    scopes: list[TraceScope] = []
    stack: list[int] = []
    owner: list[int] = []
    problems: list[ResolveProblem] = []

    def open_scope(call_index: int | None) -> int:
        parent = stack[-1] if stack else None
        scope = TraceScope(len(scopes), call_index, parent, len(stack))
        scopes.append(scope)
        stack.append(scope.id)
        return scope.id

    for index, frame in enumerate(frames):
        if frame.event is Event.CALL:
            scope_id = open_scope(index)
        else:
            if not stack:
                problems.append(
                    ResolveProblem(index, f"{frame.event.value} frame outside any call")
                )
                open_scope(None)
            scope_id = stack[-1]
            if frame.event is Event.RETURN:
                scopes[scope_id].return_index = index
                stack.pop()
        scopes[scope_id].frame_indices.append(index)
        owner.append(scope_id)
    return owner, scopes, problems


def resolve_states(frames: Sequence[Frame]) -> Resolution:
    """Full local states for diff-form frames. Never raises."""
    owner, scopes, problems = assign_scopes(frames)
    last_state: dict[int, dict[str, str | None]] = {}
    resolved: list[ResolvedFrame] = []
    for index, frame in enumerate(frames):
        scope_id = owner[index]
        previous = last_state.get(scope_id, {})
        if not frame.has_locals:
            state = dict(previous)
        else:
            state = {}
            copied_across_scopes = False
            for name, value in frame.locals.items():
                if value != UNCHANGED:
                    state[name] = value
                    continue
                if frame.event is Event.CALL or name not in previous:
                    where = "call frame" if frame.event is Event.CALL else "frame"
                    problems.append(
                        ResolveProblem(
                            index, f"{name!r} is '..' in a {where} with no earlier value"
                        )
                    )
                    state[name] = None
                    continue
                state[name] = previous[name]
                copied_across_scopes = copied_across_scopes or (
                    index > 0 and owner[index - 1] != scope_id
                )
            if copied_across_scopes:
                problems.append(
                    ResolveProblem(
                        index,
                        "'..' right after another scope's frame (should be full); "
                        "copied from this scope's earlier frame",
                    )
                )
            last_state[scope_id] = state
        resolved.append(ResolvedFrame(index, frame, scope_id, scopes[scope_id].depth, state))
    return Resolution(resolved, scopes, problems)


def diff_states(frames: Sequence[Frame]) -> list[Frame]:
    """Diff-form frames from frames whose locals hold full values (the inverse of resolving)."""
    owner, _, _ = assign_scopes(frames)
    last_state: dict[int, dict[str, str]] = {}
    result: list[Frame] = []
    for index, frame in enumerate(frames):
        if not frame.has_locals:
            result.append(frame)
            continue
        scope_id = owner[index]
        previous = last_state.get(scope_id)
        full = (
            frame.event is Event.CALL
            or previous is None
            or index == 0
            or owner[index - 1] != scope_id
        )
        if full or previous is None:
            values = dict(frame.locals)
        else:
            values = {
                name: UNCHANGED if previous.get(name) == value else value
                for name, value in frame.locals.items()
            }
        last_state[scope_id] = dict(frame.locals)
        result.append(Frame(frame.event, frame.line, values, frame.arg))
    return result
