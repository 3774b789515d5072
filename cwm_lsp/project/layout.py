"""A file's import root and dotted module name, found the way Python would import it.

A module inside a package (a chain of directories with ``__init__.py``) is ``pkg.sub.mod`` with
the directory above the top package as its import root. A file under a ``src/`` directory of its
project may sit in namespace packages (no ``__init__.py``): its name is taken from ``src/`` on.
A loose file (its directory has no ``__init__.py``) has no package: its directory is the import
root and it keeps no dotted name, as before packages were understood.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py")


@dataclass(frozen=True)
class ModuleLocation:
    """``module`` is ``None`` for a loose file (run as a script-like module, not a member)."""

    path: str
    import_root: str
    module: str | None
    project_root: str | None

    @property
    def package(self) -> str | None:
        """The package relative imports resolve against (``pkg.sub`` for ``pkg.sub.mod``)."""
        if self.module is None:
            return None
        if Path(self.path).name == "__init__.py":
            return self.module
        return self.module.rpartition(".")[0] or None


def find_project_root(path: str | Path, workspace_root: str | None = None) -> str | None:
    """The nearest directory at or above ``path`` with a project marker file, not above the
    workspace folder; else the workspace folder when it holds the file; else ``None``."""
    start = Path(path).resolve()
    folder = start if start.is_dir() else start.parent
    limit = Path(workspace_root).resolve() if workspace_root else None
    for directory in (folder, *folder.parents):
        if any((directory / marker).is_file() for marker in PROJECT_MARKERS):
            return str(directory)
        if limit is not None and directory == limit:
            return str(limit)
    return None


def find_module(path: str | Path, workspace_root: str | None = None) -> ModuleLocation:
    """Where ``path`` (a ``.py`` file) is imported from and under which name."""
    file = Path(path).resolve()
    project_root = find_project_root(file, workspace_root)
    names = [] if file.name == "__init__.py" else [file.stem]
    directory = file.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        names.insert(0, directory.name)
        directory = directory.parent
    in_package = (file.parent / "__init__.py").is_file()
    source_dir = _src_above(file, directory, project_root)
    if source_dir is not None:
        between = file.parent.relative_to(source_dir).parts
        names = [*between, *([] if file.name == "__init__.py" else [file.stem])]
        directory, in_package = source_dir, bool(between)
    if not in_package or not all(name.isidentifier() for name in names):
        return ModuleLocation(str(file), str(file.parent), None, project_root)
    return ModuleLocation(str(file), str(directory), ".".join(names), project_root)


def _src_above(file: Path, package_root: Path, project_root: str | None) -> Path | None:
    """The project's ``src/`` when the file sits below it in namespace packages (directories
    without ``__init__.py`` between ``src/`` and the package chain)."""
    if project_root is None:
        return None
    source_dir = Path(project_root) / "src"
    if package_root == source_dir or source_dir not in package_root.parents:
        return None
    if source_dir not in file.parents:
        return None
    return source_dir
