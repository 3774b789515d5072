"""Mix corpora into one training corpus (e.g. new real-file examples plus some old ones).

    python model/recipe/mix.py --out model/work/mix \\
        --train model/work/corpus3/train.jsonl:all --train model/work/corpus2/train.jsonl:10000 \\
        --heldout model/work/corpus3/heldout.jsonl:100:140

``--train PATH:N`` takes a seeded random sample of N lines (``all`` for every line);
``--heldout PATH:START:STOP`` takes a line range, so the selection set for train.py's best
checkpoint can stay apart from the first 100 held-out examples that eval.py reports on.
``--exclude-functions-of ../shared/golden`` drops training examples that contain a golden
function verbatim (earlier corpora have three; see MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import contains_function, golden_functions


def sample_lines(path: Path, count: str, rng: random.Random) -> list[str]:
    lines = path.read_text().splitlines(keepends=True)
    return lines if count == "all" else rng.sample(lines, min(int(count), len(lines)))


def line_range(path: Path, start: int, stop: int) -> list[str]:
    return path.read_text().splitlines(keepends=True)[start:stop]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", action="append", default=[], metavar="PATH:N")
    parser.add_argument("--heldout", action="append", default=[], metavar="PATH:START:STOP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude-functions-of", type=Path, metavar="GOLDEN_DIR")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    train: list[str] = []
    for spec in args.train:
        path, count = spec.rsplit(":", 1)
        train += sample_lines(Path(path), count, rng)
    if args.exclude_functions_of:
        banned = golden_functions(args.exclude_functions_of)
        kept = [line for line in train if not contains_function(json.loads(line)["source"], banned)]
        print(f"left out {len(train) - len(kept)} examples containing a golden function")
        train = kept
    rng.shuffle(train)
    heldout: list[str] = []
    for spec in args.heldout:
        path, start, stop = spec.rsplit(":", 2)
        heldout += line_range(Path(path), int(start), int(stop))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train.jsonl").write_text("".join(train))
    (args.out / "heldout.jsonl").write_text("".join(heldout))
    print(f"wrote {len(train)} train / {len(heldout)} held-out examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
