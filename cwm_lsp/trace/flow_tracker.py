"""Follow a trace frame by frame and say which source lines its next frame may name.

:class:`FlowTracker` keeps a stack of the scopes the trace is in and, for each, the lines it
may be on (a line's text can occur more than once in a file). Given the next frame's event it
answers the set of line texts that frame can carry (None: no constraint), from the static
view in :mod:`cwm_lsp.trace.flow`:

- a call frame names a scope's call line;
- a line frame names a line that can follow the scope's current line (after an exception in
  the scope, or when the trace left the known flow, any line of the scope);
- a return or exception frame names the scope's current line (or, for an exception leaving
  through ``with`` blocks, the line it was raised on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cwm_lsp.trace.flow import ScopeFlow, SourceFlow
from cwm_lsp.trace.frames import Event


@dataclass
class _Active:
    """A scope the trace is in: its candidate scopes and the (scope, line) pairs it may be on."""

    scopes: list[ScopeFlow]
    positions: set[tuple[int, int]] | None = None  # (index in scopes, line); None: no line yet
    free: bool = False  # after an exception or a line off the known flow: any line of the scope
    raised_at: set[tuple[int, int]] = field(default_factory=set)  # where the exception began
    lines: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.lines = frozenset().union(*(scope.lines for scope in self.scopes))


class FlowTracker:
    def __init__(self, flow: SourceFlow) -> None:
        self.flow = flow
        self._stack: list[_Active] = []
        self._everything = ScopeFlow(0, flow.code_lines, flow.code_lines, None)

    def allowed(self, event: Event) -> frozenset[str] | None:
        """The line texts the next frame, of ``event``, may carry; None: no constraint."""
        if event is Event.CALL:
            return self.flow.texts_of(self.flow.call_lines) if self.flow.call_lines else None
        if not self._stack:
            return None
        return self.flow.texts_of(self._candidates(self._stack[-1], event))

    def advance(self, event: Event, text: str) -> None:
        """Take the frame the trace wrote next (its event and line text)."""
        if event is Event.CALL:
            scopes = self.flow.scopes_called_as(text) or [self._everything]
            self._stack.append(_Active(scopes))
            return
        if not self._stack:
            return
        active = self._stack[-1]
        if event is Event.RETURN:
            self._stack.pop()
        elif event is Event.EXCEPTION:
            if not active.free:
                active.raised_at = set(active.positions or ())
            active.free = True
        else:
            self._move(active, text)

    def _candidates(self, active: _Active, event: Event) -> set[int]:
        if event is not Event.LINE:
            if not active.positions:
                return set(active.lines)
            # after leaving ``with`` blocks an exception's frames name the line it began on again
            current = active.positions | (active.raised_at if active.free else set())
            return {line for _, line in current}
        if active.free:
            return set(active.lines)
        if active.positions is None:
            return set().union(*(scope.first for scope in active.scopes))
        return {
            line
            for index, current in active.positions
            for line in active.scopes[index].next_lines(current)
        }

    def _move(self, active: _Active, text: str) -> None:
        def matching(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
            return {(index, line) for index, line in pairs if self.flow.text(line) == text}

        if active.free or active.positions is None:
            expected = {
                (index, line)
                for index, scope in enumerate(active.scopes)
                for line in (scope.lines if active.free else scope.first)
            }
        else:
            expected = {
                (index, line)
                for index, current in active.positions
                for line in active.scopes[index].next_lines(current)
            }
        positions = matching(expected)
        # an exception leaving a ``with`` block runs its exit on the ``with`` line; the exception
        # still travels on (to a handler, or out of the scope)
        exiting = active.free and bool(positions)
        exiting = exiting and all(line in active.scopes[i].exit_lines for i, line in positions)
        active.free = not positions or exiting
        if not positions:  # off the known flow: place it anywhere the text occurs in the scope
            every = {(i, line) for i, scope in enumerate(active.scopes) for line in scope.lines}
            positions = matching(every)
        active.positions = positions or None
