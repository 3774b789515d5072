"""Token generation: chunked prefill, sampling, and the hook that constrains it.

A :class:`Session` owns one KV cache and remembers the tokens in it, so a new prompt that shares
a prefix with the previous one (an editor asking again after a small edit) only runs the new
part. A :class:`Sampler` picks the next token, among the ids a :class:`Constraint` allows when
there is one. What a trace is, and how it is decoded frame by frame, is the backends' business
(:mod:`cwm_lsp.backends.decoding`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy

from cwm_lsp.cancel import Cancellable
from cwm_lsp.runtime.config import CwmConfig
from cwm_lsp.runtime.kvcache import (
    DEFAULT_MAX_CHUNK,
    DEFAULT_ROLLBACK,
    CacheStorage,
    KVCache,
)

if TYPE_CHECKING:
    import torch


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


class StepModel(Protocol):
    """What a :class:`Session` runs: the PyTorch :class:`~cwm_lsp.runtime.model.Transformer` or
    the torch-free :class:`~cwm_lsp.runtime.native_model.NativeModel`. Logits are torch tensors
    or numpy arrays, [T, vocab] (or [1, vocab] for the last token unless ``all_logits``)."""

    config: CwmConfig

    def run(
        self, ids: Sequence[int], start_pos: int, cache: KVCache, *, all_logits: bool = False
    ) -> Any: ...

    def cache_storage(self, dtype: torch.dtype | None) -> CacheStorage: ...

    def inference(self) -> contextlib.AbstractContextManager[Any]:
        """The context its forward passes run in (PyTorch: no autograd bookkeeping)."""
        ...


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None


class Sampler:
    """Picks the next id from logits (a torch tensor or a numpy array of [vocab]). Greedy
    picking needs neither torch nor a random generator; sampling uses torch's generator."""

    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling
        self._generator: torch.Generator | None = None
        if sampling.temperature > 0:
            import torch

            self._generator = torch.Generator()
            if sampling.seed is not None:
                self._generator.manual_seed(sampling.seed)
            else:
                self._generator.seed()

    def __call__(self, logits: Any, allowed: Sequence[int] | None = None) -> int:
        """Pick the next id from ``logits`` [vocab] (among ``allowed`` ids when given)."""
        if self._generator is None:  # greedy: the first of the highest
            if allowed is None:
                return int(logits.argmax())
            return int(allowed[int(logits[list(allowed)].argmax())])
        import torch

        if not isinstance(logits, torch.Tensor):
            logits = torch.from_numpy(logits)
        if allowed is not None:
            keep = torch.tensor(allowed, dtype=torch.long, device=logits.device)
            masked = torch.full_like(logits, float("-inf"))
            masked[keep] = logits[keep]
            logits = masked
        probs = torch.softmax(logits.float().cpu() / self.sampling.temperature, dim=-1)
        if self.sampling.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            top = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < self.sampling.top_p
            top[0] = True
            probs = torch.zeros_like(probs).scatter_(0, order[top], sorted_probs[top])
        return int(torch.multinomial(probs, 1, generator=self._generator))


class Session:
    """One KV cache plus the tokens it holds; reuses the common prefix across prompts."""

    def __init__(
        self,
        model: StepModel,
        *,
        max_chunk: int = DEFAULT_MAX_CHUNK,
        rollback: int = DEFAULT_ROLLBACK,
        cache_dtype: torch.dtype | None = None,
    ) -> None:
        """``cache_dtype``: the KV cache's torch dtype (default float32; a torch-free model
        keeps float32)."""
        self.model = model
        self.max_chunk = max_chunk
        self.cache = KVCache(
            model.config,
            max_chunk=max_chunk,
            rollback=rollback,
            storage=model.cache_storage(cache_dtype),
        )
        self.tokens: list[int] = []
        self.reused_tokens = 0  # how many prompt tokens the last prefill did not recompute

    def reset(self) -> None:
        self.cache.truncate(0)
        self.tokens = []

    def prefill(self, ids: Sequence[int], *, all_logits: bool = False) -> Any:
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
        return _rows(outputs) if all_logits else outputs[-1][-1]

    def step(self, token: int) -> Any:
        """Append one token; logits for the next position [vocab]."""
        return self._run([token], all_logits=False)[-1]

    def speculate(self, token: int, draft: Sequence[int]) -> tuple[list[int], Any]:
        """Append ``token`` and check ``draft`` (what might follow it) in one forward pass.

        Keeps the longest prefix of ``draft`` that greedy decoding would have produced (up to
        rounding differences between one pass and token-by-token steps) and drops the rest
        from the cache. Returns the kept draft tokens and the logits after the last kept token.
        """
        start = len(self.tokens)
        logits = self._run([token, *draft], all_logits=True)
        choices = logits.argmax(-1).tolist()
        kept = 0
        while kept < len(draft) and choices[kept] == draft[kept]:
            kept += 1
        self.cache.truncate(start + 1 + kept)
        del self.tokens[start + 1 + kept :]
        return list(draft[:kept]), logits[kept]

    def _run(self, chunk: list[int], *, all_logits: bool) -> Any:
        with self.model.inference():
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


def _rows(chunks: list[Any]) -> Any:
    """The chunks' logits [T_i, vocab] as one [T, vocab] array of the same kind."""
    if len(chunks) == 1:
        return chunks[0]
    if isinstance(chunks[0], numpy.ndarray):
        return numpy.concatenate(chunks)
    import torch

    return torch.cat(chunks)


def _common_prefix(old: Sequence[int], new: Sequence[int], limit: int) -> int:
    count = 0
    for a, b in zip(old, new, strict=False):
        if a != b or count >= limit:
            break
        count += 1
    return count
