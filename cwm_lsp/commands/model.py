"""``cwm-lsp model info|quantize|convert|serve``: inspect and prepare model checkpoints."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwm_lsp.runtime.config import ConfigError, CwmConfig

if TYPE_CHECKING:
    from cwm_lsp.runtime.tokenizer import Tokenizer


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


def _model_argument(args: argparse.Namespace, action: str) -> Path | None:
    """PATH from the command line, else the installed demo model; None (said on stderr) when
    there is neither."""
    from cwm_lsp.backends.registry import demo_model_path

    if args.path:
        return Path(args.path).expanduser()
    demo = demo_model_path()
    if demo is None:
        print(
            f"no model given and the demo model is not installed: cwm-lsp model {action} PATH",
            file=sys.stderr,
        )
    return demo


def _source_checkpoint(arg: str) -> Path | None:
    """The checkpoint directory to read from; None (said on stderr) when it is not one."""
    src = Path(arg).expanduser()
    if not src.is_dir():
        print(f"{src}: not a checkpoint directory (config.json + safetensors)", file=sys.stderr)
        return None
    return src


# What reading a malformed checkpoint raises besides the loaders' own errors (a config.json
# nested thousands deep, a number too long to convert, a zero head count, a field of the wrong
# type): the command reports it in one line instead of a traceback.
MALFORMED_INPUT = (RecursionError, ValueError, ArithmeticError, TypeError, KeyError, IndexError)


def malformed(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "a file (config.json?) is nested too deeply to read"
    detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    return f"the checkpoint's files are malformed ({type(err).__name__}: {detail})"


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


def describe(path: Path) -> list[tuple[str, str]]:
    """(label, value) lines describing a checkpoint directory or a ``.gguf`` file.

    Raises ConfigError or another ValueError (GGUFError, WeightsError, TokenizerError) with a
    message for the user."""
    if path.is_file():
        return _describe_gguf(path)
    return _describe_directory(path)


def _describe_directory(directory: Path) -> list[tuple[str, str]]:
    from cwm_lsp.runtime.awq import awq_settings
    from cwm_lsp.runtime.checkpoint_files import checkpoint_shards, read_quantization
    from cwm_lsp.runtime.tokenizer import load_tokenizer

    config = CwmConfig.from_file(directory)
    awq = awq_settings(directory)
    shards = checkpoint_shards(directory)
    if awq is not None:
        quantization = _awq_text(awq)
    else:
        stored = read_quantization(directory)
        quantization = stored.label if stored.method else _FLOAT_WEIGHTS
    dtypes = Counter(dtype for shard in shards for dtype, _ in shard.tensors.values())
    file_bytes = sum(shard.path.stat().st_size for shard in shards)
    return [
        *_config_lines(config, directory),
        ("quantization", quantization),
        ("tensor dtypes", _tally(dtypes)),
        ("files", f"{len(shards)} safetensors file(s), {_size(file_bytes)}"),
        _kv_cache_line(config),
        _tokenizer_line(load_tokenizer(directory), "tokenizer.model or tokenizer.json needed"),
    ]


def _describe_gguf(path: Path) -> list[tuple[str, str]]:
    from gguf import GGUFReader

    from cwm_lsp.runtime import quant
    from cwm_lsp.runtime.gguf_loader import (
        GGUFError,
        _quantization_label,
        gguf_config,
        gguf_tokenizer,
    )

    config = gguf_config(path)  # raises GGUFError for a file that is not a model GGUF
    try:
        reader = GGUFReader(str(path))
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise GGUFError(f"{path}: not a readable GGUF file ({err})") from err
    types = Counter(tensor.tensor_type.name for tensor in reader.tensors)
    loads_as = _quantization_label(dict(types), None, None, quant.DEFAULT_GROUP_SIZE)
    file_type = reader.get_field("general.file_type")
    return [
        *_config_lines(config, path),
        ("file type", _gguf_file_type(None if file_type is None else file_type.contents())),
        ("quantization", f"loads as {loads_as.label}" if loads_as.method else _FLOAT_WEIGHTS),
        ("tensor types", _tally(types)),
        ("files", f"1 GGUF file, {len(reader.tensors)} tensors, {_size(path.stat().st_size)}"),
        _kv_cache_line(config),
        _tokenizer_line(gguf_tokenizer(path), "the GGUF has no tokenizer; predictions need one"),
    ]


_FLOAT_WEIGHTS = "none (can quantize on load: int8, int4)"


def _awq_text(settings: dict[str, Any]) -> str:
    bits = settings.get("bits", settings.get("w_bit", 4))
    group = settings.get("group_size", settings.get("q_group_size", 128))
    version = str(settings.get("version", "gemm")).lower()
    return f"AWQ {bits}-bit, group {group} ({version} packing); loads as int4 (group {group})"


def _gguf_file_type(value: object) -> str:
    """``general.file_type`` (llama.cpp's LlamaFileType number) as a name such as ``Q8_0``."""
    from gguf import LlamaFileType

    if value is None:
        return "not stated"
    try:
        name = LlamaFileType(int(str(value))).name
    except ValueError:
        return f"unknown ({value})"
    return name.removeprefix("ALL_").removeprefix("MOSTLY_")


def _tally(counts: Counter[str]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in sorted(counts.items()))


def _config_lines(config: CwmConfig, path: Path) -> list[tuple[str, str]]:
    name = "cwm-lsp demo model (not CWM)" if config.is_demo_model else (config.name or path.name)
    kinds = Counter(config.layer_types)
    pattern = "".join("G" if kind == "full_attention" else "s" for kind in config.layer_types)
    rope = config.rope
    rope_text = f"theta {rope.theta:g}"
    if rope.rope_type == "llama3":
        rope_text += (
            f", llama3 factor {rope.factor:g} (low {rope.low_freq_factor:g}, high "
            f"{rope.high_freq_factor:g}, original {rope.original_max_position_embeddings})"
        )
    return [
        ("model", name),
        ("path", str(path)),
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
    ]


def _kv_cache_line(config: CwmConfig) -> tuple[str, str]:
    from cwm_lsp.runtime.kvcache import cache_bytes

    return (
        "kv cache (fp32)",
        f"{_size(cache_bytes(config, 4096, bytes_per_value=4))} at 4k tokens, "
        f"{_size(cache_bytes(config, 32768, bytes_per_value=4))} at 32k",
    )


def _tokenizer_line(tokenizer: Tokenizer | None, missing: str) -> tuple[str, str]:
    if tokenizer is None:
        return ("tokenizer", f"none ({missing})")
    return (
        "tokenizer",
        f"{tokenizer.path.name} ({tokenizer.kind}), {tokenizer.rank_count} ranks"
        f" + {len(tokenizer.special)} special",
    )


def info(args: argparse.Namespace) -> int:
    from cwm_lsp.runtime.checkpoint_files import WeightsError
    from cwm_lsp.runtime.gguf_loader import GGUFError
    from cwm_lsp.runtime.tokenizer import TokenizerError

    path = _model_argument(args, "info")
    if path is None:
        return 2
    if not path.is_dir() and not (path.is_file() and path.suffix.lower() == ".gguf"):
        print(
            f"{path}: not a checkpoint directory or .gguf file"
            + ("" if path.exists() else " (no such file or directory)"),
            file=sys.stderr,
        )
        return 2
    try:
        lines = describe(path)
    except (ConfigError, WeightsError, TokenizerError, GGUFError) as err:
        reason = str(err).removeprefix(f"{path}: ")  # loaders name the file themselves
        print(f"cannot describe {path}: {reason}", file=sys.stderr)
        return 1
    except MALFORMED_INPUT as err:
        print(f"cannot describe {path}: {malformed(err)}", file=sys.stderr)
        return 1
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label:<{width}}  {value}")
    return 0


def quantize(args: argparse.Namespace) -> int:
    from cwm_lsp.runtime.checkpoint_files import Quantization, WeightsError
    from cwm_lsp.runtime.weights import save_quantized

    src, dst = _source_checkpoint(args.src), Path(args.dst).expanduser()
    if src is None:
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
    except MALFORMED_INPUT as err:
        print(f"cannot quantize {src}: {malformed(err)}", file=sys.stderr)
        return 1
    total = sum(path.stat().st_size for path in written)
    print(
        f"wrote {dst} ({args.quantize}"
        + (f", group size {args.group_size}" if args.quantize == "int4" else "")
        + f"): {len(written)} file(s), {_size(total)} in {time.monotonic() - started:.1f}s"
    )
    return 0


# -- `convert` (GGUF) and `serve` (OpenAI-compatible API). -----------------------------------------


def convert(args: argparse.Namespace) -> int:
    """``cwm-lsp model convert SRC DST.gguf --type f32|f16|q8_0|q4_0``."""
    from cwm_lsp.runtime.checkpoint_files import WeightsError
    from cwm_lsp.runtime.gguf_writer import ConvertError, convert_checkpoint
    from cwm_lsp.runtime.tokenizer import TokenizerError

    src, dst = _source_checkpoint(args.src), Path(args.dst).expanduser()
    if src is None:
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
    except MALFORMED_INPUT as err:
        print(f"cannot convert {src}: {malformed(err)}", file=sys.stderr)
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

    from cwm_lsp.completions_api import CompletionEngine, CompletionHTTPServer
    from cwm_lsp.runtime import ModelLoadError, load_model

    path = _model_argument(args, "serve")
    if path is None:
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
    except MALFORMED_INPUT as err:
        print(f"cannot serve {path}: {malformed(err)}", file=sys.stderr)
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
