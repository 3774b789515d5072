"""Prefill and decode tokens/s of our runtime vs llama.cpp on the same GGUF weights, same run.

    .venv/bin/python benchmarks/llama_cpp.py                 # a random CWM-shaped model
    .venv/bin/python benchmarks/llama_cpp.py --gguf M.gguf   # an existing GGUF
    .venv/bin/python benchmarks/llama_cpp.py --type q4_0 --hidden 1024 --layers 8
    .venv/bin/python benchmarks/llama_cpp.py --checkpoint model/weights --type q8_0  # demo model

Both engines read the same file: ours through ``load_model(M.gguf)`` (Q4_0 as our int4, Q8_0
requantized to int8, F16/F32 as float), llama.cpp through llama-cpp-python. Ratios are
ours / llama.cpp throughput (above 1: ours is faster). Threads: both use ``--threads``.

Each figure is the median of ``--reps`` runs, the two engines alternating run by run so that a
change in the machine's load hits both; the ratio is the median of the per-run ratios (each pair
measured back to back), so it need not equal the ratio of the two medians. The load average
(1 minute) before and after each phase is printed beside it: on a busy machine threads that wait
at a barrier for a descheduled peer dominate both engines' times.
The last line is a markdown table row for README (``--label`` names the size).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cwm_lsp.runtime import load_model
from cwm_lsp.runtime.gguf_writer import convert_checkpoint

# This file is named like the llama_cpp package: take its directory off the import path so
# `import llama_cpp` finds the package, and load the shared helpers by file instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_spec = importlib.util.spec_from_file_location("bench_common", _HERE / "common.py")
assert _spec is not None and _spec.loader is not None
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)
print_table = _common.print_table


def _model(args: argparse.Namespace, workdir: Path) -> Path:
    if args.gguf:
        return Path(args.gguf)
    if args.checkpoint:
        path = workdir / f"{Path(args.checkpoint).name}-{args.type}.gguf"
        convert_checkpoint(Path(args.checkpoint), path, file_type=args.type)
        return path
    from cwm_lsp.runtime.testing import tiny_config, write_checkpoint

    heads = max(args.hidden // 128, 1)
    config = tiny_config(
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 3,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        num_key_value_heads=max(heads // 4, 1),
        head_dim=args.hidden // heads,
        sliding_window=8192,
        layer_types=[
            "full_attention" if i % 4 == 0 else "sliding_attention" for i in range(args.layers)
        ],
        max_position_embeddings=8192,
    )
    checkpoint = workdir / "checkpoint"
    write_checkpoint(checkpoint, config, scale=1.0)
    path = workdir / f"bench-{args.type}.gguf"
    convert_checkpoint(checkpoint, path, file_type=args.type)
    return path


def _parameters(config: object) -> int:
    """Weights of a CWM-shaped model (embeddings and head counted, norms not)."""
    c: Any = config
    hidden, attention = c.hidden_size, c.num_attention_heads * c.head_dim
    kv = c.num_key_value_heads * c.head_dim
    per_layer = 2 * hidden * attention + 2 * hidden * kv + 3 * hidden * c.intermediate_size
    embeddings = 1 if getattr(c, "tie_word_embeddings", False) else 2
    return int(c.num_hidden_layers * per_layer + embeddings * c.vocab_size * hidden)


def _seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _medians(
    ours: Callable[[], None], theirs: Callable[[], None], reps: int
) -> tuple[float, float, float]:
    """Median seconds of ``ours`` and ``theirs`` over ``reps`` alternating runs (after one
    warm-up each), and the median of the per-run ratios theirs / ours."""
    ours()
    theirs()
    mine: list[float] = []
    other: list[float] = []
    for rep in range(reps):
        order = (True, False) if rep % 2 == 0 else (False, True)
        for first in order:
            (mine if first else other).append(_seconds(ours if first else theirs))
    ratios = [t / o for o, t in zip(mine, other, strict=True)]
    return statistics.median(mine), statistics.median(other), statistics.median(ratios)


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--gguf", help="an existing GGUF file (default: build a random model)")
    parser.add_argument(
        "--checkpoint", help="a checkpoint directory to convert (e.g. model/weights)"
    )
    parser.add_argument("--label", default=None, help="size label of the markdown row")
    parser.add_argument("--type", default="q8_0", choices=("f32", "f16", "q8_0", "q4_0"))
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--prompt", type=int, default=256, help="prefill length")
    parser.add_argument("--decode", type=int, default=64, help="decode steps")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--reps", type=int, default=3, help="runs per figure (median kept)")
    args = parser.parse_args()
    try:
        from cwm_lsp.backends.llama_cpp import LlamaCppSession
    except ImportError:
        print("llama-cpp-python is not installed: pip install 'cwm-lsp[llama]'", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = _model(args, Path(tmp))
        ours = load_model(path)
        vocab = ours.config.vocab_size
        prompt = torch.randint(0, min(vocab, 256), (args.prompt,)).tolist()
        llama = LlamaCppSession(path, n_ctx=args.prompt + args.decode + 8, n_threads=args.threads)

        def ours_prefill() -> None:
            ours.new_session().prefill(prompt)

        def llama_prefill() -> None:
            llama.tokens = []
            llama.prefill(prompt)

        def ours_decode() -> None:
            session = ours.new_session()
            session.prefill(prompt[:8])
            for token in prompt[8 : 8 + args.decode]:
                session.step(token)

        def llama_decode() -> None:
            llama.tokens = []
            llama.prefill(prompt[:8])
            for token in prompt[8 : 8 + args.decode]:
                llama.step(token)

        rows, cells = [], []
        for label, ours_fn, llama_fn, count in (
            ("prefill", ours_prefill, llama_prefill, args.prompt),
            ("decode", ours_decode, llama_decode, args.decode),
        ):
            load_before = _load()
            ours_s, llama_s, speed = _medians(ours_fn, llama_fn, args.reps)
            load = f"{load_before} -> {_load()}"
            rows.append(
                [
                    label,
                    f"{count / ours_s:.1f}",
                    f"{count / llama_s:.1f}",
                    f"{speed:.2f}x",
                    load,
                ]
            )
            cells += [f"{1e3 * ours_s / count:.2f} / {1e3 * llama_s / count:.2f}", f"{speed:.2f}x"]
        params = _parameters(ours.config)
        print(
            f"{path.name}: {ours.config.num_hidden_layers} layers, hidden {ours.config.hidden_size}, "
            f"{ours.quantization.label} in ours; {args.threads} threads; median of {args.reps} runs"
        )
        print_table(
            ["phase", "ours tok/s", "llama.cpp tok/s", "ours / llama.cpp", "load (1 min avg)"], rows
        )
        print("(decode includes an 8-token prefill; the same tokens are fed to both engines)")
        label = args.label or f"hidden {ours.config.hidden_size} x {ours.config.num_hidden_layers}"
        label += f" ({params / 1e6:.1f}M)"
        print(
            "row: | "
            + " | ".join([label, args.type.upper(), *cells, f"{rows[0][4]}; {rows[1][4]}"])
            + " |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
