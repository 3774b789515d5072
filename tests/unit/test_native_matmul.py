"""Native int8 / int4 weight-only matmuls against a naive float64 reference on every path.

Tolerance is relative to the magnitude of the terms: |got - exact| <= 1e-5 * (|x| @ |w|.T) + 1e-6
(float32 accumulation). By default the SIMD paths quantize x to int8 in blocks of 32 (llama.cpp's
Q8_0) where the shape allows it (see ``quantizes_activations``): those results are checked with
the same tolerance against the reference run on x rounded the same way (the integer dot products
are exact), and loosely (2% of the term magnitude) against the unrounded x. With exact
activations switched on, every path meets the tight tolerance against the unrounded x.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch

from cwm_lsp.runtime import native, ops


def kernel_paths(*, matmul: bool) -> list[str]:
    """Native paths this CPU can run (empty when the extension is not built). avx512-vnni only
    differs from avx512 in the matmuls."""
    if not native.built():
        return []
    return [p for p in native.supported_paths() if matmul or p != "avx512-vnni"]


def dequantize_int4(
    qweight: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, group_size: int
) -> torch.Tensor:
    """float64 [N, K] weights from the contract's int4 layout, element by element semantics."""
    n = qweight.shape[0]
    q = torch.stack((qweight & 15, qweight >> 4), dim=-1).reshape(n, -1).double()
    k = q.shape[1]
    group = torch.arange(k) // group_size
    return scales.double()[:, group] * (q - zeros.double()[:, group])


PATHS = [*kernel_paths(matmul=True), "pytorch"]
RTOL = 1e-5


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    if name != "pytorch":
        native.set_path(name)
    yield name
    if name != "pytorch":
        native.set_path("auto")


@pytest.fixture(params=[False, True], ids=["q8-activations", "exact-activations"])
def exact(request: pytest.FixtureRequest) -> Iterator[bool]:
    on: bool = request.param
    with native.activations(exact=on):
        yield on


def quantize_blocks(x: torch.Tensor) -> torch.Tensor:
    """x rounded as the kernels quantize it: blocks of 32 along each row, symmetric, scale
    max|x| / 127, float32 math, round half to even."""
    m, k = x.shape
    blocks = x.reshape(m, k // 32, 32)
    amax = blocks.abs().amax(dim=2, keepdim=True)
    q = torch.round(blocks * (127.0 / amax))
    return torch.where(amax > 0, q * (amax / 127.0), torch.zeros_like(blocks)).reshape(m, k)


def quantizes_activations(path: str, exact: bool, k: int, group: int | None = None) -> bool:
    """Whether the kernel contract has x quantized for this shape: SIMD paths only, columns in
    whole chunks (64 / 128 for int8 / int4 on avx512, half that on avx2), groups of a multiple
    of 32 that tile the chunk."""
    if exact or path in ("scalar", "pytorch"):
        return False
    vector = 64 if path.startswith("avx512") else 32
    if group is None:
        return k % vector == 0
    span = 2 * vector
    if group % 32 or k % span:
        return False
    return group % span == 0 if group > span else span % group == 0


def check(quantized: bool, x: torch.Tensor, w: torch.Tensor, got: torch.Tensor) -> None:
    """Compare ``got`` with x @ w.T in float64 (w already dequantized)."""
    assert got.dtype == torch.float32 and got.shape == (x.shape[0], w.shape[0])
    magnitude = x.double().abs() @ w.abs().T
    if quantized:
        loose = (got.double() - x.double() @ w.T).abs()
        assert bool((loose <= 0.02 * magnitude + 1e-6).all())
        x = quantize_blocks(x)
        magnitude = x.double().abs() @ w.abs().T
    err = (got.double() - x.double() @ w.T).abs()
    assert bool((err <= RTOL * magnitude + 1e-6).all()), (err / (magnitude + 1e-9)).max()


INT8_SHAPES = [
    (1, 1, 1),
    (1, 7, 17),
    (1, 33, 300),
    (3, 5, 64),
    (4, 9, 130),
    (5, 31, 77),
    (13, 65, 257),
    (40, 70, 600),
    (1, 1031, 1030),  # large enough to run multi-threaded
    (6, 130, 1400),
    # whole chunks: quantized activations on the SIMD paths
    (1, 3, 64),
    (1, 65, 128),
    (4, 33, 256),
    (7, 17, 512),
    (1, 1031, 1024),
    (30, 40, 192),
    (1, 7, 8448),  # records past L1: four weight rows per activation load, then a tail of 3
    (3, 10, 8448),
]


@pytest.mark.parametrize("shape", INT8_SHAPES, ids=lambda s: "M{}-N{}-K{}".format(*s))
def test_int8_linear(path: str, exact: bool, shape: tuple[int, int, int]) -> None:
    m, n, k = shape
    gen = torch.Generator().manual_seed(m * 1000 + n * 10 + k)
    x = torch.randn(m, k, generator=gen)
    qweight = torch.randint(-128, 128, (n, k), dtype=torch.int8, generator=gen)
    scales = torch.rand(n, generator=gen) * 0.01 + 1e-4
    if path == "pytorch":
        got = ops.int8_linear_reference(x, qweight, scales)
    else:
        got = native.int8_linear(x, qweight, scales)
    quantized = quantizes_activations(path, exact, k)
    check(quantized, x, qweight.double() * scales.double()[:, None], got)


# (M, N, K, group_size): odd group counts, odd N and M, groups that are not whole vectors,
# odd group sizes whose groups straddle bytes.
INT4_SHAPES = [
    (1, 1, 2, 2),
    (1, 7, 96, 32),
    (1, 9, 384, 128),
    (1, 5, 18, 6),
    (2, 3, 30, 10),
    (4, 11, 192, 64),
    (3, 13, 6, 3),
    (7, 33, 640, 128),
    (9, 17, 90, 18),
    (30, 40, 384, 64),
    (6, 5, 42, 21),
    (1, 1030, 1024, 128),  # large enough to run multi-threaded
    (6, 130, 1408, 64),
    # whole chunks: quantized activations on the SIMD paths (Q4_0's group of 32 among them)
    (1, 5, 128, 32),
    (1, 33, 256, 32),
    (5, 70, 512, 64),
    (3, 17, 1024, 256),
    (2, 9, 384, 128),
    (1, 1030, 1024, 32),
    (27, 40, 256, 32),
    (1, 7, 8448, 32),  # records past L1: four weight rows at a time, then a tail of 3
    (2, 5, 8448, 256),
]


@pytest.mark.parametrize(
    "uniform", [False, True, "half"], ids=["zeros-vary", "zeros-all-8", "zeros-8-float16-scales"]
)
@pytest.mark.parametrize("shape", INT4_SHAPES, ids=lambda s: "M{}-N{}-K{}-G{}".format(*s))
def test_int4_linear(
    path: str, exact: bool, shape: tuple[int, int, int, int], uniform: bool | str
) -> None:
    """Zero points that vary, Q4_0's single zero point 8 (which the kernels fold into the
    dot-product loop instead of a per-row pass), and that with float16 scales as GGUF stores
    them (read as they are, or widened for the float32-activation kernels)."""
    m, n, k, group = shape
    gen = torch.Generator().manual_seed(m * 7919 + n * 31 + k + group)
    x = torch.randn(m, k, generator=gen)
    qweight = torch.randint(0, 256, (n, k // 2), dtype=torch.uint8, generator=gen)
    scales = torch.rand(n, k // group, generator=gen) * 0.02 + 1e-4
    zeros = torch.randint(0, 16, (n, k // group), dtype=torch.uint8, generator=gen)
    if uniform:
        zeros = torch.full_like(zeros, 8)
    if uniform == "half":
        scales = scales.half()
    if path == "pytorch":
        got = ops.int4_linear_reference(x, qweight, scales, zeros, group)
    else:
        got = native.int4_linear(x, qweight, scales, zeros, group)
    quantized = quantizes_activations(path, exact, k, group)
    check(quantized, x, dequantize_int4(qweight, scales, zeros, group), got)


@pytest.mark.skipif(not native.built(), reason="native extension not built")
def test_zero_activations_and_batch_dims() -> None:
    """All-zero x (quantization scale 0) gives zeros; leading batch dimensions are kept."""
    qweight = torch.randint(-128, 128, (5, 64), dtype=torch.int8)
    scales = torch.rand(5)
    for name in kernel_paths(matmul=True):
        native.set_path(name)
        assert torch.equal(
            native.int8_linear(torch.zeros(1, 64), qweight, scales), torch.zeros(1, 5)
        )
    native.set_path("auto")
    x = torch.randn(2, 3, 64)
    got = native.int8_linear(x, qweight, scales)
    assert got.shape == (2, 3, 5)
    assert torch.allclose(
        got, native.int8_linear(x.reshape(6, 64), qweight, scales).reshape(2, 3, 5)
    )


@pytest.mark.skipif(not native.built(), reason="native extension not built")
def test_bad_matmul_inputs_give_clear_errors() -> None:
    x = torch.randn(2, 8)
    with pytest.raises(ValueError, match="qweight must be"):
        native.int8_linear(x, torch.zeros(3, 8, dtype=torch.uint8), torch.ones(3))
    with pytest.raises(ValueError, match=r"qweight must be \[N, K\]"):
        native.int8_linear(x, torch.zeros(3, 9, dtype=torch.int8), torch.ones(3))
    with pytest.raises(ValueError, match="group_size must divide K"):
        native.int4_linear(
            x,
            torch.zeros(3, 4, dtype=torch.uint8),
            torch.ones(3, 1),
            torch.zeros(3, 1, dtype=torch.uint8),
            5,
        )
    with pytest.raises(ValueError, match="scales must be"):
        native.int4_linear(
            x,
            torch.zeros(3, 4, dtype=torch.uint8),
            torch.ones(3, 3),
            torch.zeros(3, 2, dtype=torch.uint8),
            4,
        )


@pytest.mark.skipif(not native.built(), reason="native extension not built")
def test_empty_inner_dimension_gives_zeros() -> None:
    """K == 0 is an empty sum: zeros on every path (the GEMM used to copy out unwritten scratch)."""
    for name in kernel_paths(matmul=True):
        native.set_path(name)
        for rows in (1, 3, 9):
            x = torch.zeros(rows, 0)
            got = native.int8_linear(x, torch.zeros(5, 0, dtype=torch.int8), torch.ones(5))
            assert torch.equal(got, torch.zeros(rows, 5)), name
    native.set_path("auto")


@pytest.mark.skipif(not native.built(), reason="native extension not built")
def test_active_paths_name_the_activation_rounding() -> None:
    """What doctor prints: int8 activations by default on SIMD paths, float32 when asked."""
    if native.get_path() == "scalar":
        pytest.skip("the scalar path has no integer dot products")
    assert "int8 activations in blocks of 32" in native.active_paths()["int4_linear"]
    with native.activations(exact=True):
        assert "float32 activations" in native.active_paths()["int8_linear"]
        assert native.exact_activations()
    assert not native.exact_activations()


@pytest.mark.skipif(not native.built(), reason="native extension not built")
def test_exact_activations_from_the_environment() -> None:
    code = "from cwm_lsp.runtime import native; print(native.exact_activations())"
    for value, expected in (("1", "True"), ("", "False")):
        env = {**os.environ, "CWM_LSP_EXACT_ACTIVATIONS": value}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == expected, done.stderr
