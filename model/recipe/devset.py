"""The hand-written dev set (``model/devset/*.py``) as traced examples for eval.py.

Each top-level function of a dev-set file is preceded by a ``# call: f(...)`` line (one call
with literal arguments). The example's context is the function alone plus the usual ``main``
harness, traced by cwm-lsp's own tracer like every corpus example:

    python model/recipe/devset.py --out model/work/devset.jsonl
    python model/recipe/eval.py --heldout model/work/devset.jsonl --limit 1000 --decoder flow

``devset_functions()`` gives every function's source so corpus builders can keep them out.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import trace_example

DEVSET_DIR = Path(__file__).resolve().parents[1] / "devset"
CALL_PREFIX = "# call: "


@dataclass(frozen=True)
class DevFunction:
    file: str
    name: str
    source: str
    call: str


def read_devset(directory: Path = DEVSET_DIR) -> list[DevFunction]:
    found: list[DevFunction] = []
    for path in sorted(directory.glob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.parse(text).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            above = lines[node.lineno - 2] if node.lineno >= 2 else ""
            if not above.startswith(CALL_PREFIX):
                raise ValueError(f"{path.name}:{node.lineno}: {node.name} has no '# call:' line")
            call = above[len(CALL_PREFIX) :].strip()
            source = ast.get_source_segment(text, node)
            assert source is not None
            found.append(DevFunction(path.name, node.name, source + "\n", call))
    return found


def devset_functions(directory: Path = DEVSET_DIR) -> list[str]:
    """Source text of every dev-set function (for the training corpora's exclusion check)."""
    return [function.source.rstrip("\n") for function in read_devset(directory)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("model/work/devset.jsonl"))
    parser.add_argument("--dir", type=Path, default=DEVSET_DIR)
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        print("note: set PYTHONHASHSEED=0 for reproducible set orders", file=sys.stderr)
    functions = read_devset(args.dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with args.out.open("w") as out:
        for function in functions:
            record = trace_example(function.source, function.call, max_chars=20_000)
            if record is None:
                print(f"skipped {function.file}:{function.name} (no finished trace)")
                continue
            record["name"] = f"{function.file}:{function.name}"
            out.write(json.dumps(record) + "\n")
            written += 1
    print(f"wrote {written} of {len(functions)} dev-set examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
