"""Generation API: sampling with a seed, top-p, stop ids, limits, cancellation."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from cwm_lsp.backends.base import CancelToken
from cwm_lsp.runtime import load_model
from cwm_lsp.runtime.generate import Sampler, Sampling
from cwm_lsp.runtime.testing import write_checkpoint

pytest.importorskip("transformers")

PROMPT = [256, 100, 101, 102, 103]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("gen")
    write_checkpoint(directory, seed=11, scale=1.0)
    return load_model(directory)


def test_seeded_sampling_is_reproducible(model: Any) -> None:
    first = list(model.generate(PROMPT, max_new_tokens=20, temperature=1.0, seed=3))
    again = list(model.generate(PROMPT, max_new_tokens=20, temperature=1.0, seed=3))
    other = list(model.generate(PROMPT, max_new_tokens=20, temperature=1.0, seed=4))
    greedy = list(model.generate(PROMPT, max_new_tokens=20))
    assert first == again and len(first) == 20
    assert first != other and first != greedy


def test_tiny_top_p_is_greedy(model: Any) -> None:
    greedy = list(model.generate(PROMPT, max_new_tokens=15))
    nucleus = list(model.generate(PROMPT, max_new_tokens=15, temperature=2.0, top_p=1e-6, seed=1))
    assert nucleus == greedy


def test_top_p_keeps_only_the_nucleus() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    sampler = Sampler(Sampling(temperature=1.0, top_p=0.7, seed=0))
    assert {sampler(logits) for _ in range(300)} == {0, 1}


def test_stop_ids_and_limits(model: Any) -> None:
    greedy = list(model.generate(PROMPT, max_new_tokens=12))
    stop = greedy[4]
    first_stop = greedy.index(stop)
    stopped = list(model.generate(PROMPT, max_new_tokens=12, stop_ids=[stop]))
    assert stopped == greedy[: first_stop + 1]
    assert list(model.generate(PROMPT, max_new_tokens=0)) == []
    assert list(model.generate(torch.tensor([PROMPT]), max_new_tokens=12)) == greedy


def test_cancel_stops_between_tokens(model: Any) -> None:
    cancel = CancelToken()
    produced = []
    for token in model.new_session().generate(PROMPT, max_new_tokens=50, cancel=cancel):
        produced.append(token)
        if len(produced) == 3:
            cancel.cancel()
    assert len(produced) == 3


def test_logits_needs_tokens(model: Any) -> None:
    with pytest.raises(ValueError, match="empty prompt"):
        model.logits([])


def test_sampler_picks_only_allowed_ids() -> None:
    logits = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    assert Sampler(Sampling())(logits) == 0
    assert Sampler(Sampling())(logits, [3, 2, 4]) == 2
    sampler = Sampler(Sampling(temperature=1.5, top_p=0.95, seed=1))
    drawn = {sampler(logits, [1, 3]) for _ in range(200)}
    assert drawn == {1, 3}
