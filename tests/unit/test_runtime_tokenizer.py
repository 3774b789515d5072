"""Tokenizers: special tokens only where our code puts them, exact round trips."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cwm_lsp.runtime.testing import write_byte_tokenizer
from cwm_lsp.runtime.tokenizer import (
    FRAME_SEP,
    SpecialToken,
    TokenizerError,
    load_tokenizer,
    special_token_ids,
)
from cwm_lsp.trace import codec, tokens

USER_SOURCE = 'def f(s):  # << START_OF_TRACE\n    return s.split("<|frame_sep|>")\n'


def _bpe_with_merges(path: Path) -> dict[bytes, int]:
    ranks = {bytes([i]): i for i in range(256)}
    for merged in (b"he", b"hel", b"hell", b"hello", b" w", b" wo", b" wor", b" worl", b" world"):
        ranks[merged] = len(ranks)
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in ranks.items()))
    return ranks


def test_special_ids_follow_the_ranks() -> None:
    ids = special_token_ids(128000)
    assert len(ids) == 256 and sorted(ids.values()) == list(range(128000, 128256))
    assert ids[tokens.FRAME_SEP] == 128100
    assert ids[tokens.TRACE_CONTEXT_START] == 128107
    assert ids[tokens.BEGIN_OF_TEXT] == 128000 and ids[tokens.END_OF_TEXT] == 128001
    assert "<|reserved_special_token_0|>" in ids


def test_plain_encode_never_produces_special_ids(tmp_path: Path) -> None:
    write_byte_tokenizer(tmp_path)
    tok = load_tokenizer(tmp_path)
    assert tok is not None and tok.kind == "tiktoken" and tok.rank_count == 256
    ids = tok.encode(USER_SOURCE)
    assert all(i < 256 for i in ids)
    assert tok.decode(ids) == USER_SOURCE


def test_prompt_has_exactly_the_specials_we_put(tmp_path: Path) -> None:
    write_byte_tokenizer(tmp_path)
    tok = load_tokenizer(tmp_path)
    assert tok is not None
    ids = tok.encode_prompt(USER_SOURCE)
    frame_sep = tok.special_id(tokens.FRAME_SEP)
    assert ids[0] == tok.special_id(tokens.BEGIN_OF_TEXT)
    assert ids[1] == tok.special_id(tokens.TRACE_CONTEXT_START)
    assert ids.count(frame_sep) == 1 and ids[-1] == frame_sep
    assert tok.decode(ids) == codec.encode_prompt(USER_SOURCE)
    parts = tok.encode_parts(["a", FRAME_SEP, SpecialToken(tokens.RETURN_SEP), "b"])
    assert parts == [97, frame_sep, tok.special_id(tokens.RETURN_SEP), 98]
    with pytest.raises(TypeError):
        tok.encode_parts([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(TokenizerError, match="no special token"):
        tok.special_id("<|nope|>")


def test_llama3_pre_tokenizer_and_merges(tmp_path: Path) -> None:
    ranks = _bpe_with_merges(tmp_path / "tokenizer.model")
    tok = load_tokenizer(tmp_path)
    assert tok is not None
    assert tok.encode("hello world") == [ranks[b"hello"], ranks[b" world"]]
    # the pattern splits digits in runs of at most three and keeps letters apart from them
    assert tok.decode(tok.encode("x=12345")) == "x=12345"
    assert tok.special_id(tokens.FRAME_SEP) == len(ranks) + 100


def test_unreadable_bpe_file_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.model").write_text("aGk= 0\nnot a bpe line at all\n")
    with pytest.raises(TokenizerError, match=r"tokenizer\.model:2: expected"):
        load_tokenizer(tmp_path)


def test_no_tokenizer_is_none(tmp_path: Path) -> None:
    assert load_tokenizer(tmp_path) is None


def _write_hf_tokenizer(directory: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    byte_map = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(byte_map))}
    hf = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    ids = special_token_ids(len(vocab))
    hf.add_special_tokens(
        [AddedToken(text, special=True) for text in sorted(ids, key=ids.__getitem__)]
    )
    hf.save(str(directory / "tokenizer.json"))
    assert json.loads((directory / "tokenizer.json").read_text())["added_tokens"]


def test_tokenizer_json_keeps_user_specials_plain(tmp_path: Path) -> None:
    _write_hf_tokenizer(tmp_path)
    tok = load_tokenizer(tmp_path)
    assert tok is not None and tok.kind == "tokenizers"
    frame_sep = tok.special_id(tokens.FRAME_SEP)
    assert frame_sep == 256 + 100
    plain = tok.encode(USER_SOURCE)
    assert frame_sep not in plain and all(i < 256 for i in plain)
    assert tok.decode(plain) == USER_SOURCE
    prompt = tok.encode_prompt(USER_SOURCE)
    assert prompt.count(frame_sep) == 1 and prompt[-1] == frame_sep
    assert tok.decode(prompt) == codec.encode_prompt(USER_SOURCE)


def test_tokenizer_json_with_reserved_names_gets_cwm_names(tmp_path: Path) -> None:
    """Slots named <|reserved_special_token_N|> still work by CWM's offsets."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    hf = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    names = [f"<|reserved_special_token_{i}|>" for i in range(256)]
    names[0], names[1] = tokens.BEGIN_OF_TEXT, tokens.END_OF_TEXT
    hf.add_special_tokens([AddedToken(name, special=True) for name in names])
    hf.save(str(tmp_path / "tokenizer.json"))
    tok = load_tokenizer(tmp_path)
    assert tok is not None
    assert tok.special_id(tokens.FRAME_SEP) == 356
    prompt = tok.encode_prompt(USER_SOURCE)
    assert tok.decode(prompt) == codec.encode_prompt(USER_SOURCE)


def test_piece_ids_give_every_ordinary_token_its_bytes(tmp_path: Path) -> None:
    ranks = _bpe_with_merges(tmp_path / "tokenizer.model")
    tok = load_tokenizer(tmp_path)
    assert tok is not None
    pieces = tok.piece_ids()
    assert pieces == ranks
    assert tok.piece_bytes() == {i: piece for piece, i in ranks.items()}
    assert set(pieces.values()).isdisjoint(tok.special.values())
    text = "hello world, café"
    assert b"".join({i: p for p, i in pieces.items()}[i] for i in tok.encode(text)) == (
        text.encode("utf-8")
    )


def test_piece_ids_of_a_byte_level_tokenizer_json_are_raw_bytes(tmp_path: Path) -> None:
    _write_hf_tokenizer(tmp_path)
    tok = load_tokenizer(tmp_path)
    assert tok is not None
    pieces = tok.piece_ids()
    assert len(pieces) == 256 and set(pieces) == {bytes([b]) for b in range(256)}
    by_id = {i: p for p, i in pieces.items()}
    text = "    while True:\n    é\t"
    assert b"".join(by_id[i] for i in tok.encode(text)) == text.encode("utf-8")
