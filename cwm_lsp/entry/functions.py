"""The functions of a module (methods and nested ones included) and choosing one to trace."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from typing import Literal

from cwm_lsp.entry.examples import comment_only_lines, doctest_calls, parse_call, prophecy_calls
from cwm_lsp.entry.types import EntryError, ExampleCall, FunctionInfo, FunctionNode, Parameter
from cwm_lsp.lines import source_lines
from cwm_lsp.syntax import parsed


def parse_module(source: str) -> ast.Module:
    """Parse ``source``; a syntax error becomes an :class:`EntryError` naming line and column."""
    try:
        return parsed(source)
    except SyntaxError as exc:
        line, column = exc.lineno, exc.offset
        where = f"line {line}" if line else "an unknown line"
        if line and column:
            where += f", column {column}"
        raise EntryError(f"syntax error at {where}: {exc.msg}", line=line, column=column) from None
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        raise EntryError(f"cannot parse the source: {exc}") from None
    except (RecursionError, MemoryError):
        raise EntryError("cannot parse the source: it is nested too deeply") from None


def list_functions(source: str) -> list[FunctionInfo]:
    """Every function and method of the module in source order, async ones included."""
    return list(_functions_of(source))


@functools.lru_cache(maxsize=8)  # one prediction asks several times about the same source
def _functions_of(source: str) -> tuple[FunctionInfo, ...]:
    tree = parse_module(source)
    lines = source_lines(source)
    comment_lines = comment_only_lines(source)
    found: list[FunctionInfo] = []
    for node, scope, class_name, nested in _walk_functions(tree.body, (), None, False):
        found.append(_describe(node, scope, class_name, nested, lines, comment_lines, tree))
    return tuple(found)


def find_function(
    source: str, *, line: int | None = None, name: str | None = None, call: str | None = None
) -> FunctionInfo:
    """The function to trace.


    - ``line``: the innermost function enclosing that 1-based line (its ``# prophecy:``
      comment block and decorators count as part of it);
    - ``name``: a qualified name (``Counter.bump``) or a plain name when unique;
    - ``call``: the function the call expression invokes (``report("r")`` -> ``report``,
      ``Counter(5).bump(2)`` -> ``Counter.bump``), else the first function;
    - none of these: the first function with example calls, else the only function.


    Raises :class:`EntryError` with a message listing the functions when nothing fits, and for
    async functions, which cannot be traced yet.
    """
    functions = list_functions(source)
    if not functions:
        raise EntryError("the file defines no functions to trace")
    if line is not None:
        chosen = _function_at_line(functions, line)
    elif name is not None:
        chosen = _function_named(functions, name)
    elif call is not None:
        chosen = _function_for_call(functions, call) or _first_traceable(functions)
    else:
        chosen = _default_function(functions)
    if chosen.is_async:
        raise EntryError(
            f"async functions cannot be traced yet: {chosen.qualname} (line {chosen.def_line})",
            line=chosen.def_line,
        )
    return chosen


def example_calls(source: str, fn: FunctionInfo) -> list[ExampleCall]:
    """The example calls written for ``fn``: ``# prophecy:`` lines first, then doctests."""
    del source  # the calls were collected when ``fn`` was found; kept for the public signature
    return list(fn.examples)


def _function_at_line(functions: list[FunctionInfo], line: int) -> FunctionInfo:
    enclosing = [fn for fn in functions if fn.contains_line(line)]
    if not enclosing:
        raise EntryError(f"line {line} is not inside a function; {_listing(functions)}", line=line)
    # The innermost function starts last among those enclosing the line.
    return max(enclosing, key=lambda fn: fn.def_line)


def _function_named(functions: list[FunctionInfo], name: str) -> FunctionInfo:
    exact = [fn for fn in functions if fn.qualname == name]
    if exact:
        return exact[0]
    plain = [fn for fn in functions if fn.name == name]
    if len(plain) == 1:
        return plain[0]
    if plain:
        options = ", ".join(fn.qualname for fn in plain)
        raise EntryError(f"{name!r} is ambiguous: use one of {options}")
    raise EntryError(f"no function named {name!r}; {_listing(functions)}")


def function_for_call(source: str, call: str) -> FunctionInfo | None:
    """The function of ``source`` that ``call`` invokes (``Counter(5).bump(2)`` ->
    ``Counter.bump``), or ``None`` when it calls something else (a lambda, a builtin, ...)."""
    return _function_for_call(list_functions(source), call)


def _function_for_call(functions: list[FunctionInfo], call: str) -> FunctionInfo | None:
    try:
        node = parse_call(call)
    except EntryError:
        return None
    if not isinstance(node, ast.Call):
        return None
    target = node.func
    wanted: list[str] = []
    if isinstance(target, ast.Name):
        wanted = [target.id, f"{target.id}.__init__"]
    elif isinstance(target, ast.Attribute):
        owner = target.value
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
            wanted = [f"{owner.func.id}.{target.attr}"]  # Counter(5).bump(2)
        elif isinstance(owner, ast.Name):
            wanted = [f"{owner.id}.{target.attr}"]  # Counter.create(2)
        wanted.append(target.attr)
    for name in wanted:
        matches = [fn for fn in functions if fn.qualname == name]
        if matches:
            return matches[0]
    return None


def _default_function(functions: list[FunctionInfo]) -> FunctionInfo:
    with_examples = [fn for fn in functions if fn.examples and not fn.is_async]
    if with_examples:
        return with_examples[0]
    top_level = [fn for fn in functions if not fn.is_nested]
    if len(top_level) == 1:
        return top_level[0]
    raise EntryError(
        "no function has an example call; choose one with --function or --line; "
        + _listing(functions)
    )


def _first_traceable(functions: list[FunctionInfo]) -> FunctionInfo:
    for fn in functions:
        if not fn.is_async:
            return fn
    return functions[0]


def _listing(functions: list[FunctionInfo]) -> str:
    shown = ", ".join(f"{fn.qualname} (line {fn.def_line})" for fn in functions[:20])
    more = f" and {len(functions) - 20} more" if len(functions) > 20 else ""
    return f"functions in this file: {shown}{more}"


def _walk_functions(
    body: list[ast.stmt], scope: tuple[str, ...], class_name: str | None, nested: bool
) -> Iterator[tuple[FunctionNode, tuple[str, ...], str | None, bool]]:
    """Functions in source order with their enclosing scope names (pre-order)."""
    for node in _statements(body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, scope, class_name, nested
            yield from _walk_functions(node.body, (*scope, node.name), None, True)
        elif isinstance(node, ast.ClassDef):
            yield from _walk_functions(node.body, (*scope, node.name), node.name, nested)


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a block, looking inside if/for/while/try/with bodies (not into defs)."""
    for node in body:
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(node, name, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                yield from _statements(inner)
        for handler in getattr(node, "handlers", []) or []:
            yield from _statements(handler.body)
        for case in getattr(node, "cases", []) or []:
            yield from _statements(case.body)


def _describe(
    node: FunctionNode,
    scope: tuple[str, ...],
    class_name: str | None,
    nested: bool,
    lines: list[str],
    comment_lines: set[int],
    tree: ast.Module,
) -> FunctionInfo:
    first_line = min([node.lineno] + [d.lineno for d in node.decorator_list])
    last_line = node.end_lineno or node.lineno
    def_text = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
    indent = def_text[: len(def_text) - len(def_text.lstrip())]
    comment_line = first_line
    while comment_line - 1 in comment_lines:
        comment_line -= 1
    qualname = ".".join((*scope, node.name))
    prophecies = prophecy_calls(lines, comment_line, node.lineno, comment_lines)
    docstring_examples = doctest_calls(node)
    parameters = _parameters(node.args)
    return FunctionInfo(
        name=node.name,
        qualname=qualname,
        def_line=node.lineno,
        first_line=first_line,
        last_line=last_line,
        comment_line=comment_line,
        indent=indent,
        parameters=parameters,
        decorators=tuple(ast.unparse(d) for d in node.decorator_list),
        class_name=class_name,
        is_async=isinstance(node, ast.AsyncFunctionDef),
        is_nested=nested,
        is_generator=_yields(node),
        docstring=ast.get_docstring(node),
        examples=tuple(prophecies + docstring_examples),
        template=_template(node, scope, class_name, nested, tree),
    )


def _yields(node: FunctionNode) -> bool:
    """Whether the function's own body (not a nested def, class or lambda) yields."""
    pending: list[ast.AST] = list(node.body)
    while pending:
        child = pending.pop()
        if isinstance(child, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        pending.extend(ast.iter_child_nodes(child))
    return False


def _parameters(args: ast.arguments) -> tuple[Parameter, ...]:
    result: list[Parameter] = []

    def text(node: ast.expr | None) -> str | None:
        return None if node is None else ast.unparse(node)

    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    for index, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind: Literal["positional_only", "positional"] = (
            "positional_only" if index < len(args.posonlyargs) else "positional"
        )
        result.append(Parameter(arg.arg, kind, text(default), text(arg.annotation)))
    if args.vararg:
        result.append(
            Parameter(args.vararg.arg, "var_positional", None, text(args.vararg.annotation))
        )
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        result.append(Parameter(arg.arg, "keyword_only", text(kw_default), text(arg.annotation)))
    if args.kwarg:
        result.append(Parameter(args.kwarg.arg, "var_keyword", None, text(args.kwarg.annotation)))
    return tuple(result)


def _argument_list(parameters: tuple[Parameter, ...], *, skip_first: bool) -> str:
    shown = list(parameters[1:] if skip_first and parameters else parameters)
    parts: list[str] = []
    for parameter in shown:
        if parameter.kind in ("var_positional", "var_keyword") or parameter.default is not None:
            continue
        if parameter.kind == "keyword_only":
            parts.append(f"{parameter.name}={parameter.name}")
        else:
            parts.append(parameter.name)
    return ", ".join(parts)


def _template(
    node: FunctionNode,
    scope: tuple[str, ...],
    class_name: str | None,
    nested: bool,
    tree: ast.Module,
) -> str:
    """An example call to offer as a starting point; parameter names stand for the values."""
    parameters = _parameters(node.args)
    if nested or len(scope) > (1 if class_name else 0):
        # Only module-level names can be called from the harness: call the outermost function.
        outer = _top_level_function(tree, scope[0]) if scope else None
        if outer is not None:
            return f"{outer.name}({_argument_list(_parameters(outer.args), skip_first=False)})"
        return f"{node.name}({_argument_list(parameters, skip_first=False)})"
    if class_name is None:
        return f"{node.name}({_argument_list(parameters, skip_first=False)})"
    decorators = {ast.unparse(d) for d in node.decorator_list}
    if "staticmethod" in decorators:
        return f"{class_name}.{node.name}({_argument_list(parameters, skip_first=False)})"
    if "classmethod" in decorators:
        return f"{class_name}.{node.name}({_argument_list(parameters, skip_first=True)})"
    init_args = ""
    init = _method(tree, class_name, "__init__")
    if init is not None:
        init_args = _argument_list(_parameters(init.args), skip_first=True)
    if node.name == "__init__":
        return f"{class_name}({init_args})"
    method_args = _argument_list(parameters, skip_first=True)
    return f"{class_name}({init_args}).{node.name}({method_args})"


def _top_level_function(tree: ast.Module, name: str) -> FunctionNode | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def _method(tree: ast.Module, class_name: str, name: str) -> FunctionNode | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == name:
                    return item
    return None
