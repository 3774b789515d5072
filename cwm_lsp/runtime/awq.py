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
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cwm_lsp.runtime import quant
from cwm_lsp.runtime.checkpoint_files import (
    LINEAR_NAMES,
    NORM_NAMES,
    Quantization,
    WeightsError,
    checkpoint_shards,
)
from cwm_lsp.runtime.config import ConfigError, CwmConfig
from cwm_lsp.runtime.model import Transformer

if TYPE_CHECKING:
    from cwm_lsp.runtime.loader import LoadedModel

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


def dequantize_int4(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """Float32 [N, K] weight of our int4 tensors."""
    packed, scales, zeros = parts["qweight"], parts["scales"], parts["zeros"]
    q = torch.stack((packed & 0x0F, packed >> 4), dim=-1).flatten(1).float()
    group = q.shape[1] // scales.shape[1]
    return scales.repeat_interleave(group, dim=1) * (
        q - zeros.float().repeat_interleave(group, dim=1)
    )


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
        return {"weight": dequantize_int4(parts).to(dtype)}
    return parts


def load_awq(
    directory: str | Path,
    *,
    quantize: str | None = None,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
) -> LoadedModel:
    """``load_model`` for an AutoAWQ checkpoint. ``dtype`` dequantizes the 4-bit weights to that
    float type; otherwise they load as our int4 (group size from the checkpoint)."""
    from cwm_lsp.runtime.loader import LoadedModel, ModelLoadError
    from cwm_lsp.runtime.tokenizer import TokenizerError, load_tokenizer

    directory = Path(directory).expanduser()
    settings = awq_settings(directory) or {}
    if quantize not in (None, "none", "int4"):
        raise ModelLoadError(
            f"{directory}: an AWQ (int4) checkpoint cannot be loaded as {quantize}; "
            "quantize the original checkpoint instead"
        )
    version = str(settings.get("version", "gemm")).lower()
    if int(settings.get("bits", settings.get("w_bit", 4))) != 4 or version != "gemm":
        raise ModelLoadError(
            f"{directory}: AWQ {settings.get('bits', 4)}-bit {version!r} packing is not supported "
            "(only 4-bit GEMM, AutoAWQ's default)"
        )
    if settings.get("zero_point", True) is False:
        raise ModelLoadError(f"{directory}: AWQ without zero points is not supported")
    group = int(settings.get("group_size", settings.get("q_group_size", 128)))
    try:
        config = CwmConfig.from_file(directory)
        parts = _read_parts(directory)
        transformer = _assemble(config, parts, dtype, device)
        tokenizer = load_tokenizer(directory)
    except (ConfigError, WeightsError, AWQError, TokenizerError) as err:
        raise ModelLoadError(f"{directory}: {err}") from err
    except RuntimeError as err:
        raise ModelLoadError(f"{directory}: cannot load ({err})") from err
    quantization = Quantization() if dtype is not None else Quantization("int4", group)
    return LoadedModel(directory, config, transformer, tokenizer, quantization)


def _assemble(
    config: CwmConfig,
    parts: dict[str, dict[str, torch.Tensor]],
    dtype: torch.dtype | None,
    device: str,
) -> Transformer:
    def weight(base: str) -> torch.Tensor:
        stored = parts.get(base, {})
        if "weight" not in stored:
            raise AWQError(f"checkpoint has no tensor {base}.weight")
        tensor = stored["weight"]
        return (tensor if dtype is None else tensor.to(dtype)).to(device)

    def module(base: str) -> nn.Module:
        stored = _linear(base, parts.get(base), dtype)
        return quant.linear_from_tensors({k: v.to(device) for k, v in stored.items()})

    embed = weight("model.embed_tokens")
    layers = []
    for index in range(config.num_hidden_layers):
        prefix = f"model.layers.{index}"
        linears = {
            name: module(
                f"{prefix}.{'self_attn' if name.endswith(('q_proj', 'k_proj', 'v_proj', 'o_proj')) else 'mlp'}.{name}"
            )
            for name in LINEAR_NAMES
        }
        norms = {name: weight(f"{prefix}.{name}") for name in NORM_NAMES}
        layers.append((linears, norms))
    head = module("lm_head") if "lm_head" in parts else quant.FloatLinear(embed)
    return Transformer(config, embed=embed, layers=layers, norm=weight("model.norm"), head=head)
