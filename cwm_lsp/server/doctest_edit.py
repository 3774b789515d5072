"""The text edit that records a call and its result as a doctest in a function's docstring."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from cwm_lsp.entry import FunctionInfo
from cwm_lsp.lines import source_lines


@dataclass(frozen=True)
class Insertion:
    """Insert ``text`` at (``line``, ``character``), both 0-based."""

    line: int
    character: int
    text: str


def doctest_output(returned: str | None, exception: str | None) -> list[str]:
    """The expected-output lines of a doctest for a returned repr, or for a raised exception
    described as ``Type: message``."""
    if exception is not None:
        return ["Traceback (most recent call last):", "    ...", exception]
    if returned is None or returned == "None":
        return []
    return source_lines(returned)


def doctest_insertion(
    source: str, fn: FunctionInfo, call: str, output: list[str]
) -> Insertion | None:
    """Where and what to insert so the docstring of ``fn`` shows ``>>> call`` and ``output``.

    Creates a docstring when there is none. ``None`` when the function's body shares the
    ``def`` line or the call spans several lines.
    """
    if "\n" in call:
        return None
    node = _function_node(source, fn.def_line)
    if node is None or not node.body:
        return None
    lines = source_lines(source)
    first = node.body[0]
    if first.lineno == node.lineno or first.lineno - 1 >= len(lines):
        return None
    body_line = lines[first.lineno - 1]
    indent = body_line[: len(body_line) - len(body_line.lstrip())]
    example = [f">>> {call}", *(line.replace("\\", "\\\\") for line in output)]
    docstring = _docstring(node)
    if docstring is None:
        quoted = "".join(f"{indent}{line}\n" for line in ['"""', *example, '"""'])
        return Insertion(first.lineno - 1, 0, quoted)
    end_line = (docstring.end_lineno or docstring.lineno) - 1
    end_col = docstring.end_col_offset or 0
    closing = lines[end_line][:end_col]
    quote = closing[-3:] if closing.endswith(('"""', "'''")) else closing[-1:]
    before_quote = closing[: len(closing) - len(quote)]
    if end_line != docstring.lineno - 1 and not before_quote.strip():
        # The closing quotes have a line of their own: add whole lines above them.
        text = "".join(_line(indent, line) for line in ["", *example])
        if end_line > 0 and not lines[end_line - 1].strip():
            text = "".join(_line(indent, line) for line in example)
        return Insertion(end_line, 0, text)
    text = "\n" + "".join(f"\n{indent}{line}" for line in example) + f"\n{indent}"
    return Insertion(end_line, len(before_quote), text)


def _line(indent: str, text: str) -> str:
    return f"{indent}{text}\n" if text else "\n"


def _function_node(source: str, def_line: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.lineno == def_line:
            return node
    return None


def _docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Constant | None:
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.value
    return None
