"""No prediction of a golden or of an ``examples/`` function outlives its budget unlabelled.

The demo model (not CWM) predicts every golden call and every example call of ``examples/``
under a 5 s budget: each trace either finished or carries the limit that stopped it (its label
and its kind), and none takes longer than the budget plus the last step.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from goldens import GOLDEN_FILES, golden_request

from cwm_lsp.backends.base import PredictionRequest
from cwm_lsp.backends.native import NativePredictor
from cwm_lsp.backends.options import DEFAULT_MAX_FRAMES, BackendOptions
from cwm_lsp.backends.registry import demo_model_path, repository_root
from cwm_lsp.entry import list_functions
from cwm_lsp.prediction import prepare, select_target

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(demo_model_path() is None, reason="the demo model is not installed"),
]

BUDGET = 5.0
LAST_STEP = 2.0  # the step under way when the budget runs out, and reading the trace
STOPS = {"timeout", "no_termination", "max_frames", "max_tokens", "max_frame_tokens"}


def _requests() -> list[tuple[str, PredictionRequest]]:
    found = []
    for path in GOLDEN_FILES:
        request = golden_request(json.loads(path.read_text()))
        request = dataclasses.replace(
            request, max_frames=DEFAULT_MAX_FRAMES, prediction_timeout=BUDGET
        )
        found.append((path.stem, request))
    options = BackendOptions(prediction_timeout=BUDGET)
    for path in sorted((repository_root() / "examples").glob("*.py")):
        source = path.read_text()
        for function in list_functions(source):
            if not any(example.error is None for example in function.examples):
                continue
            target = select_target(source, function=function.qualname)
            found.append(
                (f"{path.name}:{function.qualname}", prepare(source, target, options).request)
            )
    return found


def test_every_prediction_finishes_or_is_labelled_within_its_budget() -> None:
    predictor = NativePredictor(str(demo_model_path()))
    predictor.load()
    cases = _requests()
    assert len(cases) >= 15
    for name, request in cases:
        started = time.monotonic()
        result = predictor.predict(request)
        spent = time.monotonic() - started
        assert spent <= BUDGET + LAST_STEP, f"{name}: {spent:.1f} s"
        if not result.finished:
            assert result.limit and result.stop in STOPS, f"{name}: unlabelled {result.problems}"
            assert result.limit in result.problems
