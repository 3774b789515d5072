"""Keep each generated frame on a source line the program's control flow allows.

The text after a frame's ``<|action_sep|>`` must be one of the line texts
:class:`~cwm_lsp.trace.flow_tracker.FlowTracker` allows for the frame's event, followed by the
frame's terminator (``<|frame_sep|>`` for call and line frames, ``<|arg_sep|>`` for return and
exception frames). While that part is written, the candidates are the tokens that keep the
bytes written so far a prefix of an allowed line; the sampler picks among them. A line event
is ruled out where the flow says no line can come next (after a ``return``). Everything else
(locals, returned values) is the model's own.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cwm_lsp.backends.decoding import TraceIds
from cwm_lsp.runtime.tokenizer import Tokenizer
from cwm_lsp.trace.flow import SourceFlow
from cwm_lsp.trace.flow_tracker import FlowTracker
from cwm_lsp.trace.frames import Event


class _Part(enum.Enum):
    EVENT = "event"  # the frame's first token
    OBSERVATION = "observation"  # locals, up to <|action_sep|>
    LINE = "line"  # the source line, up to its terminator
    VALUE = "value"  # a return/exception value, up to <|frame_sep|>


@dataclass(frozen=True)
class _State:
    part: _Part = _Part.EVENT
    event: Event | None = None
    written: bytes = b""
    lines: tuple[bytes, ...] | None = None  # the allowed line texts; None: unconstrained


class LineConstraint:
    """Follows the tokens of a trace as they are generated and names the allowed next ones."""

    def __init__(self, flow: SourceFlow, tokenizer: Tokenizer) -> None:
        self.tracker = FlowTracker(flow)
        self.pieces = tokenizer.piece_ids()
        self._bytes_of = tokenizer.piece_bytes()
        self.ids = ids = TraceIds.from_special(tokenizer.special_id)
        self._events = {
            ids.call_sep: Event.CALL,
            ids.line_sep: Event.LINE,
            ids.return_sep: Event.RETURN,
            ids.exception_sep: Event.EXCEPTION,
        }
        self._state = _State()

    def candidates(self) -> list[int] | None:
        """The ids allowed next; None when any token may come."""
        return self._candidates(self._state)

    def accept(self, token: int) -> None:
        """Take the token the trace got next (chosen, drafted or forced)."""
        self._state = self._next(self._state, token, commit=True)

    def allowed_prefix(self, token: int, draft: Sequence[int]) -> int:
        """How many tokens of ``draft`` (proposed to follow ``token``) stay allowed."""
        state = self._next(self._state, token, commit=False)
        for count, drafted in enumerate(draft):
            allowed = self._candidates(state)
            if allowed is not None and drafted not in allowed:
                return count
            state = self._next(state, drafted, commit=False)
        return len(draft)

    def _candidates(self, state: _State) -> list[int] | None:
        if state.part is _Part.EVENT:
            if self.tracker.allowed(Event.LINE) == frozenset():
                return [t for t in (*self._events, *self.ids.stop) if t != self.ids.line_sep]
            return None
        if state.part is not _Part.LINE or state.lines is None or state.event is None:
            return None
        has_value = state.event in (Event.RETURN, Event.EXCEPTION)
        terminator = self.ids.arg_sep if has_value else self.ids.frame_sep
        found: set[int] = set()
        for line in state.lines:
            if not line.startswith(state.written):
                continue
            rest = line[len(state.written) :]
            if not rest:
                found.add(terminator)
            for end in range(1, len(rest) + 1):
                token = self.pieces.get(rest[:end])
                if token is not None:
                    found.add(token)
        return sorted(found) or None

    def _next(self, state: _State, token: int, *, commit: bool) -> _State:
        if token == self.ids.frame_sep or token == self.ids.arg_sep:
            if state.part is _Part.LINE and state.event is not None and commit:
                self.tracker.advance(state.event, state.written.decode("utf-8", "replace"))
            if token == self.ids.frame_sep:
                return _State()
            return replace(state, part=_Part.VALUE)
        if state.part is _Part.EVENT:
            return _State(_Part.OBSERVATION, self._events.get(token))
        if state.part is _Part.OBSERVATION and token == self.ids.action_sep:
            allowed = self.tracker.allowed(state.event) if state.event is not None else None
            lines = None if allowed is None else tuple(t.encode("utf-8") for t in allowed)
            return replace(state, part=_Part.LINE, lines=lines)
        if state.part is _Part.LINE:
            piece = self._bytes_of.get(token)
            if piece is None:  # a special token inside the line: give up on this frame
                return replace(state, lines=None)
            return replace(state, written=state.written + piece)
        return state


def flow_constraint(context: str, tokenizer: Tokenizer) -> LineConstraint | None:
    """A constraint for a trace of ``context``; None when the context does not parse (nothing is
    known about its flow then)."""
    flow = SourceFlow.from_context(context)
    if flow is None:
        return None
    return LineConstraint(flow, tokenizer)
