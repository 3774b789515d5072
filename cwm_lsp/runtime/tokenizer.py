"""CWM tokenizers: a tiktoken BPE ``tokenizer.model`` or a Hugging Face ``tokenizer.json``.

Special tokens are never recognised inside text. ``encode(text)`` always treats its input as
plain text (user source containing ``<|frame_sep|>`` stays plain text); the only way to get a
special id is to pass a :class:`SpecialToken` to :meth:`Tokenizer.encode_parts`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cwm_lsp.trace import codec, tokens
from cwm_lsp.trace.frames import Frame

# The Llama-3 pre-tokenizer split pattern (case-insensitive contractions, letters, 1-3 digits,
# punctuation runs, newlines, whitespace).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
NUM_SPECIAL_SLOTS = 256


class TokenizerError(ValueError):
    """The tokenizer files are missing or unreadable."""


@dataclass(frozen=True)
class SpecialToken:
    """A special token by name, e.g. ``SpecialToken(tokens.FRAME_SEP)``."""

    text: str


BOS = SpecialToken(tokens.BEGIN_OF_TEXT)
EOS = SpecialToken(tokens.END_OF_TEXT)
FRAME_SEP = SpecialToken(tokens.FRAME_SEP)
TRACE_CONTEXT_START = SpecialToken(tokens.TRACE_CONTEXT_START)


def frame_parts(frame: Frame) -> list[str | SpecialToken]:
    """``codec.encode_frame(frame)`` as text pieces and special tokens."""
    head = SpecialToken(codec.event_token(frame.event))
    action = SpecialToken(tokens.ACTION_SEP)
    if frame.has_locals:
        return [head, json.dumps(frame.locals), action, frame.line, FRAME_SEP]
    value = json.dumps(frame.arg if frame.arg is not None else "None")
    return [head, action, frame.line, SpecialToken(tokens.ARG_SEP), value, FRAME_SEP]


class _Backend(Protocol):
    def encode_plain(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def special_ids(self) -> dict[str, int]: ...
    def piece_ids(self) -> dict[bytes, int]: ...


class Tokenizer:
    """Plain-text encoding, explicit special tokens, and decoding back to trace text."""

    def __init__(self, backend: _Backend, *, path: Path, kind: str) -> None:
        self._backend = backend
        self.path = path
        self.kind = kind  # "tiktoken" or "tokenizers"
        self.special = backend.special_ids()
        self.rank_count = min(self.special.values()) if self.special else 0
        # A tokenizer.json that gives CWM's slots other names (reserved_special_token_N):
        # use CWM's names for those ids, in both directions.
        self._renamed: dict[int, str] = {}
        self._pieces: dict[bytes, int] | None = None
        self._piece_bytes: dict[int, bytes] | None = None
        self._special_pattern: re.Pattern[str] | None = None
        if self.special:
            names_by_id = {i: name for name, i in self.special.items()}
            for name, offset in tokens.SPECIAL_TOKEN_OFFSETS.items():
                token_id = self.rank_count + offset
                if name not in self.special and token_id in names_by_id:
                    self.special[name] = token_id
                    self._renamed[token_id] = name

    def encode(self, text: str) -> list[int]:
        """Encode ``text`` as plain text: special-token strings inside it are ordinary text."""
        return self._backend.encode_plain(text)

    def encode_parts(self, parts: Sequence[str | SpecialToken]) -> list[int]:
        """Encode plain text pieces and explicit special tokens, in order."""
        ids: list[int] = []
        for part in parts:
            if isinstance(part, SpecialToken):
                ids.append(self.special_id(part.text))
            elif isinstance(part, str):
                ids.extend(self.encode(part))
            else:
                raise TypeError(f"expected str or SpecialToken, got {type(part).__name__}")
        return ids

    def encode_reading_specials(self, text: str) -> list[int]:
        """Encode ``text`` with every special-token string in it read as that special token (as
        vLLM's ``/tokenize`` does); linear in ``len(text)`` whatever the specials in it."""
        return self.encode_parts(self.split_specials(text))

    def split_specials(self, text: str) -> list[str | SpecialToken]:
        """``text`` cut into plain pieces and the special-token strings in it (the longest one
        where several start at the same place)."""
        if self._special_pattern is None:
            self._special_pattern = re.compile(_trie_pattern(self.special))
        parts: list[str | SpecialToken] = []
        last = 0
        for match in self._special_pattern.finditer(text):
            if match.start() > last:
                parts.append(text[last : match.start()])
            parts.append(SpecialToken(match.group()))
            last = match.end()
        if last < len(text):
            parts.append(text[last:])
        return parts

    def encode_prompt(self, context: str) -> list[int]:
        """The ids of ``codec.encode_prompt(context)`` with its specials as special ids."""
        return self.encode_parts([BOS, TRACE_CONTEXT_START, context, FRAME_SEP])

    def encode_frames(self, frames: Iterable[Frame], *, finished: bool = False) -> list[int]:
        """The ids of ``codec.encode_trace(frames)``, built from the frames' structure (a value
        that contains a special-token string stays plain text)."""
        parts: list[str | SpecialToken] = []
        for frame in frames:
            parts.extend(frame_parts(frame))
        if finished:
            parts.append(EOS)
        return self.encode_parts(parts)

    def piece_ids(self) -> dict[bytes, int]:
        """Each ordinary token's bytes -> its id (built once; used to constrain decoding)."""
        if self._pieces is None:
            self._pieces = self._backend.piece_ids()
        return self._pieces

    def piece_bytes(self) -> dict[int, bytes]:
        """The inverse of :meth:`piece_ids` (built once)."""
        if self._piece_bytes is None:
            self._piece_bytes = {token: piece for piece, token in self.piece_ids().items()}
        return self._piece_bytes

    def special_id(self, text: str) -> int:
        try:
            return self.special[text]
        except KeyError:
            raise TokenizerError(f"{self.path}: no special token {text!r}") from None

    def decode(self, ids: Sequence[int]) -> str:
        """Text for ``ids``; special ids become their token strings."""
        if not self._renamed:
            return self._backend.decode(ids)
        pieces: list[str] = []
        run: list[int] = []
        for token_id in ids:
            name = self._renamed.get(token_id)
            if name is None:
                run.append(token_id)
                continue
            pieces.extend((self._backend.decode(run), name))
            run = []
        pieces.append(self._backend.decode(run))
        return "".join(pieces)

    @property
    def vocab_size(self) -> int:
        return max(self.special.values(), default=self.rank_count - 1) + 1


class TiktokenBackend:
    """tiktoken with the Llama-3 pre-tokenizer over BPE ``ranks``, ``special`` ids after them."""

    def __init__(self, ranks: dict[bytes, int], special: dict[str, int], name: str) -> None:
        import tiktoken

        self._special = special
        self._ranks = ranks
        self._encoding = tiktoken.Encoding(
            name=name,
            pat_str=LLAMA3_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=special,
        )

    @classmethod
    def from_file(cls, path: Path) -> TiktokenBackend:
        """A ``tokenizer.model`` file with CWM's special tokens after its ranks."""
        ranks = read_bpe_ranks(path)
        return cls(ranks, special_token_ids(max(ranks.values()) + 1), path.name)

    def encode_plain(self, text: str) -> list[int]:
        return list(self._encoding.encode_ordinary(text))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._encoding.decode(list(ids), errors="replace"))

    def special_ids(self) -> dict[str, int]:
        return dict(self._special)

    def piece_ids(self) -> dict[bytes, int]:
        return dict(self._ranks)


def special_token_ids(rank_count: int) -> dict[str, int]:
    """CWM's special tokens after ``rank_count`` ranks; the unnamed slots are reserved tokens."""
    named = {offset: text for text, offset in tokens.SPECIAL_TOKEN_OFFSETS.items()}
    out: dict[str, int] = {}
    reserved = 0
    for offset in range(NUM_SPECIAL_SLOTS):
        if offset in named:
            out[named[offset]] = rank_count + offset
        else:
            out[f"<|reserved_special_token_{reserved}|>"] = rank_count + offset
            reserved += 1
    return out


def read_bpe_ranks(path: Path) -> dict[bytes, int]:
    """The ``base64(token) rank`` lines of a tiktoken BPE file (raises TokenizerError)."""
    ranks: dict[bytes, int] = {}
    try:
        lines = path.read_bytes().splitlines()
    except OSError as err:
        raise TokenizerError(f"{path}: cannot read ({err})") from err
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as err:
            raise TokenizerError(
                f"{path}:{number}: expected 'BASE64_TOKEN RANK' (a tiktoken BPE file)"
            ) from err
    if not ranks:
        raise TokenizerError(f"{path}: empty tokenizer file")
    return ranks


class _HFBackend:
    """``tokenizer.json``; added tokens inside plain text are broken so they stay plain text."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        try:
            self._tok: Any = HFTokenizer.from_file(str(path))
        except Exception as err:
            raise TokenizerError(f"{path}: cannot load ({err})") from err
        added = self._tok.get_added_tokens_decoder()
        self._special = {tok.content: int(i) for i, tok in added.items()}
        strings = sorted(self._special, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, strings))) if strings else None

    def encode_plain(self, text: str) -> list[int]:
        if self._pattern is None:
            return list(self._tok.encode(text, add_special_tokens=False).ids)
        # Cut each added-token string after its leading punctuation ("<|"): the pre-tokenizer
        # splits there anyway, so BPE sees the same pieces and the added token cannot match.
        pieces: list[str] = []
        last = 0
        for match in self._pattern.finditer(text):
            cut = match.start() + _punctuation_prefix(match.group())
            pieces.append(text[last:cut])
            last = cut
        pieces.append(text[last:])
        ids: list[int] = []
        for piece in pieces:
            if piece:
                ids.extend(self._tok.encode(piece, add_special_tokens=False).ids)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode(list(ids), skip_special_tokens=False))

    def special_ids(self) -> dict[str, int]:
        return dict(self._special)

    def piece_ids(self) -> dict[bytes, int]:
        from cwm_lsp.runtime.gguf_loader import bytes_to_unicode

        special = set(self._special.values())
        byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
        pieces: dict[bytes, int] = {}
        for piece, token_id in self._tok.get_vocab(with_added_tokens=False).items():
            if token_id in special:
                continue
            if all(char in byte_of for char in piece):  # byte-level BPE (GPT-2 / Llama 3 style)
                pieces.setdefault(bytes(byte_of[char] for char in piece), token_id)
            else:
                text = self.decode([token_id])
                if text and "\ufffd" not in text:
                    pieces.setdefault(text.encode("utf-8"), token_id)
        return pieces


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words`` (longest first) as a character trie: at each position
    the match follows one branch per character, so scanning is linear in the text (a plain
    alternation of 256 specials would try every one of them at every position)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # the end of a word

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here; a longer one may go on
            return f"(?:{body})?"
        return body

    return emit(trie) if trie else "(?!)"


def _punctuation_prefix(token: str) -> int:
    for i, char in enumerate(token):
        if char.isalnum():
            return max(i, 1)
    return max(1, len(token) // 2)


def load_tokenizer(directory: str | Path) -> Tokenizer | None:
    """The checkpoint's tokenizer (``tokenizer.model`` preferred), or None when it has none."""
    directory = Path(directory)
    bpe = directory / "tokenizer.model"
    if bpe.is_file():
        return Tokenizer(TiktokenBackend.from_file(bpe), path=bpe, kind="tiktoken")
    hf = directory / "tokenizer.json"
    if hf.is_file():
        return Tokenizer(_HFBackend(hf), path=hf, kind="tokenizers")
    return None


TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
)
