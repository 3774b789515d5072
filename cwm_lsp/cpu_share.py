"""How many cores a forward pass may use while observed runs execute beside it.

Each sandboxed run is one single-threaded child process (``OMP_NUM_THREADS=1`` and friends, see
``execution.sandbox``). A prediction that kept one thread per core next to it would have one
thread too many: OpenMP threads that wait at a barrier for a descheduled peer stall the whole
step. So runs report themselves while they execute (:func:`child_running`) and the model asks
:func:`prediction_threads` before each forward pass. A leaf module: it imports nothing of ours.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_running = 0


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def child_running() -> Iterator[None]:
    """Counts one sandboxed child as busy for the duration of the block."""
    global _running
    with _lock:
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1


def running_children() -> int:
    return _running


def prediction_threads(wanted: int | None = None) -> int:
    """``wanted`` threads (default: every usable core), less one per running child, at least 1."""
    cores = usable_cores()
    limit = max(1, cores - _running)
    return max(1, min(wanted if wanted is not None else cores, limit))
