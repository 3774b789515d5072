"""The ``--verify`` wiring with real sandboxed runs on both sides.

The CLI refuses ``--verify`` with ``--backend run`` (both sides would be the same run), but the
checker itself can be given the run backend as predictor and observer: every example must then
verify without a divergence, and a trace of different code must diverge at the changed line.
"""

from __future__ import annotations

from pathlib import Path

from cwm_lsp.backends.base import PredictionRequest, PredictionResult
from cwm_lsp.backends.options import BackendOptions
from cwm_lsp.backends.run import RunPredictor
from cwm_lsp.checking import Backend, Checker, SourceFile, read_examples, run_checks
from cwm_lsp.checking.checks import VERIFY_DIVERGENCE, check_verification
from cwm_lsp.entry import build_context
from cwm_lsp.execution import SandboxLimits

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "trace_check" / "project"


def run_backend() -> Backend:
    return Backend(RunPredictor(SandboxLimits(max_frames=200)), {"backend": "run"})


def test_identical_runs_verify_cleanly() -> None:
    path = FIXTURE / "passing.py"
    examples = read_examples(SourceFile(path, "passing.py"))
    options = BackendOptions(backend="run", allow_execution=True, max_frames=200)
    checker = Checker(run_backend(), options, observer=run_backend())
    results = run_checks(checker, examples, jobs=3)
    assert [(r.example.call, r.status, r.failures) for r in results] == [
        (example.call, "passed", []) for example in examples
    ]


def test_a_changed_line_is_the_first_divergence(tmp_path: Path) -> None:
    source = (
        "# prophecy: f(3)\n"
        "def f(n):\n"
        "    total = 0\n"
        "    for i in range(n):\n"
        "        total += i\n"
        "    return total\n"
    )
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    [example] = read_examples(SourceFile(path, "m.py"))
    assert example.info is not None
    context = build_context(source, example.call, example.info).context
    changed = context.replace("total += i", "total += i * 2")
    predictor = RunPredictor(SandboxLimits(max_frames=200))

    def observe(text: str) -> PredictionResult:
        request = PredictionRequest(context=text, source=text, call="f(3)", function="f")
        return predictor.predict(request)

    observed = observe(context)
    # The other code's trace runs `total += i * 2` where the observed one runs `total += i`.
    failure = check_verification(example, observe(changed), observed, context)
    assert failure is not None and failure.rule == VERIFY_DIVERGENCE
    assert failure.line == 5
    assert "line 5 `total += i`: line predicted `total += i * 2`" in failure.message
    assert check_verification(example, observed, observed, context) is None
