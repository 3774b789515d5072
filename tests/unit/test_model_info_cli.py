"""``cwm-lsp model info`` describes checkpoint directories, GGUF files and AWQ checkpoints, and
what it says about quantization is what loading the model gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cwm_lsp.cli import main
from cwm_lsp.runtime import load_model
from cwm_lsp.runtime.awq import pack_awq
from cwm_lsp.runtime.testing import write_checkpoint

pytest.importorskip("gguf")
pytest.importorskip("transformers")

AWQ_GROUP = 32


def described(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """``model info``'s lines as label -> value (labels are padded to one width)."""
    assert main(["model", "info", str(path)]) == 0
    rows = [line.split("  ", 1) for line in capsys.readouterr().out.splitlines()]
    return {label.strip(): value.strip() for label, value in rows}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ckpt")
    write_checkpoint(directory, seed=3, scale=1.0)
    return directory


def test_a_gguf_file_is_described(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf = tmp_path / "tiny.gguf"
    assert main(["model", "convert", str(checkpoint), str(gguf), "--type", "q8_0"]) == 0
    capsys.readouterr()
    from_gguf = described(gguf, capsys)
    from_directory = described(checkpoint, capsys)
    assert from_gguf["path"] == str(gguf)
    for same in ("layers", "sliding window", "attention heads", "rope", "parameters"):
        assert from_gguf[same] == from_directory[same], same
    assert from_gguf["layers"] == "4: 2 global, 2 sliding (GssG)"
    assert from_gguf["file type"] == "Q8_0"
    types = dict(item.split(" x") for item in from_gguf["tensor types"].split(", "))
    assert set(types) == {"F32", "Q8_0"}
    assert sum(int(count) for count in types.values()) == 40  # 4 layers x 9 + embed, norm...
    assert from_gguf["files"].startswith("1 GGUF file, 40 tensors, ")
    assert from_gguf["quantization"] == "loads as int8"
    assert load_model(gguf).quantization.label == "int8"
    assert from_gguf["tokenizer"].endswith("256 ranks + 256 special")


def test_a_float_gguf_can_be_quantized_on_load(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf = tmp_path / "f32.gguf"
    assert main(["model", "convert", str(checkpoint), str(gguf), "--type", "f32"]) == 0
    capsys.readouterr()
    lines = described(gguf, capsys)
    assert lines["file type"] == "F32"
    assert lines["tensor types"] == "F32 x40"
    assert lines["quantization"].startswith("none (can quantize on load")
    assert load_model(gguf).quantization.label == "none"


def test_an_awq_checkpoint_is_described(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file, save_file

    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in load_file(str(checkpoint / "model.safetensors")).items():
        base = name.rpartition(".")[0]
        if ("self_attn." in name or "mlp." in name) and tensor.dim() == 2:
            out_features, in_features = tensor.shape
            values = torch.randint(0, 16, (in_features, out_features), dtype=torch.uint8)
            zeros = torch.full((in_features // AWQ_GROUP, out_features), 8, dtype=torch.uint8)
            tensors[f"{base}.qweight"] = pack_awq(values)
            tensors[f"{base}.qzeros"] = pack_awq(zeros)
            tensors[f"{base}.scales"] = torch.full(zeros.shape, 0.01, dtype=torch.float16)
        else:
            tensors[name] = tensor.half()
    awq = tmp_path / "awq"
    awq.mkdir()
    save_file(tensors, str(awq / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((checkpoint / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "awq",
        "bits": 4,
        "group_size": AWQ_GROUP,
        "zero_point": True,
        "version": "gemm",
    }
    (awq / "config.json").write_text(json.dumps(config))

    lines = described(awq, capsys)
    assert lines["quantization"] == (
        f"AWQ 4-bit, group {AWQ_GROUP} (gemm packing); loads as int4 (group {AWQ_GROUP})"
    )
    assert load_model(awq).quantization.label == f"int4 (group {AWQ_GROUP})"
    # 28 linears: I32 qweight and qzeros, F16 scales; 11 float tensors (embeddings, norms, head)
    assert lines["tensor dtypes"] == "F16 x39, I32 x56"
    assert lines["tokenizer"].startswith("none (")


def test_what_is_not_a_model_gets_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all")
    assert main(["model", "info", str(broken)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"cannot describe {broken}: ") and "not a readable GGUF" in error
    assert "Traceback" not in error
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert main(["model", "info", str(other)]) == 2
    assert "not a checkpoint directory or .gguf file" in capsys.readouterr().err
    assert main(["model", "info", str(tmp_path / "missing.gguf")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
