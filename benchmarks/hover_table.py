"""Cost of the hover table of a line that ran many times, against building the view itself.

Records a real trace of a loop (the tracer, in this process), builds the server's view of it
(the per-prediction cost every hover relies on), then times the hover table of the loop body:
capped (what a hover shows: 12 rows and a summary row over every run) and expanded ("show all",
2,000 rows). Prints medians of ``--repeat`` runs and their ratio to the view build, with the load.

    python benchmarks/hover_table.py [--runs 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from cwm_lsp.execution.recorder import record_in_process
from cwm_lsp.server.labels import execution_table
from cwm_lsp.server.run_table import ALL_ROWS
from cwm_lsp.server.view import build_view


def median_seconds(action: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="loop passes (rows of the table)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    context = (
        f"def total(n={args.runs}):  # << START_OF_TRACE\n"
        "    t = 0\n    for i in range(n):\n        t += i * 3\n    return t\n"
    )
    frames, outcome = record_in_process(context, max_frames=4 * args.runs + 10)
    assert outcome.finished, outcome
    print(f"load average before: {os.getloadavg()}")
    view_time = median_seconds(lambda: build_view(frames, context, finished=True), args.repeat)
    body = build_view(frames, context, finished=True).lines[3].executions
    capped = median_seconds(lambda: execution_table(body), args.repeat)
    expanded = median_seconds(lambda: execution_table(body, limit=ALL_ROWS), args.repeat)
    plain = median_seconds(lambda: execution_table(body, plain=True), args.repeat)
    print(f"{len(body)} runs of the loop body, {len(frames)} frames, median of {args.repeat}")
    print(f"  build the view (baseline): {view_time * 1000:9.1f} ms")
    for name, seconds in (("capped table", capped), ("plain text", plain), ("show all", expanded)):
        print(f"  {name:25s} {seconds * 1000:9.1f} ms  ({seconds / view_time:.3f} x the view)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
