"""Where a file lives in its project: how Python would import it, and which Python runs it.

:func:`find_module` gives a file's import root and dotted module name; :func:`find_interpreter`
picks the interpreter that runs the project's code and :func:`describe_interpreter` asks it
which directories it needs (for the sandbox to make them visible).
"""

from cwm_lsp.project.interpreter import (
    Interpreter,
    InterpreterError,
    describe_interpreter,
    find_interpreter,
)
from cwm_lsp.project.layout import ModuleLocation, find_module, find_project_root
from cwm_lsp.project.place import plan_run

__all__ = [
    "Interpreter",
    "InterpreterError",
    "ModuleLocation",
    "describe_interpreter",
    "find_interpreter",
    "find_module",
    "find_project_root",
    "plan_run",
]
