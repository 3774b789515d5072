"""Shared helpers for the benchmark scripts: timing, a memory-bandwidth probe and table printing."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

_clock = time.perf_counter


def use_thread_cpu_time() -> None:
    """Measure CPU time of the calling thread instead of wall time: with one thread (torch and
    native both set to 1) this is the kernel's own cost, unaffected by other processes."""
    global _clock
    _clock = time.thread_time


def timeit(
    fn: Callable[[], object], *, min_reps: int = 3, budget_s: float = 0.4, max_reps: int = 50
) -> float:
    """Best seconds per call after one warm-up call; repeats until ``budget_s`` is spent."""
    fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < max_reps and (len(times) < min_reps or spent < budget_s):
        start = _clock()
        fn()
        elapsed = _clock() - start
        times.append(elapsed)
        spent += elapsed
        if elapsed > budget_s and len(times) >= 1:
            break
    return min(times)  # best of the runs: other processes share this machine


def memory_bandwidth(mbytes: int = 512) -> tuple[float, float]:
    """(copy, read) bandwidth in GB/s. Copy counts bytes read + written; read is a sum()."""
    n = mbytes * 1024 * 1024 // 4
    src = torch.ones(n, dtype=torch.float32)
    dst = torch.empty_like(src)
    copy_s = timeit(lambda: dst.copy_(src), min_reps=5, budget_s=1.0)
    read_s = timeit(lambda: src.sum(), min_reps=5, budget_s=1.0)
    return 2 * src.nbytes / copy_s / 1e9, src.nbytes / read_s / 1e9


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def ratio(base: float | None, ours: float | None) -> str:
    return "-" if base is None or ours is None else f"{base / ours:.2f}x"
