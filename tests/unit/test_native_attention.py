"""Native hybrid attention against a naive float64 reference, on every kernel path.

Caches are filled as ring buffers from a full key/value sequence, so slot arithmetic, window
limits and GQA grouping are checked against the plain definition. Tolerance: 2e-5 absolute on
outputs of magnitude ~1 (float32 accumulation; bf16 caches are compared with the same bf16
values in the reference, so rounding of the cache itself does not count).

The avx512-bf16 path on bf16 caches rounds the softmax weights to bf16 (relative error <= 2^-9)
before P.V, and normalises by the sum of the rounded weights, so each output is a weighted
average of value rows whose weights are off by at most 2^-9 relative: |error| <= 2^-9 *
max|v - out|. Its tolerance is BF16_ATOL = 5e-3 on these values (|v| < ~5; the largest error
seen is 3.8e-3, on prefill). By default it also rounds the query to bf16, so it is compared with
the naive attention of the bf16-rounded query (same tolerance); with the query split into bf16
high and low parts (``set_round_query(False)``) scores are float32-accurate and it is compared
with the exact reference.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from cwm_lsp.runtime import native, ops


def kernel_paths(*, matmul: bool) -> list[str]:
    """Native paths this CPU can run (empty when the extension is not built). avx512-vnni only
    differs from avx512 in the matmuls."""
    if not native.built():
        return []
    return [p for p in native.supported_paths() if matmul or p != "avx512-vnni"]


def ring_cache(full: torch.Tensor, capacity: int, dtype: torch.dtype) -> torch.Tensor:
    """Write positions 0..L-1 of ``full`` [n_kv, L, D] into a [n_kv, capacity, D] ring buffer in
    order (position p at slot p % capacity), the way the runtime fills its cache."""
    n_kv, length, dim = full.shape
    cache = torch.full((n_kv, capacity, dim), float("nan")).to(dtype)
    last = torch.arange(max(0, length - capacity), length)  # the positions that survive
    cache[:, last % capacity] = full[:, last].to(dtype)
    return cache


def unring(cache: torch.Tensor, length: int) -> torch.Tensor:
    """The positions max(0, length - capacity)..length-1 of a ring cache, as a [n_kv, length, D]
    sequence (earlier positions, overwritten in the ring, are NaN)."""
    n_kv, capacity, dim = cache.shape
    full = torch.full((n_kv, length, dim), float("nan"), dtype=cache.dtype)
    last = torch.arange(max(0, length - capacity), length)
    full[:, last] = cache[:, last % capacity]
    return full


def naive_attention(
    q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, start_pos: int, window: int | None
) -> torch.Tensor:
    """Attention in float64 over the full (un-ringed) key/value sequences [n_kv, L, D]."""
    length, n_heads, dim = q.shape
    n_kv = keys.shape[0]
    group = n_heads // n_kv
    out = torch.empty(length, n_heads, dim, dtype=torch.float64)
    for t in range(length):
        i = start_pos + t
        lo = 0 if window is None else max(0, i - window + 1)
        k = keys[:, lo : i + 1].double()  # [n_kv, n, D]
        v = values[:, lo : i + 1].double()
        qt = q[t].double().view(n_kv, group, dim)
        scores = torch.einsum("hgd,hnd->hgn", qt, k) * dim**-0.5
        probs = torch.softmax(scores, dim=-1)
        out[t] = torch.einsum("hgn,hnd->hgd", probs, v).reshape(n_heads, dim)
    return out


ATOL = 2e-5
BF16_ATOL = 5e-3  # avx512-bf16 on bf16 K/V: P rounded to bf16, see the module docstring
PATHS = [*kernel_paths(matmul=False), "pytorch"]

# (T, n_heads, n_kv, head_dim, capacity, start_pos, window)
CASES = [
    (1, 6, 6, 64, 40, 0, None),  # first token, no grouping
    (1, 12, 2, 128, 1200, 1100, None),  # global decode over several key blocks
    (1, 48, 8, 128, 96, 700, 64),  # CWM layout, sliding, wrapped ring buffer
    (1, 12, 2, 128, 300, 100, 512),  # window larger than the context
    (1, 6, 1, 64, 33, 90, 30),  # window 30 in a 33-slot ring, heavily wrapped
    (1, 4, 2, 20, 50, 30, None),  # head_dim not a multiple of the vector width
    (7, 6, 1, 64, 64, 0, None),  # short prefill from position 0
    (100, 12, 2, 128, 120, 0, 16),  # prefill, window much smaller than the chunk
    (65, 6, 6, 64, 300, 130, None),  # chunk after a cached prefix, odd length
    (33, 12, 2, 128, 80, 211, 47),  # sliding chunk after a prefix, wrapped, odd window
    (130, 12, 6, 32, 330, 190, 200),  # window larger than the chunk, groups of 2
    (3, 48, 8, 128, 4, 0, None),  # capacity exactly the length
]


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    if name != "pytorch":
        native.set_path(name)
    yield name
    if name != "pytorch":
        native.set_path("auto")


def run(
    path: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int, window: int | None
) -> torch.Tensor:
    if path == "pytorch":
        return ops.attention_reference(q, k, v, start, window)
    return native.attention(q, k, v, start, window)


@contextmanager
def split_query() -> Iterator[None]:
    """avx512-bf16 with float32-accurate scores (query split hi + lo) for the block, then the
    default (query rounded to bf16) again."""
    native.set_round_query(False)
    try:
        yield
    finally:
        native.set_round_query(True)


@contextmanager
def forced_path(name: str) -> Iterator[None]:
    native.set_path(name)
    try:
        yield
    finally:
        native.set_path("auto")


Case = tuple[int, int, int, int, int, int, "int | None"]
Problem = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@functools.cache
def problem(case: Case, dtype: torch.dtype) -> Problem:
    """q, ring-buffer K and V caches, and the float64 expected output (shared across paths)."""
    length, n_heads, n_kv, dim, capacity, start, window = case
    gen = torch.Generator().manual_seed(sum(c or 0 for c in case))
    total = start + length
    keys = torch.randn(n_kv, total, dim, generator=gen).to(dtype)
    values = torch.randn(n_kv, total, dim, generator=gen).to(dtype)
    q = torch.randn(length, n_heads, dim, generator=gen) * 2.0
    expected = naive_attention(q, keys, values, start, window)
    return q, ring_cache(keys, capacity, dtype), ring_cache(values, capacity, dtype), expected


@functools.cache
def bf16_query_problem(case: Case) -> Problem:
    """The bf16-cache problem with its query rounded to bf16, and that query's float64 expected
    output (computed from the ring caches, which hold every position the window needs)."""
    start, window = case[5], case[6]
    q, k_cache, v_cache, _ = problem(case, torch.bfloat16)
    q = q.bfloat16().float()
    end = start + q.shape[0]
    expected = naive_attention(q, unring(k_cache, end), unring(v_cache, end), start, window)
    return q, k_cache, v_cache, expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "T{}-H{}/{}-D{}-C{}-s{}-w{}".format(*c))
def test_attention_matches_naive(path: str, case: Case, dtype: torch.dtype) -> None:
    start, window = case[5], case[6]
    q, k_cache, v_cache, expected = problem(case, dtype)
    if path == "avx512-bf16":
        with split_query():  # exact scores; the rounded query is tested below
            got = run(path, q, k_cache, v_cache, start, window)
    else:
        got = run(path, q, k_cache, v_cache, start, window)
    assert got.dtype == torch.float32 and got.shape == q.shape
    atol = BF16_ATOL if path == "avx512-bf16" and dtype == torch.bfloat16 else ATOL
    assert torch.allclose(got.double(), expected, atol=atol, rtol=0), (
        (got.double() - expected).abs().max()
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: "T{}-H{}/{}-D{}-C{}-s{}-w{}".format(*c))
def test_bf16_query_matches_naive(path: str, case: Case) -> None:
    """A bf16 model's query (exactly bf16) over bf16 caches: the avx512-bf16 path then uses one
    bf16 dot product per score instead of two; same tolerances."""
    start, window = case[5], case[6]
    q, k_cache, v_cache, expected = bf16_query_problem(case)
    got = run(path, q, k_cache, v_cache, start, window)
    atol = BF16_ATOL if path == "avx512-bf16" else ATOL
    assert torch.allclose(got.double(), expected, atol=atol, rtol=0), (
        (got.double() - expected).abs().max()
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: "T{}-H{}/{}-D{}-C{}-s{}-w{}".format(*c))
def test_rounded_query_is_attention_of_bf16_query(case: Case) -> None:
    """avx512-bf16's default mode computes the attention of the bf16-rounded query."""
    if not native.built() or "avx512-bf16" not in native.supported_paths():
        pytest.skip("avx512-bf16 path not available")
    start, window = case[5], case[6]
    q, k_cache, v_cache, _ = problem(case, torch.bfloat16)
    expected = bf16_query_problem(case)[3]
    with forced_path("avx512-bf16"):
        assert native.round_query()
        got = native.attention(q, k_cache, v_cache, start, window)
    assert torch.allclose(got.double(), expected, atol=BF16_ATOL, rtol=0), (
        (got.double() - expected).abs().max()
    )


def test_bf16_path_error_is_bounded_by_weight_rounding() -> None:
    """The avx512-bf16 error bound 2^-9 * max|v - out| holds on a long global decode whose
    attention is peaked (large scores), where weight rounding matters most."""
    if not native.built() or "avx512-bf16" not in native.supported_paths():
        pytest.skip("avx512-bf16 path not available")
    gen = torch.Generator().manual_seed(11)
    n_kv, group, dim, length = 2, 6, 128, 3000
    keys = torch.randn(n_kv, length, dim, generator=gen).bfloat16()
    values = torch.randn(n_kv, length, dim, generator=gen).bfloat16()
    for scale in (1.0, 4.0):
        q = torch.randn(1, n_kv * group, dim, generator=gen) * scale
        expected = naive_attention(q, keys, values, length - 1, None)
        with forced_path("avx512-bf16"), split_query():
            got = native.attention(q, keys, values, length - 1, None).double()
        spread = (values.double().abs().amax() + expected.abs().amax()).item()
        assert (got - expected).abs().max().item() <= 2**-9 * spread


def test_chunked_prefill_equals_one_shot() -> None:
    """Prefilling in chunks through a sliding ring (capacity = window + chunk) gives the same
    outputs as one pass over a cache that holds everything."""
    if not native.built():
        pytest.skip("native extension not built")
    gen = torch.Generator().manual_seed(7)
    n_heads, n_kv, dim, window, chunk, total = 12, 2, 64, 40, 24, 150
    keys = torch.randn(n_kv, total, dim, generator=gen)
    values = torch.randn(n_kv, total, dim, generator=gen)
    q = torch.randn(total, n_heads, dim, generator=gen)
    whole = native.attention(q, keys.contiguous(), values.contiguous(), 0, window)
    k_ring = torch.zeros(n_kv, window + chunk, dim)
    v_ring = torch.zeros_like(k_ring)
    parts = []
    for start in range(0, total, chunk):
        end = min(total, start + chunk)
        for p in range(start, end):
            k_ring[:, p % k_ring.shape[1]] = keys[:, p]
            v_ring[:, p % v_ring.shape[1]] = values[:, p]
        parts.append(native.attention(q[start:end], k_ring, v_ring, start, window))
    assert torch.allclose(torch.cat(parts), whole, atol=1e-6, rtol=0)


@pytest.mark.skipif(not native.built(), reason="native extension not built")
def test_bad_inputs_give_clear_errors() -> None:
    q = torch.randn(1, 4, 16)
    k = torch.randn(2, 8, 16)
    with pytest.raises(ValueError, match="capacity 8"):
        native.attention(q, k, k, 20, None)
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        native.attention(torch.randn(1, 3, 16), k, k, 0, None)
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        native.attention(q, k.half(), k.half(), 0, None)
    with pytest.raises(ValueError, match="contiguous"):
        native.attention(q, k.transpose(0, 1), k.transpose(0, 1), 0, None)
    with pytest.raises(ValueError, match="head_dim"):
        native.attention(torch.randn(1, 4, 8), k, k, 0, None)
    with pytest.raises(ValueError, match="window"):
        native.attention(q, k, k, 0, 0)
    with pytest.raises(ValueError, match="unknown kernel path"):
        native.set_path("sse9")


@pytest.mark.skipif(not native.built(), reason="native extension not built")
def test_environment_switches() -> None:
    code = (
        "import os; from cwm_lsp.runtime import native, ops\n"
        "print(native.available(), ops.native_kernels() is None, native.active_paths()['attention'])\n"
        "os.environ['CWM_LSP_NATIVE'] = '1'\n"
        "print(native.available(), native.active_paths()['attention'])\n"
    )
    env = {**os.environ, "CWM_LSP_NATIVE": "0", "CWM_LSP_KERNEL_PATH": "scalar"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    disabled, enabled = result.stdout.strip().splitlines()
    assert disabled.startswith("False True pytorch (CWM_LSP_NATIVE=0)")
    assert enabled == "True native scalar"
    code = "from cwm_lsp.runtime import native; print(native.round_query())"
    for value, expected in (("split", "False"), ("", "True")):
        env = {**os.environ, "CWM_LSP_BF16_QUERY": value}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == expected
