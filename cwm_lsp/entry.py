"""Entry discovery: which function to trace, with which example call, and the CWM context for it.

Example calls are written by the user in two places:

- ``# prophecy: EXPR`` comment lines directly above a ``def`` (or above its decorators, or
  between them); a blank line ends the block;
- doctest ``>>> EXPR`` lines (with ``...`` continuation lines) in the function's docstring, whose
  expected output is kept so a trace can be checked against it later.

:func:`build_context` turns the module source and a call into the CWM trace context
(``cwm-trace-format.md``): the source verbatim, one blank line, then a harness function whose
``def`` line carries ``# << START_OF_TRACE`` and which returns the call. Line numbers of the
module part of the context are the file's own line numbers.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import functools
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from cwm_lsp.lines import source_lines

START_MARKER = "# << START_OF_TRACE"
HARNESS_NAMES = ("main", "_prophecy_main")

_PROPHECY_COMMENT = re.compile(r"^\s*#\s*prophecy\s*:(?P<expr>.*)$")

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
ExampleKind = Literal["prophecy", "doctest"]


class EntryError(ValueError):
    """The source, position, function or call cannot be traced; the message says why."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Parameter:
    """One parameter of a function, as written (default and annotation as source text)."""

    name: str
    kind: Literal["positional_only", "positional", "var_positional", "keyword_only", "var_keyword"]
    default: str | None = None
    annotation: str | None = None


@dataclass(frozen=True)
class ExampleCall:
    """An example call written in the source.

    ``expression`` is the call as written (continuation lines joined with newlines for a
    multi-line doctest example); ``line``/``end_line`` are 1-based file lines and ``column`` the
    0-based column where the expression starts. ``setup`` replays the doctest session before
    it: every earlier example of the same docstring, expressions included (``>>> c.bump()``
    changes ``c``), except those marked ``+SKIP`` and those expected to raise (they would stop
    the harness early); it runs in the harness before the call. ``expected`` is the doctest's
    expected output (``None`` when none was written), ``raises`` the exception line(s) when a
    traceback is expected and ``options`` the doctest directive flags (``doctest.SKIP`` ...)
    written on the example. ``error`` is set when the expression does not parse; such a call
    cannot be traced.
    """

    expression: str
    line: int
    end_line: int
    column: int
    kind: ExampleKind
    expected: str | None = None
    setup: tuple[str, ...] = ()
    error: str | None = None
    raises: str | None = None
    options: tuple[tuple[int, bool], ...] = ()

    @property
    def skipped(self) -> bool:
        """The doctest is marked ``# doctest: +SKIP``."""
        return dict(self.options).get(doctest.SKIP, False)


@dataclass(frozen=True)
class FunctionInfo:
    """A function (or method) of the module, located by 1-based line numbers.

    ``first_line`` is the first decorator line (``def_line`` when undecorated) and
    ``last_line`` the last line of the body; ``comment_line`` is the first line of the comment
    block directly above (where ``# prophecy:`` lines live; ``first_line`` when there is none).
    ``qualname`` joins enclosing classes and functions with dots: ``Counter.bump``,
    ``outer.inner``.
    """

    name: str
    qualname: str
    def_line: int
    first_line: int
    last_line: int
    comment_line: int
    indent: str
    parameters: tuple[Parameter, ...]
    decorators: tuple[str, ...] = ()
    class_name: str | None = None
    is_async: bool = False
    is_nested: bool = False
    is_generator: bool = False  # its own body yields: a call returns a generator object
    docstring: str | None = None
    examples: tuple[ExampleCall, ...] = ()
    template: str = ""  # an example call to offer the user, e.g. "Counter(start).bump(times)"

    @property
    def is_method(self) -> bool:
        return self.class_name is not None

    def contains_line(self, line: int) -> bool:
        return self.comment_line <= line <= self.last_line


@dataclass(frozen=True)
class HarnessContext:
    """The CWM trace context for one prediction.

    ``harness`` is the harness function's name (``None`` when the user's own ``def`` line is
    marked, i.e. the model invents the inputs); ``entry_line`` is the 1-based context line that
    carries the ``# << START_OF_TRACE`` marker.
    """

    context: str
    harness: str | None
    call: str | None
    entry_line: int
    setup: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- parsing


def parse_module(source: str) -> ast.Module:
    """Parse ``source``; a syntax error becomes an :class:`EntryError` naming line and column."""
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        line, column = exc.lineno, exc.offset
        where = f"line {line}" if line else "an unknown line"
        if line and column:
            where += f", column {column}"
        raise EntryError(f"syntax error at {where}: {exc.msg}", line=line, column=column) from None
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        raise EntryError(f"cannot parse the source: {exc}") from None


def list_functions(source: str) -> list[FunctionInfo]:
    """Every function and method of the module in source order, async ones included."""
    return list(_functions_of(source))


@functools.lru_cache(maxsize=8)  # one prediction asks several times about the same source
def _functions_of(source: str) -> tuple[FunctionInfo, ...]:
    tree = parse_module(source)
    lines = source_lines(source)
    comment_lines = _comment_only_lines(source)
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


def parse_call(call: str) -> ast.expr:
    """Parse an example call; it must be a single Python expression."""
    text = call.strip()
    if not text:
        raise EntryError("the example call is empty")
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        try:
            ast.parse(text, mode="exec")
        except SyntaxError:
            raise EntryError(f"the example call {text!r} is not valid Python: {exc.msg}") from None
        raise EntryError(
            f"the example call {text!r} must be an expression such as f(2, 4), not a statement"
        ) from None
    for child in ast.walk(node):
        if isinstance(child, ast.Await):
            raise EntryError(f"the example call {text!r} uses await: async code cannot be traced")
        if isinstance(child, ast.Yield | ast.YieldFrom):
            raise EntryError(f"the example call {text!r} cannot yield")
    return node


# --------------------------------------------------------------------------- context


def build_context(
    source: str, call: str | None, fn: FunctionInfo | None, *, setup: tuple[str, ...] = ()
) -> HarnessContext:
    """The CWM trace context for tracing ``call`` (or ``fn`` with invented inputs if ``None``).

    With a call: the source (line endings normalised to ``\\n``, trailing blank lines dropped),
    one blank line, then ``def main():  # << START_OF_TRACE`` / ``    return CALL``. The harness
    is named ``main`` unless the module or the call already uses that name. ``setup`` statements
    (from doctests) run in the harness before the call.
    """
    body = _module_text(source)
    if call is None:
        if fn is None:
            raise EntryError("give a call to trace or a function whose inputs to invent")
        return _mark_own_def(body, fn)
    call_node = parse_call(call)
    call_text = _without_comment(call.strip()).rstrip()  # `f(1)  # doctest: +ELLIPSIS`
    if "\n" in call_text:
        call_text = ast.unparse(call_node)
    setup_lines = [_indented(_statement_text(stmt)) for stmt in setup]
    used = names_in(body) | _names_used(call_node)
    for stmt in setup:
        used |= _names_used(ast.parse(stmt))
    harness = _harness_name(used)
    harness_text = f"def {harness}():  {START_MARKER}\n" + "".join(setup_lines)
    harness_text += f"    return {call_text}\n"
    prefix = body + "\n" if body else ""
    entry_line = prefix.count("\n") + 1
    _check_compiles(
        prefix + harness_text, entry_line, "the call" + (" or its doctest setup" if setup else "")
    )
    return HarnessContext(prefix + harness_text, harness, call_text, entry_line, tuple(setup))


def _check_compiles(context: str, entry_line: int, what: str) -> None:
    """Errors ``ast.parse`` lets through but the compiler rejects (``await`` or ``yield`` in the
    call, ``import *`` in doctest setup, ``nonlocal`` at module level) as clear messages."""
    try:
        compile(context, "<context>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno or 0
        if 0 < line < entry_line:
            raise EntryError(f"syntax error at line {line}: {exc.msg}", line=line) from None
        raise EntryError(f"{what} cannot be traced: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise EntryError(f"{what} cannot be traced: {exc}") from None


def _module_text(source: str) -> str:
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return "".join(line + "\n" for line in lines)


def _mark_own_def(body: str, fn: FunctionInfo) -> HarnessContext:
    lines = source_lines(body, keepends=True)
    index = fn.def_line - 1
    if not 0 <= index < len(lines):
        raise EntryError(f"line {fn.def_line} is past the end of the source")
    text = lines[index].rstrip("\n")
    if text.rstrip().endswith("\\"):
        raise EntryError(
            f"cannot mark line {fn.def_line} as the entry: it ends with a line continuation",
            line=fn.def_line,
        )
    lines[index] = f"{text.rstrip()}  {START_MARKER}\n"
    return HarnessContext("".join(lines), None, None, fn.def_line)


def _statement_text(statement: str) -> str:
    parse_module(statement)
    if "\n" in statement.strip():
        return ast.unparse(ast.parse(statement))
    return statement.strip()


def _indented(text: str) -> str:
    return "".join(f"    {line}\n" for line in source_lines(text))


def names_in(source: str) -> set[str]:
    """Every name the module mentions (defined, imported, assigned or read)."""
    return set(_module_names(source))


@functools.lru_cache(maxsize=8)
def _module_names(source: str) -> frozenset[str]:
    return frozenset(_names_used(parse_module(source)))


def _names_used(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(child.name)
        elif isinstance(child, ast.arg):
            names.add(child.arg)
        elif isinstance(child, ast.alias):
            names.add((child.asname or child.name).split(".")[0])
        elif isinstance(child, ast.Global | ast.Nonlocal):
            names.update(child.names)
    return names


def _harness_name(used: set[str]) -> str:
    taken = used | set(dir(builtins))
    for candidate in HARNESS_NAMES:
        if candidate not in taken:
            return candidate
    number = 1
    while f"_prophecy_main_{number}" in taken:
        number += 1
    return f"_prophecy_main_{number}"


# --------------------------------------------------------------------------- choosing


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


def generator_consuming_call(source: str, call: str) -> tuple[str, FunctionInfo] | None:
    """``(list(CALL), the generator function)`` when ``call`` calls a generator function of
    ``source``, else ``None``: such a call only builds the generator, so a trace of it would
    show nothing of the body; ``list(CALL)`` runs it (an endless one stops at the frame limit).
    Shared by ``cwm-lsp predict`` and the language server."""
    try:
        if not isinstance(parse_call(call), ast.Call):
            return None
        target = function_for_call(source, call)
        if target is None or not target.is_generator or _may_rebind_list(source):
            return None  # a module that rebinds ``list`` would change what list(CALL) does
    except EntryError:
        return None
    return f"list({call})", target


def _may_rebind_list(source: str) -> bool:
    """Whether the module may bind the name ``list`` (reading it, ``list(x)``, is fine)."""
    bound = _bound_names(ast.parse(source))
    return "list" in bound or "*" in bound


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the module binds anywhere; ``*`` for a star import (it may bind any name)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
    return names


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


# --------------------------------------------------------------------------- describing


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
    prophecies = _prophecy_calls(lines, comment_line, node.lineno, comment_lines)
    docstring_examples = _doctest_calls(node)
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


def _comment_only_lines(source: str) -> set[int]:
    """1-based numbers of lines holding nothing but a comment (strings are not comments)."""
    found: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT and not token.line[: token.start[1]].strip():
                found.add(token.start[0])
    except (tokenize.TokenError, SyntaxError):
        # ast accepted the source, so this is a tokenizer corner case: fall back to the text.
        for number, line in enumerate(source_lines(source), start=1):
            if line.lstrip().startswith("#"):
                found.add(number)
    return found


def _prophecy_calls(
    lines: list[str], comment_line: int, def_line: int, comment_lines: set[int]
) -> list[ExampleCall]:
    calls: list[ExampleCall] = []
    for number in range(comment_line, def_line):
        if number not in comment_lines:
            continue
        match = _PROPHECY_COMMENT.match(lines[number - 1])
        if not match:
            continue
        raw = match.group("expr")
        expression = _without_comment(raw).strip()
        column = match.start("expr") + (len(raw) - len(raw.lstrip()))
        calls.append(
            ExampleCall(
                expression=expression,
                line=number,
                end_line=number,
                column=column,
                kind="prophecy",
                error=_call_problem(expression),
            )
        )
    return calls


def _doctest_calls(node: FunctionNode) -> list[ExampleCall]:
    if not (node.body and isinstance(node.body[0], ast.Expr)):
        return []
    literal = node.body[0].value
    if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)):
        return []
    try:
        examples = doctest.DocTestParser().get_examples(literal.value)
    except ValueError:  # malformed doctest (e.g. bad indentation); not ours to report here
        return []
    calls: list[ExampleCall] = []
    session: list[str] = []  # earlier examples, replayed as a doctest session would run them
    for example in examples:
        source = example.source.rstrip("\n")
        if _is_expression(source) and _contains_call(source):  # `>>> value` only shows state
            line = literal.lineno + example.lineno
            calls.append(
                ExampleCall(
                    expression=source,
                    line=line,
                    end_line=line + source.count("\n"),
                    column=example.indent + 4,
                    kind="doctest",
                    expected=example.want.rstrip("\n") if example.want else None,
                    setup=tuple(session),
                    raises=example.exc_msg,
                    options=tuple(sorted((int(f), bool(on)) for f, on in example.options.items())),
                )
            )
        if example.exc_msg is None and not example.options.get(doctest.SKIP):
            session.append(source)
    return calls


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True


def _contains_call(text: str) -> bool:
    return any(isinstance(node, ast.Call) for node in ast.walk(ast.parse(text, mode="eval")))


def _without_comment(text: str) -> str:
    """``f(2)  # checks the empty case`` -> ``f(2)``; text that does not tokenize is kept."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                return text[: token.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass
    return text


def _call_problem(expression: str) -> str | None:
    try:
        parse_call(expression)
    except EntryError as exc:
        return str(exc)
    return None


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
