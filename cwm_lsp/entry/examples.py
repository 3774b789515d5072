"""Example calls written in the source: ``# prophecy:`` comment lines and doctest ``>>>`` lines."""

from __future__ import annotations

import ast
import doctest
import io
import re
import tokenize

from cwm_lsp.entry.types import EntryError, ExampleCall, FunctionNode
from cwm_lsp.lines import source_lines

_PROPHECY_COMMENT = re.compile(r"^\s*#\s*prophecy\s*:(?P<expr>.*)$")


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


def comment_only_lines(source: str) -> set[int]:
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


def prophecy_calls(
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
        expression = without_comment(raw).strip()
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


def doctest_calls(node: FunctionNode) -> list[ExampleCall]:
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


def without_comment(text: str) -> str:
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
