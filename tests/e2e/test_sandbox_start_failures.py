"""A sandboxed run that cannot start says why (real processes): the interpreter's own error or
bubblewrap's, not a generic exit code; the project's interpreter under /tmp is visible."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cwm_lsp.backends.base import BackendError, PredictionRequest
from cwm_lsp.backends.run import RunPredictor
from cwm_lsp.execution.sandbox import bubblewrap_works

CONTEXT = "def f():\n    return 1\n\ndef main():  # << START_OF_TRACE\n    return f()\n"


def request() -> PredictionRequest:
    return PredictionRequest(context=CONTEXT, source=CONTEXT, call="f()", function="f")


def wrapper(tmp_path: Path, body: str) -> Path:
    """An interpreter that answers the probe as the real Python does, then ``body``."""
    script = tmp_path / "python-wrapper"
    script.write_text(
        f'#!/bin/sh\nif [ "$2" = "-c" ]; then exec {sys.executable} "$@"; fi\n{body}\n'
    )
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("sandbox", ["bubblewrap", "audit-hook"])
def test_an_interpreter_that_fails_to_start_is_quoted(tmp_path: Path, sandbox: str) -> None:
    if sandbox == "bubblewrap" and not bubblewrap_works():
        pytest.skip("bubblewrap cannot create namespaces here")
    python = wrapper(tmp_path, "echo 'fatal: no such runtime' >&2\nexit 3")
    predictor = RunPredictor(sandbox=sandbox, python=str(python))
    with pytest.raises(BackendError) as caught:
        predictor.predict(request())
    message = str(caught.value)
    assert "the sandbox could not start" in message
    assert message.endswith("fatal: no such runtime"), message


@pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap cannot create namespaces here")
def test_an_interpreter_under_tmp_outside_its_prefix_is_visible_in_bubblewrap(
    tmp_path: Path,
) -> None:
    python = wrapper(tmp_path, f'exec {sys.executable} "$@"')
    result = RunPredictor(sandbox="bubblewrap", python=str(python)).predict(request())
    assert result.finished, result.problems
    assert result.interpreter is not None and str(python) in result.interpreter
