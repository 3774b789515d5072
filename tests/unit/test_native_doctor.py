"""`cwm-lsp doctor` runs as a real process and reports the kernel paths and the other checks."""

from __future__ import annotations

import os
import subprocess
import sys

from cwm_lsp.runtime import native


def test_doctor_reports_kernels_sandbox_and_model() -> None:
    env = {**os.environ, "CWM_LSP_NATIVE": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    for key in (
        "python",
        "torch",
        "cpu",
        "native",
        "attention",
        "int8_linear",
        "int4_linear",
        "bwrap",
        "demo",
    ):
        assert key in lines, f"doctor output lacks {key!r}:\n{done.stdout}"
    expected = (
        "pytorch (CWM_LSP_NATIVE=0)" if native.built() else "pytorch (native kernels not built)"
    )
    assert expected in lines["attention"]
    extension = next(
        line for line in done.stdout.splitlines() if line.startswith("native extension")
    )
    if native.built():
        assert "built; paths this CPU runs: scalar" in extension
    else:
        assert "NOT available" in extension
    if "not installed" not in lines["demo"]:
        assert "the cwm-lsp demo model (not CWM)" in lines["demo"]
        # CWM_LSP_NATIVE=0: the demo model cannot run torch-free, and doctor says why
        assert "on the PyTorch model (native kernels unavailable" in lines["runs"]
    assert "Traceback" not in done.stdout + done.stderr
