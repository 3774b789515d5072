"""GGUF: ``convert_checkpoint`` writes llama-named GGUFs; ``load_model`` reads them back into our
runtime (un-permuting Q/K, mapping Q4_0 exactly to int4, applying CWM's layer pattern)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cwm_lsp.runtime import ModelLoadError, load_model
from cwm_lsp.runtime.gguf_writer import ConvertError, convert_checkpoint
from cwm_lsp.runtime.testing import FULL, SLIDING, tiny_config, write_checkpoint

gguf = pytest.importorskip("gguf")
pytest.importorskip("transformers")

SEQ = 40  # past the tiny model's window (8): sliding layers must drop keys


def _ids(seed: int = 0, length: int = SEQ) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (length,), generator=generator).tolist()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    directory = tmp_path_factory.mktemp("cwm")
    reference = write_checkpoint(directory, seed=3, scale=1.0)
    return directory, reference


@pytest.fixture(scope="module")
def ggufs(
    checkpoint: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    directory, _ = checkpoint
    out = tmp_path_factory.mktemp("gguf")
    files = {}
    for kind in ("f32", "f16", "q8_0", "q4_0"):
        files[kind] = out / f"tiny-{kind}.gguf"
        convert_checkpoint(directory, files[kind], file_type=kind)
    return files


def _reader(path: Path) -> Any:
    return gguf.GGUFReader(str(path))


def test_metadata_is_llama_with_cwm_layer_pattern(ggufs: dict[str, Path]) -> None:
    reader = _reader(ggufs["f32"])
    field = reader.get_field
    assert field("general.architecture").contents() == "llama"
    assert field("llama.block_count").contents() == 4
    assert field("llama.attention.head_count_kv").contents() == 1
    assert field("llama.attention.sliding_window").contents() == 8
    assert field("llama.attention.sliding_window_pattern").contents() == [False, True, True, False]
    assert field("tokenizer.ggml.model").contents() == "gpt2"
    assert field("tokenizer.ggml.pre").contents() == "llama-bpe"
    tokens = field("tokenizer.ggml.tokens").contents()
    assert len(tokens) == 512
    assert tokens[256 + 100] == "<|frame_sep|>"
    assert field("tokenizer.ggml.bos_token_id").contents() == 256
    names = {t.name for t in reader.tensors}
    assert {
        "token_embd.weight",
        "blk.3.ffn_down.weight",
        "output.weight",
        "rope_freqs.weight",
    } <= names


def test_f32_gguf_reproduces_the_checkpoint_exactly(
    checkpoint: tuple[Path, Any], ggufs: dict[str, Path]
) -> None:
    directory, reference = checkpoint
    original: Any = load_model(directory)
    converted: Any = load_model(ggufs["f32"])
    assert converted.config.layer_types == (FULL, SLIDING, SLIDING, FULL)
    assert converted.config.sliding_window == 8
    assert converted.config.rope == original.config.rope
    # Q/K rows are permuted in the file and restored on load.
    file_q = torch.from_numpy(
        np.array(
            next(t for t in _reader(ggufs["f32"]).tensors if t.name == "blk.0.attn_q.weight").data
        )
    )
    loaded_q = converted.transformer.layers[0].self_attn.q_proj.weight
    assert not torch.equal(file_q, loaded_q)
    assert torch.equal(loaded_q, original.transformer.layers[0].self_attn.q_proj.weight)
    ids = _ids()
    ours = converted.logits(ids)
    assert torch.equal(ours, original.logits(ids))
    with torch.no_grad():
        expected = reference(torch.tensor([ids])).logits[0]
    assert (ours - expected).abs().max().item() < 1e-4  # past the window too: transformers' CWM


def test_f16_gguf_equals_the_float16_checkpoint(
    tmp_path: Path, checkpoint: tuple[Path, Any], ggufs: dict[str, Path]
) -> None:
    half = tmp_path / "half"
    write_checkpoint(half, seed=3, scale=1.0, dtype=torch.float16)
    ids = _ids(1)
    assert torch.equal(load_model(ggufs["f16"]).logits(ids), load_model(half).logits(ids))


def _int_weight(module: Any) -> torch.Tensor:
    """Float weight of our int8/int4 linear."""
    q, scales = module.qweight, module.scales
    if not hasattr(module, "zeros"):
        return q.float() * scales[:, None]
    values = torch.stack((q & 0x0F, q >> 4), dim=-1).flatten(1).float()
    group = values.shape[1] // scales.shape[1]
    zeros = module.zeros.float().repeat_interleave(group, dim=1)
    return scales.repeat_interleave(group, dim=1) * (values - zeros)


def test_q4_0_maps_exactly_to_int4_group_32(ggufs: dict[str, Path]) -> None:
    model: Any = load_model(ggufs["q4_0"])
    assert model.quantization.label == "int4 (group 32)"
    reader = _reader(ggufs["q4_0"])
    tensors = {t.name: t for t in reader.tensors}
    # gguf-py's own dequantizer is the independent reference for the file's weights.
    raw = tensors["blk.1.ffn_up.weight"]
    expected = torch.from_numpy(gguf.quants.dequantize(raw.data, raw.tensor_type).copy())
    module = model.transformer.layers[1].mlp.up_proj
    assert module.group_size == 32
    assert torch.equal(_int_weight(module), expected.float())
    raw_k = tensors["blk.2.attn_k.weight"]
    k = torch.from_numpy(gguf.quants.dequantize(raw_k.data, raw_k.tensor_type).copy()).float()
    loaded_k = _int_weight(model.transformer.layers[2].self_attn.k_proj)
    rows = torch.arange(16).view(1, 2, 8).transpose(1, 2).flatten()  # HF row of each GGUF row
    assert torch.equal(loaded_k[rows], k)


def test_q8_0_requantized_to_int8_within_the_stated_bound(
    checkpoint: tuple[Path, Any], ggufs: dict[str, Path]
) -> None:
    directory, _ = checkpoint
    model: Any = load_model(ggufs["q8_0"])
    assert model.quantization.label == "int8"
    exact: Any = load_model(ggufs["q8_0"], dtype=torch.float32)
    for name in ("q_proj", "o_proj"):
        ours = _int_weight(getattr(model.transformer.layers[0].self_attn, name))
        file_w = getattr(exact.transformer.layers[0].self_attn, name).weight
        bound = file_w.abs().amax(dim=1, keepdim=True) / 254 + 1e-7
        assert ((ours - file_w).abs() <= bound).all()
    # Logits: Q8_0 (+ requantization) is as close to the original as our own int8 is.
    ids = _ids(2)
    reference = load_model(directory).logits(ids)
    q8_error = (model.logits(ids) - reference).abs().max().item()
    int8_error = (load_model(directory, quantize="int8").logits(ids) - reference).abs().max().item()
    assert q8_error <= 2 * int8_error + 0.05, (q8_error, int8_error)


def _rewrite(src: Path, dst: Path, drop: set[str]) -> None:
    """Copy a GGUF without the metadata keys in ``drop`` (as a plain llama converter writes)."""
    reader = _reader(src)
    writer = gguf.GGUFWriter(str(dst), "llama")
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in drop or key == "general.architecture":
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY and len(field.types) < 2:
            continue  # an empty array (our byte vocabulary has no merges)
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), kind, sub_type=sub)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, np.array(tensor.data), raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_layer_pattern_from_cwm_config_when_the_gguf_lacks_it(
    tmp_path: Path, checkpoint: tuple[Path, Any], ggufs: dict[str, Path]
) -> None:
    directory, _ = checkpoint
    plain = tmp_path / "plain.gguf"
    drop = {"llama.attention.sliding_window", "llama.attention.sliding_window_pattern"}
    drop |= {key for key in _reader(ggufs["f32"]).fields if key.startswith("cwm.")}
    _rewrite(ggufs["f32"], plain, drop)
    as_llama = load_model(plain)
    assert as_llama.config.layer_types == (FULL,) * 4
    assert as_llama.gguf_info is not None
    assert as_llama.gguf_info.layer_types_source == "none (llama)"
    assert as_llama.gguf_info.rope_source == "rope_freqs tensor"
    from cwm_lsp.runtime.loader import load_gguf

    as_cwm = load_gguf(plain, cwm_config=directory / "config.json")
    assert as_cwm.config.layer_types == (FULL, SLIDING, SLIDING, FULL)
    ids = _ids(3)
    reference = load_model(directory).logits(ids)
    assert (as_cwm.logits(ids) - reference).abs().max().item() < 1e-4
    # Within the window every layer sees the same keys: the all-global model agrees there.
    short = ids[:8]
    assert (as_llama.logits(short) - reference[:8]).abs().max().item() < 1e-4
    assert (as_llama.logits(ids) - reference).abs().max().item() > 1e-3


def _merge_tokenizer(directory: Path) -> list[bytes]:
    extra = [b"he", b"ll", b"hell", b"hello", b" w", b" wo"]
    ranks = [bytes([i]) for i in range(256)] + extra
    lines = [f"{base64.b64encode(tok).decode()} {rank}" for rank, tok in enumerate(ranks)]
    (directory / "tokenizer.model").write_text("\n".join(lines) + "\n", encoding="ascii")
    return extra


def test_tokenizer_with_merges_round_trips(tmp_path: Path) -> None:
    directory = tmp_path / "bpe"
    config = tiny_config(vocab_size=256 + 6 + 256, bos_token_id=262, eos_token_id=[263])
    write_checkpoint(directory, config, tokenizer=False)
    _merge_tokenizer(directory)
    out = tmp_path / "bpe.gguf"
    report = convert_checkpoint(directory, out, file_type="f16")
    merges = _reader(out).get_field("tokenizer.ggml.merges").contents()
    assert merges == ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"]
    assert report.merges == 6
    original, converted = load_model(directory).tokenizer, load_model(out).tokenizer
    assert original is not None and converted is not None
    text = "hello world, hell <|frame_sep|> ünïcode\n\tx = 1234"
    assert converted.encode(text) == original.encode(text)
    assert converted.special == original.special
    assert converted.decode(converted.encode(text)) == text


def test_bad_inputs_give_clear_errors(tmp_path: Path, ggufs: dict[str, Path]) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(ggufs["q4_0"].read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match=r"broken\.gguf"):
        load_model(broken)
    with pytest.raises(ModelLoadError, match="no such"):
        load_model(tmp_path / "missing.gguf")
    with pytest.raises(ConvertError, match="not a checkpoint directory"):
        convert_checkpoint(tmp_path / "nowhere", tmp_path / "x.gguf")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(tiny_config().to_dict()))
    with pytest.raises(ValueError, match="safetensors"):
        convert_checkpoint(empty, tmp_path / "x.gguf")
