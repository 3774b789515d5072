"""``cwm-lsp predict --backend run`` on awkward modules, run as a real subprocess: every case ends
with a clear message and the right exit code, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def predict(module: Path, *args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "predict", str(module), "--backend", "run", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    stdout, stderr = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert "Traceback" not in stderr, stderr
    return done.returncode, stdout, stderr


def write(path: Path, text: str, *, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def test_a_module_whose_top_level_raises_says_so(tmp_path: Path) -> None:
    module = write(
        tmp_path / "raises.py",
        'import os\nraise RuntimeError("boom")\n# prophecy: f(1)\ndef f(x):\n    return x\n',
    )
    code, stdout, stderr = predict(module)
    message = "the module's top level raised RuntimeError: boom at line 2, so the call never ran"
    assert code == 1
    assert stderr.strip() == f"cwm-lsp predict: {message}"
    assert stdout.endswith(f"# {message}\n")
    code, stdout, _ = predict(module, "--format", "json")
    assert code == 1 and json.loads(stdout)["limit"] == message


def test_a_module_whose_top_level_sleeps_hits_the_time_limit_before_the_call(
    tmp_path: Path,
) -> None:
    module = write(
        tmp_path / "sleeps.py",
        "import time\ntime.sleep(60)\n# prophecy: f(1)\ndef f(x):\n    return x\n",
    )
    code, _, stderr = predict(module, "--timeout", "1")
    assert code == 1
    assert "time limit (1 s) exceeded while running the module's top level" in stderr


def test_deep_recursion_reports_the_limit(tmp_path: Path) -> None:
    module = write(
        tmp_path / "deep.py", "# prophecy: down(0)\ndef down(n):\n    return down(n + 1)\n"
    )
    code, stdout, stderr = predict(module)
    assert code == 1
    assert stdout.endswith(
        "# trace incomplete: recursion limit (1000) reached: the trace stops here\n"
    )
    assert "recursion limit" in stderr
