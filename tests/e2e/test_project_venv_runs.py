"""A package with relative imports and a dependency installed only in the project's own venv
(created under /tmp here): observed runs from the CLI and from trace-check use that venv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwm_lsp.execution.sandbox import bubblewrap_works

DEPENDENCY = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinyscale"\nversion = "1.0"\n'
        '[tool.setuptools]\npackages = ["tinyscale"]\n'
    ),
    "tinyscale/__init__.py": "def scale(value, factor):\n    return value * factor\n",
}
PROJECT = {
    "pyproject.toml": '[project]\nname = "shop"\nversion = "0.1"\n',
    "src/shop/__init__.py": "from .prices import total\n",
    "src/shop/rates.py": "VAT = 2\n",
    "src/shop/prices.py": (
        "from tinyscale import scale\n"
        "\n"
        "from . import rates\n"
        "from .rates import VAT\n"
        "\n"
        "\n"
        "def total(amounts):\n"
        '    """Sum with VAT.\n'
        "\n"
        "    >>> total([1, 2])\n"
        "    6\n"
        '    """\n'
        "    subtotal = sum(amounts)\n"
        "    return scale(subtotal, rates.VAT if VAT else 1)\n"
    ),
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    """shop/ with its own .venv holding tinyscale (built here as a wheel; no network)."""
    root = Path(tempfile.mkdtemp(prefix="cwm-lsp-project-", dir="/tmp"))
    try:
        write(root / "dep", DEPENDENCY)
        write(root / "shop", PROJECT)
        wheels = root / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
             "--no-index", "-q", "-w", str(wheels), str(root / "dep")],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        venv = root / "shop" / ".venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        (wheel,) = wheels.glob("tinyscale-*.whl")
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "-q", str(wheel)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        yield root / "shop"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cli(*args: str, sandbox: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["CWM_LSP_SANDBOX"] = sandbox
    return subprocess.run(
        [sys.executable, "-m", "cwm_lsp", *args, "--sandbox", sandbox],
        capture_output=True, text=True, timeout=300, check=False, env=env, cwd=cwd,
    )  # fmt: skip


SANDBOXES = ["bubblewrap", "audit-hook"]


def needs(sandbox: str) -> None:
    if sandbox == "bubblewrap" and not bubblewrap_works():
        pytest.skip("bubblewrap cannot create namespaces here")


def test_the_dependency_is_not_importable_by_cwm_lsp_itself() -> None:
    done = subprocess.run([sys.executable, "-c", "import tinyscale"], capture_output=True)
    assert done.returncode != 0


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_cli_predict_runs_the_module_in_its_package_with_the_project_venv(
    project: Path, sandbox: str
) -> None:
    needs(sandbox)
    done = cli(
        "predict", "src/shop/prices.py", "--function", "total", "--call", "total([3, 4])",
        "--backend", "run", "--format", "json", sandbox=sandbox, cwd=project,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    text = json.dumps(result)
    assert "14" in text, text
    assert str(project / ".venv" / "bin" / "python") in text, text


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_trace_check_passes_the_packages_doctest_with_the_project_venv(
    project: Path, sandbox: str
) -> None:
    needs(sandbox)
    done = cli(
        "trace-check", "src", "--backend", "run", "--no-cache", "--format", "json",
        sandbox=sandbox, cwd=project,
    )  # fmt: skip
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    statuses = [(r["call"], r["status"], r["failures"]) for r in report["results"]]
    assert statuses == [("total([1, 2])", "passed", [])], statuses


def test_an_interpreter_that_cannot_start_is_named_in_the_error(project: Path) -> None:
    done = cli(
        "predict", "src/shop/prices.py", "--function", "total", "--call", "total([3])",
        "--backend", "run", "--python", str(project / "no-such-python"),
        sandbox="audit-hook", cwd=project,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no-such-python does not exist" in done.stdout + done.stderr
