"""The whole forward pass in one native call (runtime/native_step.py, native/src/decoder.cpp).

Compared, on real checkpoints (a random tiny CWM written with transformers, and the shipped demo
model), with the per-operation path of model.py on the same weights: every weight format the
decoder runs (float32, bfloat16, int8, int4), float32 and bfloat16 KV caches, one token at a
time past the sliding window, multi-token chunks (drafted-token verification) and prefill, on
every kernel path this CPU has (the AVX2 and scalar ones included, also forced through
CWM_LSP_KERNEL_PATH in a fresh process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cwm_lsp.runtime import load_model, native
from cwm_lsp.runtime.kvcache import KVCache
from cwm_lsp.runtime.loader import LoadedModel
from cwm_lsp.runtime.model import Transformer
from cwm_lsp.runtime.testing import write_checkpoint

pytest.importorskip("transformers")
pytestmark = pytest.mark.skipif(not native.built(), reason="native extension not built")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "model" / "weights"
SEQ = 30  # longer than the tiny model's window (8)
TOL = 2e-4  # logits of the tiny model are O(10); float32 rounding differs between the paths
# A bfloat16 cache turns those float32 differences into the odd one-ulp bf16 rounding flip of a
# key or value; the bf16 cache itself moves these logits by ~0.1 from the float32-cache result
# (on both paths), this bound is a fifth of that.
TOL_BF16_CACHE = 2e-2
# With int8 activations (the default for int8/int4 weights) a float32 rounding difference between
# the paths can move an activation across a rounding boundary: a jump of one quantum (1/127 of a
# block's largest value) in one input, ~0.01-0.05 in these logits.
TOL_Q8 = 0.15


@pytest.fixture(autouse=True)
def exact_activations() -> Iterator[None]:
    """The paths are compared with float32 activations (see test_int8_activations_...)."""
    with native.activations(exact=True):
        yield


def _ids(length: int = SEQ, seed: int = 0) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (length,), generator=generator).tolist()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cwm")
    write_checkpoint(directory, seed=3)
    return directory


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cwm-bf16")
    write_checkpoint(directory, seed=4, dtype=torch.bfloat16)
    return directory


def _kernel_paths() -> list[str]:
    return native.supported_paths() if native.built() else []


@pytest.fixture(params=_kernel_paths())
def kernel_path(request: pytest.FixtureRequest) -> Iterator[str]:
    native.set_path(request.param)
    yield request.param
    native.set_path("auto")


def _per_op(
    model: Transformer, chunks: list[list[int]], cache_dtype: torch.dtype
) -> list[torch.Tensor]:
    """Logits of each chunk (all positions) from the per-operation path."""
    cache = KVCache(model.config, dtype=cache_dtype)
    out, start = [], 0
    for chunk in chunks:
        tokens = torch.tensor(chunk)
        out.append(model._forward_ops(tokens, start, cache, all_logits=True))
        start += len(chunk)
    return out


def _decoded(
    model: Transformer, chunks: list[list[int]], cache_dtype: torch.dtype
) -> list[torch.Tensor]:
    decoder = model.native_decoder()
    assert decoder is not None, model.native_decoder_problem()
    cache = KVCache(model.config, dtype=cache_dtype)
    out, start = [], 0
    for chunk in chunks:
        out.append(decoder.run(chunk, start, cache, all_logits=True))
        start += len(chunk)
    return out


def _chunks(ids: list[int]) -> list[list[int]]:
    """A prefill chunk, single tokens past the window, then a drafted run of 4 and of 7."""
    return [ids[:12], *[[t] for t in ids[12:24]], ids[24:28], ids[28:], ids[:7]]


def _assert_close(got: list[torch.Tensor], want: list[torch.Tensor], tol: float = TOL) -> None:
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a.shape == b.shape, index
        assert torch.allclose(a, b, atol=tol, rtol=0), (index, (a - b).abs().max().item())


@pytest.mark.parametrize("quantize", [None, "int8", "int4"])
@pytest.mark.parametrize("cache_dtype", [torch.float32, torch.bfloat16])
def test_decoder_matches_the_per_operation_path(
    checkpoint: Path, kernel_path: str, quantize: str | None, cache_dtype: torch.dtype
) -> None:
    model = load_model(checkpoint, quantize=quantize).transformer
    chunks = _chunks(_ids())
    tol = TOL if cache_dtype == torch.float32 else TOL_BF16_CACHE
    _assert_close(_decoded(model, chunks, cache_dtype), _per_op(model, chunks, cache_dtype), tol)


@pytest.mark.parametrize("quantize", ["int8", "int4"])
def test_int8_activations_agree_up_to_rounding_flips(
    checkpoint: Path, kernel_path: str, quantize: str
) -> None:
    model = load_model(checkpoint, quantize=quantize).transformer
    chunks = _chunks(_ids())
    with native.activations(exact=False):
        decoded, per_op = (
            _decoded(model, chunks, torch.float32),
            _per_op(model, chunks, torch.float32),
        )
    _assert_close(decoded, per_op, TOL_Q8)


def test_bfloat16_weights_compute_in_float32(bf16_checkpoint: Path, kernel_path: str) -> None:
    """bf16 weights are widened exactly, so the decoder equals the float32 upcast of the same
    checkpoint (the per-operation path instead rounds activations to bf16 for a bf16 linear)."""
    stored = load_model(bf16_checkpoint).transformer
    upcast = load_model(bf16_checkpoint, dtype=torch.float32).transformer
    assert stored.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    chunks = _chunks(_ids(seed=1))
    _assert_close(_decoded(stored, chunks, torch.float32), _per_op(upcast, chunks, torch.float32))


def test_session_uses_the_decoder_and_keeps_prefix_reuse(checkpoint: Path) -> None:
    loaded = load_model(checkpoint)
    assert loaded.transformer.native_decoder_problem() is None
    ids = _ids()
    session = loaded.new_session()
    first = session.prefill(ids)
    again = session.prefill([*ids[:-1], 7])
    assert session.reused_tokens == len(ids) - 1
    fresh = loaded.new_session().prefill([*ids[:-1], 7])
    assert torch.allclose(again, fresh, atol=TOL, rtol=0)  # one step vs a 30-token chunk
    assert not torch.equal(first, again)


def test_thread_count_does_not_change_results(tmp_path: Path) -> None:
    """Every output sums in one thread in a fixed order: 1 and 2 threads agree bit for bit,
    on matrices large enough for the kernels to run in parallel."""
    from cwm_lsp.runtime.testing import tiny_config

    config = tiny_config(
        hidden_size=512,
        intermediate_size=2048,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=64,
    )
    write_checkpoint(tmp_path, config, seed=5)
    model = load_model(tmp_path, quantize="int4").transformer
    chunks = _chunks(_ids(seed=2))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _decoded(model, chunks, torch.float32)
        torch.set_num_threads(2)
        two = _decoded(model, chunks, torch.float32)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("file_type", ["q8_0", "q4_0"])
def test_gguf_models_run_the_decoder_with_their_float16_embeddings(
    checkpoint: Path, tmp_path: Path, file_type: str
) -> None:
    pytest.importorskip("gguf")
    from cwm_lsp.runtime.gguf_writer import convert_checkpoint

    gguf = tmp_path / f"model-{file_type}.gguf"
    convert_checkpoint(checkpoint, gguf, file_type=file_type)
    model = load_model(gguf).transformer
    assert model.embed.dtype == torch.float16
    chunks = _chunks(_ids())
    _assert_close(
        _decoded(model, chunks, torch.float32), _per_op(model, chunks, torch.float32), TOL
    )


def test_unsupported_weights_keep_the_per_operation_path(checkpoint: Path) -> None:
    model = load_model(checkpoint, dtype=torch.float16).transformer
    assert model.native_decoder() is None
    assert "float16" in str(model.native_decoder_problem())
    logits = model.run(_ids(), 0, KVCache(model.config, dtype=torch.float32), all_logits=False)
    assert logits.shape == (1, model.config.vocab_size)


def test_native_disabled_by_environment(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CWM_LSP_NATIVE=0 is read when the model is built."""
    monkeypatch.setenv("CWM_LSP_NATIVE", "0")
    model = load_model(checkpoint).transformer
    assert model.native is None
    assert model.native_decoder() is None
    assert model.native_decoder_problem() == "native kernels unavailable"


def test_bad_token_id_is_a_clear_error_and_the_model_still_runs(checkpoint: Path) -> None:
    loaded = load_model(checkpoint)
    session = loaded.new_session()
    session.prefill(_ids(8))
    with pytest.raises(ValueError, match=r"token id 99999 is outside the vocabulary"):
        session.step(99999)
    session.reset()
    assert session.prefill(_ids(8)).shape == (loaded.config.vocab_size,)


def _demo() -> LoadedModel:
    if not (DEMO / "model.safetensors").exists():
        pytest.skip("demo model weights not present")
    return load_model(DEMO)


def test_demo_model_greedy_continuation_matches_float32_per_operation_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo model (not CWM) on a real prompt: the decoder over its bf16 weights produces the
    same greedy tokens as the per-operation path over the weights widened to float32."""
    demo = _demo()
    assert demo.tokenizer is not None
    source = (ROOT / "examples" / "loops.py").read_text()
    prompt = demo.tokenizer.encode(source)[:200]
    assert demo.transformer.native_decoder_problem() is None
    ours = list(demo.generate(prompt, max_new_tokens=40))
    monkeypatch.setenv("CWM_LSP_NATIVE", "0")
    upcast = load_model(DEMO, dtype=torch.float32)
    assert list(upcast.generate(prompt, max_new_tokens=40)) == ours


@pytest.mark.parametrize("forced", ["avx2", "scalar"])
def test_forced_kernel_path_runs_the_decoder(checkpoint: Path, forced: str) -> None:
    """CWM_LSP_KERNEL_PATH picks the decoder's kernels in a fresh process (how CI machines
    without AVX-512 run); its logits match the pure PyTorch path."""
    if forced not in native.supported_paths():
        pytest.skip(f"this CPU cannot run {forced}")
    script = f"""
import json, os, torch
from cwm_lsp.runtime import load_model, native
model = load_model({str(checkpoint)!r})
ids = {_ids()!r}
got = model.logits(ids)
problem = model.transformer.native_decoder_problem()
os.environ["CWM_LSP_NATIVE"] = "0"
want = load_model({str(checkpoint)!r}).logits(ids)
print(json.dumps({{"path": native.get_path(), "decoder": problem,
                   "diff": (got - want).abs().max().item()}}))
"""
    env = {**os.environ, "CWM_LSP_KERNEL_PATH": forced}
    env.pop("CWM_LSP_NATIVE", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["path"] == forced
    assert result["decoder"] is None
    assert result["diff"] < TOL


def test_long_chunks_of_stored_bf16_weights_go_to_pytorch_where_its_bf16_gemm_is_fast(
    bf16_checkpoint: Path,
) -> None:
    """Prefill chunks over 24 tokens of a bf16 checkpoint take the per-operation path on CPUs
    with AVX512_BF16 (PyTorch's bf16 GEMM); decode steps and drafted chunks stay native."""
    model = load_model(bf16_checkpoint)
    decoder = model.transformer.native_decoder()
    assert decoder is not None
    assert decoder.takes(1) and decoder.takes(24)
    assert decoder.takes(25) is not native.cpu_features()["avx512_bf16"]
    session = model.new_session()
    first = session.prefill(_ids(40))
    assert torch.isfinite(first).all()
    assert session.step(5).shape == first.shape
    upcast = load_model(bf16_checkpoint, dtype=torch.float32).transformer.native_decoder()
    assert upcast is not None and upcast.takes(256)  # float32 storage: the decoder throughout
