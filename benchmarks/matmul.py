"""Weight-only quantized matmul benchmark: native int8/int4 vs PyTorch's CPU ops vs dense matmul.

    .venv/bin/python benchmarks/matmul.py [--quick] [--cpu-time] [--threads N] [--path avx2]

Shapes are CWM-32B's projections (hidden 6144, MLP 21504; --quick: a 1/4-scale model).
M=1 is decode (GEMV, memory bound), M=64 a prefill chunk (GEMM). Columns:
native int8 / int4 (group 128, zero points that vary) with float32 activations ("exact",
CWM_LSP_EXACT_ACTIVATIONS=1) and with activations rounded to int8 in blocks of 32 ("q8", the
default), Q4_0 = int4 with group 32 and zero point 8 (GGUF's Q4_0) on the q8 path;
"q8 speed-up" = exact time / q8 time, same run. torch int8 = torch.ops.aten._weight_int8pack_mm,
torch int4 = _weight_int4pack_mm_for_cpu (its own packed layout, group 128), bf16 / f32 =
F.linear on dense weights. GB/s = weight bytes (with scales and zero points) / time for decode,
against a copy benchmark run first. --path forces a kernel path (e.g. avx2 on an AVX-512 CPU).
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
    weights = {
        "q8": torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=gen),
        "s8": torch.rand(n, generator=gen) * 0.01,
        "q4": torch.randint(0, 256, (n, k // 2), dtype=torch.uint8, generator=gen),
        "s4": torch.rand(n, k // GROUP, generator=gen) * 0.01,
        "z4": torch.randint(0, 16, (n, k // GROUP), dtype=torch.uint8, generator=gen),
        "s40": torch.rand(n, k // 32, generator=gen) * 0.01,
        "z40": torch.full((n, k // 32), 8, dtype=torch.uint8),
        "w32": torch.randn(n, k, generator=gen) * 0.01,
    }
    weights["w16"] = weights["w32"].bfloat16()
    t4 = torch_int4(n, k)
    rows: list[list[str]] = []
    for m in ms_list:
        rows.append(bench_one(name, m, n, k, weights, t4, copy_bw))
        print(*rows[-1], sep="\t", flush=True)
    return rows


def _native_times(x: torch.Tensor, w: dict[str, torch.Tensor], budget: float) -> dict[str, float]:
    t: dict[str, float] = {}
    for exact in (True, False):
        tag = "exact" if exact else "q8"
        with native.activations(exact=exact):
            t[f"int8 {tag}"] = timeit(
                lambda: native.int8_linear(x, w["q8"], w["s8"]), budget_s=budget
            )
            t[f"int4 {tag}"] = timeit(
                lambda: native.int4_linear(x, w["q4"], w["s4"], w["z4"], GROUP), budget_s=budget
            )
    with native.activations(exact=False):
        t["q4_0"] = timeit(
            lambda: native.int4_linear(x, w["q4"], w["s40"], w["z40"], 32), budget_s=budget
        )
    return t


def bench_one(
    name: str,
    m: int,
    n: int,
    k: int,
    w: dict[str, torch.Tensor],
    t4: tuple[torch.Tensor, torch.Tensor] | None,
    copy_bw: float,
) -> list[str]:
    x = torch.randn(m, k)
    xb = x.bfloat16()
    budget = 0.3 if m == 1 else 0.5
    t: dict[str, float] = _native_times(x, w, budget) if native.available() else {}
    # PyTorch's CPU int8/int4 ops are very slow for M > 1 (tens of seconds at full scale):
    # one timed call each, and only for the smallest shape.
    slow = m > 1
    if not slow or n * k <= 40_000_000:
        reps = 1 if slow else 3
        t["t8"] = timeit(
            lambda: torch.ops.aten._weight_int8pack_mm(x, w["q8"], w["s8"]),
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
    t["bf16"] = timeit(lambda: F.linear(xb, w["w16"]), budget_s=budget)
    t["f32"] = timeit(lambda: F.linear(x, w["w32"]), budget_s=budget)

    def gbs(key: str, nbytes: float) -> str:
        sec = t.get(key)
        if sec is None or m != 1:
            return "-"
        return f"{nbytes / sec / 1e9:.1f} ({100 * nbytes / sec / 1e9 / copy_bw:.0f}%)"

    def ratio(slow_key: str, fast_key: str) -> str:
        if slow_key not in t or fast_key not in t:
            return "-"
        return f"{t[slow_key] / t[fast_key]:.2f}x"

    int8_bytes, int4_bytes = n * k + 4 * n, n * k / 2 + 5 * n * k / GROUP
    q4_0_bytes = n * k / 2 + 4 * n * k / 32  # the zero points (all 8) are not read
    return [
        name, f"{n}x{k}", str(m),
        ms(t.get("int8 exact")), ms(t.get("int8 q8")), ratio("int8 exact", "int8 q8"),
        ms(t.get("int4 exact")), ms(t.get("int4 q8")), ratio("int4 exact", "int4 q8"), ms(t.get("q4_0")),
        ms(t.get("t8")), ms(t.get("t4")), ms(t.get("bf16")), ms(t.get("f32")),
        ratio("t8", "int8 q8"),
        gbs("int8 q8", int8_bytes), gbs("int4 q8", int4_bytes), gbs("q4_0", q4_0_bytes),
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
    parser.add_argument("--path", default=None, help="force a native kernel path, e.g. avx2")
    args = parser.parse_args()
    if args.path and native.available():
        native.set_path(args.path)
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
    headers = ["layer", "N x K", "M", "int8 exact", "int8 q8", "q8 speed-up", "int4 exact", "int4 q8",
               "q8 speed-up", "Q4_0 q8", "torch int8", "torch int4", "bf16 ms", "f32 ms",
               "int8 q8 vs torch", "int8 q8 GB/s", "int4 q8 GB/s", "Q4_0 GB/s"]  # fmt: skip
    print_table(headers, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
