"""Seconds per prediction with the demo model (not CWM), budgets on and off, in the same run.

    .venv/bin/python benchmarks/prediction_latency.py [--count 100] [--budget 30] [--json PATH]

Predicts 100 short everyday functions (``latency_functions.py``: 50 functions written for this
benchmark, two literal calls each) with the native backend, the model loaded once per mode:

- on: the budgets of issue 18 (wall-clock ``--budget`` seconds, the token budget scaled to the
  prompt, non-termination detection);
- off: the baseline, how predictions ran before: only the context and 10,000 frames stop them.

The two modes alternate function by function, so a change in the machine's load hits both.
Prints median, p95 and max seconds per prediction for each, what stopped the traces, and the
machine's load average (os.getloadavg) before and after. Goal (issue 18): with budgets on,
p95 <= 5 s and max <= the budget on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_functions import predictions

from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.backends.options import BackendOptions
from cwm_lsp.backends.registry import demo_model_path
from cwm_lsp.prediction import prepare, select_target


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def summary(seconds: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(seconds),
        "p95": percentile(seconds, 0.95),
        "max": max(seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="predictions per mode (<= 100)")
    parser.add_argument("--budget", type=float, default=30.0, help="wall-clock budget, seconds")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    model = demo_model_path()
    if model is None:
        print("the demo model is not installed (model/weights/)", file=sys.stderr)
        return 2
    cases = predictions()[: args.count]
    modes = {
        "on": NativePredictor(str(model)),
        "off": NativePredictor(str(model), budgets=False),
    }
    for predictor in modes.values():
        predictor.load()
    load_before = os.getloadavg()
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    stops: dict[str, Counter[str]] = {name: Counter() for name in modes}
    rows: list[dict[str, Any]] = []
    for index, (source, call) in enumerate(cases, start=1):
        target = select_target(source, call=call)
        options = BackendOptions(backend="native", prediction_timeout=args.budget)
        request = prepare(source, target, options).request
        for name, predictor in modes.items():
            started = time.monotonic()
            result = predictor.predict(request)
            spent = time.monotonic() - started
            seconds[name].append(spent)
            stop = result.stop or ("finished" if result.finished else "unfinished")
            stops[name][stop] += 1
            rows.append({"call": call, "mode": name, "seconds": spent, "stop": stop})
            print(f"{index:3d} {name:3s} {spent:7.2f} s  {stop:16s} {call}", flush=True)
    load_after = os.getloadavg()

    print()
    print(f"demo model (not CWM), {len(cases)} predictions per mode, budget {args.budget:g} s")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    figures = {name: summary(values) for name, values in seconds.items()}
    print(f"{'mode':5s} {'median s':>9s} {'p95 s':>9s} {'max s':>9s}  stops")
    for name in modes:
        figure = figures[name]
        kinds = ", ".join(f"{kind} {count}" for kind, count in stops[name].most_common())
        print(
            f"{name:5s} {figure['median']:9.2f} {figure['p95']:9.2f} {figure['max']:9.2f}  {kinds}"
        )
    for key in ("median", "p95", "max"):
        on, off = figures["on"][key], figures["off"][key]
        print(f"{key}: off / on = {off / on:.2f}x")
    if args.json:
        document = {
            "budget": args.budget,
            "count": len(cases),
            "load_before": load_before,
            "load_after": load_after,
            "figures": figures,
            "stops": {name: dict(counter) for name, counter in stops.items()},
            "predictions": rows,
        }
        args.json.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
