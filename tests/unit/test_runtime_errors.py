"""Broken checkpoints give one clear message naming the file (and tensor), never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cwm_lsp.runtime import ConfigError, CwmConfig, ModelLoadError, load_model
from cwm_lsp.runtime.testing import tiny_config, write_checkpoint

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sharded")
    write_checkpoint(
        directory,
        tiny_config(hidden_size=48, intermediate_size=64, head_dim=8),
        max_shard_size="30KB",
    )
    return directory


@pytest.fixture
def copy(sharded: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ckpt"
    shutil.copytree(sharded, target)
    return target


def _shards(directory: Path) -> list[Path]:
    return sorted(directory.glob("model-*.safetensors"))


def test_good_copy_loads(copy: Path) -> None:
    assert load_model(copy).logits([1, 2, 3]).shape == (3, 512)


def test_truncated_shard(copy: Path) -> None:
    shard = _shards(copy)[1]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelLoadError, match=rf"{shard.name}: truncated"):
        load_model(copy)


def test_corrupt_header(copy: Path) -> None:
    shard = _shards(copy)[0]
    data = bytearray(shard.read_bytes())
    data[8:20] = b"not json!!!!"
    shard.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"{shard.name}: corrupt"):
        load_model(copy)


def test_garbage_file(copy: Path) -> None:
    shard = _shards(copy)[0]
    shard.write_bytes(b"\xff" * 64)
    with pytest.raises(ModelLoadError, match=shard.name):
        load_model(copy)


def test_missing_shard(copy: Path) -> None:
    shard = _shards(copy)[-1]
    shard.unlink()
    with pytest.raises(ModelLoadError, match=rf"missing shard file\(s\): {shard.name}"):
        load_model(copy)


def test_missing_tensor(copy: Path) -> None:
    from safetensors.torch import load_file, save_file

    index = json.loads((copy / "model.safetensors.index.json").read_text())
    victim = "model.layers.2.mlp.up_proj.weight"
    shard = copy / index["weight_map"].pop(victim)
    tensors = load_file(str(shard))
    del tensors[victim]
    save_file(tensors, str(shard), metadata={"format": "pt"})
    (copy / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=rf"no tensor {victim}"):
        load_model(copy)


def test_index_lists_tensor_the_shard_lacks(copy: Path) -> None:
    index_path = copy / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    other = _shards(copy)[0].name
    name = next(k for k, v in index["weight_map"].items() if v != other)
    index["weight_map"][name] = other
    index_path.write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=rf"{other}: tensor {name} listed"):
        load_model(copy)


def test_shape_mismatch_names_the_tensor(copy: Path) -> None:
    raw = json.loads((copy / "config.json").read_text())
    raw["intermediate_size"] = 80
    (copy / "config.json").write_text(json.dumps(raw))
    with pytest.raises(
        ModelLoadError, match=r"tensor model\.layers\.\d+\.mlp\.\w+_proj\.weight has shape"
    ):
        load_model(copy)


def test_unknown_architecture_names_the_file(copy: Path) -> None:
    raw = json.loads((copy / "config.json").read_text())
    raw["model_type"], raw["architectures"] = "mistral", ["MistralForCausalLM"]
    (copy / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelLoadError, match=r"config\.json: unsupported architecture \(mistral\)"):
        load_model(copy)


def test_missing_and_broken_config(copy: Path) -> None:
    (copy / "config.json").write_text("{")
    with pytest.raises(ModelLoadError, match=r"config\.json: cannot read it as JSON"):
        load_model(copy)
    (copy / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"config\.json: not found"):
        load_model(copy)


def test_not_a_directory_and_bad_quantization(tmp_path: Path, copy: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such model directory"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="unknown quantization"):
        load_model(copy, quantize="int3")


def test_no_weights(tmp_path: Path, copy: Path) -> None:
    shutil.copy(copy / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelLoadError, match=r"no model\.safetensors"):
        load_model(tmp_path)


def cwm_like(layers: int) -> tuple[str, ...]:
    return tuple("full_attention" if i % 4 == 0 else "sliding_attention" for i in range(layers))


def test_config_variants() -> None:
    base = tiny_config().to_dict()
    plain_llama = {k: v for k, v in base.items() if k not in ("layer_types", "sliding_window")}
    plain_llama.update(model_type="llama", architectures=["LlamaForCausalLM"], rope_parameters=None)
    config = CwmConfig.from_dict(plain_llama)
    assert set(config.layer_types) == {"full_attention"} and not config.is_hybrid
    assert config.rope.rope_type == "default"
    cwm_defaults = {k: v for k, v in base.items() if k not in ("layer_types", "rope_parameters")}
    config = CwmConfig.from_dict(cwm_defaults | {"num_hidden_layers": 8})
    assert config.layer_types[0] == config.layer_types[4] == "full_attention"
    assert config.layer_types[1] == "sliding_attention"
    assert config.rope.rope_type == "llama3" and config.rope.factor == 16.0
    windowed_llama = plain_llama | {"sliding_window": 16, "num_hidden_layers": 8}
    assert CwmConfig.from_dict(windowed_llama).layer_types == cwm_like(8)
    with pytest.raises(ConfigError, match="missing field 'hidden_size'"):
        CwmConfig.from_dict({k: v for k, v in base.items() if k != "hidden_size"})
    with pytest.raises(ConfigError, match="unsupported RoPE scaling 'yarn'"):
        CwmConfig.from_dict(base | {"rope_parameters": {"rope_type": "yarn", "factor": 2.0}})
