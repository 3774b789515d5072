"""``cwm-lsp trace-check`` with a model backend (a real, tiny checkpoint), ``--verify`` included.

A random tiny CWM checkpoint (written with transformers' ``CwmForCausalLM``) predicts garbage:
that is what makes it useful here, because every check must then report the invalid trace and
the divergence from the observed run without crashing. The shipped demo model, when installed,
is run on the same tree for the structure of the report only (its predictions may be right or
wrong).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cwm_lsp.backends.registry import demo_model_path

SOURCE = '''def add(a, b):
    """
    >>> add(1, 2)
    3
    """
    return a + b
'''


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cwm_lsp.runtime.testing import tiny_config, write_checkpoint

    directory = tmp_path_factory.mktemp("tiny-cwm")
    write_checkpoint(directory, tiny_config(max_position_embeddings=512))
    return directory


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "mini.py").write_text(SOURCE, encoding="utf-8")
    return tmp_path


def trace_check(*args: str | Path, cwd: Path) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "trace-check", *map(str, args), "--format", "json"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env={**os.environ, "CI": "true", "CWM_LSP_CACHE_DIR": str(cwd / "cache")},
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_model_prediction_is_checked_verified_and_cached(checkpoint: Path, tree: Path) -> None:
    args = ("mini.py", "--backend", "native", "--model", checkpoint, "--max-frames", "20")
    code, first, _ = trace_check(*args, "--verify", cwd=tree)
    assert code == 1
    assert first["backend"] == f"predicted by {checkpoint.name}, verified against sandboxed runs"
    [result] = first["results"]
    assert (result["call"], result["status"], result["cached"]) == ("add(1, 2)", "failed", False)
    assert result["provenance"] == f"predicted by {checkpoint.name}"
    rules = [failure["rule"] for failure in result["failures"]]
    assert rules == ["prophecy/invalid-trace", "prophecy/verify-divergence"]
    divergence = result["failures"][1]
    assert divergence["line"] == 3  # the harness is not in the file: reported at the call
    assert "predicted and observed traces diverge at frame 0" in divergence["message"]
    assert divergence["expected"] == "call at `def main():  # << START_OF_TRACE`"

    code, second, _ = trace_check(*args, "--verify", cwd=tree)
    assert code == 1
    assert second["summary"]["cached"] == 1
    assert second["results"][0]["cached"] is True
    assert second["results"][0]["failures"] == result["failures"]
    # another decoder is another prediction: the cached (flow-constrained) result is not reused
    _, free, _ = trace_check(*args, "--free-decoding", cwd=tree)
    assert free["results"][0]["cached"] is False


@pytest.mark.skipif(demo_model_path() is None, reason="the demo model is not installed")
def test_demo_model_report_is_complete(tree: Path) -> None:
    code, document, _ = trace_check("mini.py", "--max-frames", "200", cwd=tree)
    assert code in (0, 1)
    assert "not CWM" in document["backend"]
    [result] = document["results"]
    assert result["status"] in ("passed", "failed")
    assert (result["status"] == "passed") == (code == 0) == (result["failures"] == [])
    _, again, _ = trace_check("mini.py", "--max-frames", "200", cwd=tree)
    assert again["results"][0]["cached"] is True
