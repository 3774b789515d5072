"""The ``openai`` backend predicts through ``cwm-lsp model serve`` over real HTTP and gives the
same trace as the ``native`` backend on the same checkpoint (a small model taught one trace)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.test_model_serve import TOKEN, start_server, stop_server

from cwm_lsp.backends.base import BackendError, CancelToken, PredictionCancelled, PredictionRequest
from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.backends.openai import OpenAIPredictor, RetryPolicy
from cwm_lsp.backends.options import BackendOptions
from cwm_lsp.backends.registry import build_predictor
from cwm_lsp.runtime import testing
from cwm_lsp.runtime.tokenizer import load_tokenizer
from cwm_lsp.trace.frames import Frame
from cwm_lsp.trace.parser import parse_trace

pytest.importorskip("transformers")

SOURCE = "def f(x):\n    return x + 1\n"
CONTEXT = SOURCE + "\ndef main():  # << START_OF_TRACE\n    return f(1)\n"
TRACE = (
    "<|call_sep|>{}<|action_sep|>def main():  # << START_OF_TRACE\n<|frame_sep|>"
    "<|line_sep|>{}<|action_sep|>    return f(1)\n<|frame_sep|>"
    '<|call_sep|>{"x": "1"}<|action_sep|>def f(x):\n<|frame_sep|>'
    '<|line_sep|>{"x": ".."}<|action_sep|>    return x + 1\n<|frame_sep|>'
    '<|return_sep|><|action_sep|>    return x + 1\n<|arg_sep|>"2"<|frame_sep|>'
    '<|return_sep|><|action_sep|>    return f(1)\n<|arg_sep|>"2"<|frame_sep|><|end_of_text|>'
)
REQUEST = PredictionRequest(
    context=CONTEXT, source=SOURCE, call="f(1)", function="f", harness="main"
)


@pytest.fixture(scope="module")
def trace_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("trace-model")
    testing.write_byte_tokenizer(directory)
    tokenizer = load_tokenizer(directory)
    assert tokenizer is not None
    prompt = tokenizer.encode_prompt(CONTEXT)
    trace = tokenizer.encode_frames(parse_trace(TRACE).frames, finished=True)
    testing.write_trace_model(directory, [prompt + trace], prompt_length=len(prompt), steps=300)
    return directory


@pytest.fixture(scope="module")
def server(trace_model: Path) -> Iterator[str]:
    process, url = start_server(trace_model, "--max-queue", "8")
    try:
        yield url
    finally:
        stop_server(process)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWM_LSP_API_KEY", TOKEN)
    monkeypatch.delenv("CWM_LSP_TOKENIZER", raising=False)


def test_native_backend_reproduces_the_taught_trace(trace_model: Path) -> None:
    result = NativePredictor(trace_model).predict(REQUEST)
    assert result.trace_text == TRACE
    assert result.finished


@pytest.mark.parametrize("tokenizer", ["local", "server"])
def test_openai_backend_predicts_through_model_serve(
    server: str, trace_model: Path, api_key: None, tokenizer: str
) -> None:
    predictor = OpenAIPredictor(
        server + "/v1", tokenizer=str(trace_model) if tokenizer == "local" else None
    )
    streamed: list[Frame] = []
    result = predictor.predict(REQUEST, on_frame=streamed.append)
    assert result.trace_text == TRACE
    assert result.finished
    assert result.problems == []
    assert result.frames == parse_trace(TRACE).frames
    assert streamed == result.frames
    assert result.provenance.backend == "openai"


def test_registry_picks_openai_for_a_url(server: str, api_key: None) -> None:
    predictor = build_predictor(BackendOptions(model=server))
    assert predictor.name == "openai"
    assert predictor.predict(REQUEST).trace_text == TRACE


def test_concurrent_predictions_share_the_server(server: str, api_key: None) -> None:
    results: dict[int, str] = {}

    def predict(index: int) -> None:
        results[index] = OpenAIPredictor(server).predict(REQUEST).trace_text

    threads = [threading.Thread(target=predict, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {0: TRACE, 1: TRACE, 2: TRACE}


def test_cancel_mid_stream_then_the_server_still_answers(server: str, api_key: None) -> None:
    predictor = OpenAIPredictor(server)
    cancel = CancelToken()
    seen: list[Frame] = []

    def on_frame(frame: Frame) -> None:
        seen.append(frame)
        cancel.cancel()

    with pytest.raises(PredictionCancelled):
        predictor.predict(REQUEST, on_frame=on_frame, cancel=cancel)
    assert len(seen) == 1
    assert predictor.predict(REQUEST).trace_text == TRACE


def test_frame_limit_cuts_the_stream(server: str, api_key: None) -> None:
    result = OpenAIPredictor(server, max_frames=3).predict(REQUEST)
    assert len(result.frames) == 3
    assert not result.finished
    assert result.limit is not None and "frame limit" in result.limit


def test_wrong_key_fails_with_a_clear_message(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWM_LSP_API_KEY", "not-the-token")
    with pytest.raises(BackendError, match="CWM_LSP_API_KEY"):
        OpenAIPredictor(server).predict(REQUEST)


def test_unreachable_server_gives_up_after_bounded_retries() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    with pytest.raises(BackendError, match="gave up after 3 tries"):
        OpenAIPredictor(f"http://127.0.0.1:{port}", retry=policy).predict(REQUEST)
    with pytest.raises(BackendError, match="not a server URL"):
        OpenAIPredictor("ftp://example")


def test_step_over_matches_the_native_backend(
    server: str, trace_model: Path, api_key: None
) -> None:
    # Entry scope depth 1 (no harness): the call into f is stepped over by forcing
    # <|return_sep|>, which the openai backend does with a second request.
    request = PredictionRequest(
        context=CONTEXT, source=SOURCE, call=None, function="main", step_over=True, max_frames=12
    )
    # the server decodes freely (no flow constraint over HTTP), so compare with free decoding
    native = NativePredictor(trace_model, follow_flow=False).predict(request)
    remote = OpenAIPredictor(server).predict(request)
    assert '<|call_sep|>{"x": "1"}' in native.trace_text
    assert "def f(x):\n<|frame_sep|><|return_sep|>" in native.trace_text
    assert remote.trace_text == native.trace_text
    assert remote.finished == native.finished


def test_a_spent_time_budget_stops_the_stream_with_a_label(server: str, api_key: None) -> None:
    request = PredictionRequest(**{**REQUEST.__dict__, "prediction_timeout": 1e-9})
    result = OpenAIPredictor(server).predict(request)
    assert result.stop == "timeout" and not result.finished
    assert result.limit is not None
    assert result.limit.startswith("time limit (1e-09 s) exceeded: stopped after ")
