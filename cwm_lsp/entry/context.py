"""The CWM trace context for one call: the module source and a harness marked as the entry."""

from __future__ import annotations

import ast
import builtins
import functools

from cwm_lsp.entry.calls import names_in, names_used
from cwm_lsp.entry.examples import parse_call, without_comment
from cwm_lsp.entry.functions import parse_module
from cwm_lsp.entry.types import (
    HARNESS_NAMES,
    EntryError,
    FunctionInfo,
    HarnessContext,
)
from cwm_lsp.lines import source_lines
from cwm_lsp.trace.tokens import START_OF_TRACE_MARKER


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
    call_text = without_comment(call.strip()).rstrip()  # `f(1)  # doctest: +ELLIPSIS`
    if "\n" in call_text:
        call_text = ast.unparse(call_node)
    setup_lines = [_indented(_statement_text(stmt)) for stmt in setup]
    used = names_in(body) | names_used(call_node)
    for stmt in setup:
        used |= names_used(ast.parse(stmt))
    harness = _harness_name(used)
    harness_text = f"def {harness}():  {START_OF_TRACE_MARKER}\n" + "".join(setup_lines)
    harness_text += f"    return {call_text}\n"
    prefix = body + "\n" if body else ""
    entry_line = prefix.count("\n") + 1
    _check_compiles(
        prefix, harness_text, entry_line, "the call" + (" or its doctest setup" if setup else "")
    )
    return HarnessContext(prefix + harness_text, harness, call_text, entry_line, tuple(setup))


def _check_compiles(prefix: str, harness: str, entry_line: int, what: str) -> None:
    """Errors ``ast.parse`` lets through but the compiler rejects (``await`` or ``yield`` in the
    call, ``import *`` in doctest setup, ``nonlocal`` at module level) as clear messages.

    A long module is compiled once (every example of a file shares it), then the harness alone
    below as many blank lines: the harness is a new top-level ``def``, so the errors are those
    of the whole context (not with ``__future__`` imports, which change how the rest compiles).
    """
    try:
        if entry_line > _SPLIT_MIN_LINES and "__future__" not in prefix:
            error = _module_compile_error(prefix)
            if error is not None:
                raise error.with_traceback(None)
            compile("\n" * (entry_line - 1) + harness, "<context>", "exec", dont_inherit=True)
        else:
            compile(prefix + harness, "<context>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno or 0
        if 0 < line < entry_line:
            raise EntryError(f"syntax error at line {line}: {exc.msg}", line=line) from None
        raise EntryError(f"{what} cannot be traced: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise EntryError(f"{what} cannot be traced: {exc}") from None


_SPLIT_MIN_LINES = 200  # shorter contexts are compiled whole


@functools.lru_cache(maxsize=8)
def _module_compile_error(prefix: str) -> SyntaxError | ValueError | None:
    try:
        compile(prefix, "<context>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return exc
    return None


def _module_text(source: str) -> str:
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


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
    lines[index] = f"{text.rstrip()}  {START_OF_TRACE_MARKER}\n"
    return HarnessContext("".join(lines), None, None, fn.def_line)


def _statement_text(statement: str) -> str:
    parse_module(statement)
    if "\n" in statement.strip():
        return ast.unparse(ast.parse(statement))
    return statement.strip()


def _indented(text: str) -> str:
    return "".join(f"    {line}\n" for line in source_lines(text))


def _harness_name(used: set[str]) -> str:
    taken = used | set(dir(builtins))
    for candidate in HARNESS_NAMES:
        if candidate not in taken:
            return candidate
    number = 1
    while f"_prophecy_main_{number}" in taken:
        number += 1
    return f"_prophecy_main_{number}"
