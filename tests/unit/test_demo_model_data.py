"""The demo model's data recipe: generated programs, traced examples, tokenizer, eval scoring."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest
from goldens import GOLDEN_FILES

RECIPE = Path(__file__).resolve().parents[2] / "model" / "recipe"
sys.path.insert(0, str(RECIPE))

import data  # noqa: E402
import eval as demo_eval  # noqa: E402
import idioms  # noqa: E402
import mix  # noqa: E402
import programs  # noqa: E402
import tokenizer as demo_tokenizer  # noqa: E402

from cwm_lsp.runtime.tokenizer import load_tokenizer  # noqa: E402
from cwm_lsp.trace import tokens  # noqa: E402
from cwm_lsp.trace.parser import parse_trace  # noqa: E402

GOLDENS = [json.loads(path.read_text()) for path in GOLDEN_FILES]


def test_generated_programs_compile_and_define_their_call() -> None:
    rng = random.Random(7)
    for _ in range(300):
        program = programs.generate_program(rng)
        context = programs.harness(program.source, program.call)
        compile(context, "<generated>", "exec")
        name = program.call.split("(")[0].split(".")[0]
        assert f"def {name}(" in program.source or f"class {name}:" in program.source


def test_traced_examples_are_well_formed_cwm_traces() -> None:
    rng = random.Random(11)
    kept = 0
    for _ in range(60):
        program = programs.generate_program(rng)
        record = data.trace_example(program.source, program.call)
        if record is None:
            continue
        kept += 1
        assert record["prompt"].startswith(tokens.BEGIN_OF_TEXT + tokens.TRACE_CONTEXT_START)
        assert record["prompt"].endswith(
            "# << START_OF_TRACE\n    return " + program.call + "\n" + tokens.FRAME_SEP
        )
        parsed = parse_trace(record["trace"])
        assert parsed.finished and not parsed.problems
        assert len(parsed.frames) == record["frames"]
        assert parsed.frames[0].line == "def main():  # << START_OF_TRACE\n"
    assert kept >= 30  # the rest are over the length or frame caps


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["name"] for g in GOLDENS])
def test_corpus_recorder_reproduces_goldens(golden: dict[str, str]) -> None:
    call = golden["call"]
    record = data.trace_example(golden["source"], call, max_chars=100_000)
    assert record is not None
    assert record["prompt"] == golden["prompt_text"]
    assert record["trace"] == golden["trace_text"]


def test_heldout_split_depends_on_the_program_only() -> None:
    sources = [f"def f{i}(x):\n    return x + {i}\n" for i in range(2000)]
    held = [s for s in sources if data.is_heldout(s)]
    assert 10 < len(held) < 100
    assert all(data.is_heldout(s) for s in held)


def test_trained_bpe_loads_in_the_runtime_and_round_trips(tmp_path: Path) -> None:
    texts = [g["prompt_text"] for g in GOLDENS] + [g["trace_text"] for g in GOLDENS]
    ranks = demo_tokenizer.train_ranks(texts * 3, 400)
    assert sorted(ranks.values()) == list(range(len(ranks)))
    assert all(ranks[bytes([b])] == b for b in range(256))
    demo_tokenizer.write_tiktoken(ranks, tmp_path / "tokenizer.model")
    tok = load_tokenizer(tmp_path)
    assert tok is not None and tok.kind == "tiktoken"
    assert tok.special_id(tokens.FRAME_SEP) == len(ranks) + 100
    assert tok.vocab_size == len(ranks) + 256
    for golden in GOLDENS:
        text = golden["prompt_text"] + golden["trace_text"]
        ids = demo_tokenizer.encode_text(tok, text)
        assert tok.decode(ids) == text
        assert ids[:2] == [
            tok.special_id(tokens.BEGIN_OF_TEXT),
            tok.special_id(tokens.TRACE_CONTEXT_START),
        ]
        assert tok.encode_prompt(golden["context"]) == demo_tokenizer.encode_text(
            tok, golden["prompt_text"]
        )
    # merges learned on the corpus make it shorter than bytes
    sample = GOLDENS[0]["trace_text"]
    assert len(demo_tokenizer.encode_text(tok, sample)) < len(sample.encode()) / 2


def test_eval_scores_truth_perfect_and_floor_low() -> None:
    for golden in GOLDENS:
        perfect = demo_eval.score_trace(golden["trace_text"], golden["trace_text"])
        assert perfect.rates() == {
            "valid_format": 1.0,
            "action_exact": 1.0,
            "state_exact": 1.0,
            "output_correct": 1.0,
        }
        floor = demo_eval.score_trace(
            demo_eval.floor_trace(golden["context"]), golden["trace_text"]
        )
        assert floor.valid == 1
        assert floor.action_hits == 2  # the harness's call and line frames
        truth = demo_eval.outcome(parse_trace(golden["trace_text"]).frames)
        assert floor.output_correct == int(truth == ("None", False))


def test_eval_scores_a_broken_trace_as_invalid() -> None:
    golden = GOLDENS[0]
    cut = golden["trace_text"][: len(golden["trace_text"]) // 2]
    tally = demo_eval.score_trace(cut, golden["trace_text"])
    assert tally.valid == 0 and tally.output_correct == 0
    assert 0 < tally.action_hits < tally.action_total


def test_random_words_and_mixed_names_change_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def sources(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [programs.random_function_program(rng).source for _ in range(200)]

    default = sources(5)
    assert programs.RANDOM_WORD_RATE == 0 and programs.MIXED_NAME_RATE == 0
    assert sources(5) == default  # the rates at 0 keep earlier corpora reproducible

    monkeypatch.setattr(programs, "RANDOM_WORD_RATE", 0.6)
    monkeypatch.setattr(programs, "MIXED_NAME_RATE", 0.5)
    rng = random.Random(3)
    made_up = {programs.word(rng) for _ in range(300)} - set(programs.WORD_POOL)
    assert len(made_up) > 100
    assert any(c in w for w in made_up for c in "éüñ\\'\"\n")
    mixed = sources(5)
    assert mixed != default

    def loops(sources: list[str]) -> list[tuple[str, str]]:
        found = (
            re.match(r"\s*for (\w+) in (\w+):", line) for s in sources for line in s.splitlines()
        )
        return [(m.group(1), m.group(2)) for m in found if m]

    assert all(var in programs.LOOP_NAMES_ALL for var, _ in loops(default))
    # `for value in values`, `for word in words`: loop variables from outside the loop pools
    assert any(var not in programs.LOOP_NAMES_ALL and it == var + "s" for var, it in loops(mixed))
    # made-up words with backslashes or double quotes never land inside an f-string (< 3.12)
    for text in ("plain", 'say "hi"', "tab\there", "it's"):
        assert eval(programs.fstring_pair(repr(text), "3")) == f"{text}-3"
    for source in mixed:
        compile(source, "<generated>", "exec")


def test_idiom_programs_trace_in_every_shape_and_never_contain_a_golden_function() -> None:
    rng = random.Random(21)
    golden_functions = data.golden_functions(GOLDEN_FILES[0].parent)
    assert len(golden_functions) >= len(GOLDENS)
    traced: dict[str, int] = {}
    sources: set[str] = set()
    for _ in range(400):
        shape = rng.choice(idioms.IDIOMS)
        program = shape(rng, idioms.Names(rng))
        compile(programs.harness(program.source, program.call), "<idiom>", "exec")
        assert not any(f in program.source for f in golden_functions)
        sources.add(program.source)
        record = data.trace_example(program.source, program.call, max_chars=7000)
        if record is not None:
            assert parse_trace(record["trace"]).finished
            traced[shape.__name__] = traced.get(shape.__name__, 0) + 1
    assert set(traced) == {shape.__name__ for shape in idioms.IDIOMS}
    assert len(sources) > 350  # names, constants and operators vary, not one program per shape
    text = "".join(sources)
    for idiom in ("while True:", "break", ".setdefault(", '"\\t".join(', "except ValueError"):
        assert idiom in text


def test_examples_containing_an_excluded_function_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    golden = next(g for g in GOLDENS if g["name"] == "recursion")
    (function,) = data.function_sources(golden["source"])
    assert function.startswith("def fact(n):")
    monkeypatch.setattr(data, "IDIOM_RATE", 0.0)
    kept = data._batch(4, count=40)
    assert kept
    monkeypatch.setattr(data, "EXCLUDED_FUNCTIONS", [kept[0]["source"].split("\n\n")[-1]])
    assert all(r["prompt"] != kept[0]["prompt"] for r in data._batch(4, count=40))


def test_mix_leaves_out_training_examples_with_a_golden_function(tmp_path: Path) -> None:
    golden = next(g for g in GOLDENS if g["name"] == "while_break")
    lines = [
        {"source": golden["source"], "prompt": "a"},
        {"source": "def other(limit):\n    return limit\n", "prompt": "b"},
        {"source": golden["source"].replace("k * k", "k * 3"), "prompt": "c"},
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "mixed"
    argv = ["--out", str(out), "--train", f"{corpus}:all"]
    assert mix.main([*argv, "--exclude-functions-of", str(GOLDEN_FILES[0].parent)]) == 0
    kept = [json.loads(line)["prompt"] for line in (out / "train.jsonl").read_text().splitlines()]
    assert sorted(kept) == ["b", "c"]
    assert mix.main(argv) == 0
    assert len((out / "train.jsonl").read_text().splitlines()) == 3
