"""``cwm-lsp predict --verify``: the demo model's prediction beside a sandboxed run of the same
call, with the first divergence marked (the Quick start's main job), and the refused options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cwm_lsp.backends.registry import demo_model_path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = (
    "# prophecy: double_all([1, 2])\n"
    "def double_all(values):\n"
    "    doubled = []\n"
    "    for value in values:\n"
    "        doubled.append(2 * value)\n"
    "    return doubled\n"
)

needs_demo_model = pytest.mark.skipif(demo_model_path() is None, reason="demo model not installed")


def predict(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "predict", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@needs_demo_model
def test_the_prediction_is_shown_beside_the_sandboxed_run(tmp_path: Path) -> None:
    module = tmp_path / "doubling.py"
    module.write_text(SOURCE, encoding="utf-8")
    done = predict(module, "--verify", "--max-frames", "60")
    assert done.returncode in (0, 1), done.stderr
    predicted, _, observed = done.stdout.partition("\n\n# double_all:")
    assert "demo model (not CWM)" in predicted and "≈" in predicted
    assert "observed in a sandboxed run" in observed
    assert "doubled = [2] → [2, 4]" in observed  # the run's real values
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(("# verified:", "# first divergence from the sandboxed run:")), last


@needs_demo_model
def test_json_carries_the_observed_frames_and_the_divergence(tmp_path: Path) -> None:
    module = tmp_path / "doubling.py"
    module.write_text(SOURCE, encoding="utf-8")
    done = predict(module, "--verify", "--format", "json", "--max-frames", "60")
    prediction = json.loads(done.stdout)
    verification = prediction["verification"]
    assert prediction["provenance"]["is_demo_model"]
    assert verification["observed_finished"] is True
    assert verification["divergence"] is None or "predicted" in verification["divergence"]


def test_verify_needs_a_model_and_a_text_format(tmp_path: Path) -> None:
    module = tmp_path / "doubling.py"
    module.write_text(SOURCE, encoding="utf-8")
    refused = predict(module, "--verify", "--backend", "run")
    assert refused.returncode == 2 and "already is a sandboxed run" in refused.stderr
    if demo_model_path() is not None:
        refused = predict(module, "--verify", "--format", "cwm")
        assert refused.returncode == 2 and "--format text or json" in refused.stderr
