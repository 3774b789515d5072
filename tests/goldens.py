"""The ten reference traces: the copy vendored in ``tests/fixtures/golden`` (so the tests pass in
any clone), or the folder named by ``$CWM_LSP_GOLDEN_DIR`` (e.g. ``../shared/golden``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(
    os.environ.get("CWM_LSP_GOLDEN_DIR") or Path(__file__).resolve().parent / "fixtures" / "golden"
)
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))
if len(GOLDEN_FILES) != 10:
    raise RuntimeError(
        f"expected the ten reference traces in {GOLDEN_DIR}; set CWM_LSP_GOLDEN_DIR to their folder"
    )


# The goldens' traces (reprs, line events) were recorded on CPython 3.11.
py311 = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="golden traces were recorded on CPython 3.11"
)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def harness(source: str, call: str = "f()") -> str:
    """``source`` with the ``main`` harness the goldens use, calling ``call``."""
    return f"{source}\ndef main():  # << START_OF_TRACE\n    return {call}\n"


def golden_request(golden: dict[str, Any]) -> Any:
    """A prediction request for a golden's call through its ``main`` harness, allowed twice the
    golden's frame count."""
    from cwm_lsp.backends.base import PredictionRequest

    return PredictionRequest(
        context=golden["context"],
        source=golden["source"],
        call=golden["call"],
        function=golden["call"].split("(")[0],
        harness="main",
        max_frames=2 * len(golden["frames"]),
    )
