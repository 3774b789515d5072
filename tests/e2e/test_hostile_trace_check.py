"""``cwm-lsp trace-check`` on a hostile tree, as a real subprocess in both sandbox modes: a
named pipe and a symlink to /dev/zero called ``*.py``, a symlink out of the tree and a 50 MB
``.py`` file are skipped with their reasons; the ordinary file beside them is still checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = "# prophecy: double(2)\ndef double(x):\n    return 2 * x\n"


@pytest.fixture()
def hostile_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "good.py").write_text(EXAMPLE)
    os.mkfifo(tree / "pipe.py")
    (tree / "zero.py").symlink_to("/dev/zero")
    (tmp_path / "outside.py").write_text(EXAMPLE)
    (tree / "away.py").symlink_to(tmp_path / "outside.py")
    with (tree / "huge.py").open("w") as stream:
        stream.write(EXAMPLE)
        line = "x = 1  # " + "pad " * 20 + "\n"
        stream.write(line * (50 * 1024 * 1024 // len(line)))
    return tree


@pytest.mark.parametrize("sandbox", ["bubblewrap", "audit-hook"])
@pytest.mark.timeout(60)
def test_hostile_files_are_skipped_with_reasons(hostile_tree: Path, sandbox: str) -> None:
    env = {**os.environ, "CWM_LSP_SANDBOX": sandbox}
    options = ["--backend", "run", "--format", "json", "--no-cache"]
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "trace-check", str(hostile_tree), *options],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=hostile_tree,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    results = {item["file"]: item for item in report["results"]}
    assert results["good.py"]["status"] == "passed"
    reasons = {name: results[name]["skip_reason"] for name in ("pipe.py", "zero.py", "away.py")}
    assert reasons["pipe.py"] == "not a regular file (a named pipe): not read"
    assert reasons["zero.py"].startswith("a symlink to /dev/zero")
    assert reasons["away.py"].endswith("(not followed)")
    assert results["huge.py"]["skip_reason"].startswith("larger than the 5.0 MB size cap (50.0")
