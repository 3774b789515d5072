"""``cwm-lsp trace-check --prediction-timeout``: an example whose prediction runs out of time is
its own kind of failure (``prophecy/prediction-timeout``) in JSON, JUnit and SARIF, and is not
cached (the next run tries again). The demo model (not CWM) needs far more than a second for
this call's 39 frames here (about 10 s at load 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cwm_lsp.backends.registry import demo_model_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(demo_model_path() is None, reason="the demo model is not installed"),
]

SOURCE = """\
# prophecy: swap_case('PyThOn')
def swap_case(text):
    return ''.join(c.lower() if c.isupper() else c.upper() for c in text)
"""
RULE = "prophecy/prediction-timeout"


def trace_check(tree: Path, output_format: str) -> tuple[int, str]:
    command = [sys.executable, "-m", "cwm_lsp", "trace-check", str(tree)]
    done = subprocess.run(
        [*command, "--prediction-timeout", "1", "--format", output_format],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tree,
        env={**os.environ, "CI": "true", "CWM_LSP_CACHE_DIR": str(tree / "cache")},
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def test_a_prediction_out_of_time_is_reported_as_its_own_kind(tmp_path: Path) -> None:
    (tmp_path / "swap.py").write_text(SOURCE, encoding="utf-8")

    status, text = trace_check(tmp_path, "json")
    assert status == 1
    report = json.loads(text)
    (result,) = report["results"]
    (failure,) = result["failures"]
    assert failure["rule"] == RULE
    assert "time limit (1 s) exceeded: stopped after" in failure["message"]

    # not cached: the JUnit run predicts again, and says the same
    status, text = trace_check(tmp_path, "junit")
    assert status == 1
    failures = ET.fromstring(text).findall(".//testcase/failure")
    assert [element.get("type") for element in failures] == [RULE]

    status, text = trace_check(tmp_path, "sarif")
    sarif = json.loads(text)
    run = sarif["runs"][0]
    assert [entry["ruleId"] for entry in run["results"]] == [RULE]
    assert RULE in {rule["id"] for rule in run["tool"]["driver"]["rules"]}
