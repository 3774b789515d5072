"""End-to-end prefill and decode speed: the runtime with native kernels vs its PyTorch path.

    .venv/bin/python benchmarks/end_to_end.py [--quick] [--cpu-time] [--threads N]
        [--prompts 2048] [--depths 8192 16384] [--new-tokens 512] [--decode 32]
        [--kv bf16|f32] [--weights bf16 f32 int8] [--repeat N] [--json PATH]

The model has CWM's attention shape (48 query heads, 8 key/value heads, head_dim 128, hidden
6144, window 8192, RoPE llama3) but only 4 layers in CWM's 3:1 pattern (sliding, sliding,
sliding, full), a small MLP (intermediate 1024) and a small vocabulary (4096), so attention is a
large share of the work at long contexts. Its random float32 checkpoint is written once and
cached in the temp directory (``--cache-dir``); ``--weights`` picks how it is loaded: bf16 (the
default: CWM ships bf16 and ``load_model`` keeps a checkpoint's dtype), f32, or int8 (quantized
while loading; the PyTorch path's int8 matmul is slow, so keep its prompts short). The KV cache
is bf16 unless ``--kv f32``.

Each variant runs in its own subprocess (``CWM_LSP_NATIVE=0`` for the PyTorch path, read where
the runtime dispatches), through the public runtime API: ``load_model`` ->
``new_session(max_chunk=256, cache_dtype=...)`` -> ``prefill`` / ``step``. Cases:

* ``prompt N``: prefill of an N-token prompt from an empty cache (true end to end), then greedy
  decode of ``--decode`` tokens at that context.
* ``depth D``: prefill of ``--new-tokens`` tokens appended to a D-token context, then decode at
  that context. Computing D tokens of context for real would take the whole time budget on a
  small machine, so the context's K/V are random values written straight into the session's
  cache (same shapes, dtype and ring layout as real ones); everything timed is the runtime's
  real forward pass at those positions.

The two variants must compute the same function: after the table come the largest difference
between their last prefill logits and how many greedy tokens agree before the first difference
(random weights give nearly flat logits, so a rounding difference can flip a near tie).

Run time on this project's 2-core machine: default about 3.5 minutes, ``--quick`` under one
minute, plus about 15 s the first time to write the 1.9 GB checkpoint; ``--prompts 8192
--depths`` (a real 8k prompt, no synthetic context) about 3 minutes.

Clock: wall time by default; ``--cpu-time`` uses the child's process CPU time (all its threads),
which other processes on a shared machine disturb less. ``--threads 1 --cpu-time`` is the
quietest figure. ``--emulate-avx2`` measures an AVX2-only machine's routing and kernels on an
AVX-512 one (see ``AVX2_ENV`` and ``hide_avx512``). Each figure is the best of ``--repeat`` runs (``--median``: their median),
variants alternating; the machine's load average around the runs is printed below the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

CHILD_ENV = "CWM_LSP_E2E_CHILD"  # set in the re-invoked child: the JSON spec of its run
MAX_CHUNK = 256  # the runtime's default prefill chunk
PREFILL_GOAL = 2.0
DECODE_GOAL = 1.3


@dataclass(frozen=True)
class Shape:
    heads: int = 48
    kv_heads: int = 8
    head_dim: int = 128
    layers: int = 4
    intermediate: int = 1024
    vocab: int = 4096
    window: int = 8192

    @property
    def hidden(self) -> int:
        return self.heads * self.head_dim

    def layer_types(self) -> list[str]:
        """CWM's 3:1 pattern ending on a global layer: sliding, sliding, sliding, full, ..."""
        return ["full_attention" if i % 4 == 3 else "sliding_attention" for i in range(self.layers)]

    def config(self) -> dict[str, Any]:
        return {
            "model_type": "cwm",
            "architectures": ["CwmForCausalLM"],
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "sliding_window": self.window,
            "layer_types": self.layer_types(),
            "max_position_embeddings": 131072,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": False,
            "rope_parameters": {
                "rope_type": "llama3",
                "rope_theta": 1_000_000.0,
                "factor": 16.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
            },
            "cwm_lsp_model_name": "random CWM-shaped benchmark model",
        }

    def describe(self) -> str:
        kinds = "".join("F" if t == "full_attention" else "S" for t in self.layer_types())
        return (
            f"hidden {self.hidden}, {self.heads} query / {self.kv_heads} kv heads x "
            f"{self.head_dim}, {self.layers} layers ({kinds}; S = sliding window {self.window}, "
            f"F = full), MLP {self.intermediate}, vocab {self.vocab}"
        )


@dataclass(frozen=True)
class ChildSpec:
    checkpoint: str
    native: bool
    weights: str  # "bf16", "f32" or "int8"
    kv: str  # "bf16" or "f32"
    threads: int | None
    cpu_time: bool
    prompts: list[int]
    depths: list[int]
    new_tokens: int
    decode: int
    seed: int = 0
    emulate_avx2: bool = False


@dataclass
class CaseResult:
    case: str  # "prompt 2048" or "depth 8192"
    prefill_tokens: int
    prefill_wall_s: float
    prefill_cpu_s: float
    decode_tokens: int
    decode_wall_s: float
    decode_cpu_s: float
    last_logits: list[float] = field(default_factory=list)
    decoded: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------- checkpoint


def checkpoint_dir(shape: Shape, root: Path) -> Path:
    """A random checkpoint of ``shape``, written once under ``root`` and reused."""
    key = hashlib.sha256(json.dumps(shape.config(), sort_keys=True).encode()).hexdigest()[:12]
    directory = root / f"cwm-lsp-bench-e2e-{key}"
    if (directory / "config.json").exists():
        return directory
    from cwm_lsp.runtime.testing import write_random_safetensors

    partial = Path(tempfile.mkdtemp(prefix=directory.name + ".partial-", dir=root))
    try:
        write_random_safetensors(partial, shape.config(), shard_bytes=1 << 30)
        try:
            partial.rename(directory)
        except OSError:  # another run finished first
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return directory


# --------------------------------------------------------------------------- child side


def fill_context(session: Any, length: int, generator: Any) -> None:
    """Make ``session`` hold a ``length``-token context whose K/V are random values, laid out as
    the runtime lays out real ones (position p in slot p % capacity of each layer's ring)."""
    import torch

    cache = session.cache
    for layer in cache.layers:
        layer.ensure(length)
        for tensor in (layer.keys, layer.values):
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
    cache.advance(length)
    vocab = session.model.config.vocab_size
    session.tokens = torch.randint(2, vocab, (length,), generator=generator).tolist()


# What --emulate-avx2 sets in both children: our kernels on their AVX2 path, PyTorch's own kernels
# (ATen and oneDNN) capped at AVX2.
AVX2_ENV = {
    "CWM_LSP_KERNEL_PATH": "avx2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
AVX512_FEATURES = ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16")


def hide_avx512(native: Any) -> None:
    """Make the runtime see a CPU without AVX-512, so that it routes work (e.g. which prefill
    chunks the native decoder takes) as it does on an AVX2-only machine."""
    features = native.cpu_features

    def avx2_only() -> dict[str, bool]:
        return {k: v and k not in AVX512_FEATURES for k, v in features().items()}

    native.cpu_features = avx2_only


def run_child(spec: ChildSpec) -> dict[str, Any]:
    import torch

    from cwm_lsp.runtime import load_model, native, ops

    if spec.emulate_avx2:
        hide_avx512(native)

    if spec.threads:
        torch.set_num_threads(spec.threads)
        if native.built():
            native.set_num_threads(spec.threads)
    active = ops.native_kernels() is not None
    if active != spec.native:
        raise SystemExit(
            f"expected the {'native' if spec.native else 'PyTorch'} path but got the other "
            f"({native.unavailable_reason() or 'native kernels active'})"
        )
    if spec.weights == "int8":
        model = load_model(spec.checkpoint, quantize="int8")
    else:
        dtype = torch.bfloat16 if spec.weights == "bf16" else torch.float32
        model = load_model(spec.checkpoint, dtype=dtype)
    cache_dtype = torch.bfloat16 if spec.kv == "bf16" else torch.float32
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(spec.seed)

    def new_session() -> Any:
        return model.new_session(max_chunk=MAX_CHUNK, cache_dtype=cache_dtype)

    warm = new_session()  # thread pools, allocator, first-call dispatch
    warm.prefill([int(i) for i in torch.randint(2, vocab, (MAX_CHUNK + 8,), generator=generator)])
    warm.step(3)
    del warm

    def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        return value, time.perf_counter() - wall, time.process_time() - cpu

    def decode(session: Any, logits: Any) -> tuple[list[int], float, float]:
        def run() -> list[int]:
            token, out = int(logits.argmax()), []
            for _ in range(spec.decode):
                out.append(token)
                token = int(session.step(token).argmax())
            return out

        tokens, wall, cpu = measure(run)
        return tokens, wall, cpu

    def run_case(name: str, session: Any, ids: list[int], new_tokens: int) -> CaseResult:
        logits, p_wall, p_cpu = measure(partial(session.prefill, ids))
        if session.reused_tokens != len(ids) - new_tokens:
            raise SystemExit(f"{name}: the session recomputed {session.reused_tokens} tokens")
        decoded, d_wall, d_cpu = decode(session, logits)
        return CaseResult(
            name, new_tokens, p_wall, p_cpu, spec.decode, d_wall, d_cpu, logits.tolist(), decoded
        )

    def random_ids(count: int) -> list[int]:
        return [int(i) for i in torch.randint(2, vocab, (count,), generator=generator)]

    cases: list[CaseResult] = []
    for length in spec.prompts:
        cases.append(run_case(f"prompt {length}", new_session(), random_ids(length), length))
    for depth in spec.depths:
        session = new_session()
        fill_context(session, depth, generator)
        ids = session.tokens + random_ids(spec.new_tokens)
        cases.append(run_case(f"depth {depth}", session, ids, spec.new_tokens))
        del session
    paths = native.active_paths() if native.built() else {}
    return {
        "native": active,
        "paths": paths,
        "threads": torch.get_num_threads(),
        "cases": [asdict(case) for case in cases],
    }


# --------------------------------------------------------------------------- parent side


def spawn(spec: ChildSpec, timeout: float | None) -> dict[str, Any]:
    env = dict(os.environ)
    env[CHILD_ENV] = json.dumps(asdict(spec))
    if spec.emulate_avx2:
        env.update(AVX2_ENV)
    if spec.native:
        env.pop("CWM_LSP_NATIVE", None)
    else:
        env["CWM_LSP_NATIVE"] = "0"
    with tempfile.TemporaryDirectory(prefix="cwm-lsp-e2e-") as tmp:
        out = Path(tmp) / "result.json"
        env[CHILD_ENV + "_OUT"] = str(out)
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            variant = "native" if spec.native else "pytorch"
            raise SystemExit(f"the {variant} run failed (exit {proc.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def pick_cases(runs: list[dict[str, Any]], clock: str, median: bool) -> dict[str, dict[str, Any]]:
    """Per case and phase, the run with the shortest time (or the median one when ``median``)."""
    picked: dict[str, dict[str, Any]] = {}
    names = [case["case"] for case in runs[0]["cases"]]
    for name in names:
        cases = [c for run in runs for c in run["cases"] if c["case"] == name]
        kept = dict(cases[0])
        for phase in ("prefill", "decode"):
            key = f"{phase}_{clock}_s"
            ordered = sorted(cases, key=lambda c: float(c[key]))
            chosen = ordered[(len(ordered) - 1) // 2] if median else ordered[0]
            for suffix in ("wall_s", "cpu_s"):
                kept[f"{phase}_{suffix}"] = chosen[f"{phase}_{suffix}"]
        picked[name] = kept
    return picked


def rate(case: dict[str, Any], phase: str, clock: str) -> float:
    return float(case[f"{phase}_tokens"]) / max(float(case[f"{phase}_{clock}_s"]), 1e-12)


def max_difference(a: list[float], b: list[float]) -> float:
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def report(
    weights: str,
    native_runs: list[dict[str, Any]],
    torch_runs: list[dict[str, Any]],
    clock: str,
    median: bool = False,
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    ours = pick_cases(native_runs, clock, median)
    base = pick_cases(torch_runs, clock, median)
    rows, records = [], []
    for name, mine in ours.items():
        ref = base[name]
        record: dict[str, Any] = {"weights": weights, "case": name}
        for phase, goal in (("prefill", PREFILL_GOAL), ("decode", DECODE_GOAL)):
            fast, slow = rate(mine, phase, clock), rate(ref, phase, clock)
            speedup = fast / slow
            record[phase] = {
                "tokens": mine[f"{phase}_tokens"],
                "native_tok_s": fast,
                "pytorch_tok_s": slow,
                "speedup": speedup,
                "goal": goal,
                "met": speedup >= goal,
            }
            label = f"{phase} {mine[f'{phase}_tokens']} tok"
            rows.append(
                [
                    weights,
                    name,
                    label,
                    f"{fast:.2f}",
                    f"{slow:.2f}",
                    f"{speedup:.2f}x",
                    f">= {goal}x",
                    "yes" if speedup >= goal else "NO",
                ]
            )
        logits_diff = max(
            max_difference(n["last_logits"], t["last_logits"])
            for n, t in zip(
                (c for r in native_runs for c in r["cases"] if c["case"] == name),
                (c for r in torch_runs for c in r["cases"] if c["case"] == name),
                strict=True,
            )
        )
        same = 0  # greedy decoding agrees up to the first differing token, then drifts apart
        while same < len(mine["decoded"]) and mine["decoded"][same] == ref["decoded"][same]:
            same += 1
        record["max_logit_difference"] = logits_diff
        record["same_decoded_tokens"] = [same, len(mine["decoded"])]
        records.append(record)
    return rows, records


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        cells = [
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("| " + " | ".join(cells) + " |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="depth 8192 only, 256 new tokens, 8 decode steps"
    )
    parser.add_argument("--cpu-time", action="store_true", help="time with process CPU time")
    parser.add_argument(
        "--emulate-avx2",
        action="store_true",
        help="an AVX2-only CPU on an AVX-512 one: our kernels forced to avx2, PyTorch capped at "
        "AVX2 (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA), AVX-512 hidden from the runtime",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch and native threads")
    parser.add_argument("--prompts", type=int, nargs="*", default=None, help="prompt lengths")
    parser.add_argument("--depths", type=int, nargs="*", default=None, help="context depths")
    parser.add_argument("--new-tokens", type=int, default=None, help="tokens prefilled at a depth")
    parser.add_argument("--decode", type=int, default=None, help="decode steps per case")
    parser.add_argument("--kv", choices=("bf16", "f32"), default="bf16", help="KV cache dtype")
    parser.add_argument(
        "--weights",
        nargs="+",
        choices=("bf16", "f32", "int8"),
        default=["bf16"],
        help="linear weights: bf16 (as CWM ships; load_model keeps it), f32, int8",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (best kept)")
    parser.add_argument(
        "--median", action="store_true", help="keep the median of --repeat runs, not the best"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--timeout", type=float, default=None, help="seconds per child run")
    shape = parser.add_argument_group("model shape (defaults: CWM's attention shape)")
    defaults = Shape()
    for name in ("heads", "kv_heads", "head_dim", "layers", "intermediate", "vocab", "window"):
        flag = "--" + name.replace("_", "-")
        shape.add_argument(flag, type=int, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    if args.prompts is None:
        args.prompts = [2048]
    if args.depths is None:
        args.depths = [8192] if args.quick else [8192, 16384]
    if args.new_tokens is None:
        args.new_tokens = MAX_CHUNK if args.quick else 2 * MAX_CHUNK
    if args.decode is None:
        args.decode = 8 if args.quick else 32
    lengths = [*args.prompts, *args.depths, args.new_tokens, args.decode, args.repeat]
    if any(n < 1 for n in lengths) or (args.threads is not None and args.threads < 1):
        parser.error("lengths, steps, repeats and threads must be positive")
    if args.heads % args.kv_heads:
        parser.error("--heads must be a multiple of --kv-heads")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cwm_lsp.runtime import native

    if not native.built():
        print(f"native kernels unavailable: {native.unavailable_reason()}", file=sys.stderr)
        return 2
    shape = Shape(**{k: getattr(args, k) for k in Shape.__dataclass_fields__})
    clock = "cpu" if args.cpu_time else "wall"
    start = time.perf_counter()
    checkpoint = checkpoint_dir(shape, args.cache_dir)
    import torch

    threads = args.threads or torch.get_num_threads()
    print(f"model: {shape.describe()}; random float32 checkpoint {checkpoint}")
    print(
        f"KV cache {args.kv}, prefill chunk {MAX_CHUNK}, {threads} thread(s), clock: "
        + ("process CPU time" if args.cpu_time else "wall time")
        + f", {'median' if args.median else 'best'} of {args.repeat}"
        + f"; native = {native.active_paths()['attention']}"
        + ("; emulating an AVX2-only CPU (--emulate-avx2)" if args.emulate_avx2 else "")
    )
    print(
        "prompt N: N-token prompt prefilled from an empty cache; depth D: "
        f"{args.new_tokens} tokens prefilled after a D-token context of random K/V; "
        f"decode: {args.decode} greedy steps after the prefill"
    )
    all_rows: list[list[str]] = []
    records: list[dict[str, Any]] = []
    loads: list[float] = []  # 1-minute load average before and after each child run
    for weights in args.weights:
        runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for attempt in range(args.repeat):
            order = (True, False) if attempt % 2 == 0 else (False, True)
            for use_native in order:
                spec = ChildSpec(
                    str(checkpoint), use_native, weights, args.kv, args.threads,
                    args.cpu_time, args.prompts, args.depths, args.new_tokens, args.decode,
                    emulate_avx2=args.emulate_avx2,
                )  # fmt: skip
                load = os.getloadavg()[0]
                runs[use_native].append(spawn(spec, args.timeout))
                loads.append(load)
                loads.append(os.getloadavg()[0])
        rows, found = report(weights, runs[True], runs[False], clock, args.median)
        all_rows += rows
        records += found
    print()
    headers = [
        "weights",
        "case",
        "phase",
        "native tok/s",
        "pytorch tok/s",
        "speedup",
        "goal",
        "met",
    ]
    print_table(headers, all_rows)
    print()
    for record in records:
        same, total = record["same_decoded_tokens"]
        print(
            f"{record['weights']} {record['case']}: max |logit difference| native vs pytorch "
            f"{record['max_logit_difference']:.2e}; greedy tokens identical for the first "
            f"{same} of {total} steps"
        )
    print(
        f"machine load (1-minute average) around the runs: {min(loads):.2f} .. {max(loads):.2f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"total time {time.perf_counter() - start:.0f} s")
    if args.json is not None:
        payload = {
            "shape": asdict(shape),
            "kv": args.kv,
            "threads": threads,
            "clock": clock,
            "repeat": args.repeat,
            "statistic": "median" if args.median else "best",
            "load_average": [min(loads), max(loads)],
            "new_tokens": args.new_tokens,
            "decode": args.decode,
            "results": records,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


def child_main() -> int:
    spec = ChildSpec(**json.loads(os.environ[CHILD_ENV]))
    result = run_child(spec)
    Path(os.environ[CHILD_ENV + "_OUT"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(child_main() if CHILD_ENV in os.environ else main())
