"""Weight-only quantized matmul benchmark: native int8/int4 vs PyTorch's CPU ops vs dense matmul.

    .venv/bin/python benchmarks/matmul.py [--quick] [--cpu-time] [--threads N]

Shapes are CWM-32B's projections (hidden 6144, MLP 21504; --quick: a 1/4-scale model).
M=1 is decode (GEMV, memory bound), M=64 a prefill chunk (GEMM). Columns:
native int8 / int4 (avx512: exact float32 math; vnni: x quantized to int8 per row, M=1 only),
torch int8 = torch.ops.aten._weight_int8pack_mm, torch int4 = _weight_int4pack_mm_for_cpu
(its own packed layout, group 128), bf16 / f32 = F.linear on dense weights.
GB/s = weight bytes / time for decode, against a copy benchmark run first.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import memory_bandwidth, ms, print_table, timeit, use_thread_cpu_time

from cwm_lsp.runtime import native

GROUP = 128


def torch_int4(n: int, k: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    try:
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(
            torch.randint(0, 16, (n, k), dtype=torch.int32), 2
        )
        scales_zeros = torch.rand(k // GROUP, n, 2)
        torch.ops.aten._weight_int4pack_mm_for_cpu(torch.randn(1, k), packed, GROUP, scales_zeros)
    except (RuntimeError, AttributeError):
        return None
    return packed, scales_zeros


def bench_shape(name: str, n: int, k: int, ms_list: list[int], copy_bw: float) -> list[list[str]]:
    gen = torch.Generator().manual_seed(0)
    q8 = torch.randint(-128, 128, (n, k), dtype=torch.int8, generator=gen)
    s8 = torch.rand(n, generator=gen) * 0.01
    q4 = torch.randint(0, 256, (n, k // 2), dtype=torch.uint8, generator=gen)
    s4 = torch.rand(n, k // GROUP, generator=gen) * 0.01
    z4 = torch.randint(0, 16, (n, k // GROUP), dtype=torch.uint8, generator=gen)
    w32 = torch.randn(n, k, generator=gen) * 0.01
    w16 = w32.bfloat16()
    t4 = torch_int4(n, k)
    rows: list[list[str]] = []
    for m in ms_list:
        rows.append(bench_one(name, m, n, k, q8, s8, q4, s4, z4, w32, w16, t4, copy_bw))
        print(*rows[-1], sep="\t", flush=True)
    return rows


def bench_one(
    name: str,
    m: int,
    n: int,
    k: int,
    q8: torch.Tensor,
    s8: torch.Tensor,
    q4: torch.Tensor,
    s4: torch.Tensor,
    z4: torch.Tensor,
    w32: torch.Tensor,
    w16: torch.Tensor,
    t4: tuple[torch.Tensor, torch.Tensor] | None,
    copy_bw: float,
) -> list[str]:
    vnni = native.available() and "avx512-vnni" in native.supported_paths()
    best = native.get_path() if native.available() else "scalar"
    x = torch.randn(m, k)
    xb = x.bfloat16()
    budget = 0.3 if m == 1 else 0.5
    t: dict[str, float] = {}
    if native.available():
        native.set_path(best)
        t["int8"] = timeit(lambda: native.int8_linear(x, q8, s8), budget_s=budget)
        t["int4"] = timeit(lambda: native.int4_linear(x, q4, s4, z4, GROUP), budget_s=budget)
        if vnni and m == 1:
            native.set_path("avx512-vnni")
            t["int8v"] = timeit(lambda: native.int8_linear(x, q8, s8), budget_s=budget)
            t["int4v"] = timeit(lambda: native.int4_linear(x, q4, s4, z4, GROUP), budget_s=budget)
            native.set_path(best)
    # PyTorch's CPU int8/int4 ops are very slow for M > 1 (tens of seconds at full scale):
    # one timed call each, and only for the smallest shape.
    slow = m > 1
    if not slow or n * k <= 40_000_000:
        reps = 1 if slow else 3
        t["t8"] = timeit(
            lambda: torch.ops.aten._weight_int8pack_mm(x, q8, s8),
            budget_s=budget,
            min_reps=reps,
        )
        if t4 is not None:
            packed, sz = t4
            t["t4"] = timeit(
                lambda: torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, GROUP, sz),
                budget_s=budget,
                min_reps=reps,
            )
    t["bf16"] = timeit(lambda: F.linear(xb, w16), budget_s=budget)
    t["f32"] = timeit(lambda: F.linear(x, w32), budget_s=budget)

    def gbs(key: str, nbytes: float) -> str:
        sec = t.get(key)
        if sec is None or m != 1:
            return "-"
        return f"{nbytes / sec / 1e9:.1f} ({100 * nbytes / sec / 1e9 / copy_bw:.0f}%)"

    best8 = (
        min(v for v in (t.get("int8"), t.get("int8v")) if v is not None) if "int8" in t else None
    )
    vs_torch = "-" if best8 is None or "t8" not in t else f"{t['t8'] / best8:.2f}x"
    return [
        name, f"{n}x{k}", str(m), ms(t.get("int8")), ms(t.get("int8v")), ms(t.get("int4")), ms(t.get("int4v")),
        ms(t.get("t8")), ms(t.get("t4")), ms(t.get("bf16")), ms(t.get("f32")),
        vs_torch,
        gbs("int8", n * k), gbs("int8v", n * k), gbs("int4v" if "int4v" in t else "int4", n * k / 2),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1/4-scale shapes")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="one thread, timed by thread CPU time (robust on a busy machine)",
    )
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.cpu_time:
        args.threads = 1
        use_thread_cpu_time()
    if args.threads:
        torch.set_num_threads(args.threads)
        if native.available():
            native.set_num_threads(args.threads)
    if not native.available():
        print(f"native kernels unavailable: {native.unavailable_reason()}")
    copy_bw, read_bw = memory_bandwidth()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; native: {native.active_paths()['int8_linear']}"
    )
    load = os.getloadavg()[0]
    print(
        f"load average {load:.1f} on {os.cpu_count()} cores; "
        f"{'thread CPU time, 1 thread' if args.cpu_time else 'wall time'}; best of N runs shown"
    )
    print(
        f"memory bandwidth: copy {copy_bw:.1f} GB/s (read+write), read-only sum {read_bw:.1f} GB/s"
    )
    hidden, mlp = (1536, 5376) if args.quick else (6144, 21504)
    shapes = [("q/o proj", hidden, hidden), ("gate/up", mlp, hidden), ("down", hidden, mlp)]
    rows = []
    for name, n, k in shapes:
        rows += bench_shape(name, n, k, [1, 64], copy_bw)
    print()
    headers = ["layer", "N x K", "M", "int8 ms", "int8 vnni", "int4 ms", "int4 vnni", "torch int8", "torch int4",
               "bf16 ms", "f32 ms", "int8 vs torch", "int8 GB/s", "int8 vnni GB/s", "int4 GB/s"]  # fmt: skip
    print_table(headers, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
