"""``cwm-lsp model info|quantize|convert|serve``: inspect and prepare model checkpoints."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from cwm_lsp.runtime.config import ConfigError, CwmConfig


def run(args: argparse.Namespace) -> int:
    action = args.model_command
    if action == "info":
        return info(args)
    if action == "quantize":
        return quantize(args)
    if action == "convert":
        return convert(args)
    if action == "serve":
        return serve(args)
    print(f"unknown model action {action!r}", file=sys.stderr)
    return 2


def _default_model() -> Path | None:
    from cwm_lsp.backends.registry import demo_model_path

    return demo_model_path()


def _size(num_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.1f} GiB"


def _count(value: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def describe(directory: Path) -> list[tuple[str, str]]:
    """(label, value) lines describing a checkpoint; raises ConfigError/ValueError."""
    from cwm_lsp.runtime.kvcache import cache_bytes
    from cwm_lsp.runtime.tokenizer import load_tokenizer
    from cwm_lsp.runtime.weights import checkpoint_shards, read_quantization

    config = CwmConfig.from_file(directory)
    stored = read_quantization(directory)
    shards = checkpoint_shards(directory)
    name = (
        "cwm-lsp demo model (not CWM)" if config.is_demo_model else (config.name or directory.name)
    )
    kinds = Counter(config.layer_types)
    pattern = "".join("G" if kind == "full_attention" else "s" for kind in config.layer_types)
    rope = config.rope
    rope_text = f"theta {rope.theta:g}"
    if rope.rope_type == "llama3":
        rope_text += (
            f", llama3 factor {rope.factor:g} (low {rope.low_freq_factor:g}, high "
            f"{rope.high_freq_factor:g}, original {rope.original_max_position_embeddings})"
        )
    dtypes = Counter(dtype for shard in shards for dtype, _ in shard.tensors.values())
    file_bytes = sum(shard.path.stat().st_size for shard in shards)
    tokenizer = load_tokenizer(directory)
    lines = [
        ("model", name),
        ("path", str(directory)),
        (
            "architecture",
            f"{config.model_type} ({'hybrid sliding/global' if config.is_hybrid else 'all global'})",
        ),
        ("parameters", _count(config.parameter_count())),
        (
            "layers",
            f"{config.num_hidden_layers}: {kinds.get('full_attention', 0)} global, "
            f"{kinds.get('sliding_attention', 0)} sliding ({pattern})",
        ),
        ("sliding window", str(config.sliding_window) if config.is_hybrid else "-"),
        ("hidden / intermediate", f"{config.hidden_size} / {config.intermediate_size}"),
        (
            "attention heads",
            f"{config.num_attention_heads} query, {config.num_key_value_heads} "
            f"key/value, head_dim {config.head_dim}",
        ),
        ("rope", rope_text),
        (
            "vocabulary",
            f"{config.vocab_size} (tied head)"
            if config.tie_word_embeddings
            else str(config.vocab_size),
        ),
        ("max positions", str(config.max_position_embeddings)),
        (
            "quantization",
            stored.label if stored.method else "none (can quantize on load: int8, int4)",
        ),
        ("tensor dtypes", ", ".join(f"{k} x{v}" for k, v in sorted(dtypes.items()))),
        ("files", f"{len(shards)} safetensors file(s), {_size(file_bytes)}"),
        (
            "kv cache (fp32)",
            f"{_size(cache_bytes(config, 4096, bytes_per_value=4))} at 4k tokens, "
            f"{_size(cache_bytes(config, 32768, bytes_per_value=4))} at 32k",
        ),
    ]
    if tokenizer is None:
        lines.append(
            ("tokenizer", "none (tokenizer.model or tokenizer.json needed for predictions)")
        )
    else:
        lines.append(
            (
                "tokenizer",
                f"{tokenizer.path.name} ({tokenizer.kind}), {tokenizer.rank_count} ranks"
                f" + {len(tokenizer.special)} special",
            )
        )
    return lines


def info(args: argparse.Namespace) -> int:
    from cwm_lsp.runtime.tokenizer import TokenizerError
    from cwm_lsp.runtime.weights import WeightsError

    path = Path(args.path).expanduser() if args.path else _default_model()
    if path is None:
        print(
            "no checkpoint given and the demo model is not installed: cwm-lsp model info PATH",
            file=sys.stderr,
        )
        return 2
    if not path.is_dir():
        print(f"{path}: not a checkpoint directory", file=sys.stderr)
        return 2
    try:
        lines = describe(path)
    except (ConfigError, WeightsError, TokenizerError) as err:
        print(f"cannot describe {path}: {err}", file=sys.stderr)
        return 1
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label:<{width}}  {value}")
    return 0


def quantize(args: argparse.Namespace) -> int:
    from cwm_lsp.runtime.weights import Quantization, WeightsError, save_quantized

    src, dst = Path(args.src).expanduser(), Path(args.dst).expanduser()
    if not src.is_dir():
        print(f"{src}: not a checkpoint directory", file=sys.stderr)
        return 2
    if dst.exists() and any(dst.iterdir()):
        print(f"{dst}: exists and is not empty; choose a new directory", file=sys.stderr)
        return 2
    if args.group_size <= 0 or args.group_size % 2:
        print("--group-size must be a positive even number", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        config = CwmConfig.from_file(src)
        written = save_quantized(src, dst, config, Quantization(args.quantize, args.group_size))
    except (ConfigError, WeightsError) as err:
        print(f"cannot quantize {src}: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"cannot write {dst}: {err}", file=sys.stderr)
        return 1
    total = sum(path.stat().st_size for path in written)
    print(
        f"wrote {dst} ({args.quantize}"
        + (f", group size {args.group_size}" if args.quantize == "int4" else "")
        + f"): {len(written)} file(s), {_size(total)} in {time.monotonic() - started:.1f}s"
    )
    return 0


# -- `convert` (GGUF) and `serve` (OpenAI-compatible API): the deployments part. --------------


def convert(args: argparse.Namespace) -> int:
    """``cwm-lsp model convert SRC DST.gguf --type f32|f16|q8_0|q4_0``."""
    from cwm_lsp.runtime.gguf_writer import ConvertError, convert_checkpoint
    from cwm_lsp.runtime.tokenizer import TokenizerError
    from cwm_lsp.runtime.weights import WeightsError

    src, dst = Path(args.src).expanduser(), Path(args.dst).expanduser()
    if not src.is_dir():
        print(f"{src}: not a checkpoint directory (config.json + safetensors)", file=sys.stderr)
        return 2
    if dst.suffix.lower() != ".gguf":
        print(f"{dst}: the output name should end in .gguf", file=sys.stderr)
        return 2
    if dst.exists():
        print(f"{dst}: exists; remove it or choose another name", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        report = convert_checkpoint(src, dst, file_type=args.type)
    except (ConvertError, ConfigError, WeightsError, TokenizerError) as err:
        print(f"cannot convert {src}: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"cannot write {dst}: {err}", file=sys.stderr)
        return 1
    print(
        f"wrote {dst} ({report.file_type}, llama architecture with CWM's layer pattern): "
        f"{report.tensors} tensors, {_size(report.bytes_written)}, vocabulary "
        f"{report.vocabulary} with {report.merges} merges, in {time.monotonic() - started:.1f}s"
    )
    if report.fallbacks:
        print(
            f"note: {len(report.fallbacks)} tensor(s) stored as f16 (rows not a multiple of 32): "
            + ", ".join(report.fallbacks[:4]),
            file=sys.stderr,
        )
    print(
        "note: llama.cpp runs every layer with global attention; its output equals CWM's only "
        "while prompt + trace stay within the sliding window "
        "(our runtime and `--backend native` apply the window).",
        file=sys.stderr,
    )
    return 0


def serve(args: argparse.Namespace) -> int:
    """``cwm-lsp model serve [PATH] --host --port [--quantize] [--token-env VAR] [--max-queue N]``."""
    import os

    from cwm_lsp.runtime import ModelLoadError, load_model
    from cwm_lsp.serving import CompletionEngine, CompletionHTTPServer

    path = Path(args.path).expanduser() if args.path else _default_model()
    if path is None:
        print(
            "no model given and the demo model is not installed: cwm-lsp model serve PATH",
            file=sys.stderr,
        )
        return 2
    if args.max_queue < 0:
        print("--max-queue must be 0 or more", file=sys.stderr)
        return 2
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env, "")
        if not token:
            print(
                f"--token-env: environment variable {args.token_env} is empty or unset",
                file=sys.stderr,
            )
            return 2
    if token is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {args.host} without a token: anyone who can reach it can use "
            "the model (use --token-env VAR)",
            file=sys.stderr,
        )
    try:
        model = load_model(path, quantize=args.quantize)
        engine = CompletionEngine(model)
    except (ModelLoadError, ValueError) as err:
        print(f"cannot serve {path}: {err}", file=sys.stderr)
        return 1
    try:
        server = CompletionHTTPServer(
            engine,
            args.host,
            args.port,
            token=token,
            max_queue=args.max_queue,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except OSError as err:
        print(f"cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    print(
        f"serving {engine.name} ({model.quantization.label}) at {server.url}/v1 "
        f"(completions, models; health at {server.url}/health)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
