"""trace-check --backend run vs pytest --doctest-modules: wall time on the same package.

    .venv/bin/python benchmarks/doctest_speed.py [--runs 3] [--jobs N] [PACKAGE_DIR ...]

Default packages: the vendored trees under tests/fixtures/packages/. Each command runs in a
fresh process (no result cache: --no-cache), ``--runs`` times, alternating, and the medians are
compared: ratio = trace-check / pytest (the goal is <= 3x). The machine load is printed beside
the figures. Also shows the old way (one sandbox per example) when ``--per-example`` is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "tests" / "fixtures" / "packages"
DEFAULT_TREES = [
    PACKAGES / "toolz" / "toolz",
    PACKAGES / "sortedcontainers" / "sortedcontainers",
    PACKAGES / "more-itertools" / "more_itertools",
]


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def pytest_command(tree: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "--doctest-modules", "-q", "-p", "no:cacheprovider",
        "-c", os.devnull, "--rootdir", str(tree.parent), str(tree),
    ]  # fmt: skip


def trace_check_command(tree: Path, jobs: int | None, per_example: bool) -> list[str]:
    command = [sys.executable, "-m", "cwm_lsp", "trace-check", "--backend", "run", "--no-cache"]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    if per_example:  # the file-level fork server off: one sandbox per example, as before
        command = [sys.executable, "-c", _PER_EXAMPLE, *command[3:]]
    return [*command, str(tree)]


# runs trace-check with examples checked one by one (a fresh sandbox per example)
_PER_EXAMPLE = (
    "import sys, cwm_lsp.checking.batch as b, cwm_lsp.cli as c;"
    "b.session_predictors = lambda checker: [];"
    "sys.exit(c.main(sys.argv[1:]))"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="*", type=Path, default=DEFAULT_TREES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="trace-check -j (default: its own)")
    parser.add_argument("--per-example", action="store_true", help="also time one sandbox/example")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  load before: {os.getloadavg()}")
    print(f"{'package':<20} {'pytest s':>9} {'trace-check s':>14} {'ratio':>6}", end="")
    print(f" {'per-example s':>14} {'ratio':>6}" if args.per_example else "")
    for tree in args.trees:
        tree = tree.resolve()
        pytest_times: list[float] = []
        check_times: list[float] = []
        slow_times: list[float] = []
        for _ in range(args.runs):
            pytest_times.append(timed(pytest_command(tree), tree.parent))
            check_times.append(timed(trace_check_command(tree, args.jobs, False), tree.parent))
            if args.per_example:
                slow_times.append(timed(trace_check_command(tree, args.jobs, True), tree.parent))
        base = statistics.median(pytest_times)
        fast = statistics.median(check_times)
        line = f"{tree.parent.name:<20} {base:9.2f} {fast:14.2f} {fast / base:5.1f}x"
        if args.per_example:
            slow = statistics.median(slow_times)
            line += f" {slow:14.2f} {slow / base:5.1f}x"
        print(line, flush=True)
    print(f"load after: {os.getloadavg()} (medians of {args.runs} runs each)")


if __name__ == "__main__":
    main()
