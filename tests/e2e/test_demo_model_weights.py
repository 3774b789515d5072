"""The shipped demo model (model/weights): files, labels, and that it loads and predicts.

Loaded both by transformers (the numerical reference) and by cwm-lsp's own runtime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from goldens import GOLDEN_FILES, golden_request
from transformers import CwmForCausalLM

from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.runtime import LoadedModel, load_model
from cwm_lsp.trace import tokens

WEIGHTS = Path(__file__).resolve().parents[2] / "model" / "weights"
sys.path.insert(0, str(WEIGHTS.parent / "recipe"))

from tokenizer import encode_text  # noqa: E402

GOLDEN = {p.stem: json.loads(p.read_text()) for p in GOLDEN_FILES}


@pytest.fixture(scope="module")
def runtime_model() -> LoadedModel:
    # as the native backend loads it: the shipped bf16 weights computed in float32
    return load_model(WEIGHTS, dtype=torch.float32)


@pytest.fixture(scope="module")
def reference_model() -> CwmForCausalLM:
    model = CwmForCausalLM.from_pretrained(WEIGHTS, dtype=torch.float32)
    model.eval()
    return model


def test_shipped_files_are_small_and_labelled_not_cwm() -> None:
    names = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.model"}
    assert names <= {p.name for p in WEIGHTS.iterdir()}
    assert sum(p.stat().st_size for p in WEIGHTS.iterdir()) <= 30 * 1024 * 1024
    config = json.loads((WEIGHTS / "config.json").read_text())
    assert config["model_type"] == "cwm"
    assert config["cwm_lsp_demo_model"] is True
    assert config["cwm_lsp_model_name"] == "cwm-lsp demo model (not CWM)"
    assert config["layer_types"].count("full_attention") >= 2
    assert "sliding_attention" in config["layer_types"]
    assert config["num_key_value_heads"] < config["num_attention_heads"]


def test_shipped_weights_are_bfloat16_and_the_native_backend_computes_in_float32() -> None:
    assert json.loads((WEIGHTS / "config.json").read_text())["dtype"] == "bfloat16"
    loaded = NativePredictor(WEIGHTS, torch_free=False).load()
    assert isinstance(loaded, LoadedModel)
    assert loaded.logits([1, 2, 3]).dtype == torch.float32
    assert {b.dtype for b in loaded.transformer.buffers() if b.is_floating_point()} == {
        torch.float32
    }


def test_runtime_names_it_the_demo_model(runtime_model: LoadedModel) -> None:
    assert runtime_model.name == "cwm-lsp demo model (not CWM)"
    assert runtime_model.config.is_demo_model
    assert runtime_model.tokenizer is not None
    assert (
        runtime_model.tokenizer.special_id(tokens.FRAME_SEP)
        == runtime_model.tokenizer.rank_count + 100
    )


def test_runtime_logits_match_transformers(
    runtime_model: LoadedModel, reference_model: CwmForCausalLM
) -> None:
    golden = GOLDEN["loop_accumulate"]
    assert runtime_model.tokenizer is not None
    ids = runtime_model.tokenizer.encode_prompt(golden["context"])
    ours = runtime_model.logits(ids)
    with torch.no_grad():
        theirs = reference_model(input_ids=torch.tensor([ids])).logits[0].float()
    assert ours.shape == theirs.shape
    assert torch.allclose(ours, theirs, atol=2e-3, rtol=1e-3), (ours - theirs).abs().max()


def test_trained_model_predicts_golden_trace_tokens(
    reference_model: CwmForCausalLM, runtime_model: LoadedModel
) -> None:
    tok = runtime_model.tokenizer
    assert tok is not None
    golden = GOLDEN["loop_accumulate"]
    prompt = tok.encode_prompt(golden["context"])
    trace = encode_text(tok, golden["trace_text"])
    with torch.no_grad():
        logits = reference_model(input_ids=torch.tensor([prompt + trace])).logits[0]
    guesses = logits[len(prompt) - 1 : -1].argmax(-1).tolist()
    accuracy = sum(g == t for g, t in zip(guesses, trace, strict=True)) / len(trace)
    assert accuracy > 0.6  # an untrained model of this vocabulary scores ~0.001


def test_greedy_generation_starts_a_cwm_trace_at_the_harness(runtime_model: LoadedModel) -> None:
    # Format only: copying the golden's unusual names is beyond this tiny model (see MODEL_CARD).
    tok = runtime_model.tokenizer
    assert tok is not None
    golden = GOLDEN["recursion"]
    stop = [tok.special_id(tokens.END_OF_TEXT)]
    prompt = tok.encode_prompt(golden["context"])
    ids = list(runtime_model.generate(prompt, max_new_tokens=40, stop_ids=stop))
    text = tok.decode(ids)
    expected_start = (
        "<|call_sep|>{}<|action_sep|>def main():  # << START_OF_TRACE\n<|frame_sep|>"
        "<|line_sep|>{}<|action_sep|>    return "
    )
    assert text.startswith(expected_start), text


@pytest.fixture(scope="module")
def demo_predictor() -> NativePredictor:
    return NativePredictor(WEIGHTS)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_language_servers_decoder_finishes_every_golden_trace(
    name: str, demo_predictor: NativePredictor
) -> None:
    """The native backend's default (flow-constrained) decoder gives each golden a complete,
    well-formed trace within twice the golden's frame count (whether its values are right is
    the model's accuracy, reported in MODEL_CARD.md)."""
    golden = GOLDEN[name]
    result = demo_predictor.predict(golden_request(golden))
    assert result.finished and not result.problems and result.limit is None, result.trace_text
    assert result.frames[0].line == golden["frames"][0]["line"]


def test_eval_flow_decoder_scores_a_valid_trace(runtime_model: LoadedModel) -> None:
    """model/recipe/eval.py --decoder flow: the product's decoder, with the eval's token limit
    (1.5 times the golden trace plus 16), still ends the trace with <|end_of_text|>."""
    import eval as demo_eval

    golden = GOLDEN["while_break"]
    tok = runtime_model.tokenizer
    assert tok is not None
    truth = len(encode_text(tok, golden["trace_text"]))
    limit = truth + truth // 2 + 16
    predicted = demo_eval.generate_trace(
        runtime_model, tok, golden["context"], limit, decoder="flow"
    )
    assert predicted.endswith(tokens.END_OF_TEXT)
    assert demo_eval.score_trace(predicted, golden["trace_text"]).valid == 1


def test_the_torch_free_path_predicts_every_golden_exactly_as_the_pytorch_model() -> None:
    torch_free = NativePredictor(WEIGHTS)
    pytorch = NativePredictor(WEIGHTS, torch_free=False)
    for path in GOLDEN_FILES:
        request = golden_request(json.loads(path.read_text()))
        ours, theirs = torch_free.predict(request), pytorch.predict(request)
        assert torch_free.torch_free_reason is None
        assert pytorch.torch_free_reason == "turned off"
        assert (ours.trace_text, ours.stop) == (theirs.trace_text, theirs.stop), path.stem
