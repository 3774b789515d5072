"""Token generation: chunked prefill, sampling, and frame-by-frame control for CWM traces.

A :class:`Session` owns one KV cache and remembers the tokens in it, so a new prompt that shares
a prefix with the previous one (an editor asking again after a small edit) only runs the new
part. :class:`TraceGenerator` drives a session one trace frame at a time: it stops each frame at
``<|frame_sep|>``, can force ``<|return_sep|>`` after a call frame (step over), and stops when the
entry scope returns, at ``<|end_of_text|>``, after ``max_frames`` frames or ``max_tokens`` tokens,
when its deadline passes, or when cancelled (the frame in progress is handed over, cut short).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from cwm_lsp.runtime.kvcache import DEFAULT_MAX_CHUNK, DEFAULT_ROLLBACK, KVCache
from cwm_lsp.runtime.model import Transformer
from cwm_lsp.trace import tokens as trace_tokens

if TYPE_CHECKING:
    from cwm_lsp.runtime.line_constraint import LineConstraint

_LOOKUP_SPAN = 4096  # how far back prompt-lookup drafting searches


class Cancellable(Protocol):
    @property
    def cancelled(self) -> bool: ...


class Expiring(Protocol):
    @property
    def expired(self) -> bool: ...


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None


class Sampler:
    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling
        self._generator = torch.Generator()
        if sampling.seed is not None:
            self._generator.manual_seed(sampling.seed)
        else:
            self._generator.seed()

    def __call__(self, logits: torch.Tensor, allowed: Sequence[int] | None = None) -> int:
        """Pick the next id from ``logits`` [vocab] (among ``allowed`` ids when given)."""
        if allowed is not None:
            keep = torch.tensor(allowed, dtype=torch.long, device=logits.device)
            if self.sampling.temperature <= 0:
                return int(keep[torch.argmax(logits[keep])])
            masked = torch.full_like(logits, float("-inf"))
            masked[keep] = logits[keep]
            logits = masked
        if self.sampling.temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float().cpu() / self.sampling.temperature, dim=-1)
        if self.sampling.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < self.sampling.top_p
            keep[0] = True
            probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs, 1, generator=self._generator))


class Session:
    """One KV cache plus the tokens it holds; reuses the common prefix across prompts."""

    def __init__(
        self,
        model: Transformer,
        *,
        max_chunk: int = DEFAULT_MAX_CHUNK,
        rollback: int = DEFAULT_ROLLBACK,
        cache_dtype: torch.dtype = torch.float32,
    ) -> None:
        self.model = model
        self.max_chunk = max_chunk
        self.cache = KVCache(
            model.config,
            max_chunk=max_chunk,
            rollback=rollback,
            dtype=cache_dtype,
            device=model.device,
        )
        self.tokens: list[int] = []
        self.reused_tokens = 0  # how many prompt tokens the last prefill did not recompute

    def reset(self) -> None:
        self.cache.truncate(0)
        self.tokens = []

    @torch.inference_mode()
    def prefill(self, ids: Sequence[int], *, all_logits: bool = False) -> torch.Tensor:
        """Make the cache hold exactly ``ids``; logits of the last token [vocab] (or of every
        newly computed token [T, vocab] with ``all_logits``, which disables prefix reuse)."""
        if not ids:
            raise ValueError("cannot prefill an empty prompt")
        keep = 0 if all_logits else _common_prefix(self.tokens, ids, len(ids) - 1)
        if not self.cache.can_truncate(keep):
            keep = 0  # the sliding rings no longer hold what the prefix needs: start over
        self.cache.truncate(keep)
        self.tokens = list(ids[:keep])
        self.reused_tokens = keep
        outputs = []
        for start in range(keep, len(ids), self.max_chunk):
            chunk = list(ids[start : start + self.max_chunk])
            outputs.append(self._run(chunk, all_logits=all_logits))
        return torch.cat(outputs) if all_logits else outputs[-1][-1]

    @torch.inference_mode()
    def step(self, token: int) -> torch.Tensor:
        """Append one token; logits for the next position [vocab]."""
        return self._run([token], all_logits=False)[-1]

    @torch.inference_mode()
    def speculate(self, token: int, draft: Sequence[int]) -> tuple[list[int], torch.Tensor]:
        """Append ``token`` and check ``draft`` (what might follow it) in one forward pass.

        Keeps the longest prefix of ``draft`` that greedy decoding would have produced (up to
        rounding differences between one pass and token-by-token steps) and drops the rest
        from the cache. Returns the kept draft tokens and the logits after the last kept token.
        """
        start = len(self.tokens)
        logits = self._run([token, *draft], all_logits=True)
        choices = logits.argmax(dim=-1).tolist()
        kept = 0
        while kept < len(draft) and choices[kept] == draft[kept]:
            kept += 1
        self.cache.truncate(start + 1 + kept)
        del self.tokens[start + 1 + kept :]
        return list(draft[:kept]), logits[kept]

    def _run(self, chunk: list[int], *, all_logits: bool) -> torch.Tensor:
        logits = self.model.run(chunk, len(self.tokens), self.cache, all_logits=all_logits)
        self.tokens.extend(chunk)
        return logits

    def generate(
        self,
        ids: Sequence[int],
        *,
        max_new_tokens: int,
        sampling: Sampling = Sampling(),
        stop_ids: Iterable[int] = (),
        cancel: Cancellable | None = None,
    ) -> Iterator[int]:
        """Yield up to ``max_new_tokens`` new ids; a stop id is yielded, then generation ends."""
        stops = set(stop_ids)
        sampler = Sampler(sampling)
        if max_new_tokens <= 0:
            return
        logits = self.prefill(ids)
        for produced in range(max_new_tokens):
            if cancel is not None and cancel.cancelled:
                return
            token = sampler(logits)
            yield token
            if token in stops or produced + 1 == max_new_tokens:
                return
            logits = self.step(token)


def _common_prefix(old: Sequence[int], new: Sequence[int], limit: int) -> int:
    count = 0
    for a, b in zip(old, new, strict=False):
        if a != b or count >= limit:
            break
        count += 1
    return count


@dataclass(frozen=True)
class TraceIds:
    """The special ids trace generation needs, from the tokenizer."""

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


class TraceGenerator:
    """Generate a trace frame by frame after a prompt ending in ``<|frame_sep|>``.

    ``lookahead``: with greedy decoding, draft up to this many tokens by prompt lookup and
    verify them in one forward pass (the same output, fewer passes; 0 disables).
    ``step_over_depth``: a call frame that enters a scope deeper than this is stepped over by
    forcing ``<|return_sep|>`` as the next frame's event token (the entry scope is depth 1; with a
    harness ``main`` calling the user's function, depth 2 is that function). None: step into all.
    ``constraint``: keeps each frame's source line on the program's control flow.
    ``deadline``: the wall-clock budget, checked before every token (stops with "timeout").
    """

    def __init__(
        self,
        session: Session,
        ids: TraceIds,
        *,
        sampling: Sampling = Sampling(),
        max_frames: int = 10_000,
        max_frame_tokens: int = 4096,
        max_tokens: int | None = None,
        step_over_depth: int | None = None,
        cancel: Cancellable | None = None,
        deadline: Expiring | None = None,
        lookahead: int = 0,
        constraint: LineConstraint | None = None,
    ) -> None:
        self.session = session
        self.ids = ids
        self.sampler = Sampler(sampling)
        self.max_frames = max_frames
        self.max_frame_tokens = max_frame_tokens
        self.max_tokens = max_tokens
        self.step_over_depth = step_over_depth
        self.cancel = cancel
        self.deadline = deadline
        self.lookahead = lookahead
        self.constraint = constraint
        self.outcome = TraceOutcome()

    def frames(self, prompt: Sequence[int]) -> Generator[FrameTokens, None, None]:
        logits = self.session.prefill(prompt)
        depth = 0
        force: int | None = None
        for _ in range(self.max_frames):
            frame: list[int] = []
            forced = force is not None
            while True:
                if self.cancel is not None and self.cancel.cancelled:
                    self.outcome.stopped_by = "cancelled"
                    if frame:
                        yield FrameTokens(frame, complete=False, forced=forced)
                    return
                if self.deadline is not None and self.deadline.expired:
                    self.outcome.stopped_by = "timeout"
                    if frame:
                        yield FrameTokens(frame, complete=False, forced=forced)
                    return
                if self.max_tokens is not None and self.outcome.tokens_generated >= self.max_tokens:
                    self.outcome.stopped_by = "max_tokens"
                    if frame:
                        yield FrameTokens(frame, complete=False, forced=forced)
                    return
                if force is not None:
                    batch, logits = [force], self.session.step(force)
                    force = None
                else:
                    allowed = self.constraint.candidates() if self.constraint else None
                    token = self.sampler(logits, allowed)
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
            event = frame[0]
            if event == self.ids.call_sep:
                depth += 1
                if self.step_over_depth is not None and depth > self.step_over_depth:
                    force = self.ids.return_sep
            elif event == self.ids.return_sep:
                depth -= 1
                if depth <= 0:
                    self.outcome.finished = True
                    return
            if not complete:
                self.outcome.stopped_by = "max_frame_tokens"
                return
        self.outcome.stopped_by = "max_frames"

    def _advance(self, token: int, *, room: int) -> tuple[list[int], torch.Tensor]:
        """Append ``token`` (plus any drafted tokens greedy decoding confirms); returns the
        tokens appended and the logits after the last one."""
        limit = min(self.lookahead, room - 1, self.session.max_chunk - 1)
        if self.max_tokens is not None:
            limit = min(limit, self.max_tokens - self.outcome.tokens_generated - 1)
        greedy = self.sampler.sampling.temperature <= 0
        draft = self._draft(token, limit) if greedy and limit > 0 else []
        if draft and self.constraint is not None:
            draft = draft[: self.constraint.allowed_prefix(token, draft)]
        if not draft:
            return [token], self.session.step(token)
        accepted, logits = self.session.speculate(token, draft)
        self.outcome.drafted_tokens += len(draft)
        self.outcome.accepted_tokens += len(accepted)
        return [token, *accepted], logits

    def _draft(self, token: int, limit: int) -> list[int]:
        """Prompt-lookup draft: what followed the latest earlier occurrence of the last few
        tokens (frames mostly repeat the previous frame). Never crosses a frame boundary."""
        if token == self.ids.frame_sep:
            return []
        context = [*self.session.tokens[-_LOOKUP_SPAN:], token]
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
