"""Checkpoint files: safetensors, single or sharded, read tensor by tensor through a memory map.

Weights are quantized (when asked) as each tensor is read and the shard is released before the
next one opens, so peak memory stays near the size of the loaded model, not of the checkpoint.
A pre-quantized checkpoint (written by :func:`save_quantized`) stores ``X.qweight``,
``X.scales`` (and ``X.zeros`` for int4) in place of ``X.weight`` and carries
``cwm_lsp_quantization.json``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from cwm_lsp.runtime import quant
from cwm_lsp.runtime.assemble import Parts, head_method
from cwm_lsp.runtime.checkpoint_files import (
    INDEX_FILE,
    NORM_NAMES,
    QUANT_FILE,
    Quantization,
    ShardInfo,
    WeightsError,
    checkpoint_shards,
    read_quantization,
)
from cwm_lsp.runtime.config import CwmConfig

_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}
_QUANT_DTYPES = {"I8", "U8"}
_LAYER_RE = re.compile(r"model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.(\w+)$")
_NORM_RE = re.compile(r"model\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.weight$")
_IGNORED_RE = re.compile(r".*rotary_emb\.inv_freq$")


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
        return trim
    except (OSError, AttributeError):
        return None  # not glibc


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS. Quantizing frees a large float temporary for
    every small quantized tensor it keeps; glibc would otherwise keep the holes resident."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def expected_shapes(config: CwmConfig) -> dict[str, tuple[int, ...]]:
    """Float tensor names and shapes a checkpoint for ``config`` holds."""
    h, d, inter = config.hidden_size, config.head_dim, config.intermediate_size
    q_out, kv_out = config.num_attention_heads * d, config.num_key_value_heads * d
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (config.vocab_size, h),
        "model.norm.weight": (h,),
    }
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (config.vocab_size, h)
    linear = {
        "self_attn.q_proj": (q_out, h),
        "self_attn.k_proj": (kv_out, h),
        "self_attn.v_proj": (kv_out, h),
        "self_attn.o_proj": (h, q_out),
        "mlp.gate_proj": (inter, h),
        "mlp.up_proj": (inter, h),
        "mlp.down_proj": (h, inter),
    }
    for layer in range(config.num_hidden_layers):
        for norm in NORM_NAMES:
            shapes[f"model.layers.{layer}.{norm}.weight"] = (h,)
        for name, shape in linear.items():
            shapes[f"model.layers.{layer}.{name}.weight"] = shape
    return shapes


def _is_linear(name: str) -> bool:
    return name == "lm_head.weight" or bool(_LAYER_RE.match(name))


def iter_checkpoint(
    directory: Path,
    config: CwmConfig,
    quantization: Quantization,
    *,
    dtype: torch.dtype | None = None,
) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
    """Yield (base name, stored tensors) shard by shard, quantizing float linears on the way.

    Base names drop the ``.weight`` suffix; the tensors dict maps a suffix (``weight``,
    ``qweight``, ``scales``, ``zeros``) to a tensor.
    """
    prequantized = read_quantization(directory).method is not None
    shapes = expected_shapes(config)
    for shard in checkpoint_shards(directory):
        yield from _iter_shard(shard, shapes, quantization, dtype=dtype, prequantized=prequantized)


def _iter_shard(
    shard: ShardInfo,
    shapes: dict[str, tuple[int, ...]],
    quantization: Quantization,
    *,
    dtype: torch.dtype | None = None,
    prequantized: bool = False,
) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
    """One shard's tensors. Unquantized weights stay memory-mapped (no copy) unless quantizing,
    where the few float tensors kept are copied so each shard's mapping is released."""
    from safetensors import safe_open

    copy_kept = quantization.method is not None or prequantized
    try:
        handle = safe_open(str(shard.path), framework="pt", device="cpu")
    except Exception as err:
        raise WeightsError(f"{shard.path}: cannot open safetensors file ({err})") from err
    with handle:
        for name in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
            if _IGNORED_RE.match(name):
                continue
            st_dtype, shape = shard.tensors[name]
            base, _, suffix = name.rpartition(".")
            if suffix == "weight":
                _check_float(shard.path, name, st_dtype, shape, shapes)
            elif not prequantized or base + ".weight" not in shapes:
                raise WeightsError(f"{shard.path}: unexpected tensor {name}")
            try:
                tensor = handle.get_tensor(name)
            except Exception as err:
                raise WeightsError(f"{shard.path}: cannot read tensor {name} ({err})") from err
            if suffix != "weight":
                stored = {suffix: tensor.clone()}  # pre-quantized parts: small, copy them
            elif quantization.method and _is_linear(name):
                method = (
                    head_method(quantization.method) if base == "lm_head" else quantization.method
                )
                stored = quant.quantized_tensors(method, tensor, quantization.group_size)
            else:
                if dtype is not None:
                    tensor = tensor.to(dtype)
                # a tensor read from the file keeps the whole shard mapped (and resident)
                stored = {"weight": tensor.clone() if copy_kept else tensor}
            del tensor
            if quantization.method:
                release_freed_memory()
            yield base, stored


def _check_float(
    path: Path, name: str, st_dtype: str, shape: list[int], shapes: dict[str, tuple[int, ...]]
) -> None:
    if name not in shapes:
        if name == "lm_head.weight":
            return  # a tied config that still ships the head: use it
        raise WeightsError(f"{path}: unexpected tensor {name} (not part of this config)")
    if st_dtype not in _DTYPES:
        raise WeightsError(f"{path}: tensor {name} has unsupported dtype {st_dtype}")
    if tuple(shape) != shapes[name]:
        raise WeightsError(
            f"{path}: tensor {name} has shape {tuple(shape)}, config.json implies {shapes[name]}"
        )


def read_parts(
    directory: Path,
    config: CwmConfig,
    quantization: Quantization,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> Parts:
    """Read, check and quantize the checkpoint's tensors for :func:`assemble`; each goes to
    ``device`` as it is read."""
    parts: Parts = {}
    for base, tensors in iter_checkpoint(directory, config, quantization, dtype=dtype):
        parts.setdefault(base, {}).update({k: v.to(device) for k, v in tensors.items()})
    _check_complete(directory, config, parts)
    return parts


def _check_complete(directory: Path, config: CwmConfig, parts: Parts) -> None:
    for name in expected_shapes(config):
        base = name.rpartition(".")[0]
        have = parts.get(base, {})
        if "weight" in have or ("qweight" in have and "scales" in have):
            continue
        raise WeightsError(f"{directory}: checkpoint has no tensor {name}")


def save_quantized(
    src: Path, dst: Path, config: CwmConfig, quantization: Quantization
) -> list[Path]:
    """Write a pre-quantized copy of ``src`` into ``dst``, shard by shard, with its config and
    tokenizer files; returns the safetensors files written."""
    from safetensors.torch import save_file

    if quantization.method not in quant.METHODS:
        raise WeightsError(f"unknown quantization {quantization.method!r} (int8 or int4)")
    if read_quantization(src).method is not None:
        raise WeightsError(f"{src}: already quantized ({read_quantization(src).label})")
    shards = checkpoint_shards(src)
    shapes = expected_shapes(config)
    dst.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    weight_map: dict[str, str] = {}
    seen: set[str] = set()
    for number, shard in enumerate(shards, 1):
        out_name = (
            "model.safetensors"
            if len(shards) == 1
            else f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        )
        tensors: dict[str, torch.Tensor] = {}
        for base, stored in _iter_shard(shard, shapes, quantization):
            for suffix, tensor in stored.items():
                tensors[f"{base}.{suffix}"] = tensor.contiguous()
        for name in tensors:
            weight_map[name] = out_name
            seen.add(name.rpartition(".")[0])
        save_file(tensors, str(dst / out_name), metadata={"format": "pt"})
        written.append(dst / out_name)
        del tensors
    missing = [n for n in expected_shapes(config) if n.rpartition(".")[0] not in seen]
    if missing:
        raise WeightsError(f"{src}: checkpoint has no tensor {missing[0]}")
    if len(shards) > 1:
        index = {"metadata": {}, "weight_map": dict(sorted(weight_map.items()))}
        (dst / INDEX_FILE).write_text(json.dumps(index, indent=2), encoding="utf-8")
    (dst / QUANT_FILE).write_text(
        json.dumps(
            {
                "format": "cwm-lsp weight-only",
                "method": quantization.method,
                "group_size": quantization.group_size,
                "lm_head": head_method(quantization.method),
                "source": str(src),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    shutil.copy2(src / "config.json", dst / "config.json")
    from cwm_lsp.runtime.tokenizer import TOKENIZER_FILES

    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    return written
