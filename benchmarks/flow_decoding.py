"""Cost of flow-constrained decoding: the native backend with and without ``follow_flow``.

    .venv/bin/python benchmarks/flow_decoding.py [--repeat 3] [--threads 1] [--json PATH]

Each golden context is predicted by the shipped demo model twice per repeat, with the default
decoder (each frame's line kept on the control flow) and with free decoding (the baseline),
interleaved so both see the same machine load. The two decoders can write different traces
(and prompt-lookup drafting accepts more or fewer tokens on each), so the end-to-end figure is
seconds per generated token (best of the repeats). The constraint's own cost is measured apart:
its bookkeeping (candidates + accept) replayed over each golden's true trace tokens, per token,
as a share of the free decoder's time per token. Whether each trace completed is printed too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _requests() -> list[tuple[str, Any]]:
    from goldens import GOLDEN_FILES, golden_request

    goldens = [json.loads(path.read_text()) for path in GOLDEN_FILES]
    return [(golden["name"], golden_request(golden)) for golden in goldens]


def measure(repeat: int) -> dict[str, Any]:
    from cwm_lsp.backends.native import NativePredictor
    from cwm_lsp.backends.registry import demo_model_path

    weights = demo_model_path()
    if weights is None:
        raise SystemExit("the demo model is not installed (model/weights/)")
    predictors = {
        "flow": NativePredictor(weights),
        "free": NativePredictor(weights, follow_flow=False),
    }
    for predictor in predictors.values():
        predictor.load()
    rows: dict[str, dict[str, Any]] = {}
    for name, request in _requests():
        row: dict[str, Any] = {}
        for _ in range(repeat):
            for decoder, predictor in predictors.items():
                started = time.perf_counter()
                result = predictor.predict(request)
                seconds = time.perf_counter() - started
                per_token = seconds / max(1, result.tokens_generated)
                best = row.get(decoder)
                if best is None or per_token < best["s_per_token"]:
                    row[decoder] = {
                        "s_per_token": per_token,
                        "seconds": seconds,
                        "tokens": result.tokens_generated,
                        "complete": result.finished and not result.problems,
                    }
        rows[name] = row
    return rows


def bookkeeping_seconds_per_token(repeat: int) -> float:
    """The constraint's own work per token, replaying every golden's true trace."""
    from goldens import GOLDEN_FILES

    from cwm_lsp.backends.line_constraint import flow_constraint
    from cwm_lsp.runtime.tokenizer import load_tokenizer

    weights = ROOT / "model" / "weights"
    tokenizer = load_tokenizer(weights)
    assert tokenizer is not None
    sys.path.insert(0, str(ROOT / "model" / "recipe"))
    from tokenizer import encode_text

    traces = []
    for path in GOLDEN_FILES:
        golden = json.loads(path.read_text())
        traces.append((golden["context"], encode_text(tokenizer, golden["trace_text"])))
    best = float("inf")
    for _ in range(repeat):
        started, count = time.perf_counter(), 0
        for context, ids in traces:
            constraint = flow_constraint(context, tokenizer)
            assert constraint is not None
            for token in ids:
                constraint.candidates()
                constraint.accept(token)
            count += len(ids)
        best = min(best, (time.perf_counter() - started) / count)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = measure(args.repeat)
    print(f"demo model, native backend, {args.threads} thread(s), best of {args.repeat}")
    print("| golden | flow ms/token | free ms/token (baseline) | ratio | complete flow / free |")
    print("|---|---|---|---|---|")
    totals = {"flow": 0.0, "free": 0.0}
    for name, row in rows.items():
        flow, free = row["flow"], row["free"]
        totals["flow"] += flow["s_per_token"]
        totals["free"] += free["s_per_token"]
        print(
            f"| {name} | {flow['s_per_token'] * 1e3:.2f} | {free['s_per_token'] * 1e3:.2f} | "
            f"{flow['s_per_token'] / free['s_per_token']:.2f} | "
            f"{'yes' if flow['complete'] else 'no'} / {'yes' if free['complete'] else 'no'} |"
        )
    ratio = totals["flow"] / totals["free"]
    bookkeeping = bookkeeping_seconds_per_token(args.repeat)
    free_per_token = totals["free"] / len(rows)
    complete = {d: sum(r[d]["complete"] for r in rows.values()) for d in ("flow", "free")}
    print(
        f"overall: flow / free seconds per token = {ratio:.2f}; complete traces: flow "
        f"{complete['flow']}/{len(rows)}, free {complete['free']}/{len(rows)}"
    )
    print(
        f"constraint bookkeeping: {bookkeeping * 1e6:.1f} us per token = "
        f"{bookkeeping / free_per_token:.1%} of the free decoder's {free_per_token * 1e3:.2f} ms "
        "per token (mean over the goldens)"
    )
    if args.json:
        figures = {"rows": rows, "ratio": ratio, "bookkeeping_s_per_token": bookkeeping}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
