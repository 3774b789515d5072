"""The one frame-by-frame trace decoder, over any stepper (our runtime's session, llama.cpp).

A trace is generated one frame at a time after a prompt ending in ``<|frame_sep|>``: each frame
ends at ``<|frame_sep|>``; a call frame entering a scope deeper than the step-over depth is
followed by a forced ``<|return_sep|>``; the trace ends when the entry scope returns, at
``<|end_of_text|>`` (or a chat stop id), after ``max_frames`` frames or ``max_tokens`` tokens,
when its deadline passes, or when cancelled (the frame in progress is handed over, cut short).

:class:`CallDepth` is that frame policy on its own, shared with the openai backend (whose server
decodes the tokens) and with the command line's reading of a finished trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cwm_lsp.budget import MAX_FRAME_TOKENS
from cwm_lsp.cancel import Cancellable
from cwm_lsp.trace import tokens as trace_tokens

if TYPE_CHECKING:  # the openai backend uses this module without torch
    from cwm_lsp.runtime.generate import Constraint

_LOOKUP_SPAN = 4096  # how far back prompt-lookup drafting searches


class Expiring(Protocol):
    @property
    def expired(self) -> bool: ...


class Stepper(Protocol):
    """A model context that holds tokens and gives the logits after the last one."""

    tokens: list[int]

    def prefill(self, ids: Sequence[int]) -> Any: ...

    def step(self, token: int) -> Any: ...


@runtime_checkable
class Speculating(Protocol):
    """A stepper that checks drafted tokens in one pass (prompt-lookup drafting)."""

    max_chunk: int

    def speculate(self, token: int, draft: Sequence[int]) -> tuple[list[int], Any]: ...


Pick = Callable[[Any, Sequence[int] | None], int]  # logits, allowed ids -> the next id


def step_over_depth(step_over: bool, harness: str | None) -> int | None:
    """The deepest scope whose callees are traced line by line when stepping over: the entry
    scope is depth 1, so with a harness (``main`` calling the user's function) it is 2."""
    if not step_over:
        return None
    return 2 if harness else 1


class CallDepth:
    """Follows the call depth of a trace frame by frame (the entry scope is depth 1)."""

    def __init__(self, step_over_depth: int | None = None) -> None:
        self.step_over_depth = step_over_depth
        self.depth = 0

    def after(self, event: str) -> tuple[bool, bool]:
        """After a frame of ``event`` (``"call"``, ``"return"``, ...): whether the next frame
        must be a forced return (step over), and whether the entry scope has returned."""
        if event == "call":
            self.depth += 1
            deep = self.step_over_depth is not None and self.depth > self.step_over_depth
            return deep, False
        if event == "return":
            self.depth -= 1
            return False, self.depth <= 0
        return False, False


@dataclass(frozen=True)
class TraceIds:
    """The special ids trace decoding needs, from the tokenizer."""

    frame_sep: int
    call_sep: int
    return_sep: int
    exception_sep: int
    end_of_text: int
    stop: frozenset[int]  # end of text and chat end-of-message ids
    line_sep: int
    action_sep: int
    arg_sep: int

    @classmethod
    def from_special(cls, special_id: Callable[[str], int]) -> TraceIds:
        stop = {special_id(trace_tokens.END_OF_TEXT)}
        for name in ("<|eom_id|>", "<|eot_id|>"):
            with contextlib.suppress(KeyError, ValueError):
                stop.add(special_id(name))
        return cls(
            frame_sep=special_id(trace_tokens.FRAME_SEP),
            call_sep=special_id(trace_tokens.CALL_SEP),
            return_sep=special_id(trace_tokens.RETURN_SEP),
            exception_sep=special_id(trace_tokens.EXCEPTION_SEP),
            end_of_text=special_id(trace_tokens.END_OF_TEXT),
            stop=frozenset(stop),
            line_sep=special_id(trace_tokens.LINE_SEP),
            action_sep=special_id(trace_tokens.ACTION_SEP),
            arg_sep=special_id(trace_tokens.ARG_SEP),
        )

    def event(self, token: int) -> str:
        if token == self.call_sep:
            return "call"
        if token == self.return_sep:
            return "return"
        return "other"


@dataclass(frozen=True)
class FrameTokens:
    """One generated frame's ids (ending in ``<|frame_sep|>`` unless cut short)."""

    ids: list[int]
    complete: bool  # ended with <|frame_sep|>
    forced: bool = False  # its event token was forced (step over)


@dataclass
class TraceOutcome:
    finished: bool = False  # the entry scope returned or the model wrote <|end_of_text|>
    # max_frames, max_tokens, max_frame_tokens, timeout, cancelled, stop_token
    stopped_by: str | None = None
    tokens_generated: int = 0
    drafted_tokens: int = 0  # prompt-lookup tokens proposed (greedy only)
    accepted_tokens: int = 0  # ... and confirmed by the model


class TraceDecoder:
    """Decode a trace frame by frame on ``stepper``, picking each token with ``pick``.

    ``lookahead``: with greedy decoding on a :class:`Speculating` stepper, draft up to this many
    tokens by prompt lookup and verify them in one forward pass (the same output, fewer passes;
    0 disables). ``step_over_depth``: see :func:`step_over_depth`. ``constraint`` keeps each
    frame's source line on the program's control flow. ``deadline`` is the wall-clock budget,
    checked before every token.
    """

    def __init__(
        self,
        stepper: Stepper,
        ids: TraceIds,
        pick: Pick,
        *,
        greedy: bool = True,
        max_frames: int = 10_000,
        max_frame_tokens: int = MAX_FRAME_TOKENS,
        max_tokens: int | None = None,
        step_over_depth: int | None = None,
        cancel: Cancellable | None = None,
        deadline: Expiring | None = None,
        lookahead: int = 0,
        constraint: Constraint | None = None,
    ) -> None:
        self.stepper = stepper
        self.ids = ids
        self.pick = pick
        self.greedy = greedy
        self.max_frames = max_frames
        self.max_frame_tokens = max_frame_tokens
        self.max_tokens = max_tokens
        self.step_over_depth = step_over_depth
        self.cancel = cancel
        self.deadline = deadline
        # drafting needs a stepper that verifies drafts; decided once, not per token
        self.speculator = stepper if greedy and isinstance(stepper, Speculating) else None
        self.lookahead = lookahead if self.speculator is not None else 0
        self.constraint = constraint
        self.outcome = TraceOutcome()

    def _stop_reason(self) -> str | None:
        if self.cancel is not None and self.cancel.cancelled:
            return "cancelled"
        if self.deadline is not None and self.deadline.expired:
            return "timeout"
        if self.max_tokens is not None and self.outcome.tokens_generated >= self.max_tokens:
            return "max_tokens"
        return None

    def frames(self, prompt: Sequence[int]) -> Generator[FrameTokens, None, None]:
        logits = self.stepper.prefill(prompt)
        policy = CallDepth(self.step_over_depth)
        force: int | None = None
        for _ in range(self.max_frames):
            frame: list[int] = []
            forced = force is not None
            while True:
                reason = self._stop_reason()
                if reason is not None:
                    self.outcome.stopped_by = reason
                    if frame:
                        yield FrameTokens(frame, complete=False, forced=forced)
                    return
                if force is not None:
                    batch, logits = [force], self.stepper.step(force)
                    force = None
                else:
                    allowed = self.constraint.candidates() if self.constraint else None
                    token = self.pick(logits, allowed)
                    if token in self.ids.stop:
                        self.outcome.tokens_generated += 1
                        self.outcome.finished = token == self.ids.end_of_text
                        self.outcome.stopped_by = None if self.outcome.finished else "stop_token"
                        if frame:
                            yield FrameTokens(frame, complete=False, forced=forced)
                        return
                    batch, logits = self._advance(token, room=self.max_frame_tokens - len(frame))
                frame.extend(batch)
                if self.constraint is not None:
                    for taken in batch:
                        self.constraint.accept(taken)
                self.outcome.tokens_generated += len(batch)
                if batch[-1] == self.ids.frame_sep or len(frame) >= self.max_frame_tokens:
                    break
            complete = frame[-1] == self.ids.frame_sep
            yield FrameTokens(frame, complete=complete, forced=forced)
            step_over, returned = policy.after(self.ids.event(frame[0]))
            if returned:
                self.outcome.finished = True
                return
            if step_over:
                force = self.ids.return_sep
            if not complete:
                self.outcome.stopped_by = "max_frame_tokens"
                return
        self.outcome.stopped_by = "max_frames"

    def _advance(self, token: int, *, room: int) -> tuple[list[int], Any]:
        """Append ``token`` (plus any drafted tokens greedy decoding confirms); returns the
        tokens appended and the logits after the last one."""
        speculator = self.speculator
        if speculator is None or self.lookahead <= 0:
            return [token], self.stepper.step(token)
        limit = min(self.lookahead, room - 1, speculator.max_chunk - 1)
        if self.max_tokens is not None:
            limit = min(limit, self.max_tokens - self.outcome.tokens_generated - 1)
        draft = self._draft(token, limit) if limit > 0 else []
        if draft and self.constraint is not None:
            draft = draft[: self.constraint.allowed_prefix(token, draft)]
        if not draft:
            return [token], self.stepper.step(token)
        accepted, logits = speculator.speculate(token, draft)
        self.outcome.drafted_tokens += len(draft)
        self.outcome.accepted_tokens += len(accepted)
        return [token, *accepted], logits

    def _draft(self, token: int, limit: int) -> list[int]:
        """Prompt-lookup draft: what followed the latest earlier occurrence of the last few
        tokens (frames mostly repeat the previous frame). Never crosses a frame boundary."""
        if token == self.ids.frame_sep:
            return []
        context = [*self.stepper.tokens[-_LOOKUP_SPAN:], token]
        for size in (4, 3, 2):
            if len(context) <= size:
                continue
            key = context[-size:]
            for start in range(len(context) - size - 1, -1, -1):
                if context[start : start + size] == key:
                    return self._cut(context[start + size : start + size + limit])
        return []

    def _cut(self, proposal: list[int]) -> list[int]:
        draft: list[int] = []
        for token in proposal:
            if token in self.ids.stop:
                break
            draft.append(token)
            if token == self.ids.frame_sep:
                break
        return draft
