"""Stage 7 of the demo-model recipe: the hand-written dev set, the everyday-semantics corpus
generator, the held-out exclusion check and eval.py's "first argument" floor."""

from __future__ import annotations

import ast
import json
import random
import sys
from pathlib import Path

import goldens
import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "model" / "recipe"
sys.path.insert(0, str(RECIPE))

import data  # noqa: E402
import devset  # noqa: E402
import eval as demo_eval  # noqa: E402
import everyday  # noqa: E402
from programs import harness  # noqa: E402

from cwm_lsp.trace.parser import parse_trace  # noqa: E402

GOLDEN_DIR = goldens.GOLDEN_DIR


def test_devset_has_at_least_100_short_functions_each_with_one_literal_call() -> None:
    functions = devset.read_devset()
    assert len(functions) >= 100
    assert len({f.name for f in functions}) == len(functions)
    for function in functions:
        lines = function.source.rstrip("\n").splitlines()
        assert 2 <= len(lines) <= 15, function.name
        call = ast.parse(function.call).body[0]
        assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
        assert ast.unparse(call.value.func) == function.name
        for argument in call.value.args:
            ast.literal_eval(argument)  # a literal, or this raises


def test_devset_traces_every_function(tmp_path: Path) -> None:
    out = tmp_path / "devset.jsonl"
    assert devset.main(["--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(devset.read_devset())
    for record in records:
        parsed = parse_trace(record["trace"])
        assert parsed.finished and not parsed.problems, record["name"]


def test_everyday_programs_run_and_are_short() -> None:
    rng = random.Random(5)
    for _ in range(300):
        program = everyday.everyday_program(rng)
        compile(harness(program.source, program.call), "<everyday>", "exec")
        assert everyday.runs_cleanly(program.source, program.call)
        assert len(program.source.splitlines()) <= 22  # helper + function of <= 15 lines


def test_everyday_programs_use_the_methods_of_every_builtin_container() -> None:
    rng = random.Random(9)
    text = "".join(everyday.everyday_program(rng).source for _ in range(600))
    for needle in (
        ".split(",
        ".join(",
        ".replace(",
        ".strip(",
        ".append(",
        ".pop(",
        ".items()",
        ".get(",
        "sorted(",
        "enumerate(",
        "zip(",
        "while ",
        " for ",
        "return ",
        ".setdefault(",
        ".add(",
        "set(",
        "[::-1]",
        "if ",
    ):
        assert needle in text, needle


def test_everyday_is_deterministic_per_seed() -> None:
    first = [everyday.everyday_program(random.Random(3)).source for _ in range(3)]
    assert len(set(first)) == 1


def test_exclusion_catches_a_held_out_function_verbatim_renamed_or_by_name() -> None:
    data.exclude_functions(data.held_out_functions(GOLDEN_DIR, ROOT / "examples"))
    try:
        target = next(f for f in devset.read_devset() if f.name == "dedupe")
        assert data.is_excluded(target.source)
        renamed = target.source.replace("seen", "kept").replace("item", "x")
        renamed = renamed.replace("dedupe", "unique_in_order")
        assert data.is_excluded(renamed)
        assert data.is_excluded("def dedupe(a):\n    return a\n")
        assert not data.is_excluded("def unique_in_order(a):\n    return list(set(a))\n")
    finally:
        data.EXCLUDED_FUNCTIONS.clear()
        data.EXCLUDED_SHAPES.clear()
        data.EXCLUDED_NAMES.clear()


@pytest.mark.skipif(not GOLDEN_DIR.is_dir(), reason="golden traces not present")
def test_an_everyday_corpus_holds_no_dev_set_golden_or_example_function(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    argv = [
        "--out",
        str(out),
        "--examples",
        "300",
        "--seed",
        "4",
        "--workers",
        "1",
        "--everyday",
        "0.7",
        "--real-files",
        "0.5",
        "--exclude-held-out",
        "--golden",
        str(GOLDEN_DIR),
        "--examples-dir",
        str(ROOT / "examples"),
    ]
    try:
        assert data.main(argv) == 0
        held_out = data.held_out_functions(GOLDEN_DIR, ROOT / "examples")
    finally:
        data.EVERYDAY_RATE = data.REAL_FILE_RATE = 0.0
        data.EXCLUDED_FUNCTIONS.clear()
        data.EXCLUDED_SHAPES.clear()
        data.EXCLUDED_NAMES.clear()
    shapes = set().union(*(data.function_shapes(f) for f in held_out))
    names = set().union(*(data.function_names(f) for f in held_out))
    records = [
        json.loads(line)
        for name in ("train.jsonl", "heldout.jsonl")
        for line in (out / name).read_text().splitlines()
    ]
    assert len(records) == 300
    for record in records:
        assert not any(function in record["source"] for function in held_out)
        assert not data.function_shapes(record["source"]) & shapes
        assert not data.function_names(record["source"]) & names


def _truth(source: str, call: str) -> demo_eval.Case:
    record = data.trace_example(source, call)
    assert record is not None
    return demo_eval.Case("case", record["context"], record["trace"])


def test_first_argument_floor_is_right_only_when_the_function_returns_its_first_argument() -> None:
    same = _truth("def keep(xs, n):\n    xs.sort()\n    return xs\n", "keep([1, 2], 3)")
    changed = _truth("def shout(s):\n    return s.upper()\n", 'shout("hi")')
    for case, expected in ((same, 1), (changed, 0)):
        floor = demo_eval.first_argument_trace(case.context)
        assert parse_trace(floor).finished
        assert demo_eval.score_trace(floor, case.trace).output_correct == expected
    assert "'hi'" in demo_eval.first_argument_trace(changed.context)
    no_argument = harness("def f():\n    return 1\n", "f()")
    assert '"None"' in demo_eval.first_argument_trace(no_argument)


def test_interpolate_averages_weights_and_keeps_the_tuned_files(tmp_path: Path) -> None:
    import interpolate
    import torch
    from safetensors.torch import load_file, save_file

    base, tuned = tmp_path / "base", tmp_path / "tuned"
    for folder, value in ((base, 1.0), (tuned, 3.0)):
        folder.mkdir()
        save_file(
            {"w": torch.full((2, 2), value, dtype=torch.bfloat16)}, folder / "model.safetensors"
        )
    (tuned / "config.json").write_text("{}")
    for alpha, expected in ((0.0, 1.0), (0.5, 2.0), (1.0, 3.0)):
        out = tmp_path / f"out{alpha}"
        interpolate.interpolate(base, tuned, alpha, out)
        weights = load_file(out / "model.safetensors")["w"]
        assert weights.dtype == torch.bfloat16 and torch.all(weights == expected)
        assert (out / "config.json").read_text() == "{}"
    with pytest.raises(SystemExit, match="between 0 and 1"):
        interpolate.main(
            [
                "--base",
                str(base),
                "--tuned",
                str(tuned),
                "--alpha",
                "2",
                "--out",
                str(tmp_path / "bad"),
            ]
        )
