"""The demo model's real-file-style corpus: whole modules around generated programs."""

from __future__ import annotations

import ast
import random
import sys
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[2] / "model" / "recipe"
sys.path.insert(0, str(RECIPE))

import data  # noqa: E402
import programs  # noqa: E402
import realfiles  # noqa: E402

from cwm_lsp.trace.parser import parse_trace  # noqa: E402


def test_real_files_compile_and_define_the_traced_function() -> None:
    rng = random.Random(5)
    for _ in range(150):
        real = realfiles.generate_real_file(rng)
        tree = ast.parse(programs.harness(real.source, real.call))
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert real.call.split("(")[0].split(".")[0] in defined
        assert len(defined) >= 3  # at least two programs plus the harness
        assert real.split_source.startswith(("def ", "class "))


def test_real_files_are_deterministic_per_seed() -> None:
    first = [realfiles.generate_real_file(random.Random(s)).source for s in range(20)]
    again = [realfiles.generate_real_file(random.Random(s)).source for s in range(20)]
    assert first == again


def test_real_files_look_like_real_modules() -> None:
    rng = random.Random(9)
    files = [realfiles.generate_real_file(rng) for _ in range(200)]
    text = "\n".join(f.source for f in files)
    assert text.count('"""') > 200  # module and function docstrings
    assert "# prophecy: " in text and ">>> " in text and "import " in text
    assert "-> " in text and ": list[" in text  # type hints
    pool = set(programs.NAMES[programs.INT]) | set(programs.NAMES[programs.LIST])
    names = {n.id for f in files for n in ast.walk(ast.parse(f.source)) if isinstance(n, ast.Name)}
    assert len(names - pool) > 300  # many descriptive and invented names


def test_renaming_keeps_the_program() -> None:
    source = "def count_items(xs, key):\n    total = 0\n    for x in xs:\n        total += x\n"
    source += "    s = f'{total}-{key}' + 'total'\n    return sorted(xs, key=len), s, x.real\n"
    mapping = {"count_items": "tally_prices", "xs": "prices", "total": "price_sum"}
    new, call = realfiles.rename(source, "count_items([1], 'a')", mapping)
    assert call == "tally_prices([1], 'a')"
    assert "def tally_prices(prices, key):" in new and "f'{price_sum}-{key}' + 'total'" in new
    assert "sorted(prices, key=len)" in new and "x.real" in new
    # `key` is also a keyword argument name here, so it is never renamed
    assert "key" not in realfiles.rename_map(random.Random(1), source, "", rate=1.0)


def test_real_file_examples_trace_and_split_by_program() -> None:
    rng = random.Random(4)
    kept = 0
    for _ in range(40):
        real = realfiles.generate_real_file(rng)
        record = data.trace_example(real.source, real.call, max_chars=data.REAL_FILE_MAX_CHARS)
        if record is None:
            continue
        kept += 1
        parsed = parse_trace(record["trace"])
        assert parsed.finished and not parsed.problems
        record["split_source"] = real.split_source
        expected = "heldout" if data.is_heldout(real.split_source) else "train"
        assert data.split_of(record) == expected
    assert kept >= 25


def test_batches_are_deterministic_and_rate_zero_is_the_old_generator() -> None:
    saved = data.REAL_FILE_RATE
    try:
        data.REAL_FILE_RATE = 0.0
        old = data._batch(123, count=20)
        rng = random.Random(123)
        expected = []
        for _ in range(20):
            program = programs.generate_program(rng)
            record = data.trace_example(program.source, program.call)
            if record is not None:
                expected.append(record["prompt"])
        assert [r["prompt"] for r in old] == expected
        data.REAL_FILE_RATE = 0.5
        mixed = data._batch(123, count=20)
        assert [r["prompt"] for r in mixed] == [r["prompt"] for r in data._batch(123, count=20)]
        assert any(r.get("real_file") for r in mixed) and not all(r.get("real_file") for r in mixed)
    finally:
        data.REAL_FILE_RATE = saved


def test_double_quoted_keeps_every_literal_the_same() -> None:
    source = "def f(s, d):\n    x = f\"{s}-{d['a']}\" + 'it' + \"it's\" + r'a\\b' + '\\n'\n"
    source += "    return [x, 'say \"hi\"', 'it\\'s', '''doc''']\n"
    quoted = realfiles.double_quoted(source)
    assert '+ "it" +' in quoted and 'r"a\\b"' in quoted and '"\\n"' in quoted
    assert "'say \"hi\"'" in quoted and "'it\\'s'" in quoted and "'''doc'''" in quoted
    before = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant)]
    after = [n.value for n in ast.walk(ast.parse(quoted)) if isinstance(n, ast.Constant)]
    assert before == after
    assert realfiles.double_quoted("f(['ab', 'c'])") == 'f(["ab", "c"])'


def test_real_files_with_double_quotes_trace() -> None:
    rng = random.Random(6)
    files = [realfiles.generate_real_file(rng, double_quote_rate=1.0) for _ in range(30)]
    assert sum('"' in f.call for f in files) > 5
    for real in files[:10]:
        compile(programs.harness(real.source, real.call), "<real>", "exec")
