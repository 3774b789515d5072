"""Hybrid-attention benchmark: native kernels vs the runtime's PyTorch path vs torch SDPA.

    .venv/bin/python benchmarks/attention.py [--quick] [--cpu-time] [--dtype bf16|f32] [--threads N]
        [--query f32|bf16] [--path NAME]

Decode: one query against contexts of 1k..128k keys. Prefill: a chunk of queries appended at
the end of a context (the runtime prefills in chunks). Each row runs one layer of a layout:
"cwm" = 48 query heads / 8 kv heads / head_dim 128 (CWM-32B); "small" = 12 / 2 / 64.
Sliding layers use window 8192 and a ring buffer of window + 512 slots, global layers a cache
of the full context.

Columns: native = cwm_lsp._native; pytorch = cwm_lsp.runtime.ops.attention_reference (masked
SDPA over the ring buffer); sdpa+mask = torch SDPA over the whole linear context with an
explicit causal/window mask and enable_gqa (what a generic implementation does). GB/s counts
the K/V bytes the native kernel must read (decode) and compares them with a copy benchmark run
first (bytes read + written per second).

``--query bf16`` rounds the queries to bf16 (what a bf16 model hands the kernel; the avx512-bf16
path then needs one bf16 dot product per score instead of two); the default is float32 queries.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import memory_bandwidth, ms, print_table, ratio, timeit, use_thread_cpu_time

from cwm_lsp.runtime import native, ops

WINDOW = 8192
CHUNK_SLACK = 512


@dataclass(frozen=True)
class Layout:
    name: str
    heads: int
    kv_heads: int
    head_dim: int


LAYOUTS = {"cwm": Layout("cwm", 48, 8, 128), "small": Layout("small", 12, 2, 64)}


def sdpa_masked(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int, window: int | None
) -> torch.Tensor:
    """SDPA over linear K/V [n_kv, L, D] with an explicit mask, in the cache dtype."""
    length = q.shape[0]
    total = k.shape[1]
    qpos = torch.arange(start, start + length)[:, None]
    kpos = torch.arange(total)[None, :]
    mask = kpos <= qpos
    if window is not None:
        mask &= kpos > qpos - window
    return F.scaled_dot_product_attention(
        q.to(k.dtype).transpose(0, 1).unsqueeze(0),
        k.unsqueeze(0),
        v.unsqueeze(0),
        attn_mask=mask,
        enable_gqa=True,
    )


def bench_case(
    layout: Layout,
    context: int,
    queries: int,
    sliding: bool,
    dtype: torch.dtype,
    with_baselines: bool,
    query_dtype: torch.dtype = torch.float32,
) -> dict[str, float | None]:
    gen = torch.Generator().manual_seed(0)
    window = WINDOW if sliding else None
    start = context - queries
    linear_k = torch.randn(layout.kv_heads, context, layout.head_dim, generator=gen).to(dtype)
    linear_v = torch.randn(layout.kv_heads, context, layout.head_dim, generator=gen).to(dtype)
    if sliding:
        capacity = min(context, WINDOW + CHUNK_SLACK)
        slots = torch.arange(context - capacity, context)
        k = torch.empty(layout.kv_heads, capacity, layout.head_dim, dtype=dtype)
        v = torch.empty_like(k)
        k[:, slots % capacity] = linear_k[:, slots]
        v[:, slots % capacity] = linear_v[:, slots]
    else:
        k, v = linear_k, linear_v
    q = torch.randn(queries, layout.heads, layout.head_dim, generator=gen).to(query_dtype)
    budget = 0.3 if queries == 1 else 0.1
    result: dict[str, float | None] = {"native": None, "pytorch": None, "sdpa": None}
    if native.available():
        result["native"] = timeit(lambda: native.attention(q, k, v, start, window), budget_s=budget)
    if with_baselines:
        reps = 3 if queries == 1 else 1
        result["pytorch"] = timeit(
            lambda: ops.attention_reference(q, k, v, start, window), budget_s=budget, min_reps=reps
        )
        result["sdpa"] = timeit(
            lambda: sdpa_masked(q, linear_k, linear_v, start, window),
            budget_s=budget,
            min_reps=reps,
        )
    lo = 0 if window is None else max(0, context - 1 - window + 1)
    kv_bytes = 2 * layout.kv_heads * (context - lo) * layout.head_dim * k.element_size()
    result["kv_bytes"] = float(kv_bytes)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller contexts (about a minute)")
    parser.add_argument("--dtype", choices=("bf16", "f32"), default="bf16", help="K/V cache dtype")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="one thread, timed by thread CPU time (robust on a busy machine)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads for torch and the native kernels"
    )
    parser.add_argument(
        "--path",
        default="auto",
        help="native kernel path (auto, scalar, avx2, avx512, avx512-bf16)",
    )
    parser.add_argument(
        "--query", choices=("f32", "bf16"), default="f32", help="query dtype (bf16: a bf16 model)"
    )
    parser.add_argument(
        "--only",
        choices=("decode", "prefill"),
        default=None,
        help="run only decode or prefill rows",
    )
    args = parser.parse_args()
    if args.cpu_time:
        args.threads = 1
        use_thread_cpu_time()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    qdtype = torch.bfloat16 if args.query == "bf16" else torch.float32
    if args.threads:
        torch.set_num_threads(args.threads)
        if native.available():
            native.set_num_threads(args.threads)
    if native.available():
        native.set_path(args.path)
    else:
        print(f"native kernels unavailable: {native.unavailable_reason()}")

    copy_bw, read_bw = memory_bandwidth()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; native: {native.active_paths()['attention']}"
    )
    load = os.getloadavg()[0]
    print(
        f"load average {load:.1f} on {os.cpu_count()} cores; "
        f"{'thread CPU time, 1 thread' if args.cpu_time else 'wall time'}; best of N runs shown"
    )
    print(
        f"memory bandwidth: copy {copy_bw:.1f} GB/s (read+write), read-only sum {read_bw:.1f} GB/s; K/V dtype {args.dtype}, queries {args.query}"
    )

    if args.quick:
        decode_contexts = [1024, 8192, 32768]
        prefill_contexts = [1024, 8192]
        chunk = 128
    else:
        decode_contexts = [1024, 8192, 32768, 131072]
        prefill_contexts = [1024, 8192, 32768]
        chunk = 256

    rows = []
    if args.only == "prefill":
        decode_contexts = []
    if args.only == "decode":
        prefill_contexts = []
    for layout in LAYOUTS.values():
        for context in decode_contexts:
            for sliding in (True, False):
                baselines = context <= 32768 or layout.name == "small"
                r = bench_case(layout, context, 1, sliding, dtype, baselines, qdtype)
                gc.collect()
                native_s, kv_bytes = r["native"], r["kv_bytes"]
                gbs = kv_bytes / native_s / 1e9 if native_s and kv_bytes else None
                rows.append([
                    layout.name, "decode", "sliding" if sliding else "global", f"{context // 1024}k",
                    ms(r["native"]), ms(r["pytorch"]), ms(r["sdpa"]), ratio(r["sdpa"], r["native"]),
                    ratio(r["pytorch"], r["native"]),
                    "-" if gbs is None else f"{gbs:.1f}", "-" if gbs is None else f"{100 * gbs / copy_bw:.0f}%",
                ])  # fmt: skip
                print(*rows[-1], sep="\t", flush=True)
    for layout in LAYOUTS.values():
        for context in prefill_contexts:
            for sliding in (True, False):
                r = bench_case(layout, context, chunk, sliding, dtype, True, qdtype)
                gc.collect()
                rows.append([
                    layout.name, f"prefill {chunk}", "sliding" if sliding else "global", f"{context // 1024}k",
                    ms(r["native"]), ms(r["pytorch"]), ms(r["sdpa"]), ratio(r["sdpa"], r["native"]),
                    ratio(r["pytorch"], r["native"]), "-", "-",
                ])  # fmt: skip
                print(*rows[-1], sep="\t", flush=True)
    print()
    headers = ["layout", "op", "layer", "context", "native ms", "pytorch ms", "sdpa+mask ms",
               "vs sdpa", "vs pytorch", "native GB/s", "of copy BW"]  # fmt: skip
    print_table(headers, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
