"""``assemble``: one model builder for every checkpoint format (tied head policy, native kernels
decided once)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cwm_lsp.runtime import ops, quant
from cwm_lsp.runtime.assemble import assemble
from cwm_lsp.runtime.checkpoint_files import Quantization
from cwm_lsp.runtime.config import CwmConfig
from cwm_lsp.runtime.model import Transformer
from cwm_lsp.runtime.testing import tiny_config, write_checkpoint
from cwm_lsp.runtime.weights import read_parts

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tied")
    write_checkpoint(directory, tiny_config(tie_word_embeddings=True), seed=2, scale=1.0)
    return directory


def _build(directory: Path, quantization: Quantization) -> Transformer:
    config = CwmConfig.from_file(directory)
    return assemble(config, read_parts(directory, config, quantization), quantization, "cpu")


def test_a_tied_head_is_the_embedding_itself(tied: Path) -> None:
    model = _build(tied, Quantization())
    assert isinstance(model.lm_head, quant.FloatLinear)
    assert model.lm_head.weight.data_ptr() == model.embed.data_ptr()


def test_a_tied_head_is_quantized_like_the_linears_with_int4_as_int8(tied: Path) -> None:
    model = _build(tied, Quantization("int4", 32))
    assert isinstance(model.layers[0].mlp.up_proj, quant.Int4Linear)
    assert isinstance(model.lm_head, quant.Int8Linear)
    expected, _ = quant.quantize_int8(model.embed)
    assert torch.equal(model.lm_head.qweight, expected)


def test_native_kernels_are_chosen_when_the_model_is_built(
    tied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWM_LSP_NATIVE", "0")
    model = _build(tied, Quantization("int8"))
    monkeypatch.delenv("CWM_LSP_NATIVE")
    assert model.native is None
    assert model.layers[0].self_attn.native is None
    assert model.layers[0].mlp.up_proj.native is None
    expected = ops.native_kernels()  # the environment no longer says no
    assert _build(tied, Quantization("int8")).layers[0].mlp.up_proj.native is expected
