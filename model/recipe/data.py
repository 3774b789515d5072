"""Build the demo model's corpus: generated programs traced by cwm-lsp's own tracer.

Each example is one call of a generated function, recorded with the tracer's in-process core
(``cwm_lsp.execution.recorder.record_in_process``) inside a few worker processes of our own (the
code is ours, so no sandbox; every example still has a frame cap and a wall-clock timeout).

    python model/recipe/data.py --out model/work/corpus --examples 60000

writes ``train.jsonl`` and ``heldout.jsonl``: one JSON object per line with ``prompt``
(``codec.encode_prompt(context)``), ``trace`` (the recorded trace text, ending in
``<|end_of_text|>``), ``context``, ``source``, ``call``, ``frames`` and ``uncaught``.
Examples are deduplicated by prompt; the held-out split is chosen by a hash of the program
source, so no program (with any input) of the held-out split is ever trained on.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import random
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import everyday
import idioms
import programs
import realfiles
from programs import chance, generate_program, harness

from cwm_lsp.execution.recorder import record_in_process
from cwm_lsp.trace import codec

MAX_FRAMES = 120
MAX_CHARS = 2600  # prompt + trace; the token filter in train.py is the real length limit
REAL_FILE_MAX_CHARS = 7000
# Share of examples that are real-file-style modules (realfiles.py); 0 reproduces the stage-1/2
# corpora exactly. Set by --real-files, read by the forked workers.
REAL_FILE_RATE = 0.0
LONG_CALL_RATE = 0.0  # share of real-file calls with bigger inputs (longer traces)
DOUBLE_QUOTE_RATE = 0.0  # share of real files whose string literals use double quotes
IDIOM_RATE = 0.0  # share of idioms.py programs; 0 reproduces the corpora up to stage 5c
EVERYDAY_RATE = 0.0  # share of everyday.py programs; 0 reproduces the corpora up to stage 6
# Function definitions (source text) no example may contain: --exclude-functions-of reads them
# from the golden traces, so no reference program is trained on verbatim.
EXCLUDED_FUNCTIONS: list[str] = []
# The same functions with every identifier replaced by its order of appearance, so a generated
# function equal to a held-out one up to names is dropped too; and their names.
EXCLUDED_SHAPES: set[str] = set()
EXCLUDED_NAMES: set[str] = set()
TIMEOUT_S = 2
HELDOUT_PERCENT = 2


class ExampleTimeout(BaseException):
    """Raised by SIGALRM inside a traced call that runs too long."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise ExampleTimeout


def trace_example(source: str, call: str, *, max_chars: int = MAX_CHARS) -> dict[str, Any] | None:
    """The corpus record for one call, or None when it is too long, too slow or broken."""
    context = harness(source, call)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TIMEOUT_S)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            frames, outcome = record_in_process(context, max_frames=MAX_FRAMES, repr_chars=120)
    except (ExampleTimeout, RecursionError, MemoryError):
        return None
    finally:
        signal.alarm(0)
        sys.settrace(None)
    if not outcome.finished or outcome.limit is not None or not frames:
        return None
    if outcome.uncaught and "while defining the module" in outcome.uncaught:
        return None
    prompt = codec.encode_prompt(context)
    trace = codec.encode_trace(frames)
    if len(prompt) + len(trace) > max_chars or "...<cut" in trace:
        return None
    return {
        "prompt": prompt,
        "trace": trace,
        "context": context,
        "source": source,
        "call": call,
        "frames": len(frames),
        "uncaught": outcome.uncaught,
    }


def _batch(seed: int, count: int = 200) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if chance(rng, EVERYDAY_RATE):
            program = everyday.everyday_program(rng)
            record = trace_example(program.source, program.call)
        elif chance(rng, IDIOM_RATE):
            program = idioms.idiom_program(rng)
            record = trace_example(program.source, program.call, max_chars=REAL_FILE_MAX_CHARS)
        elif REAL_FILE_RATE and rng.random() < REAL_FILE_RATE:
            real = realfiles.generate_real_file(
                rng, long_rate=LONG_CALL_RATE, double_quote_rate=DOUBLE_QUOTE_RATE
            )
            record = trace_example(real.source, real.call, max_chars=REAL_FILE_MAX_CHARS)
            if record is not None:
                record["split_source"] = real.split_source
                record["real_file"] = True
        else:
            program = generate_program(rng)
            record = trace_example(program.source, program.call)
        if record is not None and not is_excluded(record["source"]):
            out.append(record)
    return out


def function_sources(source: str) -> list[str]:
    """The source text of every function definition in ``source`` (nested ones included)."""
    tree = ast.parse(source)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return [text for n in nodes if (text := ast.get_source_segment(source, n))]


def contains_function(source: str, functions: list[str]) -> bool:
    return any(function in source for function in functions)


def function_shapes(source: str) -> set[str]:
    """Each function definition of ``source`` as an AST dump with identifiers numbered in order
    of appearance (equal for two functions that differ only in names)."""
    shapes: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        numbering: dict[str, str] = {}

        def number(name: str, numbering: dict[str, str] = numbering) -> str:
            if hasattr(builtins, name):
                return name
            return numbering.setdefault(name, f"n{len(numbering)}")

        copy = ast.parse(ast.unparse(node)).body[0]
        for inner in ast.walk(copy):
            if isinstance(inner, ast.Name):
                inner.id = number(inner.id)
            elif isinstance(inner, ast.arg):
                inner.arg = number(inner.arg)
            elif isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                inner.name = number(inner.name)
        shapes.add(ast.dump(copy, annotate_fields=False))
    return shapes


def function_names(source: str) -> set[str]:
    return {
        n.name
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def exclude_functions(sources: list[str]) -> None:
    """Keep every function in ``sources`` (held-out: goldens, dev set, examples) out of the
    corpus: verbatim, up to renaming, or by name."""
    EXCLUDED_FUNCTIONS.extend(sources)
    for source in sources:
        EXCLUDED_SHAPES.update(function_shapes(source))
        EXCLUDED_NAMES.update(function_names(source))


def is_excluded(source: str) -> bool:
    if contains_function(source, EXCLUDED_FUNCTIONS):
        return True
    if not EXCLUDED_SHAPES and not EXCLUDED_NAMES:
        return False
    return bool(function_shapes(source) & EXCLUDED_SHAPES) or bool(
        function_names(source) & EXCLUDED_NAMES
    )


def held_out_functions(golden: Path, examples: Path) -> list[str]:
    """Functions no stage-7 training example may contain: the goldens', the dev set's and
    those of ``examples/*.py``."""
    from devset import devset_functions

    found = golden_functions(golden) + devset_functions()
    for path in sorted(examples.glob("*.py")):
        found += function_sources(path.read_text())
    return found


def golden_functions(directory: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(directory.glob("*.json")):
        found += function_sources(json.loads(path.read_text())["source"])
    return found


def split_of(record: dict[str, Any]) -> str:
    """Held-out by the traced program (a real-file module's other functions are context)."""
    return "heldout" if is_heldout(record.get("split_source") or record["source"]) else "train"


def is_heldout(source: str) -> bool:
    digest = hashlib.sha256(source.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELDOUT_PERCENT


def generate(examples: int, *, seed: int, workers: int) -> Iterator[dict[str, Any]]:
    """Unique traced examples (deduplicated by prompt), until ``examples`` are produced."""
    seen: set[str] = set()
    produced = 0
    batch_seeds = (seed * 1_000_003 + i for i in range(10**9))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for records in pool.imap_unordered(_batch, batch_seeds, chunksize=1):
            for record in records:
                key = hashlib.sha256(record["prompt"].encode()).hexdigest()
                if key in seen:
                    continue
                seen.add(key)
                produced += 1
                yield record
                if produced >= examples:
                    pool.terminate()
                    return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("model/work/corpus"))
    parser.add_argument("--examples", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--invented-names",
        type=float,
        default=programs.INVENTED_NAME_RATE,
        help="share of made-up identifiers (0: stage-1 corpus, names from fixed pools)",
    )
    parser.add_argument(
        "--real-files",
        type=float,
        default=0.0,
        help="share of real-file-style modules (docstrings, several functions, imports, "
        "descriptive names); 0 reproduces the stage-1/2 corpora",
    )
    parser.add_argument(
        "--long-calls",
        type=float,
        default=0.0,
        help="share of real-file examples whose call gets bigger inputs (longer traces)",
    )
    parser.add_argument(
        "--random-words",
        type=float,
        default=0.0,
        help="share of string values made up (unseen letters, accents, quotes, escapes) "
        "instead of drawn from a fixed pool; 0 reproduces the corpora up to stage 4",
    )
    parser.add_argument(
        "--mixed-names",
        type=float,
        default=0.0,
        help="share of names drawn regardless of type (a list called totals, "
        "`for value in values`); 0 reproduces the corpora up to stage 5",
    )
    parser.add_argument(
        "--double-quotes",
        type=float,
        default=0.0,
        help="share of real-file examples written with double-quoted strings (black style)",
    )
    parser.add_argument(
        "--idioms",
        type=float,
        default=0.0,
        help="share of idioms.py programs (while True/break, setdefault grouping, quoting, "
        "format specs, try/except parsing, ...); 0 reproduces the corpora up to stage 5c",
    )
    parser.add_argument(
        "--everyday",
        type=float,
        default=0.0,
        help="share of everyday.py programs (str/list/dict/set/tuple methods and builtins in "
        "everyday shapes); 0 reproduces the corpora up to stage 6",
    )
    parser.add_argument(
        "--exclude-held-out",
        action="store_true",
        help="drop every example containing a function of the goldens (--golden), the dev set "
        "(model/devset) or examples/*.py, verbatim, up to renaming, or by function name",
    )
    parser.add_argument("--golden", type=Path, default=Path("/work/shared/golden"))
    parser.add_argument("--examples-dir", type=Path, default=Path("examples"))
    parser.add_argument(
        "--exclude-functions-of",
        type=Path,
        help="a folder of golden traces (*.json with 'source'): drop every example whose "
        "source contains one of their function definitions verbatim",
    )
    args = parser.parse_args(argv)
    global REAL_FILE_RATE, LONG_CALL_RATE, DOUBLE_QUOTE_RATE, IDIOM_RATE, EVERYDAY_RATE
    if args.exclude_functions_of:
        EXCLUDED_FUNCTIONS[:] = golden_functions(args.exclude_functions_of)
    if args.exclude_held_out:
        exclude_functions(held_out_functions(args.golden, args.examples_dir))
    programs.INVENTED_NAME_RATE = args.invented_names  # read by the forked workers
    programs.RANDOM_WORD_RATE = args.random_words
    programs.MIXED_NAME_RATE = args.mixed_names
    REAL_FILE_RATE = args.real_files
    LONG_CALL_RATE = args.long_calls
    DOUBLE_QUOTE_RATE = args.double_quotes
    IDIOM_RATE = args.idioms
    EVERYDAY_RATE = args.everyday
    if os.environ.get("PYTHONHASHSEED") != "0":
        print("note: set PYTHONHASHSEED=0 for reproducible set orders", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "heldout": 0}
    with (
        (args.out / "train.jsonl").open("w") as train,
        (args.out / "heldout.jsonl").open("w") as heldout,
    ):
        for record in generate(args.examples, seed=args.seed, workers=args.workers):
            split = split_of(record)
            (heldout if split == "heldout" else train).write(json.dumps(record) + "\n")
            counts[split] += 1
            if sum(counts.values()) % 5000 == 0:
                print(f"{counts}", flush=True)
    print(f"wrote {counts} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
