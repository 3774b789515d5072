"""Token generation: chunked prefill, sampling, and the hook that constrains it.

A :class:`Session` owns one KV cache and remembers the tokens in it, so a new prompt that shares
a prefix with the previous one (an editor asking again after a small edit) only runs the new
part. A :class:`Sampler` picks the next token, among the ids a :class:`Constraint` allows when
there is one. What a trace is, and how it is decoded frame by frame, is the backends' business
(:mod:`cwm_lsp.backends.decoding`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from cwm_lsp.cancel import Cancellable
from cwm_lsp.runtime.kvcache import DEFAULT_MAX_CHUNK, DEFAULT_ROLLBACK, KVCache
from cwm_lsp.runtime.model import Transformer


class Constraint(Protocol):
    """Restricts generation: which ids may come next, told of every id taken."""

    def candidates(self) -> Sequence[int] | None:
        """The ids allowed next (None: any)."""
        ...

    def accept(self, token: int) -> None:
        """``token`` was taken."""
        ...

    def allowed_prefix(self, token: int, draft: Sequence[int]) -> int:
        """How many of ``draft`` (drafted to follow ``token``) the constraint allows."""
        ...


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
