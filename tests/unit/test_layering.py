"""The dependency rules of the package layout (README, Development): the runtime is a plain
language model, the sandbox knows nothing of models, traces know nothing of the backends that make
them, and cancellation and provenance are leaves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cwm_lsp"

RULES = {
    "runtime": (
        "cwm_lsp.trace.flow",
        "cwm_lsp.trace.flow_tracker",
        "cwm_lsp.backends",
        "cwm_lsp.server",
    ),
    "execution": ("cwm_lsp.backends", "cwm_lsp.runtime", "cwm_lsp.server"),
    "trace": ("cwm_lsp.backends", "cwm_lsp.runtime", "cwm_lsp.server"),
    "cancel.py": ("cwm_lsp",),
    "provenance.py": ("cwm_lsp",),
    "syntax.py": ("cwm_lsp",),
}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy and TYPE_CHECKING imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def files_of(part: str) -> list[Path]:
    target = PACKAGE / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("part", sorted(RULES))
def test_a_layer_does_not_import_what_sits_above_it(part: str) -> None:
    files = files_of(part)
    assert files, part
    broken = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in files
        for module in sorted(imported_modules(path))
        if any(is_within(module, banned) for banned in RULES[part])
    ]
    assert broken == []


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_check_sees_an_import_it_forbids() -> None:
    imports = imported_modules(PACKAGE / "backends" / "native.py")
    assert any(is_within(module, "cwm_lsp.runtime") for module in imports)
