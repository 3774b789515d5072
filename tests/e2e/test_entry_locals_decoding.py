"""The default decoder writes the entry call frame's locals the harness already determines.

The small model below learns a trace of ``f(1)`` whose call frame says ``n`` is ``7`` (a weak
model miscopying its argument). Free decoding repeats that; the default decoder writes
``{"n": "1"}``, what Python binds, and leaves every later value to the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cwm_lsp.backends.base import PredictionRequest
from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.runtime.testing import (
    trace_model_config,
    write_taught_traces,
)
from cwm_lsp.trace.frames import Event, Frame

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

SOURCE = "def f(n):\n    k = n + 1\n    return k\n"
CONTEXT = SOURCE + "\ndef main():  # << START_OF_TRACE\n    return f(1)\n"
MISCOPIED = [
    Frame(Event.CALL, "def main():  # << START_OF_TRACE\n", {}),
    Frame(Event.LINE, "    return f(1)\n", {}),
    Frame(Event.CALL, "def f(n):\n", {"n": "7"}),
    Frame(Event.LINE, "    k = n + 1\n", {"n": ".."}),
    Frame(Event.LINE, "    return k\n", {"n": "..", "k": "8"}),
    Frame(Event.RETURN, "    return k\n", arg="8"),
    Frame(Event.RETURN, "    return f(1)\n", arg="8"),
]


@pytest.fixture(scope="module")
def miscopying_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("miscopying-model")
    return write_taught_traces(directory, CONTEXT, [MISCOPIED], config=trace_model_config())


def _request() -> PredictionRequest:
    return PredictionRequest(
        context=CONTEXT, source=SOURCE, call="f(1)", function="f", harness="main", max_frames=12
    )


def test_free_decoding_repeats_the_miscopied_argument(miscopying_model: Path) -> None:
    result = NativePredictor(miscopying_model, follow_flow=False).predict(_request())
    assert result.frames == MISCOPIED


def test_the_default_decoder_writes_the_bound_argument(miscopying_model: Path) -> None:
    result = NativePredictor(miscopying_model).predict(_request())
    assert result.frames[:3] == [*MISCOPIED[:2], Frame(Event.CALL, "def f(n):\n", {"n": "1"})]
    assert [frame.line for frame in result.frames[3:5]] == ["    k = n + 1\n", "    return k\n"]


def test_drafting_does_not_bypass_the_known_locals(miscopying_model: Path) -> None:
    drafted = NativePredictor(miscopying_model, lookahead=16).predict(_request())
    stepped = NativePredictor(miscopying_model, lookahead=0).predict(_request())
    assert drafted.trace_text == stepped.trace_text
    assert drafted.frames[2].locals == {"n": "1"}
