"""One sandboxed fork server per file (real sandboxed processes): the top level runs once, each
example runs in a fresh child with its own limits, and the results equal single runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwm_lsp.backends.base import PredictionRequest, PredictionResult
from cwm_lsp.backends.run import RunPredictor
from cwm_lsp.entry import build_context
from cwm_lsp.execution.limits import SandboxLimits
from cwm_lsp.execution.sandbox import bubblewrap_works

MODULE = """\
from . import state
from .state import bump

print("imported once")
TOP_LEVEL_RUNS = bump()
SEEN = []


def remember(item):
    SEEN.append(item)
    return list(SEEN), TOP_LEVEL_RUNS, state.count


def wait(seconds):
    import time

    time.sleep(seconds)
    return seconds
"""
STATE = "count = 0\n\n\ndef bump():\n    global count\n    count += 1\n    return count\n"


@pytest.fixture(params=["bubblewrap", "audit-hook"])
def sandbox(request: pytest.FixtureRequest) -> str:
    if request.param == "bubblewrap" and not bubblewrap_works():
        pytest.skip("bubblewrap cannot create namespaces here")
    return str(request.param)


@pytest.fixture
def module_file(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "state.py").write_text(STATE)
    path = package / "mod.py"
    path.write_text(MODULE)
    return path


def predict(predictor: RunPredictor, path: Path, call: str) -> PredictionResult:
    source = path.read_text()
    context = build_context(source, call, None)
    request = PredictionRequest(
        context=context.context, source=source, call=call, function="f", source_path=str(path)
    )
    return predictor.predict(request)


def test_examples_share_the_import_but_not_each_others_state(
    module_file: Path, sandbox: str
) -> None:
    predictor = RunPredictor(sandbox=sandbox)
    with predictor.file_sessions():
        first = predict(predictor, module_file, "remember('a')")
        second = predict(predictor, module_file, "remember('b')")
    # the top level ran once per server, the first example's append is gone in the second
    assert first.trace_text.endswith("\"(['a'], 1, 1)\"<|frame_sep|><|end_of_text|>")
    assert second.trace_text.endswith("\"(['b'], 1, 1)\"<|frame_sep|><|end_of_text|>")
    # what the top level printed is no example's output
    assert (first.stdout, second.stdout) == ("", "")


def test_a_fork_server_trace_equals_a_single_run(module_file: Path, sandbox: str) -> None:
    single = predict(RunPredictor(sandbox=sandbox), module_file, "remember(3)")
    predictor = RunPredictor(sandbox=sandbox)
    with predictor.file_sessions():
        predict(predictor, module_file, "remember(1)")
        served = predict(predictor, module_file, "remember(3)")
    assert served.trace_text == single.trace_text
    assert served.frames == single.frames
    assert served.interpreter == single.interpreter


def test_each_example_keeps_its_own_time_limit_and_the_next_one_still_runs(
    module_file: Path, sandbox: str
) -> None:
    predictor = RunPredictor(SandboxLimits(wall_seconds=2), sandbox=sandbox)
    with predictor.file_sessions():
        quick = predict(predictor, module_file, "wait(0)")
        slow = predict(predictor, module_file, "wait(30)")
        after = predict(predictor, module_file, "wait(0.1)")
    assert quick.finished and after.finished
    assert slow.limit == "time limit (2 s) exceeded"
    assert not slow.finished


def test_a_failing_top_level_is_reported_for_every_example(tmp_path: Path, sandbox: str) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def f():\n    return 1\n\nraise ValueError('no config')\n")
    predictor = RunPredictor(sandbox=sandbox)
    with predictor.file_sessions():
        results = [predict(predictor, path, "f()") for _ in range(2)]
    for result in results:
        assert result.limit == (
            "the module's top level (line 4) raised ValueError: no config, so the call never ran"
        )
        assert "ValueError: no config" in result.stderr
