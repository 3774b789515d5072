"""The locals of the traced function's call frame, when the context already says what they are.

A prophecy's harness (``def main():  # << START_OF_TRACE`` / ``return f("abc", 3)``) calls the
user's function with arguments written as literals. Python binds them to the parameters before
the function's first line, so the call frame's LOCALS are known exactly: each parameter's
``repr`` in the order CPython keeps them (positional parameters, keyword-only ones, then
``*args`` and ``**kwargs``), defaults included. :func:`entry_call_locals` writes that text so a
decoder need not leave it to the model (a model that miscopies an argument gets every later
value wrong).

It answers only when nothing else can run first and the reprs cannot vary between runs: the
callee is a plain module-level function (no decorator, not a generator or coroutine), every
argument and default is a literal (``ast.literal_eval``), no value holds a set (its order
depends on string hashing), and the arguments bind.
"""

from __future__ import annotations

import ast
import inspect
import json
from typing import Any

from cwm_lsp.syntax import parsed_or_none
from cwm_lsp.trace.tokens import START_OF_TRACE_MARKER

_NOT_LITERAL = object()


def entry_call_locals(context: str) -> str | None:
    """The JSON text of the called function's call-frame LOCALS, or None when not known."""
    tree = parsed_or_none(context)
    if tree is None:
        return None
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    call = _harness_call(context, tree)
    if call is None or not isinstance(call.func, ast.Name):
        return None
    callee = functions.get(call.func.id)
    if not isinstance(callee, ast.FunctionDef) or callee.decorator_list or _yields(callee):
        return None
    bound = _bind(callee, call)
    if bound is None:
        return None
    return json.dumps({name: repr(value) for name, value in bound})


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
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL
    return _NOT_LITERAL if _holds_set(value) else value


def _holds_set(value: Any) -> bool:
    if isinstance(value, set | frozenset):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_set(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_set(k) or _holds_set(v) for k, v in value.items())
    return False


def _bind(function: ast.FunctionDef, call: ast.Call) -> list[tuple[str, Any]] | None:
    """(name, value) of every parameter after binding ``call``'s literal arguments."""
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
    if any(value is _NOT_LITERAL for value in defaults.values()):
        return None
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
        return None  # the call raises TypeError before the function runs
    bound.apply_defaults()
    # CPython's order of a frame's locals: positional, keyword-only, *args, **kwargs
    order = [a.arg for a in positional] + [a.arg for a in spec.kwonlyargs]
    order += [a.arg for a in (spec.vararg, spec.kwarg) if a is not None]
    return [(name, bound.arguments[name]) for name in order]


def _parameter(name: str, kind: Any, defaults: dict[str, Any]) -> inspect.Parameter:
    if name in defaults:
        return inspect.Parameter(name, kind, default=defaults[name])
    return inspect.Parameter(name, kind)
