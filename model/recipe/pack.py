"""Pack tokenized training examples into one compressed file for a training machine elsewhere.

A GPU machine lent for a few minutes gets the working tree and a few tens of MB beside it, not
the corpora (about 1 GB of JSON lines). This writes every distinct example of the given
corpora, tokenized and with any example that also appears in a held-out file left out, as
``OUT/train.pack.xz``; ``train.py`` reads it in place of ``train.jsonl``.

    python model/recipe/pack.py --out model/work/pack --tokenizer model/work/tokenizer \\
        --train model/work/corpus/train.jsonl --train model/work/mix3/train.jsonl \\
        --exclude model/work/corpus2/heldout.jsonl --max-len 1536

Layout (little-endian, then xz): a header line ``cwm-lsp-pack 1 COUNT TOKENS\\n``, then COUNT
int32 example lengths, COUNT int32 trace starts, and TOKENS uint16 token ids.
"""

from __future__ import annotations

import argparse
import lzma
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train import Example, load_examples

from cwm_lsp.runtime.tokenizer import load_tokenizer

MAGIC = b"cwm-lsp-pack 1"


def write_pack(path: Path, examples: list[Example]) -> None:
    lengths = np.array([len(e.ids) for e in examples], dtype="<i4")
    starts = np.array([e.trace_start for e in examples], dtype="<i4")
    ids = np.fromiter((t for e in examples for t in e.ids), dtype="<u2", count=int(lengths.sum()))
    header = MAGIC + f" {len(examples)} {len(ids)}\n".encode()
    with lzma.open(path, "wb", preset=6) as f:
        for part in (header, lengths.tobytes(), starts.tobytes(), ids.tobytes()):
            f.write(part)


def read_pack(path: Path, max_len: int) -> list[tuple[list[int], int]]:
    """The packed examples of at most ``max_len`` tokens, as (token ids, trace start)."""
    with lzma.open(path, "rb") as f:
        data = f.read()
    header, _, body = data.partition(b"\n")
    if not header.startswith(MAGIC):
        raise SystemExit(f"error: {path} is not a cwm-lsp training pack")
    count, total = (int(x) for x in header[len(MAGIC) :].split())
    lengths = np.frombuffer(body, dtype="<i4", count=count)
    starts = np.frombuffer(body, dtype="<i4", count=count, offset=4 * count)
    ids = np.frombuffer(body, dtype="<u2", count=total, offset=8 * count)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [
        (ids[bounds[i] : bounds[i + 1]].tolist(), int(starts[i]))
        for i in range(count)
        if lengths[i] <= max_len
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokenizer", type=Path, default=Path("model/work/tokenizer"))
    parser.add_argument("--train", type=Path, action="append", default=[], metavar="JSONL")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="JSONL")
    parser.add_argument("--max-len", type=int, default=1536)
    args = parser.parse_args(argv)
    tokenizer = load_tokenizer(args.tokenizer)
    if tokenizer is None:
        raise SystemExit(f"error: no tokenizer.model in {args.tokenizer}")
    held_out = {
        tuple(e.ids) for path in args.exclude for e in load_examples(path, tokenizer, 1 << 30)
    }
    seen: set[tuple[int, ...]] = set()
    examples: list[Example] = []
    dropped: set[tuple[int, ...]] = set()
    for path in args.train:
        for example in load_examples(path, tokenizer, args.max_len):
            key = tuple(example.ids)
            if key in held_out:
                dropped.add(key)
            elif key not in seen:
                seen.add(key)
                examples.append(example)
    args.out.mkdir(parents=True, exist_ok=True)
    write_pack(args.out / "train.pack.xz", examples)
    tokens = sum(len(e.ids) for e in examples)
    print(
        f"packed {len(examples)} examples ({tokens} tokens; {len(dropped)} held-out examples left "
        f"out) into {args.out / 'train.pack.xz'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
