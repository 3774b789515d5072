"""Smoke test of benchmarks/end_to_end.py on a tiny model: both variants run through the real
runtime in their own processes and compute the same function. Speeds are printed, not checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cwm_lsp.runtime import native

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "end_to_end.py"
TINY = ["--heads", "6", "--kv-heads", "1", "--head-dim", "16", "--intermediate", "64"]
TINY += ["--vocab", "512", "--window", "48", "--threads", "1"]


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not native.built(), reason="native kernels not built")
def test_quick_run_compares_native_with_pytorch_on_the_same_function(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = run_script(
        "--quick", *TINY, "--prompts", "70", "--depths", "100", "--new-tokens", "20",
        "--decode", "3", "--weights", "f32", "--cpu-time", "--cache-dir", str(tmp_path),
        "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in proc.stdout.splitlines()
        if line.startswith("| f32")
    ]
    assert [row[:3] for row in rows] == [
        ["f32", "prompt 70", "prefill 70 tok"],
        ["f32", "prompt 70", "decode 3 tok"],
        ["f32", "depth 100", "prefill 20 tok"],
        ["f32", "depth 100", "decode 3 tok"],
    ]
    assert all(row[6] == (">= 2.0x" if "prefill" in row[2] else ">= 1.3x") for row in rows)
    result = json.loads(out.read_text())
    assert result["clock"] == "cpu" and result["threads"] == 1
    cases = {record["case"]: record for record in result["results"]}
    assert set(cases) == {"prompt 70", "depth 100"}
    for record in cases.values():
        assert record["prefill"]["native_tok_s"] > 0 and record["decode"]["pytorch_tok_s"] > 0
        assert record["max_logit_difference"] < 1e-3  # same weights, same prompt, f32
    assert cases["depth 100"]["prefill"]["tokens"] == 20
    # one finished checkpoint directory (kept for the next run), no partial one left behind
    assert [p.name.count(".partial") for p in tmp_path.glob("cwm-lsp-bench-e2e-*")] == [0]


def test_bad_arguments_give_a_message_not_a_traceback() -> None:
    proc = run_script("--new-tokens", "0")
    assert proc.returncode == 2
    assert "must be positive" in proc.stderr
    assert "Traceback" not in proc.stderr
