"""The native backend end to end: a small model taught one trace, predicted frame by frame.

The model is trained (a few hundred steps) on the exact prompt the CLI builds for ``f()`` in
SOURCE, continued by the stepped-into trace (twice) and by the stepped-over one (once), so greedy
decoding gives the stepped-into trace and forcing ``<|return_sep|>`` after ``g``'s call frame
gives the stepped-over one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cwm_lsp.backends.base import BackendError, CancelToken, PredictionCancelled, PredictionRequest
from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.runtime.testing import write_taught_traces
from cwm_lsp.trace import codec, tokens
from cwm_lsp.trace.frames import Event, Frame

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

SOURCE = "def g(x):\n    return x + 1\n\n\ndef f():\n    return g(1)\n"
HARNESS = "\ndef main():  # << START_OF_TRACE\n    return f()\n"
CONTEXT = SOURCE + HARNESS
INTO = [
    Frame(Event.CALL, "def main():  # << START_OF_TRACE\n", {}),
    Frame(Event.LINE, "    return f()\n", {}),
    Frame(Event.CALL, "def f():\n", {}),
    Frame(Event.LINE, "    return g(1)\n", {}),
    Frame(Event.CALL, "def g(x):\n", {"x": "1"}),
    Frame(Event.LINE, "    return x + 1\n", {"x": ".."}),
    Frame(Event.RETURN, "    return x + 1\n", arg="2"),
    Frame(Event.RETURN, "    return g(1)\n", arg="2"),
    Frame(Event.RETURN, "    return f()\n", arg="2"),
]
OVER = INTO[:5] + INTO[6:]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("trace-model")
    return write_taught_traces(
        directory,
        CONTEXT,
        [INTO, OVER],
        weights=[2, 1],
        extra_config={"cwm_lsp_demo_model": True},
    )


def _request(**changes: object) -> PredictionRequest:
    fields: dict[str, object] = {
        "context": CONTEXT,
        "source": SOURCE,
        "call": "f()",
        "function": "f",
        "harness": "main",
    }
    fields.update(changes)
    return PredictionRequest(**fields)  # type: ignore[arg-type]


def test_predicts_the_trace_and_streams_frames(model_dir: Path) -> None:
    predictor = NativePredictor(model_dir)
    streamed: list[Frame] = []
    result = predictor.predict(_request(), on_frame=streamed.append)
    assert result.frames == INTO
    assert streamed == INTO
    assert result.finished and result.limit is None and not result.problems
    assert result.trace_text == codec.encode_trace(INTO)
    assert result.tokens_generated > len(INTO)
    provenance = result.provenance
    assert provenance.backend == "native" and provenance.is_demo_model
    assert provenance.model == "cwm-lsp demo model (not CWM)"


def test_step_over_forces_the_return_frame(model_dir: Path) -> None:
    predictor = NativePredictor(model_dir)
    result = predictor.predict(_request(step_over=True))
    assert result.frames == OVER
    assert result.finished
    # without a harness the marked function is depth 1, so already its callee f is stepped over:
    # the frame after f's call frame starts with the forced <|return_sep|> (what the model writes
    # after it is off its training data, so only the forced token is checked)
    no_harness = predictor.predict(_request(step_over=True, harness=None, max_frames=4))
    frames_text = no_harness.trace_text.split(tokens.FRAME_SEP)
    assert frames_text[2].startswith(tokens.CALL_SEP + "{}" + tokens.ACTION_SEP + "def f():")
    assert frames_text[3].startswith(tokens.RETURN_SEP)


def test_lookahead_drafting_gives_the_same_trace_in_fewer_passes(model_dir: Path) -> None:
    from cwm_lsp.backends.decoding import TraceDecoder, TraceIds
    from cwm_lsp.runtime import load_model
    from cwm_lsp.runtime.generate import Sampler, Sampling

    model = load_model(model_dir)
    assert model.tokenizer is not None
    prompt = model.tokenizer.encode_prompt(CONTEXT)
    ids = TraceIds.from_special(model.tokenizer.special_id)
    runs = {}
    for lookahead in (0, 16):
        generator = TraceDecoder(model.new_session(), ids, Sampler(Sampling()), lookahead=lookahead)
        runs[lookahead] = ([f.ids for f in generator.frames(prompt)], generator.outcome)
    assert runs[16][0] == runs[0][0]
    assert (
        model.tokenizer.decode([t for f in runs[16][0] for t in f])
        == codec.encode_trace(INTO)[: -len(tokens.END_OF_TEXT)]
    )
    assert runs[0][1].accepted_tokens == 0
    assert runs[16][1].accepted_tokens > runs[16][1].tokens_generated // 3
    assert runs[16][1].tokens_generated == runs[0][1].tokens_generated


def test_max_frames_and_quantized_model(model_dir: Path) -> None:
    result = NativePredictor(model_dir, quantize="int8").predict(_request(max_frames=3))
    assert result.frames == INTO[:3]
    assert not result.finished and result.limit and "3 frames" in result.limit
    assert result.provenance.quantization == "int8"


def test_cancel_then_predict_again_reusing_the_prompt(model_dir: Path) -> None:
    predictor = NativePredictor(model_dir)
    cancel = CancelToken()
    seen: list[Frame] = []

    def on_frame(frame: Frame) -> None:
        seen.append(frame)
        if len(seen) == 2:
            cancel.cancel()

    with pytest.raises(PredictionCancelled):
        predictor.predict(_request(), on_frame=on_frame, cancel=cancel)
    assert len(seen) == 2
    result = predictor.predict(_request())
    assert result.frames == INTO
    assert predictor.reused_prompt_tokens > len(CONTEXT) // 2


def test_concurrent_predictions_are_serialised(model_dir: Path) -> None:
    predictor = NativePredictor(model_dir)
    results: list[list[Frame]] = []

    def worker() -> None:
        results.append(predictor.predict(_request()).frames)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [INTO, INTO]


def test_registry_builds_the_native_backend(model_dir: Path) -> None:
    from cwm_lsp.backends.options import BackendOptions
    from cwm_lsp.backends.registry import build_predictor

    predictor = build_predictor(BackendOptions(model=str(model_dir), quantize="none"))
    assert isinstance(predictor, NativePredictor)
    assert predictor.provenance().quantization == "none"


def test_bad_models_raise_backend_errors(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"config\.json"):
        NativePredictor(tmp_path)
    for item in model_dir.iterdir():
        if item.name != "tokenizer.model":
            (tmp_path / item.name).write_bytes(item.read_bytes())
    with pytest.raises(BackendError, match="no tokenizer"):
        NativePredictor(tmp_path).predict(_request())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cwm_lsp", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_predict_prints_the_trace(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(SOURCE)
    done = _cli(
        "predict",
        str(source),
        "--function",
        "f",
        "--call",
        "f()",
        "--backend",
        "native",
        "--model",
        str(model_dir),
        "--format",
        "cwm",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == codec.encode_trace(INTO).strip()


def test_cli_model_info_and_quantize(model_dir: Path, tmp_path: Path) -> None:
    info = _cli("model", "info", str(model_dir))
    assert info.returncode == 0, info.stderr
    assert "cwm-lsp demo model (not CWM)" in info.stdout
    assert "2: 1 global, 1 sliding (Gs)" in info.stdout
    assert "tokenizer.model (tiktoken)" in info.stdout
    out = tmp_path / "q4"
    done = _cli(
        "model", "quantize", str(model_dir), str(out), "--quantize", "int4", "--group-size", "32"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "cwm_lsp_quantization.json").read_text())["group_size"] == 32
    assert (out / "tokenizer.model").is_file()
    assert "int4 (group 32)" in _cli("model", "info", str(out)).stdout
    again = _cli("model", "quantize", str(model_dir), str(out), "--quantize", "int8")
    assert again.returncode == 2 and "not empty" in again.stderr
    broken = _cli("model", "info", str(tmp_path))
    assert broken.returncode == 1 and "config.json: not found" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_prequantized_model_predicts(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "q8"
    assert _cli("model", "quantize", str(model_dir), str(out), "--quantize", "int8").returncode == 0
    result = NativePredictor(out).predict(_request())
    assert result.provenance.quantization == "int8"
    assert result.frames == INTO
