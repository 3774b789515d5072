"""What the sandbox's protections cost: seconds per sandboxed run in each mode, and the child's
own setup of each kernel protection, against the weak audit-hook mode measured in the same run.

    python benchmarks/sandbox_modes.py [--runs 5]

Prints medians of ``--runs`` runs (wall time of ``record_call`` on a three-line function, and
in-process time of each protection applied in a forked child) and the machine load beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from cwm_lsp.execution import (
    AUDIT_HOOK,
    BUBBLEWRAP,
    LANDLOCK,
    SandboxLimits,
    capabilities,
    landlock,
    record_call,
    seccomp,
)
from cwm_lsp.execution.sandbox import bubblewrap_works, landlock_abi

CONTEXT = (
    "def f():\n    x = 41\n    return x + 1\ndef main():  # << START_OF_TRACE\n    return f()\n"
)


def run_seconds(mode: str, runs: int) -> float:
    times = []
    for _ in range(runs + 1):  # the first run warms the page cache
        start = time.perf_counter()
        recording = record_call(CONTEXT, sandbox=mode, limits=SandboxLimits(wall_seconds=20))
        times.append(time.perf_counter() - start)
        assert recording.frames[-1].arg == "42", recording
    return statistics.median(times[1:])


def in_child(step: Callable[[str], object]) -> float:
    """Seconds ``step(scratch)`` takes in a forked child (protections cannot be undone)."""
    read, write = os.pipe()
    scratch = tempfile.mkdtemp(prefix="cwm-lsp-bench-")
    pid = os.fork()
    if pid == 0:
        os.close(read)
        start = time.perf_counter()
        step(scratch)
        os.write(write, json.dumps(time.perf_counter() - start).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as stream:
        seconds = float(json.loads(stream.read()))
    os.waitpid(pid, 0)
    os.rmdir(scratch)
    return seconds


def setup_seconds(runs: int) -> dict[str, float]:
    def identity(_: str) -> None:
        if os.geteuid() == 0:
            capabilities.become_nobody()
        else:
            capabilities.drop_all()

    def confine(scratch: str) -> None:
        landlock.restrict(landlock.default_read_paths(), [scratch])

    steps: dict[str, Callable[[str], object]] = {
        "capabilities / nobody": identity,
        "seccomp filter": lambda _: seccomp.install(),
    }
    if landlock_abi():
        steps["landlock ruleset"] = confine
    return {
        name: statistics.median(in_child(step) for _ in range(runs)) for name, step in steps.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine load (1, 5, 15 min): {load}; {os.cpu_count()} cores; euid {os.geteuid()}")
    modes = [AUDIT_HOOK]
    modes += [LANDLOCK] if landlock_abi() else []
    modes += [BUBBLEWRAP] if bubblewrap_works() else []
    seconds = {mode: run_seconds(mode, args.runs) for mode in modes}
    base = seconds[AUDIT_HOOK]
    print(f"\nseconds per sandboxed run (median of {args.runs}), baseline audit-hook:")
    for mode, value in seconds.items():
        print(f"  {mode:<11} {value * 1e3:8.1f} ms   x{value / base:.2f}")
    print(f"\nchild-side setup of each protection (median of {args.runs}):")
    for name, value in setup_seconds(args.runs).items():
        print(f"  {name:<22} {value * 1e3:8.2f} ms   ({value / base:.1%} of an audit-hook run)")
    print(f"\nmachine load after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
