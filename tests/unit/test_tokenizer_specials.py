"""Reading special-token strings in text (model serve's /tokenize): longest match, linear time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cwm_lsp.runtime.tokenizer import SpecialToken, Tokenizer, load_tokenizer

DEMO_MODEL = Path(__file__).resolve().parents[2] / "model" / "weights"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    loaded = load_tokenizer(DEMO_MODEL)
    assert loaded is not None
    return loaded


def test_specials_are_cut_out_longest_first(tokenizer: Tokenizer) -> None:
    text = "a<|end_of_text|><|reserved_special_token_1|><|reserved_special_token_10|>b<|end_of_tex"
    assert tokenizer.split_specials(text) == [
        "a",
        SpecialToken("<|end_of_text|>"),
        SpecialToken("<|reserved_special_token_1|>"),
        SpecialToken("<|reserved_special_token_10|>"),
        "b<|end_of_tex",
    ]
    ids = tokenizer.encode_reading_specials(text)
    assert ids[1] == tokenizer.special["<|end_of_text|>"]
    assert tokenizer.decode(ids) == text


def test_many_specials_take_linear_time(tokenizer: Tokenizer) -> None:
    def seconds(n: int) -> float:
        started = time.perf_counter()
        ids = tokenizer.encode_reading_specials("<|end_of_text|>x" * n)
        assert len(ids) == 2 * n
        return time.perf_counter() - started

    # Quadratic splitting took 16.9 s for 4,000 specials, so 40,000 would take about 28
    # minutes; linear splitting takes well under a second. The bound is loose on purpose:
    # a busy shared machine must not fail it, and the quadratic code cannot meet it.
    assert seconds(40_000) < 60
