"""Load a GGUF file (llama.cpp's format) into our runtime.

Tensors use llama.cpp's ``llama`` names (``token_embd``, ``blk.N.attn_q`` ...). Q and K rows
come back in transformers' order (llama.cpp's converter interleaves the two halves of each head
for its pair-wise RoPE; we undo that permutation), so the loaded model is the original one.

Tensor types:
  * F32 / F16 / BF16: float weights (``quantize="int8"|"int4"`` quantizes them while loading);
  * Q4_0: blocks of 32 with one fp16 scale ``d`` and ``w = d * (q - 8)``; mapped **exactly** to
    our int4 layout with group size 32, ``scales = d`` (kept in float16, 18 bytes per 32
    weights as in the file), ``zeros = 8``;
  * Q8_0: blocks of 32 with one fp16 scale and ``w = d * q``. Our int8 layout has one scale per
    output row and int4 cannot hold 8 bits, so there is no exact mapping. By default Q8_0 is
    dequantized and requantized per row to our int8 (same memory as Q8_0; cost: one extra
    rounding, at most half an int8 step of the row's largest weight, ``max|w_row| / 254``, per
    weight; on the test models the logits move by well under 1% of their spread). Pass
    ``dtype=torch.float32`` to dequantize exactly instead (4x the memory), or
    ``quantize="int4"`` to requantize to int4;
  * any other type gguf-py can dequantize (K-quants ...): dequantized, then stored as int8
    (or as ``quantize``/``dtype`` ask).
Embeddings stored quantized are dequantized to float16 (float32 with ``dtype=torch.float32``).

Attention layout: a GGUF written by ``cwm-lsp model convert`` carries
``llama.attention.sliding_window`` and a per-layer ``llama.attention.sliding_window_pattern``
(true = sliding). Without them, ``cwm_config`` (a CWM ``config.json`` path or dict, or the
``CWM_LSP_CWM_CONFIG`` environment variable) supplies ``layer_types``/``sliding_window``; a
GGUF with CWM-32B's exact shape gets CWM's defaults (global every 4th layer, window 8192);
anything else runs all layers global (plain llama), exactly as llama.cpp does.

RoPE: the exact llama3 parameters from ``cwm.rope.*`` keys when present (ours), else from
``cwm_config``, else the frequencies are rebuilt from llama.cpp's ``rope_freqs.weight``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cwm_lsp.runtime import ops, quant
from cwm_lsp.runtime.assemble import Parts
from cwm_lsp.runtime.checkpoint_files import (
    EMBEDDING,
    FINAL_NORM,
    HEAD,
    NORM_NAMES,
    ROTARY,
    Quantization,
    linear_part,
    norm_part,
)
from cwm_lsp.runtime.config import FULL, SLIDING, ConfigError, CwmConfig, RopeScaling
from cwm_lsp.runtime.model import rope_inverse_frequencies
from cwm_lsp.runtime.tokenizer import TiktokenBackend, Tokenizer

if TYPE_CHECKING:
    from gguf import GGUFReader

CWM_ROPE_KEYS = {
    "type": "cwm.rope.type",
    "factor": "cwm.rope.llama3.factor",
    "low_freq_factor": "cwm.rope.llama3.low_freq_factor",
    "high_freq_factor": "cwm.rope.llama3.high_freq_factor",
    "original_context_length": "cwm.rope.llama3.original_context_length",
}
CONFIG_ENV = "CWM_LSP_CWM_CONFIG"
Q4_GROUP = 32

# CWM 32B's shape: a GGUF with exactly this shape and no layer pattern is taken to be CWM.
_CWM_SHAPE = {"block_count": 64, "embedding_length": 6144, "head_count": 48, "head_count_kv": 8}
_LINEARS = {
    "attn_q": "q_proj",
    "attn_k": "k_proj",
    "attn_v": "v_proj",
    "attn_output": "o_proj",
    "ffn_gate": "gate_proj",
    "ffn_up": "up_proj",
    "ffn_down": "down_proj",
}
_NORMS = {"attn_norm": NORM_NAMES[0], "ffn_norm": NORM_NAMES[1]}


class GGUFError(ValueError):
    """The GGUF file cannot be read or does not describe a model this runtime runs."""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table used by byte-level BPE vocabularies."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def qk_rows_to_gguf(n_heads: int, head_dim: int) -> torch.Tensor:
    """Row order llama.cpp's converter gives Q/K: GGUF row r holds transformers row index[r]."""
    return (
        torch.arange(n_heads * head_dim).view(n_heads, 2, head_dim // 2).transpose(1, 2).flatten()
    )


def qk_rows_from_gguf(n_heads: int, head_dim: int) -> torch.Tensor:
    """Inverse of :func:`qk_rows_to_gguf`: transformers row r is GGUF row index[r]."""
    return (
        torch.arange(n_heads * head_dim).view(n_heads, head_dim // 2, 2).transpose(1, 2).flatten()
    )


@dataclass
class GGUFInfo:
    """What the loader found and decided (shown by ``model info`` and in provenance)."""

    tensor_types: dict[str, int] = field(default_factory=dict)  # type name -> count
    layer_types_source: str = ""  # "gguf metadata", "cwm config", "CWM defaults", "none (llama)"
    rope_source: str = ""
    notes: list[str] = field(default_factory=list)


# -- metadata ------------------------------------------------------------------------------------


class GGUFMetadata:
    """The key-value metadata of an open GGUF file (``reader``: a ``gguf.GGUFReader``); keys of
    the model's architecture are read with :meth:`arch_key`."""

    def __init__(self, reader: Any, path: Path) -> None:
        self.reader, self.path = reader, path
        arch = self.get("general.architecture")
        if arch is None:
            raise GGUFError(f"{path}: no general.architecture key (not a model GGUF?)")
        self.arch = str(arch)

    def get(self, key: str, default: Any = None) -> Any:
        found = self.reader.get_field(key)
        if found is None:
            return default
        value = found.contents()
        if isinstance(value, list):
            return value
        return value

    def arch_key(self, name: str, default: Any = None) -> Any:
        return self.get(f"{self.arch}.{name}", default)

    def need(self, name: str) -> Any:
        value = self.arch_key(name)
        if value is None:
            raise GGUFError(f"{self.path}: missing metadata key {self.arch}.{name}")
        return value


def _f32(value: Any) -> float:
    """A float32 metadata value as the shortest decimal that rounds to it (1e-05, not
    9.99999974e-06), i.e. the number the original config.json most likely held."""
    return float(str(np.float32(value)))


def _read_cwm_config(cwm_config: str | Path | dict[str, Any] | None) -> dict[str, Any] | None:
    if cwm_config is None:
        cwm_config = os.environ.get(CONFIG_ENV) or None
    if cwm_config is None or isinstance(cwm_config, dict):
        return cwm_config
    path = Path(cwm_config).expanduser()
    if path.is_dir():
        path = path / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise GGUFError(f"{path}: cannot read the CWM config ({err})") from err
    if not isinstance(raw, dict):
        raise GGUFError(f"{path}: expected a JSON object")
    return raw


def attention_layout(
    meta: GGUFMetadata, layers: int, extra: dict[str, Any] | None, info: GGUFInfo
) -> tuple[tuple[str, ...], int | None]:
    """Each layer's attention kind (``full_attention``/``sliding_attention``) and the sliding
    window, from the GGUF's pattern keys, else ``extra`` (a CWM config.json's contents), else
    CWM's defaults for CWM's exact shape, else all global; ``info`` records which."""
    window = meta.arch_key("attention.sliding_window")
    pattern = meta.arch_key("attention.sliding_window_pattern")
    if pattern is not None:
        if isinstance(pattern, list):
            if len(pattern) != layers:
                raise GGUFError(
                    f"{meta.path}: sliding_window_pattern has {len(pattern)} entries "
                    f"for {layers} layers"
                )
            kinds = tuple(SLIDING if flag else FULL for flag in pattern)
        else:  # llama.cpp's integer form: the last layer of every group of n is global
            n = int(pattern)
            kinds = tuple(SLIDING if n > 1 and i % n < n - 1 else FULL for i in range(layers))
        info.layer_types_source = "gguf metadata"
        if SLIDING in kinds and not window:
            raise GGUFError(f"{meta.path}: sliding layers but no attention.sliding_window")
        return kinds, int(window) if window else None
    if extra is not None:
        config = CwmConfig.from_dict(
            {"model_type": "cwm", **_shape_dict(meta), **extra}, source="CWM config"
        )
        info.layer_types_source = "cwm config"
        return config.layer_types, config.sliding_window
    shape = {key: int(meta.arch_key(key, 0)) for key in _CWM_SHAPE}
    if shape == _CWM_SHAPE:
        info.layer_types_source = "CWM defaults"
        info.notes.append(
            "no per-layer attention pattern in the GGUF: assumed CWM's (global every 4th "
            "layer, window 8192); pass a CWM config.json to be sure"
        )
        return tuple(FULL if i % 4 == 0 else SLIDING for i in range(layers)), 8192
    info.layer_types_source = "none (llama)"
    return (FULL,) * layers, int(window) if window else None


def _shape_dict(meta: GGUFMetadata) -> dict[str, Any]:
    heads = int(meta.need("attention.head_count"))
    hidden = int(meta.need("embedding_length"))
    return {
        "num_hidden_layers": int(meta.need("block_count")),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta.arch_key("attention.head_count_kv", heads)),
        "intermediate_size": int(meta.need("feed_forward_length")),
        "vocab_size": 0,
    }


def _rope(
    meta: GGUFMetadata, extra: dict[str, Any] | None, theta: float, info: GGUFInfo
) -> RopeScaling:
    kind = meta.get(CWM_ROPE_KEYS["type"])
    if kind == "llama3":
        info.rope_source = "gguf metadata"
        return RopeScaling(
            theta=theta,
            rope_type="llama3",
            factor=_f32(meta.get(CWM_ROPE_KEYS["factor"])),
            low_freq_factor=_f32(meta.get(CWM_ROPE_KEYS["low_freq_factor"])),
            high_freq_factor=_f32(meta.get(CWM_ROPE_KEYS["high_freq_factor"])),
            original_max_position_embeddings=int(
                meta.get(CWM_ROPE_KEYS["original_context_length"])
            ),
        )
    if kind == "default":
        info.rope_source = "gguf metadata"
        return RopeScaling(theta=theta, rope_type="default", factor=1.0)
    if extra is not None and (extra.get("rope_parameters") or extra.get("rope_scaling")):
        config = CwmConfig.from_dict(
            {"model_type": "cwm", **_shape_dict(meta), "rope_theta": theta, **extra},
            source="CWM config",
        )
        info.rope_source = "cwm config"
        return replace(config.rope, theta=theta)
    info.rope_source = "rope_freqs tensor" if _has_tensor(meta, "rope_freqs.weight") else "plain"
    return RopeScaling(theta=theta, rope_type="default", factor=1.0)


def _has_tensor(meta: GGUFMetadata, name: str) -> bool:
    return any(t.name == name for t in meta.reader.tensors)


def config_from_gguf(
    meta: GGUFMetadata, tensors: dict[str, Any], extra: dict[str, Any] | None, info: GGUFInfo
) -> CwmConfig:
    if meta.arch != "llama":
        raise GGUFError(
            f"{meta.path}: architecture {meta.arch!r}; this runtime loads CWM converted as 'llama'"
        )
    shape = _shape_dict(meta)
    layers = shape["num_hidden_layers"]
    embed = tensors.get("token_embd.weight")
    if embed is None:
        raise GGUFError(f"{meta.path}: no token_embd.weight tensor")
    vocab = int(embed.shape[1]) if len(embed.shape) > 1 else 0
    head_dim = int(
        meta.arch_key("attention.key_length")
        or meta.arch_key("rope.dimension_count")
        or shape["hidden_size"] // shape["num_attention_heads"]
    )
    kinds, window = attention_layout(meta, layers, extra, info)
    theta = _f32(meta.arch_key("rope.freq_base", 10_000.0))
    return CwmConfig(
        vocab_size=vocab,
        hidden_size=shape["hidden_size"],
        intermediate_size=shape["intermediate_size"],
        num_hidden_layers=layers,
        num_attention_heads=shape["num_attention_heads"],
        num_key_value_heads=shape["num_key_value_heads"],
        head_dim=head_dim,
        rms_norm_eps=_f32(meta.arch_key("attention.layer_norm_rms_epsilon", 1e-5)),
        max_position_embeddings=int(meta.arch_key("context_length", 131072)),
        tie_word_embeddings="output.weight" not in tensors,
        sliding_window=window,
        layer_types=kinds,
        rope=_rope(meta, extra, theta, info),
        model_type="cwm" if SLIDING in kinds else "llama",
        name=str(meta.get("general.name") or meta.path.stem),
    )


# -- tokenizer -----------------------------------------------------------------------------------


def _gguf_bpe_backend(tokens: Sequence[str], types: Sequence[int], name: str) -> TiktokenBackend:
    """tiktoken over the GGUF vocabulary: normal tokens' bytes ranked by id (the ids of a
    Llama-3-family vocabulary are its BPE ranks), control tokens as specials."""
    decode = {ch: b for b, ch in bytes_to_unicode().items()}
    ranks: dict[bytes, int] = {}
    special: dict[str, int] = {}
    for token_id, (text, kind) in enumerate(zip(tokens, types, strict=True)):
        if kind == 1:
            try:
                ranks[bytes(decode[ch] for ch in text)] = token_id
            except KeyError:
                raise GGUFError(f"token {token_id} ({text!r}) is not byte-level BPE") from None
        elif kind in (3, 4):
            special[text] = token_id
    # tiktoken needs ranks 0..n-1 for normal tokens; specials follow them.
    return TiktokenBackend(ranks, special, name)


def tokenizer_from_gguf(meta: GGUFMetadata) -> Tokenizer | None:
    model = meta.get("tokenizer.ggml.model")
    if model is None:
        return None
    if model != "gpt2":
        raise GGUFError(
            f"{meta.path}: tokenizer model {model!r}; CWM GGUFs use byte-level BPE ('gpt2')"
        )
    tokens = meta.get("tokenizer.ggml.tokens") or []
    types = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    try:
        backend = _gguf_bpe_backend(tokens, types, meta.path.name)
    except ValueError as err:
        raise GGUFError(f"{meta.path}: cannot build the tokenizer ({err})") from err
    return Tokenizer(backend, path=meta.path, kind="gguf")


# -- tensors -------------------------------------------------------------------------------------


def _float(tensor: Any) -> torch.Tensor:
    """A reader tensor (F32/F16/BF16 or anything gguf-py dequantizes) as float32 [rows, cols]."""
    from gguf import GGMLQuantizationType as T
    from gguf import quants

    kind = T(int(tensor.tensor_type))
    shape = tuple(int(x) for x in reversed(tensor.shape.tolist()))
    data = np.asarray(tensor.data)
    if kind == T.F32:
        return torch.from_numpy(data.astype(np.float32, copy=True)).reshape(shape)
    if kind == T.F16:
        return torch.from_numpy(data.astype(np.float32)).reshape(shape)
    if kind == T.BF16:
        raw = torch.from_numpy(data.view(np.int16).copy()).view(torch.bfloat16)
        return raw.float().reshape(shape)
    try:
        return torch.from_numpy(np.asarray(quants.dequantize(data, kind), np.float32)).reshape(
            shape
        )
    except NotImplementedError as err:
        raise GGUFError(f"tensor {tensor.name}: type {kind.name} is not supported") from err


def _blocks(tensor: Any, block_bytes: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Raw Q8_0/Q4_0 blocks: the fp16 scales [N, K/32] (float16) and the payload bytes."""
    rows, cols = (int(x) for x in reversed(tensor.shape.tolist()))
    raw = torch.from_numpy(np.ascontiguousarray(tensor.data).view(np.uint8).copy())
    raw = raw.view(rows, cols // 32, block_bytes)
    scales = raw[..., :2].contiguous().view(torch.float16).squeeze(-1)
    return scales, raw[..., 2:], rows, cols


def q4_0_to_int4(tensor: Any) -> dict[str, torch.Tensor]:
    """Exact: Q4_0 (d, 16 bytes: low nibbles = elements 0..15, high = 16..31) -> our int4,
    keeping the float16 scales (18 bytes per 32 weights, as in the file)."""
    scales, payload, rows, cols = _blocks(tensor, 18)
    q = torch.cat((payload & 0x0F, payload >> 4), dim=-1).reshape(rows, cols)
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).contiguous()
    zeros = torch.full_like(scales, 8, dtype=torch.uint8)
    return {"qweight": packed, "scales": scales, "zeros": zeros}


def q8_0_to_float(tensor: Any) -> torch.Tensor:
    scales, payload, rows, cols = _blocks(tensor, 34)
    q = payload.contiguous().view(torch.int8).float()
    return (q * scales.float()[..., None]).reshape(rows, cols)


def q4_0_to_float(tensor: Any) -> torch.Tensor:
    parts = q4_0_to_int4(tensor)
    return ops.dequantize_int4(parts["qweight"], parts["scales"], parts["zeros"], Q4_GROUP)


def _type_name(tensor: Any) -> str:
    from gguf import GGMLQuantizationType as T

    return T(int(tensor.tensor_type)).name


def _dense(tensor: Any) -> torch.Tensor:
    name = _type_name(tensor)
    if name == "Q8_0":
        return q8_0_to_float(tensor)
    if name == "Q4_0":
        return q4_0_to_float(tensor)
    return _float(tensor)


def linear_tensors(
    tensor: Any,
    *,
    quantize: str | None,
    dtype: torch.dtype | None,
    group_size: int,
    head: bool = False,
) -> dict[str, torch.Tensor]:
    """Stored tensors (suffix -> tensor, as :func:`quant.linear_from_tensors` takes) for one
    GGUF matrix, following the policy in the module docstring."""
    kind = _type_name(tensor)
    if dtype is not None:
        return {"weight": _dense(tensor).to(dtype)}
    if kind == "Q4_0" and quantize in (None, "int4") and not head:
        return q4_0_to_int4(tensor)
    if kind in ("F32", "F16", "BF16"):
        weight = _float(tensor)
        if quantize is None:
            return {"weight": weight.to(torch.float16) if kind == "F16" else weight}
        method = "int8" if head and quantize == "int4" else quantize
        return quant.quantized_tensors(method, weight, group_size)
    method = quantize or "int8"
    if head and method == "int4" and kind != "Q4_0":
        method = "int8"
    if kind == "Q4_0" and head and quantize is None:
        return q4_0_to_int4(tensor)  # the file chose 4 bits for the head: keep them exactly
    return quant.quantized_tensors(method, _dense(tensor), group_size)


def _permuted(parts: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[rows].contiguous() if v.dim() > 0 else v for k, v in parts.items()}


@dataclass
class GGUFModelParts:
    """A GGUF file read for :func:`~cwm_lsp.runtime.assemble.assemble`: ``parts`` under
    Hugging Face names, and ``applied``, the quantization a head tied to the embedding gets."""

    config: CwmConfig
    parts: Parts
    applied: Quantization
    tokenizer: Tokenizer | None
    quantization: Quantization
    info: GGUFInfo


def _open_reader(path: Path) -> GGUFReader:
    """The GGUF file's reader, or a GGUFError that names the file."""
    from gguf import GGUFReader

    if not path.is_file():
        raise GGUFError(f"{path}: no such GGUF file")
    try:
        return GGUFReader(str(path))
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise GGUFError(f"{path}: not a readable GGUF file ({err})") from err


def read_gguf(
    path: str | Path,
    *,
    quantize: str | None = None,
    device: str = "cpu",
    group_size: int = quant.DEFAULT_GROUP_SIZE,
    dtype: torch.dtype | None = None,
    cwm_config: str | Path | dict[str, Any] | None = None,
) -> GGUFModelParts:
    """Read and check a GGUF model's tensors (see the module docstring for the policy)."""
    path = Path(path).expanduser()
    reader = _open_reader(path)
    meta = GGUFMetadata(reader, path)
    info = GGUFInfo()
    tensors = {t.name: t for t in reader.tensors}
    for t in reader.tensors:
        info.tensor_types[_type_name(t)] = info.tensor_types.get(_type_name(t), 0) + 1
    extra = _read_cwm_config(cwm_config)
    try:
        config = config_from_gguf(meta, tensors, extra, info)
    except ConfigError as err:
        raise GGUFError(f"{path}: {err}") from err

    def need(name: str) -> Any:
        if name not in tensors:
            raise GGUFError(f"{path}: no tensor {name}")
        return tensors[name]

    def check(name: str, shape: tuple[int, ...]) -> Any:
        tensor = need(name)
        found = tuple(int(x) for x in reversed(tensor.shape.tolist()))
        if found != shape:
            raise GGUFError(
                f"{path}: tensor {name} has shape {found}, the metadata implies {shape}"
            )
        return tensor

    h, d = config.hidden_size, config.head_dim
    n_q, n_kv = config.num_attention_heads, config.num_key_value_heads
    shapes = {
        "attn_q": (n_q * d, h),
        "attn_k": (n_kv * d, h),
        "attn_v": (n_kv * d, h),
        "attn_output": (h, n_q * d),
        "ffn_gate": (config.intermediate_size, h),
        "ffn_up": (config.intermediate_size, h),
        "ffn_down": (h, config.intermediate_size),
    }
    rows = {"attn_q": qk_rows_from_gguf(n_q, d), "attn_k": qk_rows_from_gguf(n_kv, d)}
    options: dict[str, Any] = {"quantize": quantize, "dtype": dtype, "group_size": group_size}
    parts: Parts = {}
    try:
        embed_tensor = check("token_embd.weight", (config.vocab_size, h))
        embed = _dense(embed_tensor)
        if _type_name(embed_tensor) not in ("F32",):
            embed = embed.to(dtype or torch.float16)
        elif dtype is not None:
            embed = embed.to(dtype)
        parts[EMBEDDING] = {"weight": embed}
        for layer in range(config.num_hidden_layers):
            for gg, ours in _LINEARS.items():
                linear = linear_tensors(check(f"blk.{layer}.{gg}.weight", shapes[gg]), **options)
                if gg in rows:
                    linear = _permuted(linear, rows[gg])
                parts[linear_part(layer, ours)] = {k: v.to(device) for k, v in linear.items()}
            for gg, ours in _NORMS.items():
                norm = _float(check(f"blk.{layer}.{gg}.weight", (h,)))
                parts[norm_part(layer, ours)] = {"weight": norm.to(device)}
        parts[FINAL_NORM] = {"weight": _float(check("output_norm.weight", (h,))).to(device)}
        if "output.weight" in tensors:
            head = linear_tensors(
                check("output.weight", (config.vocab_size, h)), **options, head=True
            )
            parts[HEAD] = {k: v.to(device) for k, v in head.items()}
    except (ValueError, RuntimeError) as err:
        if isinstance(err, GGUFError):
            raise
        raise GGUFError(f"{path}: cannot load ({err})") from err
    if info.rope_source == "rope_freqs tensor":
        factors = _float(tensors["rope_freqs.weight"]).flatten()
        base = rope_inverse_frequencies(config)
        if factors.numel() != base.numel():
            raise GGUFError(f"{path}: rope_freqs.weight has {factors.numel()} entries")
        parts[ROTARY] = {"inv_freq": (base / factors).contiguous()}
    applied = Quantization() if quantize is None else Quantization(quantize, group_size)
    tokenizer = tokenizer_from_gguf(meta)
    quantization = _quantization_label(info.tensor_types, quantize, dtype, group_size)
    return GGUFModelParts(config, parts, applied, tokenizer, quantization, info)


def _quantization_label(
    types: dict[str, int], quantize: str | None, dtype: torch.dtype | None, group_size: int
) -> Quantization:
    if dtype is not None:
        return Quantization()
    if quantize is not None:
        return Quantization(quantize, group_size)
    if "Q4_0" in types:
        return Quantization("int4", Q4_GROUP)
    if any(t not in ("F32", "F16", "BF16") for t in types):
        return Quantization("int8")
    return Quantization()


def gguf_tokenizer(path: str | Path) -> Tokenizer | None:
    """Only the tokenizer of a GGUF file (no tensors are read)."""
    path = Path(path).expanduser()
    reader = _open_reader(path)
    return tokenizer_from_gguf(GGUFMetadata(reader, path))


def gguf_config(
    path: str | Path, *, cwm_config: str | Path | dict[str, Any] | None = None
) -> CwmConfig:
    """The model config a GGUF file describes (metadata only, no tensor data is read)."""
    path = Path(path).expanduser()
    reader = _open_reader(path)
    meta = GGUFMetadata(reader, path)
    tensors = {t.name: t for t in reader.tensors}
    try:
        return config_from_gguf(meta, tensors, _read_cwm_config(cwm_config), GGUFInfo())
    except ConfigError as err:
        raise GGUFError(f"{path}: {err}") from err
