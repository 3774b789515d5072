"""A forward pass takes one thread fewer per sandboxed run executing beside it (cpu_share): the
run is a real sandboxed child, counted from start to end; the native backend asks before each
forward pass."""

from __future__ import annotations

import threading
import time

from cwm_lsp import cpu_share
from cwm_lsp.execution import SandboxLimits, record_call

SLEEPER = (
    "import time\n"
    "def nap():\n"
    "    time.sleep(1.5)\n"
    "    return 1\n"
    "def main():  # << START_OF_TRACE\n"
    "    return nap()\n"
)


def test_a_running_sandboxed_child_takes_a_core_from_predictions() -> None:
    cores = cpu_share.usable_cores()
    assert cpu_share.running_children() == 0
    assert cpu_share.prediction_threads() == cores
    done: list[object] = []
    runner = threading.Thread(
        target=lambda: done.append(record_call(SLEEPER, limits=SandboxLimits(wall_seconds=20)))
    )
    runner.start()
    seen = []
    deadline = time.monotonic() + 15
    while runner.is_alive() and time.monotonic() < deadline:
        seen.append((cpu_share.running_children(), cpu_share.prediction_threads()))
        time.sleep(0.02)
    runner.join()
    assert done and getattr(done[0], "limit", None) is None, done
    assert (1, max(1, cores - 1)) in seen, seen
    assert cpu_share.running_children() == 0
    assert cpu_share.prediction_threads() == cores
    assert cpu_share.prediction_threads(1) == 1


def test_never_below_one_thread() -> None:
    with cpu_share.child_running(), cpu_share.child_running(), cpu_share.child_running():
        assert cpu_share.prediction_threads() >= 1
        assert cpu_share.prediction_threads() == max(1, cpu_share.usable_cores() - 3)
    assert cpu_share.running_children() == 0
