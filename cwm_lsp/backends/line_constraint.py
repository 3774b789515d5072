"""Keep each generated frame on a source line the program's control flow allows.

The text after a frame's ``<|action_sep|>`` must be one of the line texts
:class:`~cwm_lsp.trace.flow_tracker.FlowTracker` allows for the frame's event, followed by the
frame's terminator (``<|frame_sep|>`` for call and line frames, ``<|arg_sep|>`` for return and
exception frames). While that part is written, the candidates are the tokens that keep the
bytes written so far a prefix of an allowed line; the sampler picks among them. A line event
is ruled out where the flow says no line can come next (after a ``return``).

One frame's locals are known too: when the harness calls a plain function with literal
arguments, the called function's call frame (the trace's third frame) holds exactly those
arguments bound to its parameters, and its line is that function's ``def`` line
(:func:`~cwm_lsp.trace.entry_locals.entry_call`), so that frame is written as such.

Every frame's LOCALS and VALUE keep to their JSON syntax (:mod:`cwm_lsp.backends.frame_syntax`),
and a return or exception frame has no LOCALS, so each frame the model writes can be read. What
the values are (other than the entry's arguments) is the model's own.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cwm_lsp.backends.decoding import TraceIds
from cwm_lsp.backends.frame_syntax import (
    COMPLETE,
    LOCALS_START,
    VALUE_START,
    FrameSyntax,
    SyntaxState,
)
from cwm_lsp.runtime.tokenizer import Tokenizer
from cwm_lsp.trace.entry_locals import KnownEntryCall, entry_call
from cwm_lsp.trace.flow import SourceFlow
from cwm_lsp.trace.flow_tracker import FlowTracker
from cwm_lsp.trace.frames import Event


class _Part(enum.Enum):
    EVENT = "event"  # the frame's first token
    OBSERVATION = "observation"  # locals, up to <|action_sep|>
    LINE = "line"  # the source line, up to its terminator
    VALUE = "value"  # a return/exception value, up to <|frame_sep|>


# The entry function's call frame, after the harness's call frame and its one line frame.
_ENTRY_CALL_FRAME = 3


@dataclass(frozen=True)
class _State:
    part: _Part = _Part.EVENT
    event: Event | None = None
    written: bytes = b""  # of the current part (locals or line)
    lines: tuple[bytes, ...] | None = None  # the allowed line texts; None: unconstrained
    locals_text: bytes | None = None  # the known LOCALS of this frame; None: the model's
    frame: int = 0  # this frame's number in the trace (1: the first)
    syntax: SyntaxState | None = None  # where the LOCALS or VALUE text is; None: unchecked


# one syntax table per tokenizer: it is built state by state, and predictions come and go
_SYNTAX: weakref.WeakKeyDictionary[Tokenizer, FrameSyntax] = weakref.WeakKeyDictionary()


def _frame_syntax(tokenizer: Tokenizer) -> FrameSyntax:
    syntax = _SYNTAX.get(tokenizer)
    if syntax is None:
        syntax = _SYNTAX[tokenizer] = FrameSyntax(tokenizer.piece_bytes())
    return syntax


class LineConstraint:
    """Follows the tokens of a trace as they are generated and names the allowed next ones."""

    def __init__(
        self, flow: SourceFlow, tokenizer: Tokenizer, entry: KnownEntryCall | None = None
    ) -> None:
        """``entry``: the entry function's call frame, as far as the context determines it."""
        self.tracker = FlowTracker(flow)
        self._entry_line = None if entry is None else entry.line.encode("utf-8")
        known_locals = None if entry is None else entry.locals
        self._entry_locals = None if known_locals is None else known_locals.encode("utf-8")
        self.pieces = tokenizer.piece_ids()
        self._bytes_of = tokenizer.piece_bytes()
        self._syntax = _frame_syntax(tokenizer)
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
            if not self._allows(state, drafted):
                return count
            state = self._next(state, drafted, commit=False)
        return len(draft)

    def _allows(self, state: _State, token: int) -> bool:
        in_json = state.part in (_Part.OBSERVATION, _Part.VALUE) and state.locals_text is None
        if in_json and state.syntax is not None and token in self._syntax.moves(state.syntax):
            return True  # the common case, without building the candidate list
        allowed = self._candidates(state)
        return allowed is None or token in allowed

    def _candidates(self, state: _State) -> list[int] | None:
        if state.part is _Part.EVENT:
            if self.tracker.allowed(Event.LINE) == frozenset():
                return [t for t in (*self._events, *self.ids.stop) if t != self.ids.line_sep]
            return None
        if state.part is _Part.OBSERVATION and state.locals_text is not None:
            return self._continuations((state.locals_text,), state.written, self.ids.action_sep)
        if state.part is _Part.OBSERVATION and state.event in (Event.RETURN, Event.EXCEPTION):
            return [self.ids.action_sep]
        if state.part in (_Part.OBSERVATION, _Part.VALUE) and state.syntax is not None:
            if state.syntax in COMPLETE:  # nothing may follow but the part's terminator
                return [
                    self.ids.action_sep if state.part is _Part.OBSERVATION else self.ids.frame_sep
                ]
            return self._syntax.allowed(state.syntax)
        if state.part is not _Part.LINE or state.lines is None or state.event is None:
            return None
        has_value = state.event in (Event.RETURN, Event.EXCEPTION)
        terminator = self.ids.arg_sep if has_value else self.ids.frame_sep
        return self._continuations(state.lines, state.written, terminator)

    def _continuations(
        self, texts: Sequence[bytes], written: bytes, terminator: int
    ) -> list[int] | None:
        """The tokens that keep ``written`` a prefix of one of ``texts`` (``terminator`` when it
        is one of them); None when none does."""
        found: set[int] = set()
        for text in texts:
            if not text.startswith(written):
                continue
            rest = text[len(written) :]
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
                return _State(frame=state.frame)
            return replace(state, part=_Part.VALUE, syntax=VALUE_START)
        if state.part is _Part.EVENT:
            event, frame = self._events.get(token), state.frame + 1
            known = self._entry_locals if frame == _ENTRY_CALL_FRAME else None
            has_locals = event in (Event.CALL, Event.LINE)
            return _State(
                _Part.OBSERVATION,
                event,
                locals_text=known if event is Event.CALL else None,
                frame=frame,
                syntax=LOCALS_START if has_locals else None,
            )
        if state.part is _Part.OBSERVATION and token == self.ids.action_sep:
            allowed = self.tracker.allowed(state.event) if state.event is not None else None
            lines = None if allowed is None else tuple(t.encode("utf-8") for t in allowed)
            entry = state.frame == _ENTRY_CALL_FRAME and state.event is Event.CALL
            if entry and self._entry_line is not None:
                lines = (self._entry_line,)
            return replace(
                state, part=_Part.LINE, lines=lines, written=b"", locals_text=None, syntax=None
            )
        if state.part in (_Part.OBSERVATION, _Part.VALUE):
            syntax = None if state.syntax is None else self._syntax.moves(state.syntax).get(token)
            if state.locals_text is None:
                return replace(state, syntax=syntax)
            piece = self._bytes_of.get(token)
            if piece is None:  # a special token inside the locals: give up on this frame
                return replace(state, locals_text=None, syntax=syntax)
            return replace(state, written=state.written + piece, syntax=syntax)
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
    return LineConstraint(flow, tokenizer, entry_call(context))
