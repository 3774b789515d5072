"""A model's weights registered with the native decoder (``cwm_lsp._native.Decoder``,
native/src/decoder.cpp): the transformer's forward pass as one native call per chunk of tokens.

The weights arrive as :class:`DecoderWeights`, whatever holds them: torch tensors from the
PyTorch model (:mod:`cwm_lsp.runtime.native_step`) or numpy arrays read straight from a
checkpoint (:mod:`cwm_lsp.runtime.native_model`, which never imports torch). The decoder keeps
the arrays alive and reads them in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cwm_lsp.runtime.checkpoint_files import LINEAR_NAMES

if TYPE_CHECKING:
    from cwm_lsp.runtime.config import CwmConfig
    from cwm_lsp.runtime.kvcache import KVCache

LINEARS_PER_LAYER = len(LINEAR_NAMES)  # the decoder's slot order within a layer


@dataclass(frozen=True)
class FloatWeight:
    """float32 or bfloat16 [out, in] (numpy: uint16 holding bfloat16 bit patterns)."""

    weight: Any


@dataclass(frozen=True)
class Int8Weight:
    qweight: Any  # int8 [out, in]
    scales: Any  # float32 [out]


@dataclass(frozen=True)
class Int4Weight:
    qweight: Any  # uint8 [out, in // 2]
    scales: Any  # float32 [out, in // group]
    zeros: Any  # uint8 [out, in // group]
    group_size: int


LinearWeight = FloatWeight | Int8Weight | Int4Weight


@dataclass(frozen=True)
class DecoderWeights:
    """Everything the decoder reads, as contiguous CPU arrays."""

    inv_freq: Any  # float32 [head_dim // 2]
    embed: Any  # float32 or bfloat16 [vocab, hidden]
    final_norm: Any  # float32 [hidden]
    layer_norms: Sequence[tuple[Any, Any]]  # float32 input and post-attention norms per layer
    linears: Sequence[Sequence[LinearWeight]]  # per layer, in LINEAR_NAMES order
    head: LinearWeight
    vocab: int


def narrowed(weight: np.ndarray) -> np.ndarray:
    """A float32 weight as the decoder reads it: when every value is one bfloat16 holds exactly
    (a bf16 checkpoint widened to float32, as the demo model is loaded) it goes back to bf16 bit
    patterns (uint16): exact, and half the memory traffic of a decode step. Float32 arithmetic
    either way."""
    if weight.dtype == np.float32 and weight.size and not (weight.view(np.uint32) & 0xFFFF).any():
        return (weight.view(np.uint32) >> 16).astype(np.uint16)
    return np.ascontiguousarray(weight)


# rows, vocab -> a float32 [rows, vocab] array and the address of its data
LogitsFactory = Callable[[int, int], tuple[Any, int]]


class NativeDecoder:
    """A model registered with the native decoder; ``max_chunk``: the longest chunk it should
    run (None: any); ``threads``: how many threads a forward pass uses, asked on every call."""

    def __init__(
        self,
        decoder: Any,
        vocab: int,
        *,
        new_logits: LogitsFactory,
        threads: Callable[[], int],
        max_chunk: int | None = None,
    ) -> None:
        self._decoder = decoder
        self.vocab = vocab
        self.max_chunk = max_chunk
        self._new_logits = new_logits
        self._threads = threads

    def takes(self, length: int) -> bool:
        return self.max_chunk is None or length <= self.max_chunk

    def run(self, ids: Sequence[int], start_pos: int, cache: KVCache, *, all_logits: bool) -> Any:
        """Logits [T, vocab] (or [1, vocab] for the last token unless ``all_logits``) of ``ids``
        at positions start_pos..; writes their keys and values to ``cache``."""
        length = len(ids)
        cache.prepare(start_pos, length)
        where = cache.addresses()
        logits, address = self._new_logits(length if all_logits else 1, self.vocab)
        self._decoder.forward(
            ids,
            start_pos,
            where.keys,
            where.values,
            where.capacities,
            where.bfloat16,
            address,
            all_logits,
            self._threads(),
        )
        cache.advance(start_pos + length)
        return logits


def create_decoder(
    decoder_type: Any,
    config: CwmConfig,
    weights: DecoderWeights,
    *,
    new_logits: LogitsFactory,
    threads: Callable[[], int],
    max_chunk: int | None = None,
) -> NativeDecoder | str:
    """``weights`` registered with a new ``decoder_type`` instance, or why they cannot be
    (a shape or dtype the decoder does not take, a missing part)."""
    try:
        decoder = decoder_type(
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads,
            config.num_key_value_heads,
            config.head_dim,
            config.intermediate_size,
            weights.vocab,
            config.rms_norm_eps,
            weights.inv_freq,
            [config.window(index) or 0 for index in range(config.num_hidden_layers)],
            weights.embed,
            weights.final_norm,
        )
        for index, (input_norm, post_norm) in enumerate(weights.layer_norms):
            decoder.set_norms(index, input_norm, post_norm)
        for index, layer in enumerate(weights.linears):
            for offset, linear in enumerate(layer):
                _register(decoder, index * LINEARS_PER_LAYER + offset, linear)
        _register(decoder, config.num_hidden_layers * LINEARS_PER_LAYER, weights.head)
    except ValueError as exc:  # a shape or dtype the decoder does not take
        return str(exc)
    missing = decoder.missing()
    if missing:
        return f"incomplete model: {missing[0]}"
    return NativeDecoder(
        decoder, weights.vocab, new_logits=new_logits, threads=threads, max_chunk=max_chunk
    )


def _register(decoder: Any, slot: int, linear: LinearWeight) -> None:
    if isinstance(linear, FloatWeight):
        decoder.set_float(slot, linear.weight)
    elif isinstance(linear, Int8Weight):
        decoder.set_int8(slot, linear.qweight, linear.scales)
    else:
        decoder.set_int4(slot, linear.qweight, linear.scales, linear.zeros, linear.group_size)
