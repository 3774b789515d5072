"""Train the demo model's byte-level BPE and write it in CWM's tiktoken ``tokenizer.model`` form.

The file has one ``base64(token_bytes) rank`` line per rank: the 256 single bytes first, then
one line per BPE merge in merge order (tiktoken merges by lowest rank of the joined bytes, which
replays the training merges). CWM's special tokens are not in the file: the runtime
(``cwm_lsp.runtime.tokenizer``) places them after the ranks at ``rank_count + offset``, exactly
as for CWM's 128000-rank file. Pre-tokenization uses Llama-3's split pattern, like CWM's.

    python model/recipe/tokenizer.py --corpus model/work/corpus/train.jsonl \\
        --out model/work/tokenizer/tokenizer.model --ranks 2048
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from cwm_lsp.runtime.tokenizer import LLAMA3_PATTERN, SpecialToken
from cwm_lsp.runtime.tokenizer import Tokenizer as RuntimeTokenizer
from cwm_lsp.trace import tokens

_SPECIAL = re.compile("|".join(re.escape(t) for t in tokens.TRACE_TOKENS))


def split_specials(text: str) -> list[str | SpecialToken]:
    """Trace/prompt text as plain pieces and the special tokens between them."""
    parts: list[str | SpecialToken] = []
    last = 0
    for match in _SPECIAL.finditer(text):
        if match.start() > last:
            parts.append(text[last : match.start()])
        parts.append(SpecialToken(match.group()))
        last = match.end()
    if last < len(text):
        parts.append(text[last:])
    return parts


def encode_text(tokenizer: RuntimeTokenizer, text: str) -> list[int]:
    """Ids of text written in the trace format (special-token strings become special ids).

    Only for our own generated corpus: user text never goes through this.
    """
    return tokenizer.encode_parts(split_specials(text))


def plain_pieces(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        for part in split_specials(text):
            if isinstance(part, str):
                yield part


def _byte_decoder() -> dict[str, int]:
    """Inverse of the GPT-2 byte-to-unicode table used by ByteLevel BPE."""
    printable = list(range(ord("!"), ord("~") + 1))
    printable += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def train_ranks(texts: Iterable[str], rank_count: int) -> dict[bytes, int]:
    """BPE ranks (bytes -> rank) with ``rank_count`` entries, trained on ``texts``."""
    model = Tokenizer(models.BPE())
    model.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    model.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=rank_count,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    model.train_from_iterator(plain_pieces(texts), trainer=trainer)
    decoder = _byte_decoder()
    ranks: dict[bytes, int] = {bytes([b]): b for b in range(256)}
    merges = json.loads(model.to_str())["model"]["merges"]
    for merge in merges:
        left, right = merge if isinstance(merge, list) else merge.split(" ")
        token = bytes(decoder[c] for c in left + right)
        if token not in ranks and len(ranks) < rank_count:
            ranks[token] = len(ranks)
    return ranks


def write_tiktoken(ranks: dict[bytes, int], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{base64.b64encode(tok).decode()} {rank}" for tok, rank in ranks.items()]
    path.write_text("\n".join(lines) + "\n")


def corpus_texts(path: Path) -> Iterator[str]:
    with path.open() as f:
        for line in f:
            record = json.loads(line)
            yield record["prompt"]
            yield record["trace"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("model/work/corpus/train.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("model/work/tokenizer/tokenizer.model"))
    parser.add_argument("--ranks", type=int, default=2048)
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"error: no corpus at {args.corpus} (run model/recipe/data.py)", file=sys.stderr)
        return 2
    ranks = train_ranks(corpus_texts(args.corpus), args.ranks)
    write_tiktoken(ranks, args.out)
    print(f"wrote {len(ranks)} ranks to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
