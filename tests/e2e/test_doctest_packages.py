"""``trace-check --backend run`` against ``pytest --doctest-modules`` on vendored public packages.

For each package (tests/fixtures/packages/, see its README) pytest names the docstrings whose
doctests pass; every doctest example of those docstrings that trace-check checks must pass the
observed run too, for at least 97% of them, under bubblewrap and under the audit-hook fallback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cwm_lsp.execution.sandbox import bubblewrap_works

PACKAGES = Path(__file__).resolve().parents[1] / "fixtures" / "packages"
TREES = {
    "toolz": PACKAGES / "toolz" / "toolz",
    "sortedcontainers": PACKAGES / "sortedcontainers" / "sortedcontainers",
    "more-itertools": PACKAGES / "more-itertools" / "more_itertools",
}
REQUIRED_SHARE = 0.97


def passing_docstrings(tree: Path, tmp_path: Path) -> set[str]:
    """Dotted names (``pkg.mod.Class.method``) of the docstrings pytest's doctests pass."""
    report = tmp_path / "pytest.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "--doctest-modules", "-q", "-p", "no:cacheprovider",
         "-c", os.devnull, "--rootdir", str(tree.parent), f"--junitxml={report}", str(tree)],
        cwd=tree.parent, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    passed: set[str] = set()
    for case in ET.parse(report).getroot().iter("testcase"):
        if not any(child.tag in ("failure", "error", "skipped") for child in case):
            passed.add(case.get("name", ""))
    assert passed, f"pytest passed no doctest in {tree}"
    return passed


def trace_check(tree: Path, sandbox: str) -> list[dict[str, str]]:
    """trace-check's JSON results, each with its ``file`` made absolute."""
    env = {**os.environ, "CWM_LSP_SANDBOX": sandbox}
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "trace-check", "--backend", "run", "--no-cache",
         "--sandbox", sandbox, "--format", "json", str(tree)],
        capture_output=True, text=True, timeout=1200, check=False, env=env,
    )  # fmt: skip
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    results: list[dict[str, str]] = report["results"]
    for result in results:
        result["file"] = str(Path(report["root"], result["file"]).resolve())
    return results


def docstring_name(result: dict[str, str], tree: Path) -> str:
    """The dotted name pytest gives the docstring holding the example."""
    module = Path(result["file"]).relative_to(tree.parent.resolve()).with_suffix("")
    parts = [part for part in module.parts if part != "__init__"]
    return ".".join([*parts, result["function"]])


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("sandbox", ["bubblewrap", "audit-hook"])
@pytest.mark.parametrize("name", sorted(TREES))
def test_observed_runs_pass_what_pytest_doctest_passes(
    name: str, sandbox: str, tmp_path: Path
) -> None:
    if sandbox == "bubblewrap" and not bubblewrap_works():
        pytest.skip("bubblewrap cannot create namespaces here")
    tree = TREES[name]
    passing = passing_docstrings(tree, tmp_path)
    results = trace_check(tree, sandbox)
    counted = [
        r for r in results
        if r["kind"] == "doctest" and r["status"] != "skipped" and docstring_name(r, tree) in passing
    ]  # fmt: skip
    assert len(counted) >= 50, f"only {len(counted)} examples matched pytest's docstrings"
    failed = [r for r in counted if r["status"] != "passed"]
    share = 1 - len(failed) / len(counted)
    shown = "\n".join(f"{r['file']}:{r['line']} {r['call']}: {r['failures']}" for r in failed)
    assert share >= REQUIRED_SHARE, f"{name}: {share:.1%} of {len(counted)} passed\n{shown}"
