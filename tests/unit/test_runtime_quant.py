"""Weight-only int8/int4: exact layouts, exact ops, and logits close to full precision."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from cwm_lsp.runtime import ModelLoadError, load_model, native, ops, quant
from cwm_lsp.runtime.checkpoint_files import QUANT_FILE, Quantization
from cwm_lsp.runtime.testing import tiny_config, write_checkpoint
from cwm_lsp.runtime.weights import save_quantized

pytest.importorskip("transformers")


def test_int8_layout_and_round_trip() -> None:
    weight = torch.randn(24, 64, generator=torch.Generator().manual_seed(0))
    qweight, scales = quant.quantize_int8(weight)
    assert qweight.dtype == torch.int8 and qweight.shape == (24, 64)
    assert scales.dtype == torch.float32 and scales.shape == (24,)
    restored = qweight.float() * scales[:, None]  # the documented formula
    assert ((restored - weight).abs() <= scales[:, None] / 2 + 1e-6).all()


def test_int4_layout_and_round_trip() -> None:
    weight = torch.randn(24, 64, generator=torch.Generator().manual_seed(0))
    packed, scales, zeros = quant.quantize_int4(weight, 16)
    assert packed.dtype == torch.uint8 and packed.shape == (24, 32)
    assert scales.shape == (24, 4) and zeros.shape == (24, 4) and zeros.dtype == torch.uint8
    assert int(zeros.max()) <= 15
    restored = torch.empty(24, 64)
    for n in range(24):  # the documented formula, element by element
        for k in range(64):
            byte = int(packed[n, k // 2])
            q = byte & 0x0F if k % 2 == 0 else byte >> 4
            restored[n, k] = scales[n, k // 16] * (q - int(zeros[n, k // 16]))
    assert torch.allclose(restored, ops.dequantize_int4(packed, scales, zeros, 16))
    # each group's range is chosen to beat plain min/max quantization on squared error
    groups = weight.view(24, 4, 16)
    low, high = groups.amin(-1).clamp(max=0), groups.amax(-1).clamp(min=0)
    plain_scale = (high - low) / 15
    plain_zero = torch.round(-low / plain_scale)
    codes = torch.round(groups / plain_scale[..., None] + plain_zero[..., None]).clamp(0, 15)
    plain = (codes - plain_zero[..., None]) * plain_scale[..., None]
    plain_error = (plain - groups).square().sum(-1)
    error = (restored.view(24, 4, 16) - groups).square().sum(-1)
    assert (error <= plain_error + 1e-6).all()


def test_int4_group_size_falls_back_to_a_divisor() -> None:
    assert quant.int4_group_size(256, 128) == 128
    assert quant.int4_group_size(96, 128) == 96
    assert quant.int4_group_size(192, 128) == 96
    with pytest.raises(ValueError, match="even"):
        quant.int4_group_size(7, 128)


@pytest.fixture
def exact_activations() -> Iterator[None]:
    """Native int8/int4 matmuls with float32 activations (the default rounds them to int8)."""
    with native.activations(exact=True):
        yield


@pytest.mark.usefixtures("exact_activations")
@pytest.mark.parametrize("use_native", ["0", "1"])
def test_quantized_linear_ops_equal_dequantized_matmul(
    monkeypatch: pytest.MonkeyPatch, use_native: str
) -> None:
    monkeypatch.setenv("CWM_LSP_NATIVE", use_native)
    kernels = ops.native_kernels()
    weight, x = torch.randn(48, 128), torch.randn(5, 128)
    qweight, scales = quant.quantize_int8(weight)
    expected = x @ (qweight.float() * scales[:, None]).T
    got8 = ops.int8_linear(x, qweight, scales, native=kernels)
    assert torch.allclose(got8, expected, atol=1e-3, rtol=1e-4)
    packed, scales4, zeros = quant.quantize_int4(weight, 32)
    expected4 = x @ ops.dequantize_int4(packed, scales4, zeros, 32).T
    got = ops.int4_linear(x, packed, scales4, zeros, 32, native=kernels)
    assert torch.allclose(got, expected4, atol=1e-3, rtol=1e-4)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    directory = tmp_path_factory.mktemp("cwm-q")
    config = tiny_config(hidden_size=192, intermediate_size=384, head_dim=32)
    return directory, write_checkpoint(directory, config, seed=3, scale=0.5)


def _ids() -> list[int]:
    return torch.randint(0, 256, (64,), generator=torch.Generator().manual_seed(0)).tolist()


def _dequantized_reference(reference: Any, method: str, group_size: int) -> Any:
    """transformers' model with every linear replaced by its quantize-dequantize round trip."""
    import copy

    model = copy.deepcopy(reference)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear):
                use = "int8" if name == "lm_head" else method
                stored = quant.quantized_tensors(use, module.weight, group_size)
                if use == "int8":
                    restored = stored["qweight"].float() * stored["scales"][:, None]
                else:
                    size = quant.int4_group_size(module.weight.shape[1], group_size)
                    restored = ops.dequantize_int4(
                        stored["qweight"], stored["scales"], stored["zeros"], size
                    )
                module.weight.copy_(restored)
    return model


@pytest.mark.usefixtures("exact_activations")
@pytest.mark.parametrize(("method", "group_size"), [("int8", 128), ("int4", 32), ("int4", 128)])
def test_quantized_model_computes_exactly_with_its_dequantized_weights(
    checkpoint: tuple[Path, Any], method: str, group_size: int
) -> None:
    directory, reference = checkpoint
    ids = _ids()
    ours = load_model(directory, quantize=method, group_size=group_size).logits(ids)
    with torch.no_grad():
        expected = _dequantized_reference(reference, method, group_size)(
            torch.tensor([ids])
        ).logits[0]
    assert torch.allclose(ours, expected, atol=2e-3, rtol=1e-3)


@pytest.mark.skipif(not native.built(), reason="native extension not built")
@pytest.mark.parametrize(("method", "group_size"), [("int8", 128), ("int4", 32)])
def test_int8_activations_stay_close_to_float32_activations(
    checkpoint: tuple[Path, Any], method: str, group_size: int
) -> None:
    """The default (activations rounded to int8 in blocks of 32, as llama.cpp's Q8_0) against
    float32 activations on the same quantized weights: logits within 3% (relative L2) and the
    top-1 token kept at 90% of positions, on this random model whose layers amplify errors."""
    directory, _ = checkpoint
    ids = _ids()
    model = load_model(directory, quantize=method, group_size=group_size)
    rounded = model.logits(ids)
    with native.activations(exact=True):
        exact = model.logits(ids)
    relative = float((rounded - exact).norm() / exact.norm())
    top1 = float((rounded.argmax(-1) == exact.argmax(-1)).float().mean())
    assert 0 < relative < 0.03 and top1 >= 0.9, (relative, top1)


# Bounds on this random-weight model (random Gaussian weights are harder to quantize than
# trained ones, and 4 random layers amplify errors): relative L2 error of all logits, and the
# share of positions whose top-1 token is unchanged.
BOUNDS = {"int8": (0.06, 0.9), "int4": (0.45, 0.35)}


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_quantized_logits_stay_close_to_full_precision(
    checkpoint: tuple[Path, Any], method: str
) -> None:
    directory, _ = checkpoint
    ids = _ids()
    full = load_model(directory).logits(ids)
    quantized = load_model(directory, quantize=method, group_size=32).logits(ids)
    relative = float((quantized - full).norm() / full.norm())
    top1 = float((quantized.argmax(-1) == full.argmax(-1)).float().mean())
    max_relative, min_top1 = BOUNDS[method]
    assert relative < max_relative and top1 >= min_top1, (relative, top1)
    if method == "int4":
        int8 = load_model(directory, quantize="int8").logits(ids)
        assert float((int8 - full).norm() / full.norm()) < relative  # more bits, less error


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_prequantized_checkpoint_loads_identically(
    checkpoint: tuple[Path, Any], tmp_path: Path, method: str
) -> None:
    directory, _ = checkpoint
    from cwm_lsp.runtime.config import CwmConfig

    out = tmp_path / "q"
    save_quantized(directory, out, CwmConfig.from_file(directory), Quantization(method, 32))
    assert json.loads((out / QUANT_FILE).read_text())["method"] == method
    assert (out / "tokenizer.model").is_file() and (out / "config.json").is_file()
    ids = _ids()
    on_the_fly = load_model(directory, quantize=method, group_size=32)
    stored = load_model(out)
    assert stored.quantization.method == method
    assert torch.equal(stored.logits(ids), on_the_fly.logits(ids))
    assert stored.weight_bytes() == on_the_fly.weight_bytes()
    assert load_model(out, quantize=method).quantization.method == method
    other = "int8" if method == "int4" else "int4"
    with pytest.raises(ModelLoadError, match="cannot be loaded as"):
        load_model(out, quantize=other)


def test_quantized_weights_take_less_memory(checkpoint: tuple[Path, Any]) -> None:
    directory, _ = checkpoint
    sizes = {m: load_model(directory, quantize=m).weight_bytes() for m in (None, "int8", "int4")}
    assert sizes["int4"] < sizes["int8"] < sizes[None] / 2
