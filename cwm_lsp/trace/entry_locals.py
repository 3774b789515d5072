"""The traced function's call frame, when the context already says what it is.

A prophecy's harness (``def main():  # << START_OF_TRACE`` / ``return f("abc", 3)``) calls the
user's function with arguments written as literals. Python binds them to the parameters before
the function's first line, so the call frame's LOCALS are known exactly: each parameter's
``repr`` in the order CPython keeps them (positional parameters, keyword-only ones, then
``*args`` and ``**kwargs``), defaults included; and the frame's line is the function's ``def``
line. :func:`entry_call` gives both, so a decoder need not leave them to the model (a model that
miscopies an argument, or names another function, gets every later value wrong).

It answers only when nothing else can run first: the callee is a plain module-level function
(no decorator, not a generator or coroutine, its name bound nowhere else at module level),
every argument is a literal (``ast.literal_eval``) and the arguments bind. The locals are left
out when a default is not a literal or a value holds a set (a set's order depends on string
hashing).
"""

from __future__ import annotations

import ast
import inspect
import json
from dataclasses import dataclass
from typing import Any

from cwm_lsp.syntax import parsed_or_none
from cwm_lsp.trace.tokens import START_OF_TRACE_MARKER

_NOT_LITERAL = object()


@dataclass(frozen=True)
class KnownEntryCall:
    line: str  # the called function's def line, as a trace writes it
    locals: str | None  # the JSON text of its LOCALS; None when a value is not certain


def entry_call(context: str) -> KnownEntryCall | None:
    """The called function's call frame as far as the context determines it, or None."""
    tree = parsed_or_none(context)
    if tree is None:
        return None
    call = _harness_call(context, tree)
    if call is None or not isinstance(call.func, ast.Name):
        return None
    callee = _plain_function(tree, call.func.id)
    if callee is None:
        return None
    bound = _bind(callee, call)
    if bound is None:
        return None
    lines = context.splitlines(keepends=True)
    line = lines[callee.lineno - 1]
    values = [value for _, value in bound]
    certain = all(value is not _NOT_LITERAL and not _holds_set(value) for value in values)
    return KnownEntryCall(
        line if line.endswith("\n") else line + "\n",
        json.dumps({name: repr(value) for name, value in bound}) if certain else None,
    )


def _plain_function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    """The module-level ``def name`` when calling ``name`` runs it and nothing else first."""
    found: ast.FunctionDef | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                found = node if isinstance(node, ast.FunctionDef) else None
            continue
        if name in _names_bound(node):
            return None  # rebound (``f = wrap(f)``, an import): another object runs
    if found is None or found.decorator_list or _yields(found):
        return None
    return found


def _names_bound(statement: ast.stmt) -> set[str]:
    """Names a module-level statement (other than a def or class) binds."""
    names: set[str] = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def _harness_call(context: str, tree: ast.Module) -> ast.Call | None:
    """The call in a marked harness whose body is ``return CALL``."""
    lines = context.splitlines()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not 0 < node.lineno <= len(lines):
            continue
        if not lines[node.lineno - 1].rstrip().endswith(START_OF_TRACE_MARKER):
            continue
        if node.args.args or node.args.vararg or node.args.kwarg or node.args.kwonlyargs:
            return None  # a marked user function: the model invents its inputs
        body = node.body
        if len(body) == 1 and isinstance(body[0], ast.Return):
            value = body[0].value
            return value if isinstance(value, ast.Call) else None
        return None
    return None


def _yields(function: ast.FunctionDef) -> bool:
    """Whether a yield stands anywhere in it (in a nested scope too: then no answer, rarely)."""
    return any(isinstance(node, ast.Yield | ast.YieldFrom) for node in ast.walk(function))


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _holds_set(value: Any) -> bool:
    if isinstance(value, set | frozenset):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_set(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_set(k) or _holds_set(v) for k, v in value.items())
    return False


def _bind(function: ast.FunctionDef, call: ast.Call) -> list[tuple[str, Any]] | None:
    """(name, value) of every parameter after binding ``call``'s literal arguments (a default
    that is not a literal: ``_NOT_LITERAL``); None when an argument is not a literal or the
    arguments do not bind (the call raises before the function runs)."""
    spec = function.args
    positional = [*spec.posonlyargs, *spec.args]
    defaults: dict[str, Any] = {}
    for argument, default in zip(
        positional[len(positional) - len(spec.defaults) :], spec.defaults, strict=True
    ):
        defaults[argument.arg] = _literal(default)
    for argument, keyword_default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
        if keyword_default is not None:
            defaults[argument.arg] = _literal(keyword_default)
    parameters = [
        _parameter(a.arg, inspect.Parameter.POSITIONAL_ONLY, defaults) for a in spec.posonlyargs
    ]
    parameters += [
        _parameter(a.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, defaults) for a in spec.args
    ]
    if spec.vararg is not None:
        parameters.append(inspect.Parameter(spec.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    parameters += [
        _parameter(a.arg, inspect.Parameter.KEYWORD_ONLY, defaults) for a in spec.kwonlyargs
    ]
    if spec.kwarg is not None:
        parameters.append(inspect.Parameter(spec.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    if any(isinstance(arg, ast.Starred) for arg in call.args) or any(
        keyword.arg is None for keyword in call.keywords
    ):
        return None
    args = [_literal(arg) for arg in call.args]
    kwargs = {keyword.arg: _literal(keyword.value) for keyword in call.keywords if keyword.arg}
    if any(value is _NOT_LITERAL for value in (*args, *kwargs.values())):
        return None
    try:
        bound = inspect.Signature(parameters).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    # CPython's order of a frame's locals: positional, keyword-only, *args, **kwargs
    order = [a.arg for a in positional] + [a.arg for a in spec.kwonlyargs]
    order += [a.arg for a in (spec.vararg, spec.kwarg) if a is not None]
    return [(name, bound.arguments[name]) for name in order]


def _parameter(name: str, kind: Any, defaults: dict[str, Any]) -> inspect.Parameter:
    if name in defaults:
        return inspect.Parameter(name, kind, default=defaults[name])
    return inspect.Parameter(name, kind)
