"""trace-check's result cache keeps everything a result says about where it came from."""

from __future__ import annotations

from pathlib import Path

from cwm_lsp.backends.base import PredictionResult
from cwm_lsp.checking.cache import PredictionCache, result_from_json, result_to_json
from cwm_lsp.provenance import Origin, Provenance
from cwm_lsp.trace.frames import Event, Frame


def test_a_cached_result_reads_back_with_its_provenance_and_interpreter(tmp_path: Path) -> None:
    result = PredictionResult(
        frames=[Frame(Event.CALL, "def f(n):\n", {"n": "3"})],
        trace_text="<|call_sep|>...",
        provenance=Provenance(Origin.OBSERVED, "run", weak_sandbox=True),
        finished=False,
        problems=["time limit (1 s) exceeded"],
        limit="time limit (1 s) exceeded",
        interpreter="/p/.venv/bin/python (the project's .venv)",
    )
    cache = PredictionCache(tmp_path)
    cache.put("k", result)
    stored = cache.get("k")
    assert stored is not None
    assert stored.provenance == result.provenance
    assert stored.provenance.describe() == "observed, weak sandbox (audit hook only)"
    assert (stored.interpreter, stored.limit, stored.frames) == (
        result.interpreter,
        result.limit,
        result.frames,
    )
    assert result_from_json(result_to_json(result)).provenance == result.provenance
