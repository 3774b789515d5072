"""Where a request's code runs: its module in its package, under the project's interpreter."""

from __future__ import annotations

import os

from cwm_lsp.execution.sandbox import RunPlace
from cwm_lsp.project.interpreter import Interpreter, describe_interpreter, find_interpreter
from cwm_lsp.project.layout import find_module


def plan_run(
    source_path: str | None,
    workspace_root: str | None,
    python: str | None = None,
    editor_python: str | None = None,
) -> tuple[RunPlace, Interpreter]:
    """The run place for a file (``None``: unsaved code, only the interpreter is chosen).

    ``editor_python``: the interpreter the editor selected (used after the project's venvs).
    Raises :class:`~cwm_lsp.project.interpreter.InterpreterError` when the interpreter cannot
    be used.
    """
    location = find_module(source_path, workspace_root) if source_path else None
    # without a project marker file, the directory the code is imported from is the project
    # (a package or a script beside its .venv)
    project_root = (location.project_root or location.import_root) if location else None
    interpreter = find_interpreter(
        python,
        project_root=project_root,
        workspace_root=workspace_root,
        editor_python=editor_python,
    )
    info = describe_interpreter(interpreter.path)
    # the interpreter may live outside its prefix (a wrapper script, a link to another place)
    dirs = (*info.dirs, os.path.dirname(os.path.abspath(interpreter.path)))
    if location is None:
        return RunPlace(python=interpreter.path, visible_dirs=dirs), interpreter
    place = RunPlace(
        source_path=location.path,
        module_name=location.module,
        import_root=location.import_root,
        python=interpreter.path,
        visible_dirs=dirs,
    )
    return place, interpreter
