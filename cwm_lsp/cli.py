"""``cwm-lsp`` command line: argument parsing only; each command lives in ``cwm_lsp.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from cwm_lsp import __version__

# the options module is a leaf of plain constants: importing it keeps --help fast
from cwm_lsp.backends.options import (
    BACKEND_NAMES,
    DEFAULT_MAX_FRAMES,
    DEFAULT_PREDICTION_TIMEOUT,
    QUANTIZATIONS,
    SANDBOXES,
)


def _size(text: str) -> int:
    """``5000``, ``500K`` or ``5M`` as a number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    factor = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    try:
        value = float(digits) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 500K or 5M)") from None
    if value < 1:
        raise argparse.ArgumentTypeError("the size must be at least 1 byte")
    return int(value)


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=BACKEND_NAMES, default="auto", help="predictor backend"
    )
    parser.add_argument(
        "--model", metavar="PATH_OR_URL", help="model directory, .gguf file or server URL"
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default=None,
        help="native backend: weight-only quantization when loading",
    )
    parser.add_argument("--device", default=None, help="native backend: torch device (default cpu)")
    parser.add_argument(
        "--max-frames",
        type=int,
        default=DEFAULT_MAX_FRAMES,
        metavar="N",
        help=f"stop after N frames (default {DEFAULT_MAX_FRAMES})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="sandboxed runs (run backend, trace-check --verify): wall-clock limit per run",
    )
    parser.add_argument(
        "--prediction-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="model backends: stop a prediction after SECONDS and show it labelled as stopped "
        f"(default {DEFAULT_PREDICTION_TIMEOUT:g}; 0: no limit)",
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="sandboxed runs: the interpreter that runs the code (default: $VIRTUAL_ENV, "
        "the project's .venv or venv, else cwm-lsp's own)",
    )
    parser.add_argument(
        "--sandbox",
        choices=SANDBOXES,
        default=None,
        help="sandboxed runs: which sandbox (default auto: the strongest available)",
    )
    parser.add_argument(
        "--free-decoding",
        action="store_true",
        help="native and llama-cpp backends: let the model name any line (by default each "
        "predicted frame's line is kept on the function's control flow)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cwm-lsp", description="Predict what Python functions will do, line by line."
    )
    parser.add_argument("--version", action="version", version=f"cwm-lsp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--log-file", metavar="FILE", help="write the server log to FILE")

    predict = commands.add_parser("predict", help="predict one function's execution and print it")
    predict.add_argument("file", help="Python source file")
    where = predict.add_mutually_exclusive_group()
    where.add_argument(
        "--function", metavar="NAME", help="function to trace (Class.method for methods)"
    )
    where.add_argument(
        "--line", type=int, metavar="N", help="trace the function enclosing line N (1-based)"
    )
    predict.add_argument("--call", metavar="EXPR", help="example call, e.g. 'f(2, 4)'")
    predict.add_argument(
        "--invent",
        action="store_true",
        help="model backends: let the model invent the inputs (ignores the example calls)",
    )
    _add_backend_options(predict)
    predict.add_argument(
        "--step-over", action="store_true", help="predict callees' results without their lines"
    )
    predict.add_argument("--temperature", type=float, default=0.0)
    predict.add_argument("--seed", type=int, default=None)
    predict.add_argument(
        "--verify",
        action="store_true",
        help="also run the call in the sandbox and mark where the prediction first differs "
        "(executes the code)",
    )
    predict.add_argument("--format", choices=("text", "json", "cwm"), default="text")
    predict.add_argument(
        "--width", type=int, default=60, metavar="N", help="cut values at N characters (text)"
    )

    check = commands.add_parser("trace-check", help="check documented examples headlessly (for CI)")
    check.add_argument(
        "paths", nargs="+", metavar="PATH", help="Python files or directories to check"
    )
    _add_backend_options(check)
    check.add_argument(
        "--verify",
        action="store_true",
        help="also compare each prediction with a sandboxed run (executes the examples)",
    )
    check.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="check N files (sandboxed runs) or N examples (models) at a time "
        "(default: the number of cores)",
    )
    check.add_argument(
        "--max-file-size",
        type=_size,
        default=None,
        metavar="BYTES",
        help="skip larger files, with a reason in the report (default 5M; suffixes K, M)",
    )
    check.add_argument(
        "--format",
        choices=("text", "json", "junit", "sarif", "github"),
        default="text",
        help="report format (github: workflow-command annotations)",
    )
    check.add_argument("--output", metavar="FILE", help="write the report to FILE")
    check.add_argument(
        "--baseline", metavar="FILE", help="known failures: only failures not in FILE fail"
    )
    check.add_argument(
        "--update-baseline",
        action="store_true",
        help="write this run's failures to the --baseline file and exit 0",
    )
    check.add_argument(
        "--no-cache",
        action="store_true",
        help="ignore and do not write the result cache (.cwm-lsp-cache/ or $CWM_LSP_CACHE_DIR)",
    )

    model = commands.add_parser(
        "model", help="inspect, quantize, convert or serve model checkpoints"
    )
    model_commands = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    info = model_commands.add_parser("info", help="describe a checkpoint")
    info.add_argument("path", nargs="?", help="checkpoint (default: the demo model)")
    quantize = model_commands.add_parser("quantize", help="write a pre-quantized checkpoint")
    quantize.add_argument("src")
    quantize.add_argument("dst")
    quantize.add_argument("--quantize", choices=("int8", "int4"), required=True)
    quantize.add_argument("--group-size", type=int, default=128)
    convert = model_commands.add_parser("convert", help="write a GGUF that llama.cpp loads")
    convert.add_argument("src")
    convert.add_argument("dst")
    convert.add_argument("--type", choices=("f32", "f16", "q8_0", "q4_0"), default="q8_0")
    mserve = model_commands.add_parser("serve", help="serve an OpenAI-compatible completions API")
    mserve.add_argument("path", nargs="?", help="checkpoint (default: the demo model)")
    mserve.add_argument("--host", default="127.0.0.1")
    mserve.add_argument("--port", type=int, default=8000)
    mserve.add_argument("--quantize", choices=QUANTIZATIONS, default=None)
    mserve.add_argument(
        "--token-env", metavar="VAR", help="require the bearer token held in env VAR"
    )
    mserve.add_argument("--max-queue", type=int, default=16)

    commands.add_parser("doctor", help="report the environment, backends and native kernels")
    return parser


_HANDLERS = {
    "serve": "cwm_lsp.commands.serve",
    "predict": "cwm_lsp.commands.predict",
    "trace-check": "cwm_lsp.commands.trace_check",
    "model": "cwm_lsp.commands.model",
    "doctor": "cwm_lsp.commands.doctor",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(_HANDLERS[args.command])
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
