"""What the commands that predict (``predict``, ``trace-check``) share: the backend options
their flags (``cli._add_backend_options``) describe, and UTF-8 output."""

from __future__ import annotations

import argparse
import sys

from cwm_lsp.backends.options import DEFAULT_PREDICTION_TIMEOUT, BackendOptions


def options_from_args(args: argparse.Namespace) -> BackendOptions:
    """The backend options the command line asks for. Flags not given stay ``None`` (the
    backend's default); a flag the chosen backend cannot honour is refused when the predictor
    is built."""
    return BackendOptions(
        backend=args.backend,
        model=args.model,
        quantize=args.quantize,
        device=args.device,
        allow_execution=args.backend == "run",  # naming the run backend is the opt-in
        max_frames=args.max_frames,
        prediction_timeout=_prediction_timeout(args),
        temperature=getattr(args, "temperature", 0.0),
        seed=getattr(args, "seed", None),
        step_over=getattr(args, "step_over", False),
        follow_flow=False if args.free_decoding else None,
        run_timeout=args.timeout,
        python=args.python,
        sandbox=args.sandbox or "auto",
    )


def _prediction_timeout(args: argparse.Namespace) -> float | None:
    """``--prediction-timeout``: the default for model backends, none for a sandboxed run
    (it has ``--timeout``), and 0 for no limit."""
    given = getattr(args, "prediction_timeout", None)
    if given is None:
        return None if args.backend == "run" else DEFAULT_PREDICTION_TIMEOUT
    return None if given == 0 else given


def use_utf8_output() -> None:
    """Write stdout and stderr as UTF-8 whatever the locale (traces hold any character)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8")
