"""AutoAWQ GEMM checkpoints load into our int4 layout exactly.

The test writes its own AWQ checkpoint from a random model: it quantizes every linear to 4 bits
in groups, packs the values the way AutoAWQ's GEMM kernels expect (packing written here,
independently of the loader) and checks the loaded weights equal the dequantized originals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from cwm_lsp.runtime import ModelLoadError, load_model
from cwm_lsp.runtime.testing import write_checkpoint

pytest.importorskip("transformers")

GROUP = 32
PACK_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # AutoAWQ: int32 nibble i holds column PACK_ORDER[i]


def _pack_columns(values: torch.Tensor) -> torch.Tensor:
    """[R, C] ints 0..15 -> int32 [R, C / 8], AutoAWQ GEMM packing."""
    rows, cols = values.shape
    out = torch.zeros(rows, cols // 8, dtype=torch.int64)
    for word in range(cols // 8):
        for nibble in range(8):
            column = word * 8 + PACK_ORDER[nibble]
            out[:, word] |= values[:, column].to(torch.int64) << (4 * nibble)
    return (out - (out >= 2**31).to(torch.int64) * 2**32).to(torch.int32)


def _awq_quantize(weight: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """AWQ tensors for a [N, K] weight and the float weight they stand for."""
    w = weight.t().float()  # AWQ stores [K, N]
    k, n = w.shape
    grouped = w.reshape(k // GROUP, GROUP, n)
    low, high = grouped.amin(dim=1), grouped.amax(dim=1)
    scales = ((high - low) / 15).clamp(min=1e-5).half()
    zeros = torch.round(-low / scales.float()).clamp(0, 15)
    q = torch.round(grouped / scales.float()[:, None, :] + zeros[:, None, :]).clamp(0, 15)
    q = q.reshape(k, n).to(torch.uint8)
    dequant = (q.float().reshape(k // GROUP, GROUP, n) - zeros[:, None, :]) * scales.float()[
        :, None, :
    ]
    tensors = {
        "qweight": _pack_columns(q),
        "qzeros": _pack_columns(zeros.to(torch.uint8)),
        "scales": scales,
    }
    return tensors, dequant.reshape(k, n).t().contiguous()


@pytest.fixture(scope="module")
def awq_checkpoint(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file, save_file

    source = tmp_path_factory.mktemp("float")
    write_checkpoint(source, seed=5, scale=1.0)
    directory = tmp_path_factory.mktemp("awq")
    tensors: dict[str, torch.Tensor] = {}
    expected: dict[str, torch.Tensor] = {}
    for name, tensor in load_file(str(source / "model.safetensors")).items():
        base = name.rpartition(".")[0]
        if ("self_attn." in name or "mlp." in name) and tensor.dim() == 2:
            packed, dequant = _awq_quantize(tensor)
            tensors.update({f"{base}.{suffix}": value for suffix, value in packed.items()})
            expected[base] = dequant
        else:
            tensors[name] = tensor.half()
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((source / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "awq",
        "bits": 4,
        "group_size": GROUP,
        "zero_point": True,
        "version": "gemm",
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "tokenizer.model").write_bytes((source / "tokenizer.model").read_bytes())
    return directory, expected


def _dequantized(module: Any) -> torch.Tensor:
    q = torch.stack((module.qweight & 0x0F, module.qweight >> 4), dim=-1).flatten(1).float()
    group = module.group_size
    zeros = module.zeros.float().repeat_interleave(group, dim=1)
    return module.scales.repeat_interleave(group, dim=1) * (q - zeros)


def test_awq_weights_load_exactly_as_int4(
    awq_checkpoint: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    directory, expected = awq_checkpoint
    model: Any = load_model(directory)
    assert model.quantization.label == f"int4 (group {GROUP})"
    assert model.tokenizer is not None
    for layer in range(model.config.num_hidden_layers):
        block = model.transformer.layers[layer]
        for group, names in (
            ("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")),
            ("mlp", ("gate_proj", "up_proj", "down_proj")),
        ):
            for name in names:
                module = getattr(getattr(block, group), name)
                assert module.group_size == GROUP
                loaded = _dequantized(module)
                assert torch.equal(loaded, expected[f"model.layers.{layer}.{group}.{name}"]), name


def test_awq_logits_match_the_dequantized_float_model(
    awq_checkpoint: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    directory, _ = awq_checkpoint
    ids = list(range(10, 50))
    as_int4 = load_model(directory).logits(ids)
    as_float = load_model(directory, dtype=torch.float32).logits(ids)
    spread = (as_float.max() - as_float.min()).item()
    assert (as_int4 - as_float).abs().max().item() < 1e-3 * spread


def test_unsupported_awq_variants_are_refused(
    tmp_path: Path, awq_checkpoint: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    directory, _ = awq_checkpoint
    with pytest.raises(ModelLoadError, match="cannot be loaded as int8"):
        load_model(directory, quantize="int8")
    other = tmp_path / "gemv"
    other.mkdir()
    config = json.loads((directory / "config.json").read_text())
    config["quantization_config"]["version"] = "gemv"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="gemv"):
        load_model(other)
