"""Which Python runs the project's code, and which directories that Python needs.

The order: an explicit interpreter (CLI ``--python``, setting ``cwm.pythonPath``), then
``$VIRTUAL_ENV``, then a ``.venv`` or ``venv`` directory in the project root (or the editor's
workspace folder), then the interpreter the editor has selected for the workspace (VS Code's
Python extension), else the interpreter cwm-lsp itself runs on.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VENV_NAMES = (".venv", "venv")
_PROBE = """
import json, site, sys
dirs = [sys.prefix, sys.base_prefix, *site.getsitepackages(), *sys.path]
user = site.getusersitepackages() if site.ENABLE_USER_SITE else None
print(json.dumps({"version": list(sys.version_info[:3]), "executable": sys.executable,
                  "dirs": [d for d in dirs if d and d != user]}))
"""
_PROBE_SECONDS = 30
MIN_VERSION = (3, 10)  # the tracer's child side runs inside this interpreter


class InterpreterError(Exception):
    """The chosen interpreter cannot run the code; the message says why."""


@dataclass(frozen=True)
class Interpreter:
    path: str  # as found (a venv's bin/python, not the file it links to)
    origin: str  # "--python", "$VIRTUAL_ENV", "project .venv", "cwm-lsp's own", ...

    def describe(self) -> str:
        return f"{self.path} ({self.origin})"


@dataclass(frozen=True)
class InterpreterInfo:
    version: tuple[int, int, int]
    dirs: tuple[str, ...]  # prefix, base prefix, site directories, sys.path entries


def _venv_python(venv: Path) -> Path | None:
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.is_file():
            return candidate
    return None


def find_interpreter(
    explicit: str | None = None,
    *,
    project_root: str | None = None,
    workspace_root: str | None = None,
    environ: Mapping[str, str] | None = None,
    editor_python: str | None = None,
) -> Interpreter:
    """The interpreter for a project (see the module's docstring for the order)."""
    env = os.environ if environ is None else environ
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():  # a venv directory given instead of its python
            found = _venv_python(path)
            if found is None:
                raise InterpreterError(f"{explicit} is a directory without bin/python")
            path = found
        if not path.is_file() or not os.access(path, os.X_OK):
            raise InterpreterError(f"the Python interpreter {explicit} does not exist")
        return Interpreter(str(path), "--python / cwm.pythonPath")
    active = env.get("VIRTUAL_ENV")
    if active:
        found = _venv_python(Path(active))
        if found is not None:
            return Interpreter(str(found), "$VIRTUAL_ENV")
    for root in dict.fromkeys(r for r in (project_root, workspace_root) if r):
        for name in VENV_NAMES:
            found = _venv_python(Path(root) / name)
            if found is not None:
                return Interpreter(str(found), f"the project's {name}")
    if editor_python and os.access(editor_python, os.X_OK) and Path(editor_python).is_file():
        return Interpreter(editor_python, "the editor's selected interpreter")
    return Interpreter(sys.executable, "cwm-lsp's own")


def describe_interpreter(path: str) -> InterpreterInfo:
    """Ask ``path`` for its version and directories (cached while the file is unchanged)."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise InterpreterError(f"the Python interpreter {path} cannot be used: {exc}") from None
    return _probe(path, stamp)


@functools.lru_cache(maxsize=32)
def _probe(path: str, stamp: int) -> InterpreterInfo:
    try:
        done = subprocess.run(
            [path, "-s", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterpreterError(f"the Python interpreter {path} cannot be started: {exc}") from None
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
        version = (int(data["version"][0]), int(data["version"][1]), int(data["version"][2]))
        dirs = tuple(str(d) for d in data["dirs"])
    except (ValueError, IndexError, KeyError, TypeError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InterpreterError(f"{path} is not a working Python interpreter: {detail}") from None
    if version[:2] < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        raise InterpreterError(
            f"{path} is Python {'.'.join(map(str, version))}; sandboxed runs need Python "
            f"{wanted} or newer"
        )
    return InterpreterInfo(version, tuple(dict.fromkeys(dirs)))
