"""Load AutoAWQ 4-bit checkpoints (GEMM packing) into our int4 layout, exactly.

An AWQ checkpoint is a Hugging Face directory whose ``config.json`` has
``quantization_config = {"quant_method": "awq", "bits": 4, "group_size": G, "zero_point": true,
"version": "gemm"}``; each quantized linear ``X`` (in-features K, out-features N) stores

  * ``X.qweight`` int32 [K, N / 8]: eight 4-bit values per int32, nibble i (bits 4i..4i+3)
    holding output column ``8 * c + AWQ_ORDER[i]`` with ``AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]``;
  * ``X.qzeros`` int32 [K / G, N / 8], packed the same way;
  * ``X.scales`` float16 [K / G, N];

and ``w[k, n] = scales[k // G, n] * (q[k, n] - zeros[k // G, n])``. That is our int4 formula with
the matrix transposed ([N, K] rows are output features), so the mapping is exact: unpack, put
output features first, repack two values per byte (low nibble = even k), scales to float32.
Embeddings, norms and the output head stay float as stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from cwm_lsp.runtime import ops
from cwm_lsp.runtime.assemble import Parts
from cwm_lsp.runtime.checkpoint_files import (
    EMBEDDING,
    FINAL_NORM,
    HEAD,
    LINEAR_NAMES,
    NORM_NAMES,
    WeightsError,
    checkpoint_shards,
    linear_part,
    norm_part,
)
from cwm_lsp.runtime.config import CwmConfig

AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # nibble i of an int32 holds column AWQ_ORDER[i] of 8


class AWQError(ValueError):
    """The AWQ checkpoint is malformed or uses a packing this loader does not read."""


def awq_settings(directory: Path) -> dict[str, Any] | None:
    """The ``quantization_config`` of an AWQ checkpoint, or None for anything else."""
    try:
        raw = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    settings = raw.get("quantization_config") if isinstance(raw, dict) else None
    if isinstance(settings, dict) and str(settings.get("quant_method", "")).lower() == "awq":
        return settings
    return None


def is_awq_checkpoint(directory: Path) -> bool:
    return awq_settings(directory) is not None


def unpack_awq(packed: torch.Tensor) -> torch.Tensor:
    """int32 [R, C / 8] in AWQ GEMM order -> uint8 values [R, C] in natural column order."""
    rows, words = packed.shape
    values = torch.empty(rows, words, 8, dtype=torch.uint8)
    as_int = packed.to(torch.int64) & 0xFFFFFFFF
    for nibble, column in enumerate(AWQ_ORDER):
        values[:, :, column] = ((as_int >> (4 * nibble)) & 0xF).to(torch.uint8)
    return values.reshape(rows, words * 8)


def pack_awq(values: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`unpack_awq`: uint8 values [R, C] (0..15) -> int32 [R, C / 8]."""
    rows, cols = values.shape
    grouped = values.to(torch.int64).reshape(rows, cols // 8, 8)
    word = torch.zeros(rows, cols // 8, dtype=torch.int64)
    for nibble, column in enumerate(AWQ_ORDER):
        word |= grouped[:, :, column] << (4 * nibble)
    return torch.where(word >= 2**31, word - 2**32, word).to(torch.int32)


def awq_to_int4(
    qweight: torch.Tensor, qzeros: torch.Tensor, scales: torch.Tensor
) -> dict[str, torch.Tensor]:
    """One AWQ linear as our int4 tensors (exact)."""
    q = unpack_awq(qweight)  # [K, N]
    zeros = unpack_awq(qzeros)  # [K / G, N]
    in_features, out_features = q.shape
    groups = zeros.shape[0]
    if scales.shape != (groups, out_features) or in_features % groups or in_features % 2:
        raise AWQError(
            f"inconsistent AWQ shapes: qweight {tuple(qweight.shape)}, qzeros "
            f"{tuple(qzeros.shape)}, scales {tuple(scales.shape)}"
        )
    q = q.t().contiguous()  # [N, K]
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).contiguous()
    return {
        "qweight": packed,
        "scales": scales.t().float().contiguous(),
        "zeros": zeros.t().contiguous(),
    }


def _read_parts(directory: Path) -> dict[str, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    parts: dict[str, dict[str, torch.Tensor]] = {}
    for shard in checkpoint_shards(directory):
        try:
            with safe_open(str(shard.path), framework="pt", device="cpu") as handle:
                for name in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                    base, _, suffix = name.rpartition(".")
                    if name.endswith("rotary_emb.inv_freq"):
                        continue
                    parts.setdefault(base, {})[suffix] = handle.get_tensor(name)
        except WeightsError:
            raise
        except Exception as err:
            raise AWQError(f"{shard.path}: cannot read ({err})") from err
    return parts


def _linear(
    base: str, stored: dict[str, torch.Tensor] | None, dtype: torch.dtype | None
) -> dict[str, torch.Tensor]:
    if stored is None:
        raise AWQError(f"checkpoint has no tensors for {base}")
    if "weight" in stored:  # a module AWQ left unquantized (modules_to_not_convert)
        return {"weight": stored["weight"] if dtype is None else stored["weight"].to(dtype)}
    missing = [s for s in ("qweight", "qzeros", "scales") if s not in stored]
    if missing:
        raise AWQError(f"{base}: missing {', '.join(missing)}")
    if "bias" in stored:
        raise AWQError(f"{base}: has a bias (CWM's linears have none)")
    parts = awq_to_int4(stored["qweight"], stored["qzeros"], stored["scales"])
    if dtype is not None:
        weight = ops.dequantize_int4(
            parts["qweight"],
            parts["scales"],
            parts["zeros"],
            parts["qweight"].shape[1] * 2 // parts["scales"].shape[1],
        )
        return {"weight": weight.to(dtype)}
    return parts


def check_settings(directory: Path, quantize: str | None) -> int:
    """The checkpoint's group size, once its ``quantization_config`` is one this loader reads
    and ``quantize`` (``load_model``'s) does not ask for another format; else AWQError."""
    settings = awq_settings(directory) or {}
    if quantize not in (None, "none", "int4"):
        raise AWQError(
            f"{directory}: an AWQ (int4) checkpoint cannot be loaded as {quantize}; "
            "quantize the original checkpoint instead"
        )
    version = str(settings.get("version", "gemm")).lower()
    if int(settings.get("bits", settings.get("w_bit", 4))) != 4 or version != "gemm":
        raise AWQError(
            f"{directory}: AWQ {settings.get('bits', 4)}-bit {version!r} packing is not supported "
            "(only 4-bit GEMM, AutoAWQ's default)"
        )
    if settings.get("zero_point", True) is False:
        raise AWQError(f"{directory}: AWQ without zero points is not supported")
    return int(settings.get("group_size", settings.get("q_group_size", 128)))


def read_parts(
    directory: Path, config: CwmConfig, *, device: torch.device | str, dtype: torch.dtype | None
) -> Parts:
    """The checkpoint's tensors for :func:`~cwm_lsp.runtime.assemble.assemble`: AWQ linears as
    our int4 (dequantized to ``dtype`` when given), the rest float as stored (or ``dtype``);
    the output head stays as stored (tied to the embedding when absent)."""
    stored = _read_parts(directory)

    def weight(base: str) -> dict[str, torch.Tensor]:
        tensors = stored.get(base, {})
        if "weight" not in tensors:
            raise AWQError(f"checkpoint has no tensor {base}.weight")
        tensor = tensors["weight"]
        return {"weight": (tensor if dtype is None else tensor.to(dtype)).to(device)}

    def linear(base: str) -> dict[str, torch.Tensor]:
        return {k: v.to(device) for k, v in _linear(base, stored.get(base), dtype).items()}

    parts: Parts = {EMBEDDING: weight(EMBEDDING)}
    for index in range(config.num_hidden_layers):
        for name in LINEAR_NAMES:
            parts[linear_part(index, name)] = linear(linear_part(index, name))
        for name in NORM_NAMES:
            parts[norm_part(index, name)] = weight(norm_part(index, name))
    if HEAD in stored:
        parts[HEAD] = linear(HEAD)
    parts[FINAL_NORM] = weight(FINAL_NORM)
    return parts
