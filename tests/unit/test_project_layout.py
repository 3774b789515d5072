"""How a file is imported (import root, dotted name) and which interpreter runs a project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cwm_lsp.project import (
    InterpreterError,
    describe_interpreter,
    find_interpreter,
    find_module,
    find_project_root,
)


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


def test_a_module_in_a_package_chain_is_named_from_the_top_package(tmp_path: Path) -> None:
    touch(tmp_path, "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py")
    location = find_module(tmp_path / "pkg/sub/mod.py")
    assert (location.module, location.import_root) == ("pkg.sub.mod", str(tmp_path))
    assert location.package == "pkg.sub"


def test_a_package_init_is_the_package_itself(tmp_path: Path) -> None:
    touch(tmp_path, "pkg/__init__.py", "pkg/sub/__init__.py")
    location = find_module(tmp_path / "pkg/sub/__init__.py")
    assert (location.module, location.package) == ("pkg.sub", "pkg.sub")


def test_a_loose_file_keeps_no_dotted_name_and_its_directory_is_importable(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "scripts/tool.py")
    location = find_module(tmp_path / "scripts/tool.py")
    assert (location.module, location.import_root) == (None, str(tmp_path / "scripts"))


def test_src_layout_with_namespace_packages_is_named_from_src(tmp_path: Path) -> None:
    touch(tmp_path, "pyproject.toml", "src/company/app/__init__.py", "src/company/app/core.py")
    location = find_module(tmp_path / "src/company/app/core.py")
    assert (location.module, location.import_root) == ("company.app.core", str(tmp_path / "src"))
    assert location.project_root == str(tmp_path)


def test_the_project_root_stops_at_the_workspace_folder(tmp_path: Path) -> None:
    touch(tmp_path, "setup.cfg", "work/lib/a.py")
    assert find_project_root(tmp_path / "work/lib/a.py") == str(tmp_path)
    workspace = str(tmp_path / "work")
    assert find_project_root(tmp_path / "work/lib/a.py", workspace) == workspace


def make_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


def test_interpreter_order_explicit_then_virtual_env_then_project_venv_then_own(
    tmp_path: Path,
) -> None:
    project_python = make_venv(tmp_path / "project" / ".venv")
    active_python = make_venv(tmp_path / "active")
    explicit = find_interpreter(str(tmp_path / "active"), project_root=str(tmp_path / "project"))
    assert (explicit.path, explicit.origin) == (str(active_python), "--python / cwm.pythonPath")
    active = find_interpreter(
        project_root=str(tmp_path / "project"), environ={"VIRTUAL_ENV": str(tmp_path / "active")}
    )
    assert active.path == str(active_python)
    project = find_interpreter(project_root=str(tmp_path / "project"), environ={})
    assert (project.path, project.origin) == (str(project_python), "the project's .venv")
    own = find_interpreter(project_root=str(tmp_path), environ={})
    assert own.path == sys.executable


def test_a_missing_interpreter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InterpreterError, match="does not exist"):
        find_interpreter(str(tmp_path / "python9"))


def test_the_probe_names_the_directories_the_sandbox_must_show(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    info = describe_interpreter(str(python))
    assert info.version[:2] == sys.version_info[:2]
    assert str(tmp_path / "venv") in info.dirs
    assert any(d.endswith("site-packages") and d.startswith(str(tmp_path)) for d in info.dirs)


def test_a_file_that_is_not_python_is_refused_with_its_error(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'not python here' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(InterpreterError, match="not python here"):
        describe_interpreter(str(fake))


def test_the_editors_interpreter_comes_after_the_project_venv(tmp_path: Path) -> None:
    editor_python = make_venv(tmp_path / "editor")
    project_python = make_venv(tmp_path / "project" / "venv")
    chosen = find_interpreter(
        project_root=str(tmp_path / "project"), environ={}, editor_python=str(editor_python)
    )
    assert chosen.path == str(project_python)
    chosen = find_interpreter(
        project_root=str(tmp_path / "elsewhere"), environ={}, editor_python=str(editor_python)
    )
    assert (chosen.path, chosen.origin) == (str(editor_python), "the editor's selected interpreter")


def test_a_project_without_marker_files_runs_under_the_venv_beside_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cwm_lsp.project.place import plan_run

    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    touch(tmp_path, "pkg/__init__.py", "pkg/mod.py", "script.py")
    project_python = make_venv(tmp_path / ".venv")
    place, interpreter = plan_run(str(tmp_path / "pkg" / "mod.py"), None)
    assert (interpreter.path, interpreter.origin) == (str(project_python), "the project's .venv")
    assert (place.module_name, place.import_root) == ("pkg.mod", str(tmp_path))
    _, interpreter = plan_run(str(tmp_path / "script.py"), None)
    assert interpreter.path == str(project_python)
