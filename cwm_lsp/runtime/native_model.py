"""A float checkpoint run by the native decoder without PyTorch.

Importing torch takes about 3 s, longer than reading and running the demo model. When a
checkpoint's weights are float32 or bfloat16 safetensors and the native decoder runs on this
machine, :func:`load_native_model` reads them with numpy straight into the decoder
(:mod:`cwm_lsp.runtime.native_decoder`), and a :class:`~cwm_lsp.runtime.generate.Session` runs
it with a numpy KV cache: the same kernels, weights and arithmetic as the PyTorch model's native
path, so greedy decoding gives the same tokens. Anything else (quantized or GGUF files,
``CWM_LSP_NATIVE=0``, a shape the decoder does not take) returns the reason, and the caller loads
the PyTorch model, which also reports any problem with the files.

RoPE's inverse frequencies are computed in numpy (:func:`rope_inverse_frequencies`); they equal
the PyTorch model's for the demo model and differ by at most one float32 unit in the last place
for other configurations.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cwm_lsp.runtime import native
from cwm_lsp.runtime.checkpoint_files import (
    EMBEDDING,
    FINAL_NORM,
    HEAD,
    LINEAR_NAMES,
    NORM_NAMES,
    ShardInfo,
    WeightsError,
    checkpoint_shards,
    linear_part,
    norm_part,
    read_quantization,
)
from cwm_lsp.runtime.config import CwmConfig
from cwm_lsp.runtime.generate import Session
from cwm_lsp.runtime.kvcache import DEFAULT_MAX_CHUNK, DEFAULT_ROLLBACK, KVCache, NumpyStorage
from cwm_lsp.runtime.native_decoder import (
    DecoderWeights,
    FloatWeight,
    LinearWeight,
    NativeDecoder,
    create_decoder,
    narrowed,
)
from cwm_lsp.runtime.tokenizer import Tokenizer, TokenizerError, load_tokenizer

if TYPE_CHECKING:
    import torch

_NUMPY_DTYPES = {"F32": np.float32, "BF16": np.uint16}  # bf16 kept as its bit patterns


def rope_inverse_frequencies(config: CwmConfig) -> np.ndarray:
    """RoPE inverse frequencies (float32), in the PyTorch model's order of float32 operations;
    the power is taken in float64 and rounded, which is what torch's float32 pow returns for
    the configurations tested."""
    rope, dim = config.rope, config.head_dim
    exponents = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    powers = np.power(np.float64(rope.theta), exponents.astype(np.float64)).astype(np.float32)
    inv_freq = np.float32(1.0) / powers
    if rope.rope_type != "llama3":
        return inv_freq
    old_context = rope.original_max_position_embeddings
    low_wavelen = old_context / rope.low_freq_factor
    high_wavelen = old_context / rope.high_freq_factor
    wavelen = np.float32(2 * math.pi) / inv_freq
    scaled = np.where(wavelen > low_wavelen, inv_freq / np.float32(rope.factor), inv_freq)
    smooth = (np.float32(old_context) / wavelen - np.float32(rope.low_freq_factor)) / np.float32(
        rope.high_freq_factor - rope.low_freq_factor
    )
    smoothed = (np.float32(1) - smooth) * scaled / np.float32(rope.factor) + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.ascontiguousarray(np.where(medium, smoothed, scaled), dtype=np.float32)


def _new_logits(rows: int, vocab: int) -> tuple[np.ndarray, int]:
    logits = np.empty((rows, vocab), dtype=np.float32)
    return logits, int(logits.ctypes.data)


class NativeModel:
    """The decoder as a :class:`~cwm_lsp.runtime.generate.Session` runs it (numpy logits)."""

    def __init__(self, config: CwmConfig, decoder: NativeDecoder) -> None:
        self.config = config
        self.decoder = decoder

    def run(
        self, ids: Sequence[int], start_pos: int, cache: KVCache, *, all_logits: bool = False
    ) -> np.ndarray:
        logits: np.ndarray = self.decoder.run(ids, start_pos, cache, all_logits=all_logits)
        return logits

    def cache_storage(self, dtype: torch.dtype | None) -> NumpyStorage:
        if dtype is not None and str(dtype) != "torch.float32":
            raise ValueError(f"the torch-free model keeps a float32 KV cache, not {dtype}")
        return NumpyStorage()

    def inference(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


@dataclass
class LoadedNativeModel:
    """A checkpoint loaded without torch: what a predictor needs of a loaded model."""

    path: Path
    config: CwmConfig
    tokenizer: Tokenizer | None
    model: NativeModel

    def new_session(
        self, *, max_chunk: int = DEFAULT_MAX_CHUNK, rollback: int = DEFAULT_ROLLBACK
    ) -> Session:
        return Session(self.model, max_chunk=max_chunk, rollback=rollback)


def load_native_model(
    path: Path, config: CwmConfig, *, widen_embeddings: bool, threads: Callable[[], int]
) -> LoadedNativeModel | str:
    """The checkpoint directory ``path`` loaded into the native decoder, or why it is not.

    ``widen_embeddings``: keep the embedding table as float32 (what the PyTorch path does when
    it loads a bf16 checkpoint as float32), not as stored; ``threads``: how many threads each
    forward pass uses, asked per pass.
    """
    if not native.available():
        return f"native kernels unavailable ({native.unavailable_reason()})"
    decoder_type = native.decoder_type()
    if decoder_type is None:
        return "the installed native extension predates the decoder"
    if not path.is_dir():
        return f"{path} is not a checkpoint directory"
    try:
        if read_quantization(path).method is not None:
            return "quantized checkpoint"
        shards = checkpoint_shards(path)
    except WeightsError as err:
        return str(err)
    located = {name: shard for shard in shards for name in shard.tensors}
    reason = _unsupported(located, config, widen_embeddings)
    if reason is not None:
        return reason
    try:
        tokenizer = load_tokenizer(path)
        weights = _decoder_weights(located, config, widen_embeddings)
    except (OSError, ValueError, TokenizerError) as err:
        return f"cannot read {path}: {err}"
    decoder = create_decoder(decoder_type, config, weights, new_logits=_new_logits, threads=threads)
    if isinstance(decoder, str):
        return decoder
    return LoadedNativeModel(path, config, tokenizer, NativeModel(config, decoder))


def _expected_weights(config: CwmConfig) -> set[str]:
    """The ``.weight`` tensor names a float checkpoint of ``config`` holds (the head may be tied)."""
    bases = [EMBEDDING, FINAL_NORM]
    for index in range(config.num_hidden_layers):
        bases += [linear_part(index, name) for name in LINEAR_NAMES]
        bases += [norm_part(index, name) for name in NORM_NAMES]
    return {f"{base}.weight" for base in bases}


def _unsupported(
    located: dict[str, ShardInfo], config: CwmConfig, widen_embeddings: bool
) -> str | None:
    """Why the PyTorch path should load these tensors, or None."""
    expected = _expected_weights(config)
    optional = {f"{HEAD}.weight"}
    names = {name for name in located if not name.endswith("rotary_emb.inv_freq")}
    if expected - names:
        return f"no tensor {sorted(expected - names)[0]}"
    if names - expected - optional:
        return f"unexpected tensor {sorted(names - expected - optional)[0]}"
    dtypes = {located[name].tensors[name][0] for name in names}
    if dtypes - set(_NUMPY_DTYPES):
        return f"{sorted(dtypes - set(_NUMPY_DTYPES))[0]} tensors"
    bf16_linears = any(
        located[name].tensors[name][0] == "BF16"
        for name in names
        if name.endswith("_proj.weight") or name in optional
    )
    if bf16_linears and not widen_embeddings and native.cpu_features().get("avx512_bf16", False):
        # the PyTorch path prefills bf16 models faster here (native_step.BF16_GEMM_CHUNK)
        return "bf16 weights on an AVX512_BF16 CPU"
    return None


def _read(located: dict[str, ShardInfo], base: str) -> np.ndarray:
    """The tensor ``base``.weight."""
    name = f"{base}.weight"
    shard = located[name]
    dtype_name, shape = shard.tensors[name]
    start, end = shard.extents[name]
    dtype = np.dtype(_NUMPY_DTYPES[dtype_name])
    count = math.prod(shape)
    if end - start != count * dtype.itemsize:
        raise ValueError(f"{shard.path}: tensor {name} holds {end - start} bytes for {shape}")
    array = np.fromfile(shard.path, dtype=dtype, count=count, offset=start)
    return array.reshape(shape)


def _widened(array: np.ndarray) -> np.ndarray:
    """float32 values of an array (bf16 bit patterns are widened exactly)."""
    if array.dtype == np.uint16:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return np.ascontiguousarray(array, dtype=np.float32)


def _decoder_weights(
    located: dict[str, ShardInfo], config: CwmConfig, widen_embeddings: bool
) -> DecoderWeights:
    embed = _read(located, EMBEDDING)
    layer_norms = []
    linears: list[list[LinearWeight]] = []
    for index in range(config.num_hidden_layers):
        norms = [_widened(_read(located, norm_part(index, name))) for name in NORM_NAMES]
        layer_norms.append((norms[0], norms[1]))
        linears.append(
            [
                FloatWeight(narrowed(_read(located, linear_part(index, name))))
                for name in LINEAR_NAMES
            ]
        )
    head_source = _read(located, HEAD) if f"{HEAD}.weight" in located else embed
    return DecoderWeights(
        inv_freq=rope_inverse_frequencies(config),
        embed=_widened(embed) if widen_embeddings else np.ascontiguousarray(embed),
        final_norm=_widened(_read(located, FINAL_NORM)),
        layer_norms=layer_norms,
        linears=linears,
        head=FloatWeight(narrowed(head_source)),
        vocab=int(head_source.shape[0]),
    )
