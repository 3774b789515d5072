"""Prefill and decode speed of our runtime next to transformers' CwmForCausalLM, same weights.

    .venv/bin/python benchmarks/runtime.py [--lengths 128 512 2048] [--decode 32] [--quick]

Builds a random mid-size CWM-shaped model (GQA 6:1, hybrid layers, a window shorter than the
longest context), saves it with transformers, loads it into both implementations and times, for
each context length: prefill of the whole context, then greedy decoding of ``--decode`` tokens.
Figures are tokens per second; the ratio column is ours / transformers (same run, same machine).
Quantized rows (ours only) are compared with our own float32 row.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch


def build_config(args: argparse.Namespace) -> Any:
    from cwm_lsp.runtime.testing import FULL, SLIDING, tiny_config

    layers = args.layers
    return tiny_config(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=layers,
        num_attention_heads=12,
        num_key_value_heads=2,
        head_dim=args.hidden // 12,
        sliding_window=args.window,
        layer_types=[FULL if i % 4 == 0 else SLIDING for i in range(layers)],
        max_position_embeddings=max(8192, 2 * max(args.lengths)),
        bos_token_id=0,
        eos_token_id=[1],
    )


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_of(
    repeat: int, bench: Callable[[Any, list[int], int], tuple[float, float]], *args: Any
) -> tuple[float, float]:
    """The best prefill and decode rates of ``repeat`` runs (shared machines are noisy)."""
    runs = [bench(*args) for _ in range(repeat)]
    return max(r[0] for r in runs), max(r[1] for r in runs)


def bench_ours(model: Any, prompt: list[int], decode: int) -> tuple[float, float]:
    session = model.new_session()
    logits: list[torch.Tensor] = []
    prefill = timed(lambda: logits.append(session.prefill(prompt)))
    token = int(logits[-1].argmax())

    def run_decode() -> None:
        nonlocal token
        for _ in range(decode):
            token = int(session.step(token).argmax())

    return len(prompt) / prefill, decode / timed(run_decode)


@torch.inference_mode()
def bench_transformers(model: Any, prompt: list[int], decode: int) -> tuple[float, float]:
    ids = torch.tensor([prompt])
    state: dict[str, Any] = {}

    def run_prefill() -> None:
        out = model(ids, use_cache=True, logits_to_keep=1)
        state["cache"], state["token"] = out.cache, int(out.logits[0, -1].argmax())

    prefill = timed(run_prefill)

    def run_decode() -> None:
        for _ in range(decode):
            out = model(torch.tensor([[state["token"]]]), cache=state["cache"], use_cache=True)
            state["cache"], state["token"] = out.cache, int(out.logits[0, -1].argmax())

    return len(prompt) / prefill, decode / timed(run_decode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--decode", type=int, default=32, help="tokens decoded after each prefill")
    parser.add_argument("--hidden", type=int, default=1536)
    parser.add_argument("--intermediate", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--quantize", nargs="*", default=["int8", "int4"], help="also time these")
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure (best is kept)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="a small model and short contexts")
    args = parser.parse_args()
    if args.quick:
        args.hidden, args.intermediate, args.layers, args.vocab = 384, 1024, 4, 8192
        args.lengths, args.window, args.decode = [64, 256], 128, 16
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import CwmForCausalLM

    from cwm_lsp.runtime import load_model, ops
    from cwm_lsp.runtime.testing import random_model

    config = build_config(args)
    reference = random_model(config, seed=0, scale=1.0).to(args.device)
    params = sum(p.numel() for p in reference.parameters())
    native = ops.native_kernels() is not None
    print(
        f"model: {params / 1e6:.0f}M params, hidden {args.hidden}, {args.layers} layers "
        f"(window {args.window}), GQA 12:2, vocab {args.vocab}; device {args.device}, "
        f"{torch.get_num_threads()} threads, best of {args.repeat}, native kernels {'on' if native else 'off'}"
        + (" (CWM_LSP_NATIVE=0)" if os.environ.get("CWM_LSP_NATIVE") == "0" else "")
    )
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp, safe_serialization=True)
        del reference
        hf = CwmForCausalLM.from_pretrained(tmp, dtype=torch.float32).to(args.device).eval()
        ours = {"float32": load_model(tmp, device=args.device)}
        for method in args.quantize:
            ours[method] = load_model(tmp, quantize=method, device=args.device)

        header = f"{'context':>8} {'impl':<22} {'prefill tok/s':>14} {'ratio':>7} {'decode tok/s':>13} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        generator = torch.Generator().manual_seed(0)
        for length in args.lengths:
            prompt = torch.randint(2, args.vocab, (length,), generator=generator).tolist()
            bench_ours(ours["float32"], prompt[:16], 2)  # warm-up
            base = best_of(args.repeat, bench_transformers, hf, prompt, args.decode)
            print(
                f"{length:>8} {'transformers float32':<22} {base[0]:>14.1f} {'1.00':>7} {base[1]:>13.2f} {'1.00':>7}"
            )
            mine = best_of(args.repeat, bench_ours, ours["float32"], prompt, args.decode)
            print(
                f"{length:>8} {'ours float32':<22} {mine[0]:>14.1f} {mine[0] / base[0]:>7.2f} "
                f"{mine[1]:>13.2f} {mine[1] / base[1]:>7.2f}"
            )
            for method in args.quantize:
                q = best_of(args.repeat, bench_ours, ours[method], prompt, args.decode)
                print(
                    f"{length:>8} {'ours ' + method + ' (vs ours)':<22} {q[0]:>14.1f} {q[0] / mine[0]:>7.2f} "
                    f"{q[1]:>13.2f} {q[1] / mine[1]:>7.2f}"
                )
        sizes = {name: model.weight_bytes() / 2**20 for name, model in ours.items()}
        print("weights in memory: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
