"""Native float32 / bfloat16 weight matmuls (the native decoder's float layers) on every kernel
path, against float64: |got - exact| <= 1e-5 * (|x| @ |w|.T) + 1e-6 (float32 accumulation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from cwm_lsp.runtime import native

pytestmark = pytest.mark.skipif(not native.built(), reason="native extension not built")


def _paths() -> list[str]:
    return native.supported_paths() if native.built() else []


@pytest.fixture(params=_paths())
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    native.set_path(request.param)
    yield request.param
    native.set_path("auto")


# (M, N, K): decode rows (1), drafted-token rows (2..24, streamed once per 4 rows), prefill rows
# (> 24, the panel GEMM); N and K that are and are not multiples of every vector width.
SHAPES = [
    (1, 256, 256),
    (1, 37, 100),
    (1, 70, 1300),
    (2, 33, 64),
    (3, 19, 70),
    (4, 64, 256),
    (5, 40, 96),
    (17, 71, 300),
    (24, 9, 40),
    (40, 50, 200),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", SHAPES)
def test_float_linear(path: str, dtype: torch.dtype, shape: tuple[int, int, int]) -> None:
    m, n, k = shape
    generator = torch.Generator().manual_seed(m * 1000 + n + k)
    x = torch.randn(m, k, generator=generator)
    w = torch.randn(n, k, generator=generator).to(dtype)
    got = native.float_linear(x, w)
    exact = x.double() @ w.double().T
    bound = 1e-5 * (x.double().abs() @ w.double().abs().T) + 1e-6
    assert got.shape == (m, n)
    assert bool(((got.double() - exact).abs() <= bound).all()), path


def test_bad_float_weight_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        native.float_linear(torch.randn(2, 8), torch.randn(4, 8).half())
    with pytest.raises(ValueError, match=r"weight must be \[N, K\]"):
        native.float_linear(torch.randn(2, 8), torch.randn(4, 9))
