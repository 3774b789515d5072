"""The runtime matches transformers' CwmForCausalLM (the reference implementation) exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from cwm_lsp.runtime import load_model
from cwm_lsp.runtime.testing import FULL, tiny_config, write_checkpoint

pytest.importorskip("transformers")

SEQ = 40  # longer than the window (8), so sliding layers must drop keys
TOL = 1e-4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    directory = tmp_path_factory.mktemp("cwm")
    reference = write_checkpoint(directory, seed=1)
    return directory, reference


def _ids(seed: int = 0, length: int = SEQ) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (length,), generator=generator).tolist()


def _reference_logits(reference: Any, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return reference(torch.tensor([ids])).logits[0].float()


def test_full_sequence_logits_match_transformers(checkpoint: tuple[Path, Any]) -> None:
    directory, reference = checkpoint
    model = load_model(directory)
    ids = _ids()
    ours = model.logits(ids)
    assert ours.shape == (SEQ, reference.config.vocab_size)
    assert ours.dtype == torch.float32
    assert torch.allclose(ours, _reference_logits(reference, ids), atol=TOL, rtol=0)


def test_sliding_window_matters_for_this_input(checkpoint: tuple[Path, Any]) -> None:
    """Guard: the equivalence above would not hold if the windows were ignored."""
    directory, reference = checkpoint
    ids = _ids()
    full = tiny_config(layer_types=[FULL] * 4)
    from transformers import CwmForCausalLM

    all_global = CwmForCausalLM(full).eval()
    all_global.load_state_dict(reference.state_dict())
    diff = (_reference_logits(all_global, ids) - load_model(directory).logits(ids)).abs().max()
    assert diff > 1e-2


def test_token_by_token_decoding_past_the_window(checkpoint: tuple[Path, Any]) -> None:
    directory, reference = checkpoint
    model = load_model(directory)
    ids = _ids(seed=3)
    expected = _reference_logits(reference, ids)
    session = model.new_session(max_chunk=4, rollback=0)
    steps = [session.prefill(ids[:1])]
    steps += [session.step(token) for token in ids[1:]]
    # the sliding rings (8 + 4 slots) have wrapped several times by now
    assert session.cache.layers[1].capacity == 12
    for position, logits in enumerate(steps):
        assert torch.allclose(logits, expected[position], atol=TOL, rtol=0), position


def test_transformers_incremental_decoding_agrees_step_by_step(
    checkpoint: tuple[Path, Any],
) -> None:
    directory, reference = checkpoint
    model = load_model(directory)
    ids = _ids(seed=4)
    session = model.new_session(max_chunk=8)
    ours = session.prefill(ids[:5])
    with torch.no_grad():
        out = reference(torch.tensor([ids[:5]]), use_cache=True)
        cache = out.cache
        assert torch.allclose(ours, out.logits[0, -1], atol=TOL, rtol=0)
        for token in ids[5:]:
            out = reference(torch.tensor([[token]]), cache=cache, use_cache=True)
            cache = out.cache
            assert torch.allclose(session.step(token), out.logits[0, -1], atol=TOL, rtol=0)


@pytest.mark.parametrize("max_chunk", [1, 3, 8, 64])
def test_chunked_prefill_is_chunk_size_independent(
    checkpoint: tuple[Path, Any], max_chunk: int
) -> None:
    directory, reference = checkpoint
    model = load_model(directory)
    ids = _ids(seed=5)
    session = model.new_session(max_chunk=max_chunk)
    logits = session.prefill(ids, all_logits=True)
    assert torch.allclose(logits, _reference_logits(reference, ids), atol=TOL, rtol=0)


def test_greedy_continuation_is_identical(checkpoint: tuple[Path, Any]) -> None:
    directory, reference = checkpoint
    model = load_model(directory)
    prompt = _ids(seed=6, length=12)
    ours = list(model.generate(prompt, max_new_tokens=30))
    with torch.no_grad():
        theirs = reference.generate(
            torch.tensor([prompt]), max_new_tokens=30, do_sample=False, eos_token_id=None
        )[0, len(prompt) :].tolist()
    assert ours == theirs


def test_sharded_checkpoint_matches(tmp_path: Path) -> None:
    reference = write_checkpoint(tmp_path, seed=2, max_shard_size="60KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert len(list(tmp_path.glob("*.safetensors"))) > 3
    ids = _ids(seed=7)
    ours = load_model(tmp_path).logits(ids)
    assert torch.allclose(ours, _reference_logits(reference, ids), atol=TOL, rtol=0)


def _rewrite_config(directory: Path, **changes: Any) -> None:
    path = directory / "config.json"
    raw = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    path.write_text(json.dumps(raw))


def test_llama_named_cwm_config_keeps_sliding_windows(
    checkpoint: tuple[Path, Any], tmp_path: Path
) -> None:
    directory, reference = checkpoint
    for item in directory.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    rope = json.loads((directory / "config.json").read_text())["rope_parameters"]
    _rewrite_config(
        tmp_path,
        model_type="llama",
        architectures=["Llama3ForCausalLM"],
        rope_parameters=None,
        rope_scaling=rope,
        rope_theta=rope["rope_theta"],
    )
    model = load_model(tmp_path)
    assert model.config.model_type == "llama"
    assert model.config.layer_types == tuple(reference.config.layer_types)
    ids = _ids(seed=8)
    assert torch.allclose(model.logits(ids), _reference_logits(reference, ids), atol=TOL, rtol=0)


def test_bfloat16_checkpoint_runs_close_to_its_float32_weights(tmp_path: Path) -> None:
    reference = write_checkpoint(tmp_path, seed=9, dtype=torch.bfloat16)
    model = load_model(tmp_path)
    assert model.transformer.embed.dtype == torch.bfloat16
    ids = _ids(seed=9, length=16)
    ours = model.logits(ids)
    expected = _reference_logits(reference, ids)  # bf16-rounded weights, float32 math
    assert (ours - expected).abs().max() < 0.05 * expected.abs().max()
    upcast = load_model(tmp_path, dtype=torch.float32).logits(ids)
    assert torch.allclose(upcast, expected, atol=TOL, rtol=0)
