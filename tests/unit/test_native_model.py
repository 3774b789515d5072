"""The torch-free native model (cwm_lsp.runtime.native_model): the same logits and tokens as the
PyTorch model's native path, and a reason (so the PyTorch model loads) for what it does not run."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cwm_lsp.runtime import CwmConfig, load_model, native
from cwm_lsp.runtime.checkpoint_files import Quantization
from cwm_lsp.runtime.model import rope_inverse_frequencies as torch_rope
from cwm_lsp.runtime.native_model import (
    LoadedNativeModel,
    load_native_model,
    rope_inverse_frequencies,
)
from cwm_lsp.runtime.testing import write_checkpoint
from cwm_lsp.runtime.weights import save_quantized

DEMO = Path(__file__).resolve().parents[2] / "model" / "weights"

pytestmark = pytest.mark.skipif(
    not native.available() or native.decoder_type() is None, reason="native decoder not built"
)


def _load(path: Path, *, widen: bool = False) -> LoadedNativeModel:
    loaded = load_native_model(
        path, CwmConfig.from_file(path), widen_embeddings=widen, threads=lambda: 1
    )
    assert isinstance(loaded, LoadedNativeModel), loaded
    return loaded


def _prompt(loaded: LoadedNativeModel) -> list[int]:
    assert loaded.tokenizer is not None
    source = (DEMO.parents[1] / "examples" / "loops.py").read_text(encoding="utf-8")
    return loaded.tokenizer.encode(source)


def test_demo_model_logits_and_tokens_equal_the_pytorch_native_path() -> None:
    ours = _load(DEMO, widen=True)
    reference = load_model(DEMO, dtype=torch.float32)  # as the native backend loads it
    ids = _prompt(ours)
    logits = ours.new_session().prefill(ids, all_logits=True)
    assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
    assert np.array_equal(logits, reference.logits(ids).numpy())
    generated = list(ours.new_session().generate(ids, max_new_tokens=120))
    assert generated == list(reference.generate(ids, max_new_tokens=120))


def test_drafted_tokens_are_verified_as_by_the_pytorch_path() -> None:
    ours = _load(DEMO, widen=True).new_session()
    reference = load_model(DEMO, dtype=torch.float32).new_session()
    ids = _prompt(_load(DEMO, widen=True))
    ours.prefill(ids[:-20])
    reference.prefill(ids[:-20])
    kept, logits = ours.speculate(ids[-20], ids[-19:])
    kept_ref, logits_ref = reference.speculate(ids[-20], ids[-19:])
    assert kept == kept_ref
    assert np.array_equal(logits, logits_ref.numpy())


@pytest.mark.parametrize(
    ("dtype", "shard"), [(torch.float32, None), (torch.bfloat16, None), (torch.float32, "200KB")]
)
def test_float_checkpoints_match_the_pytorch_model(
    tmp_path: Path, dtype: torch.dtype, shard: str | None
) -> None:
    write_checkpoint(tmp_path, dtype=dtype, max_shard_size=shard)
    if native.cpu_features().get("avx512_bf16", False) and dtype == torch.bfloat16:
        reason = load_native_model(
            tmp_path, CwmConfig.from_file(tmp_path), widen_embeddings=False, threads=lambda: 1
        )
        assert reason == "bf16 weights on an AVX512_BF16 CPU"
        return
    ours = _load(tmp_path)
    reference = load_model(tmp_path)
    ids = list(range(3, 60))
    np.testing.assert_allclose(
        ours.new_session().prefill(ids, all_logits=True),
        reference.logits(ids).float().numpy(),
        rtol=1e-4,
        atol=1e-4,
    )


def test_rope_frequencies_equal_torch_for_the_demo_model_and_are_within_an_ulp_elsewhere() -> None:
    demo = CwmConfig.from_file(DEMO)
    assert np.array_equal(rope_inverse_frequencies(demo), torch_rope(demo).numpy())
    for theta in (1e4, 5e5, 1e6):
        for head_dim in (64, 128):
            for kind in ("llama3", "default"):
                config = dataclasses.replace(
                    demo,
                    head_dim=head_dim,
                    rope=dataclasses.replace(demo.rope, theta=theta, rope_type=kind),
                )
                ours = rope_inverse_frequencies(config).view(np.int32).astype(np.int64)
                theirs = torch_rope(config).numpy().view(np.int32).astype(np.int64)
                assert np.abs(ours - theirs).max() <= 1, (theta, head_dim, kind)


def _reason(path: Path) -> str:
    loaded = load_native_model(
        path, CwmConfig.from_file(path), widen_embeddings=False, threads=lambda: 1
    )
    assert isinstance(loaded, str)
    return loaded


def test_what_it_does_not_run_gives_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    half = tmp_path / "half"
    write_checkpoint(half, dtype=torch.float16)
    assert _reason(half) == "F16 tensors"

    float_model = tmp_path / "float"
    write_checkpoint(float_model)
    quantized = tmp_path / "int8"
    save_quantized(float_model, quantized, CwmConfig.from_file(float_model), Quantization("int8"))
    assert _reason(quantized) == "quantized checkpoint"

    extra = tmp_path / "extra"
    write_checkpoint(extra)
    config = json.loads((extra / "config.json").read_text())
    config["num_hidden_layers"] -= 1  # the file holds one layer more than the config says
    config["layer_types"] = config["layer_types"][:-1]
    (extra / "config.json").write_text(json.dumps(config))
    assert _reason(extra).startswith("unexpected tensor model.layers.")

    truncated = tmp_path / "truncated"
    write_checkpoint(truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "truncated" in _reason(truncated)

    monkeypatch.setenv("CWM_LSP_NATIVE", "0")
    assert _reason(float_model).startswith("native kernels unavailable")


def test_a_demo_model_prediction_never_imports_torch() -> None:
    tests = Path(__file__).resolve().parents[1]
    script = f"""
import json, sys
sys.path.insert(0, {str(tests)!r})
from goldens import GOLDEN_FILES, golden_request
from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.backends.registry import demo_model_path
predictor = NativePredictor(demo_model_path())
request = golden_request(json.loads(GOLDEN_FILES[0].read_text()))
result = predictor.predict(request)
print(json.dumps([predictor.torch_free_reason, len(result.frames), "torch" in sys.modules]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    reason, frames, imported_torch = json.loads(done.stdout.strip().splitlines()[-1])
    assert reason is None
    assert frames > 0
    assert not imported_torch
