"""KV cache: ring-buffer layout, growth, truncation limits, memory accounting."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from cwm_lsp.runtime import CwmConfig, load_model, ops
from cwm_lsp.runtime.kvcache import CacheError, KVCache, cache_bytes
from cwm_lsp.runtime.testing import tiny_config, write_checkpoint

pytest.importorskip("transformers")


def _config(window: int = 8) -> CwmConfig:
    return CwmConfig.from_dict(tiny_config(sliding_window=window).to_dict())


def _naive_attention(
    q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, start: int, window: int | None
) -> torch.Tensor:
    """Attention over keys/values stored by absolute position [n_kv, P, D]."""
    length, heads, dim = q.shape
    group = heads // keys.shape[0]
    out = torch.empty_like(q)
    for t in range(length):
        i = start + t
        lo = 0 if window is None else max(0, i - window + 1)
        for h in range(heads):
            k, v = keys[h // group, lo : i + 1], values[h // group, lo : i + 1]
            weights = torch.softmax(k @ q[t, h] * dim**-0.5, dim=0)
            out[t, h] = weights @ v
    return out


@pytest.mark.parametrize("native", ["0", "1"])
@pytest.mark.parametrize(("window", "capacity"), [(None, 64), (5, 9), (4, 7)])
def test_attention_reads_ring_slots(
    monkeypatch: pytest.MonkeyPatch, native: str, window: int | None, capacity: int
) -> None:
    monkeypatch.setenv("CWM_LSP_NATIVE", native)
    torch.manual_seed(0)
    total, n_kv, heads, dim = 23, 2, 6, 8
    keys, values = torch.randn(n_kv, total, dim), torch.randn(n_kv, total, dim)
    chunk = 3
    for start in range(0, total, chunk):
        end = min(total, start + chunk)
        k_ring = torch.zeros(n_kv, capacity, dim)
        v_ring = torch.zeros(n_kv, capacity, dim)
        for p in range(max(0, end - capacity), end):
            k_ring[:, p % capacity], v_ring[:, p % capacity] = keys[:, p], values[:, p]
        q = torch.randn(end - start, heads, dim)
        got = ops.attention(q, k_ring, v_ring, start, window, native=ops.native_kernels())
        expected = _naive_attention(q, keys, values, start, window)
        assert torch.allclose(got, expected, atol=1e-5), (start, window)


def test_layers_grow_and_sliding_rings_stop_at_their_limit() -> None:
    config = _config(window=8)
    cache = KVCache(config, max_chunk=4, rollback=2)
    for start in range(0, 200, 4):
        cache.prepare(start, 4)
        cache.advance(start + 4)
    capacities = [layer.capacity for layer in cache.layers]
    assert capacities[1] == capacities[2] == 8 + 4 + 2
    assert capacities[0] >= 200 and capacities[3] >= 200
    assert cache.bytes_per_token() == 4 * 2 * config.num_key_value_heads * config.head_dim * 4
    with pytest.raises(CacheError, match="exceeds max_chunk"):
        cache.prepare(200, 5)
    with pytest.raises(CacheError, match="chunk starts at"):
        cache.prepare(10, 1)


def test_truncation_limits() -> None:
    cache = KVCache(_config(window=8), max_chunk=4, rollback=10)
    for start in range(0, 40, 4):
        cache.prepare(start, 4)
        cache.advance(start + 4)
    # ring of 22 slots holds positions 18..39; a query at pos needs keys pos-7..pos-1
    assert cache.earliest_truncation() == 25
    cache.truncate(30)
    assert cache.length == 30
    with pytest.raises(CacheError, match="already overwritten"):
        cache.truncate(24)


def test_cache_bytes_caps_sliding_layers() -> None:
    config = _config(window=8)
    per_layer_token = 2 * config.num_key_value_heads * config.head_dim * 2
    assert cache_bytes(config, 10, max_chunk=0, rollback=0) == (2 * 10 + 2 * 8) * per_layer_token
    assert (
        cache_bytes(config, 1000, max_chunk=0, rollback=0) == (2 * 1000 + 2 * 8) * per_layer_token
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("cwm-kv")
    write_checkpoint(directory, seed=5)
    return load_model(directory)


def test_prefix_reuse_gives_the_same_logits(model: Any) -> None:
    ids = torch.randint(0, 256, (30,), generator=torch.Generator().manual_seed(1)).tolist()
    fresh = model.logits(ids)[-1]
    session = model.new_session(max_chunk=4, rollback=64)
    session.prefill([*ids[:20], *[7] * 12])
    for token in range(10):
        session.step(token)
    reused = session.prefill(ids)
    assert session.reused_tokens == 20
    assert torch.allclose(reused, fresh, atol=1e-4)


def test_prefix_reuse_falls_back_when_rings_moved_on(model: Any) -> None:
    ids = list(range(40))
    fresh = model.logits(ids)[-1]
    session = model.new_session(max_chunk=4, rollback=0)
    session.prefill([*ids[:10], *[5] * 30])
    again = session.prefill(ids)
    assert session.reused_tokens == 0
    assert torch.allclose(again, fresh, atol=1e-4)


def test_bf16_cache_stays_close(model: Any) -> None:
    ids = list(range(30))
    exact = model.logits(ids)[-1]
    session = model.new_session(cache_dtype=torch.bfloat16)
    approx = session.prefill(ids)
    assert session.cache.layers[0].keys.dtype == torch.bfloat16
    assert (approx - exact).abs().max() < 0.05 * exact.abs().max()
