"""Latency of one prediction with the shipped demo model: a 10-line function with a short loop.

    .venv/bin/python benchmarks/demo_model_latency.py [--repeat 5] [--threads 1] [--json PATH]

The issue's goal: "a prediction of a 10-line function with a short loop returns in under 2
seconds here". Measured two ways, each beside a baseline from the same run:

- warm (as in the language server): the native backend with the demo model loaded once, then
  ``predict`` on the same request (best and median of ``--repeat``); the baseline is the ``run``
  backend's observed trace of the same call (a sandboxed child process per call).
- cold (as on the command line): the ``cwm-lsp predict FILE --call ...`` process end to end,
  native backend vs ``--backend run``; with a breakdown of where a cold start goes: Python plus
  the imports the CLI needs (``cwm_lsp.cli``, ``torch``, ``cwm_lsp.runtime``), loading the
  weights, and the prediction itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "cwm_lsp"]
SOURCE = '''\
def running_total(values):
    """Running totals of a list of numbers."""
    totals = []
    total = 0
    for value in values:
        total += value
        totals.append(total)
    if not totals:
        return [0]
    return totals
'''
CALL = "running_total([3, 1, 4])"
GOAL_S = 2.0


def _request(source: str, call: str) -> Any:
    from cwm_lsp.backends.base import PredictionRequest
    from cwm_lsp.entry import build_context, function_for_call

    fn = function_for_call(source, call)
    context = build_context(source, call, fn)
    return PredictionRequest(
        context=context.context,
        source=source,
        call=call,
        function=fn.qualname if fn else call,
        harness=context.harness,
    )


def warm(repeat: int) -> dict[str, Any]:
    """In-process: model loaded once, then repeated predictions (the language server's case)."""
    from cwm_lsp.backends.options import BackendOptions
    from cwm_lsp.backends.registry import build_predictor

    request = _request(SOURCE, CALL)
    started = time.perf_counter()
    native = build_predictor(BackendOptions(backend="native"))
    native.load()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - started
    run = build_predictor(BackendOptions(backend="run", allow_execution=True))
    out: dict[str, Any] = {"load_s": load_s}
    for name, predictor in (("native", native), ("run", run)):
        times, result = [], None
        for _ in range(repeat + 1):  # the first call warms caches and is not counted
            t = time.perf_counter()
            result = predictor.predict(request)
            times.append(time.perf_counter() - t)
        assert result is not None
        out[name] = {
            "best_s": min(times[1:]),
            "median_s": statistics.median(times[1:]),
            "first_s": times[0],
            "frames": len(result.frames),
            "tokens": result.tokens_generated,
            "finished": result.finished,
            "model": result.provenance.describe(),
            "return": _returned(result.frames),
        }
    return out


def per_token(repeat: int, tokens: int) -> dict[str, Any]:
    """Milliseconds per generated token (greedy, after a prompt of examples/loops.py), with the
    weights loaded as the native backend loads them: the native decoder (one call per step),
    the same decoder run torch-free (numpy KV cache, what the native backend uses for the demo
    model), the per-operation path (PyTorch ops around native attention and matmuls) and pure
    PyTorch (a model loaded under CWM_LSP_NATIVE=0). Runs interleave; medians of ``repeat``
    runs; wall time and CPU time of this thread."""
    import torch

    from cwm_lsp.runtime import CwmConfig, load_model
    from cwm_lsp.runtime.native_model import LoadedNativeModel, load_native_model

    weights = ROOT / "model" / "weights"
    model = load_model(weights, dtype=torch.float32)
    os.environ["CWM_LSP_NATIVE"] = "0"  # read when a model is built
    pure = load_model(weights, dtype=torch.float32)
    del os.environ["CWM_LSP_NATIVE"]
    torch_free = load_native_model(
        weights, CwmConfig.from_file(weights), widen_embeddings=True, threads=torch.get_num_threads
    )
    assert isinstance(torch_free, LoadedNativeModel), torch_free
    assert model.tokenizer is not None
    prompt = model.tokenizer.encode((ROOT / "examples" / "loops.py").read_text())[:400]

    def decode(loaded: Any) -> tuple[float, float]:
        session = loaded.new_session()
        token = int(session.prefill(prompt).argmax())
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(tokens):
            token = int(session.step(token).argmax())
        return (time.perf_counter() - wall) / tokens, (time.thread_time() - cpu) / tokens

    cases: dict[str, list[tuple[float, float]]] = {
        "decoder": [],
        "torch_free": [],
        "per_op": [],
        "pytorch": [],
    }
    decode(model)  # warm-up
    decode(torch_free)
    for _ in range(repeat):
        cases["decoder"].append(decode(model))
        cases["torch_free"].append(decode(torch_free))
        model.transformer.use_native_decoder = False
        cases["per_op"].append(decode(model))
        model.transformer.use_native_decoder = True
        cases["pytorch"].append(decode(pure))
    return {
        name: {
            "wall_ms": statistics.median(r[0] for r in runs) * 1e3,
            "cpu_ms": statistics.median(r[1] for r in runs) * 1e3,
        }
        for name, runs in cases.items()
    }


def drafting(repeat: int, lookahead: int = 16) -> dict[str, Any]:
    """The benchmark call's trace generated greedily with prompt-lookup drafting (``lookahead``
    tokens, as the native backend drafts) and without, on a warm session: drafted and accepted
    tokens, forward passes and seconds per prediction (medians of ``repeat``)."""
    import torch

    from cwm_lsp.backends.decoding import TraceDecoder, TraceIds
    from cwm_lsp.runtime import load_model
    from cwm_lsp.runtime.generate import Sampler, Sampling

    model = load_model(ROOT / "model" / "weights", dtype=torch.float32)
    tokenizer = model.tokenizer
    assert tokenizer is not None
    prompt = tokenizer.encode_prompt(_request(SOURCE, CALL).context)
    ids = TraceIds.from_special(tokenizer.special_id)
    session = model.new_session()
    out: dict[str, Any] = {"prompt_tokens": len(prompt)}
    for name, ahead in (("drafting", lookahead), ("no_drafting", 0)):
        times, outcome = [], None
        for _ in range(repeat + 1):  # the first run warms up and is not counted
            generator = TraceDecoder(
                session, ids, Sampler(Sampling()), max_frames=200, lookahead=ahead
            )
            started = time.perf_counter()
            for _frame in generator.frames(prompt):
                pass
            times.append(time.perf_counter() - started)
            outcome = generator.outcome
        assert outcome is not None
        drafted, accepted = outcome.drafted_tokens, outcome.accepted_tokens
        out[name] = {
            "median_s": statistics.median(times[1:]),
            "tokens": outcome.tokens_generated,
            "drafted": drafted,
            "accepted": accepted,
            "accepted_share": accepted / drafted if drafted else 0.0,
            "passes": outcome.tokens_generated - accepted,
        }
    return out


def _returned(frames: list[Any]) -> str | None:
    """The entry's result: the argument of the trace's last return frame."""
    returns = [f.arg for f in frames if f.event.name == "RETURN"]
    return returns[-1] if returns else None


def _timed(cmd: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cold(repeat: int, threads: int) -> dict[str, Any]:
    """Fresh processes: the CLI end to end, and what its start-up costs are made of."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "running_total.py"
        path.write_text(SOURCE)
        predict = [*CLI, "predict", str(path), "--call", CALL, "--format", "json"]
        out = {
            "cli_native_s": _timed([*predict, "--backend", "native"], repeat, env),
            "cli_run_s": _timed([*predict, "--backend", "run"], repeat, env),
        }
    py = [sys.executable, "-c"]
    out["python_s"] = _timed([*py, "pass"], repeat, env)
    out["import_cli_s"] = _timed([*py, "import cwm_lsp.cli"], repeat, env)
    out["import_torch_s"] = _timed([*py, "import torch"], repeat, env)
    out["import_runtime_s"] = _timed(
        [*py, "import cwm_lsp.runtime, cwm_lsp.backends.native"], repeat, env
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both cases)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per per-token run")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    results: dict[str, Any] = {"call": CALL, "threads": args.threads}
    results["per_token"] = per_token(max(3, args.repeat), args.tokens)
    results["drafting"] = drafting(args.repeat)
    results["warm"] = warm(args.repeat)
    results["cold"] = cold(max(1, args.repeat // 2), args.threads)
    results["load"] = {"before": load_before, "after": os.getloadavg()}
    w, c, p = results["warm"], results["cold"], results["per_token"]
    print(
        f"machine: {os.cpu_count()} cores, load average before "
        f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' '.join(f'{x:.2f}' for x in results['load']['after'])}"
    )
    print(
        f"per generated token (demo model, not CWM; {args.tokens} greedy tokens after "
        f"examples/loops.py, median of {max(3, args.repeat)} runs):"
    )
    print("| path | wall ms/token | CPU ms/token | decoder speed-up (wall) |")
    print("|---|---|---|---|")
    for name, label in (
        ("decoder", "native decoder (one call per step)"),
        ("torch_free", "the same decoder torch-free (numpy KV cache)"),
        ("per_op", "per-operation (PyTorch ops + native kernels)"),
        ("pytorch", "pure PyTorch (CWM_LSP_NATIVE=0)"),
    ):
        print(
            f"| {label} | {p[name]['wall_ms']:.3f} | {p[name]['cpu_ms']:.3f} | "
            f"{p[name]['wall_ms'] / p['decoder']['wall_ms']:.2f}x |"
        )
    print()
    d = results["drafting"]
    print(
        f"trace of {CALL} generated on a warm session (prompt {d['prompt_tokens']} tokens, "
        f"median of {args.repeat}):"
    )
    print("| decoding | seconds | tokens | forward passes | drafted | accepted (share) |")
    print("|---|---|---|---|---|---|")
    for name in ("drafting", "no_drafting"):
        r = d[name]
        print(
            f"| {name.replace('_', ' ')} | {r['median_s']:.3f} | {r['tokens']} | {r['passes']} | "
            f"{r['drafted']} | {r['accepted']} ({r['accepted_share']:.0%}) |"
        )
    print()
    print(f"{CALL} ({SOURCE.count(chr(10))}-line function), {args.threads} thread(s)")
    print(f"model: {w['native']['model']}")
    print(
        f"native frames {w['native']['frames']} tokens {w['native']['tokens']}, "
        f"run frames {w['run']['frames']}"
    )
    print("| case | demo model (native) | baseline: run backend (observed) |")
    print("|---|---|---|")
    print(
        f"| warm predict, best / median | {w['native']['best_s']:.3f} s / "
        f"{w['native']['median_s']:.3f} s | {w['run']['best_s']:.3f} s / "
        f"{w['run']['median_s']:.3f} s |"
    )
    print(
        f"| cold `cwm-lsp predict` process | {c['cli_native_s']:.2f} s | {c['cli_run_s']:.2f} s |"
    )
    print()
    print("cold-start breakdown (median of fresh processes, seconds):")
    print(
        f"  python alone {c['python_s']:.2f}; import cwm_lsp.cli {c['import_cli_s']:.2f}; "
        f"import torch {c['import_torch_s']:.2f}; import runtime + native backend "
        f"{c['import_runtime_s']:.2f}; load weights (in process) {w['load_s']:.2f}; "
        f"prediction (warm) {w['native']['best_s']:.2f}"
    )
    verdict = "meets" if w["native"]["median_s"] < GOAL_S else "misses"
    print(
        f"goal < {GOAL_S:.0f} s for the prediction: warm {verdict}; cold CLI "
        f"{'meets' if c['cli_native_s'] < GOAL_S else 'misses'}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
