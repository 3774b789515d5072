"""Cross-implementation checks on one small random CWM-shaped model: transformers (reference),
our runtime on the checkpoint, our runtime on its GGUF, and llama.cpp on the same GGUF.

Stated bounds (tiny model, logit spread ~8; measured values in brackets):
  * F32 GGUF, ours vs transformers: < 1e-4 everywhere, past the window too [5e-6];
  * llama.cpp on the F32 GGUF vs transformers within the window: < 2e-3 of the logit spread
    [4e-3 absolute, 5e-4 relative] (other kernels and RoPE arithmetic, same math);
  * llama.cpp vs ours on the Q8_0 GGUF (ours dequantized exactly): < 3e-2 of the spread
    [1.2e-2] (llama.cpp also rounds activations to 8 bits in its Q8_0 matmul);
  * greedy continuations that stay inside the window are identical across all of them;
  * past the window llama.cpp (every layer global) departs from transformers [2.6 absolute];
    ours does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from cwm_lsp.runtime import load_model
from cwm_lsp.runtime.gguf_writer import convert_checkpoint
from cwm_lsp.runtime.testing import tiny_config, write_checkpoint

pytest.importorskip("transformers")
pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install 'cwm-lsp[llama]')"
)

from cwm_lsp.backends.llama_cpp import LlamaCppPredictor, llama_cpp_logits

WINDOW = 48


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, Path]]:
    directory = tmp_path_factory.mktemp("cwm")
    config = tiny_config(sliding_window=WINDOW, max_position_embeddings=512)
    reference = write_checkpoint(directory, config, seed=11, scale=1.0)
    out = tmp_path_factory.mktemp("gguf")
    files = {}
    for kind in ("f32", "q8_0"):
        files[kind] = out / f"tiny-{kind}.gguf"
        convert_checkpoint(directory, files[kind], file_type=kind)
    return directory, reference, files


def _ids(length: int, seed: int = 0) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (length,), generator=generator).tolist()


def _reference(reference: Any, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return reference(torch.tensor([ids])).logits[0].float()


def _spread(logits: torch.Tensor) -> float:
    return float(logits.max() - logits.min())


def test_logits_agree_within_the_window(model: tuple[Path, Any, dict[str, Path]]) -> None:
    _, reference, files = model
    ids = _ids(WINDOW)
    expected = _reference(reference, ids)
    ours = load_model(files["f32"]).logits(ids)
    assert (ours - expected).abs().max().item() < 1e-4
    llama = torch.from_numpy(llama_cpp_logits(files["f32"], ids))
    assert (llama - expected).abs().max().item() < 2e-3 * _spread(expected)
    ours_q8 = load_model(files["q8_0"], dtype=torch.float32).logits(ids)
    llama_q8 = torch.from_numpy(llama_cpp_logits(files["q8_0"], ids))
    assert (llama_q8 - ours_q8).abs().max().item() < 3e-2 * _spread(ours_q8)


def _greedy_llama(path: Path, prompt: list[int], count: int) -> list[int]:
    from cwm_lsp.backends.llama_cpp import LlamaCppSession

    session = LlamaCppSession(path, n_ctx=256)
    logits = session.prefill(prompt)
    out: list[int] = []
    for _ in range(count):
        token = int(logits.argmax())
        out.append(token)
        logits = session.step(token)
    return out


def test_greedy_continuations_identical_under_the_window(
    model: tuple[Path, Any, dict[str, Path]],
) -> None:
    directory, reference, files = model
    prompt = _ids(8, seed=1)
    count = WINDOW - len(prompt)
    hf: list[int] = []
    for _ in range(count):  # transformers' greedy choice, end-of-text included
        hf.append(int(_reference(reference, prompt + hf)[-1].argmax()))
    ours = list(load_model(directory).generate(prompt, max_new_tokens=count))
    ours_gguf = list(load_model(files["f32"]).generate(prompt, max_new_tokens=count))
    llama = _greedy_llama(files["f32"], prompt, count)
    assert ours == hf
    assert ours_gguf == hf
    assert llama == hf


def test_past_the_window_llama_cpp_departs_and_ours_follows_transformers(
    model: tuple[Path, Any, dict[str, Path]],
) -> None:
    _, reference, files = model
    ids = _ids(3 * WINDOW, seed=2)
    expected = _reference(reference, ids)
    ours = load_model(files["f32"]).logits(ids)
    llama = torch.from_numpy(llama_cpp_logits(files["f32"], ids))
    assert (ours - expected).abs().max().item() < 1e-4
    inside = (llama[:WINDOW] - expected[:WINDOW]).abs().max().item()
    beyond = (llama[WINDOW:] - expected[WINDOW:]).abs().max().item()
    assert inside < 2e-3 * _spread(expected)
    assert beyond > 50 * max(inside, 1e-4), (inside, beyond)


def test_predictor_reuses_the_context_and_warns_past_the_window(
    model: tuple[Path, Any, dict[str, Path]],
) -> None:
    from cwm_lsp.backends.base import PredictionRequest

    _, _, files = model
    predictor = LlamaCppPredictor(files["f32"], max_frames=2)
    source = "def f(x):\n    return x\n"
    request = PredictionRequest(context=source, source=source, call=None, function="f")
    first = predictor.predict(request)
    assert first.provenance.backend == "llama-cpp"
    assert first.tokens_generated > 0
    session = predictor.session()
    # The same prompt again: everything but the last prompt token comes from the kept context.
    second = predictor.predict(request)
    prompt_length = len(predictor.tokenizer.encode_prompt(source))
    assert session.reused_tokens == prompt_length - 1
    assert second.trace_text == first.trace_text
    if len(session.tokens) > WINDOW:
        assert any("sliding" in problem for problem in second.problems)


@pytest.fixture(scope="module")
def trace_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small model taught one trace (window covering it all), as a GGUF; and a copy whose
    metadata claims a 32-token window."""
    import json

    from e2e.test_openai_backend import CONTEXT, TRACE

    from cwm_lsp.runtime import testing
    from cwm_lsp.runtime.tokenizer import load_tokenizer
    from cwm_lsp.trace.parser import parse_trace

    directory = tmp_path_factory.mktemp("trace-model")
    testing.write_byte_tokenizer(directory)
    tokenizer = load_tokenizer(directory)
    assert tokenizer is not None
    prompt = tokenizer.encode_prompt(CONTEXT)
    trace = tokenizer.encode_frames(parse_trace(TRACE).frames, finished=True)
    config = testing.trace_model_config(sliding_window=1024)
    testing.write_trace_model(
        directory, [prompt + trace], prompt_length=len(prompt), steps=300, config=config
    )
    exact = directory / "trace.gguf"
    convert_checkpoint(directory, exact, file_type="f32")
    config_path = directory / "config.json"
    raw = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(raw | {"sliding_window": 32}))
    narrow = directory / "trace-window-32.gguf"
    convert_checkpoint(directory, narrow, file_type="f32")
    return exact, narrow


def test_llama_cpp_predicts_the_taught_trace(trace_gguf: tuple[Path, Path]) -> None:
    from e2e.test_openai_backend import REQUEST, TRACE

    from cwm_lsp.backends.options import BackendOptions
    from cwm_lsp.backends.registry import build_predictor
    from cwm_lsp.trace.frames import Frame

    exact, narrow = trace_gguf
    predictor = build_predictor(BackendOptions(model=str(exact)))
    assert predictor.name == "llama-cpp"
    streamed: list[Frame] = []
    result = predictor.predict(REQUEST, on_frame=streamed.append)
    assert result.trace_text == TRACE
    assert result.finished
    assert result.problems == []
    assert streamed == result.frames
    # Same weights, but the file says CWM's window is 32 tokens: the trace is longer, so the
    # result warns that llama.cpp attended globally.
    warned = LlamaCppPredictor(narrow).predict(REQUEST)
    assert any("32-token sliding window" in problem for problem in warned.problems)


def test_llama_cpp_reads_our_tokenizer_metadata(tmp_path: Path) -> None:
    """llama.cpp's own BPE (from tokenizer.ggml.tokens/merges) encodes text as ours does."""
    import base64

    import llama_cpp

    directory = tmp_path / "bpe"
    config = tiny_config(vocab_size=256 + 6 + 256, bos_token_id=262, eos_token_id=[263])
    write_checkpoint(directory, config, tokenizer=False)
    ranks = [bytes([i]) for i in range(256)] + [b"he", b"ll", b"hell", b"hello", b" w", b" wo"]
    lines = [f"{base64.b64encode(token).decode()} {rank}" for rank, token in enumerate(ranks)]
    (directory / "tokenizer.model").write_text("\n".join(lines) + "\n")
    convert_checkpoint(directory, tmp_path / "bpe.gguf", file_type="q8_0")
    llm = llama_cpp.Llama(model_path=str(tmp_path / "bpe.gguf"), n_ctx=64, verbose=False)
    ours = load_model(tmp_path / "bpe.gguf").tokenizer
    assert ours is not None
    for text in ("hello world", "hell o wo\n  x = 12345"):
        assert llm.tokenize(text.encode(), add_bos=False, special=False) == ours.encode(text)
    assert (llm.token_bos(), llm.token_eos()) == (262, 263)
