"""``cwm-lsp model convert``: writes a GGUF our runtime loads; clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cwm_lsp.cli import main
from cwm_lsp.runtime import load_model
from cwm_lsp.runtime.testing import write_checkpoint

pytest.importorskip("gguf")
pytest.importorskip("transformers")


def test_convert_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ckpt"
    write_checkpoint(source, seed=2, scale=1.0)
    out = tmp_path / "model.gguf"
    assert main(["model", "convert", str(source), str(out), "--type", "f32"]) == 0
    assert "wrote" in capsys.readouterr().out
    ids = list(range(30, 60))
    assert torch.equal(load_model(out).logits(ids), load_model(source).logits(ids))
    # An int8 checkpoint of ours converts too (dequantized on the way).
    quantized = tmp_path / "int8"
    assert main(["model", "quantize", str(source), str(quantized), "--quantize", "int8"]) == 0
    assert (
        main(["model", "convert", str(quantized), str(tmp_path / "q.gguf"), "--type", "q8_0"]) == 0
    )
    assert load_model(tmp_path / "q.gguf").logits(ids).shape == (30, 512)
    capsys.readouterr()
    assert main(["model", "convert", str(source), str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["model", "convert", str(tmp_path / "nope"), str(tmp_path / "x.gguf")]) == 2
    assert "not a checkpoint directory" in capsys.readouterr().err
    assert main(["model", "convert", str(tmp_path), str(tmp_path / "x.gguf")]) == 1
    assert "config.json" in capsys.readouterr().err
