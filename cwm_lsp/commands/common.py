"""What the commands that predict (``predict``, ``trace-check``) share: the predictor their
backend options (``cli._add_backend_options``) ask for, and UTF-8 output."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cwm_lsp.backends.base import Predictor


def predictor_from_args(args: argparse.Namespace) -> Predictor:
    """``--backend --model --quantize --device --max-frames --timeout --free-decoding`` as a
    predictor; raises
    ``BackendError`` with a message for the user."""
    from cwm_lsp.backends.registry import get_predictor  # lazily: keeps --help fast

    return get_predictor(
        args.backend,
        model=args.model,
        quantize=args.quantize,
        device=args.device,
        allow_execution=args.backend == "run",  # naming the run backend is the opt-in
        max_frames=args.max_frames,
        timeout=args.timeout,
        follow_flow=not getattr(args, "free_decoding", False),
    )


def use_utf8_output() -> None:
    """Write stdout and stderr as UTF-8 whatever the locale (traces hold any character)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8")
