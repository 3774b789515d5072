"""The run backend explains a run that never reached the call (real sandboxed child process)."""

from __future__ import annotations

from cwm_lsp.backends.base import PredictionRequest
from cwm_lsp.backends.run import RunPredictor
from cwm_lsp.execution.limits import SandboxLimits


def run(module: str, *, wall_seconds: float = 10.0) -> tuple[str | None, int]:
    context = f"{module}\ndef main():  # << START_OF_TRACE\n    return f()\n"
    request = PredictionRequest(context=context, source=module, call="f()", function="f")
    result = RunPredictor(SandboxLimits(wall_seconds=wall_seconds)).predict(request)
    assert result.limit in result.problems
    return result.limit, len(result.frames)


def test_a_top_level_exception_names_its_type_message_and_line() -> None:
    module = "def f():\n    return 1\n\nimport json\njson.loads('{')\n"
    limit, frames = run(module)
    assert frames == 0
    assert limit is not None
    assert limit.startswith("the module's top level (line 5) raised json.decoder.JSONDecodeError")
    assert limit.endswith("(char 1), so the call never ran")


def test_code_only_the_compiler_rejects_is_reported_with_its_line() -> None:
    limit, frames = run("def f():\n    return 1\nnonlocal q\n")
    assert (limit, frames) == (
        "the module's top level (line 3) raised SyntaxError: nonlocal declaration not allowed "
        "at module level, so the call never ran",
        0,
    )


def test_a_slow_top_level_hits_the_time_limit_before_the_call() -> None:
    limit, frames = run("import time\ntime.sleep(30)\n\ndef f():\n    return 1\n", wall_seconds=1)
    assert (limit, frames) == (
        "time limit (1 s) exceeded while running the module's top level (before the call started)",
        0,
    )


def test_a_call_that_ran_keeps_its_own_limit_message() -> None:
    limit, frames = run("def f():\n    while True:\n        pass\n", wall_seconds=1)
    assert frames > 0 and limit is not None and "top level" not in limit
