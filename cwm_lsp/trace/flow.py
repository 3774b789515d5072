"""Which source lines a trace can name next: a static control-flow view of the context.

Built from the context's syntax tree for CPython 3.11+ line events (the traces' reference):
a line frame is recorded when a new source line starts or a jump goes back to a line; a call
frame names the scope's ``def`` line (``class`` line, or the line a lambda or comprehension
starts on). For each line of a function, :class:`ScopeFlow` knows the lines that can be the
function's next line frame when it completes normally.

The analysis over-approximates on purpose: a constraint built from it must never rule out what
Python can do. Scopes it does not follow statement by statement (generators, ``try/finally``,
``match``, async code, class bodies, lambdas, comprehensions) allow every code line they span,
and after an exception any line of the scope may come next (a handler).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cwm_lsp.lines import source_lines
from cwm_lsp.syntax import parsed_or_none

_SCOPE_NODES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
# Statements whose flow the builder does not follow: their function allows all of its lines.
_UNFOLLOWED: tuple[type[ast.AST], ...] = (ast.AsyncFor, ast.AsyncWith, ast.Match) + (
    (ast.TryStar,) if hasattr(ast, "TryStar") else ()
)


@dataclass(frozen=True)
class ScopeFlow:
    """One traced scope: a function, class body, lambda or comprehension."""

    call_line: int  # the line its call frames name
    lines: frozenset[int]  # every code line its own events can name
    first: frozenset[int]  # possible first line frames after the call
    # line -> possible next line frames after that line completes normally; None: any of lines
    successors: dict[int, frozenset[int]] | None
    # ``with`` lines: an exception leaving their block runs the exit there first
    exit_lines: frozenset[int] = frozenset()

    def next_lines(self, line: int) -> frozenset[int]:
        if self.successors is None:
            return self.lines
        return self.successors.get(line, self.lines)


@dataclass(eq=False)
class _Node:
    """A statement (or a pseudo step such as leaving a ``with``) in a function's flow graph."""

    lines: frozenset[int]
    edges: list[_Node] = field(default_factory=list)
    loop_header: bool = False
    maybe_silent: bool = False  # may run without a line frame (``global``, constant expressions)


class SourceFlow:
    """The context's scopes and code lines; build with :meth:`from_context`. A scope's flow is
    worked out the first time a trace enters it (a module may hold hundreds of functions)."""

    def __init__(self, texts: Sequence[str], scope_nodes: Sequence[ast.AST]) -> None:
        self.texts = list(texts)  # line number - 1 -> the line as a trace writes it
        self.code_lines = frozenset(
            n for n in range(1, len(self.texts) + 1) if _is_code(self.texts[n - 1])
        )
        self._nodes = list(scope_nodes)
        self._scopes: dict[int, ScopeFlow] = {}
        self.call_lines = frozenset(node.lineno for node in self._nodes)  # type: ignore[attr-defined]

    @classmethod
    def from_context(cls, context: str) -> SourceFlow | None:
        """None when the context does not parse (nothing can be said about its flow)."""
        tree = parsed_or_none(context)
        if tree is None:
            return None
        texts = [
            line if line.endswith(("\n", "\r")) else line + "\n"
            for line in source_lines(context, keepends=True)
        ]
        return cls(texts, [node for node in ast.walk(tree) if isinstance(node, _SCOPE_NODES)])

    def text(self, line: int) -> str:
        return self.texts[line - 1] if 1 <= line <= len(self.texts) else "\n"

    def texts_of(self, lines: Iterable[int]) -> frozenset[str]:
        return frozenset(self.text(n) for n in lines)

    def scopes_called_as(self, text: str) -> list[ScopeFlow]:
        return [
            self._scope(index)
            for index, node in enumerate(self._nodes)
            if self.text(node.lineno) == text  # type: ignore[attr-defined]
        ]

    def _scope(self, index: int) -> ScopeFlow:
        scope = self._scopes.get(index)
        if scope is None:
            scope = self._scopes[index] = _scope(self._nodes[index], self.code_lines)
        return scope


def _is_code(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _span(first: int, last: int, code: frozenset[int]) -> frozenset[int]:
    return frozenset(n for n in range(first, last + 1) if n in code)


def _scope(node: ast.AST, code: frozenset[int]) -> ScopeFlow:
    start, end = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
    span = _span(start, end, code)
    if not isinstance(node, ast.FunctionDef) or not _followable(node):
        return ScopeFlow(start, span, span, None)
    return _FunctionFlow(node, code).scope()


def _followable(function: ast.FunctionDef) -> bool:
    """Plain statement-by-statement flow: no generator, no finally, nothing unfollowed."""
    for child in _own_nodes(function):
        if isinstance(child, (*_UNFOLLOWED, ast.Yield, ast.YieldFrom, ast.Await)):
            return False
        if isinstance(child, ast.Try) and child.finalbody:
            return False
    return True


def _own_nodes(function: ast.FunctionDef) -> Iterable[ast.AST]:
    """The nodes of ``function``'s body that run in its own scope (not nested scopes)."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        child = stack.pop()
        yield child
        if isinstance(child, _SCOPE_NODES):
            # a nested def's decorators and defaults run here; its body does not
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                stack.extend(child.decorator_list)
            continue
        stack.extend(ast.iter_child_nodes(child))


@dataclass(frozen=True)
class _Loop:
    header: _Node
    after: list[_Node]  # where a ``break`` goes
    withs: int  # how many ``with`` blocks enclose the loop (a jump leaves only those inside it)


class _FunctionFlow:
    """The flow graph of one function's statements, then its line-to-line successors."""

    def __init__(self, function: ast.FunctionDef, code: frozenset[int]) -> None:
        self.function = function
        self.code = code
        self.nodes: list[_Node] = []
        self.by_statement: dict[int, _Node] = {}
        self.withs: list[ast.With] = []  # the ``with`` blocks around the statement being built

    def scope(self) -> ScopeFlow:
        body = self.function.body
        withs: set[int] = set()
        for statement in _statements(body):
            if isinstance(statement, ast.With):
                withs.add(statement.lineno)
            node = _Node(self._header_lines(statement))
            node.loop_header = isinstance(statement, ast.For | ast.While)
            node.maybe_silent = _maybe_silent(statement)
            self.by_statement[id(statement)] = node
            self.nodes.append(node)
            for handler in getattr(statement, "handlers", None) or []:
                handler_node = _Node(self._header_lines(handler))
                self.by_statement[id(handler)] = handler_node
                self.nodes.append(handler_node)
        self._block(body, after=[], loop=None)
        start = _Node(frozenset(), [self._node(body[0])])
        on_line: dict[int, list[_Node]] = {}
        for node in self.nodes:
            for line in node.lines:
                on_line.setdefault(line, []).append(node)
        successors = {line: _next_lines(nodes, line) for line, nodes in on_line.items()}
        first = _reachable_lines(start, line=0)
        return ScopeFlow(
            self.function.lineno, frozenset(on_line), first, successors, frozenset(withs)
        )

    def _node(self, statement: ast.stmt | ast.ExceptHandler) -> _Node:
        return self.by_statement[id(statement)]

    def _header_lines(self, statement: ast.stmt | ast.ExceptHandler) -> frozenset[int]:
        """The lines of a simple statement, or of a compound statement's header."""
        first = statement.lineno
        last = statement.end_lineno or first
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([first, *(d.lineno for d in statement.decorator_list)])
        body = getattr(statement, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            last = max(statement.lineno, body[0].lineno - 1)  # the header, not its block
        lines = _span(first, last, self.code)
        return lines or frozenset({statement.lineno})

    def _block(self, body: list[ast.stmt], *, after: list[_Node], loop: _Loop | None) -> None:
        for index, statement in enumerate(body):
            follow = [self._node(body[index + 1])] if index + 1 < len(body) else after
            self._statement(statement, follow, loop)

    def _first(self, body: list[ast.stmt], otherwise: list[_Node]) -> list[_Node]:
        return [self._node(body[0])] if body else otherwise

    def _statement(self, statement: ast.stmt, follow: list[_Node], loop: _Loop | None) -> None:
        node = self._node(statement)
        if isinstance(statement, ast.If):
            node.edges = [self._node(statement.body[0]), *self._first(statement.orelse, follow)]
            self._block(statement.body, after=follow, loop=loop)
            self._block(statement.orelse, after=follow, loop=loop)
        elif isinstance(statement, ast.For | ast.While):
            node.edges = [self._node(statement.body[0])]
            if not _always_true(statement):  # ``while True:`` is left only by a jump
                node.edges += self._first(statement.orelse, follow)
            self._block(statement.body, after=[node], loop=_Loop(node, follow, len(self.withs)))
            self._block(statement.orelse, after=follow, loop=loop)
        elif isinstance(statement, ast.With):
            leaving = _Node(frozenset({statement.lineno}), list(follow), maybe_silent=True)
            self.nodes.append(leaving)
            node.edges = [self._node(statement.body[0])]
            self.withs.append(statement)
            self._block(statement.body, after=[leaving], loop=loop)
            self.withs.pop()
        elif isinstance(statement, ast.Try):
            after_body = self._first(statement.orelse, follow)
            node.edges = [self._node(statement.body[0])]
            self._block(statement.body, after=after_body, loop=loop)
            for index, handler in enumerate(statement.handlers):
                # a handler that does not match passes the exception to the next one
                later = statement.handlers[index + 1 : index + 2]
                self._node(handler).edges = [
                    self._node(handler.body[0]),
                    *(self._node(h) for h in later),
                ]
                self._block(handler.body, after=follow, loop=loop)
            self._block(statement.orelse, after=follow, loop=loop)
        elif isinstance(statement, ast.Raise):
            node.edges = []
        elif isinstance(statement, ast.Return):
            node.edges = self._leaving_withs([], passed=self.withs)
        elif isinstance(statement, ast.Break | ast.Continue):
            passed = self.withs[loop.withs if loop else 0 :]  # the withs inside the loop
            if loop is None:
                targets = []
            else:
                targets = list(loop.after) if isinstance(statement, ast.Break) else [loop.header]
            node.edges = self._leaving_withs(targets, passed=passed)
        else:
            node.edges = list(follow)

    def _leaving_withs(self, targets: list[_Node], *, passed: list[ast.With]) -> list[_Node]:
        """A jump out of ``with`` blocks runs each one's exit on its ``with`` line first."""
        if not passed:
            return targets
        exits = _Node(frozenset(w.lineno for w in passed), targets, maybe_silent=True)
        self.nodes.append(exits)
        return [exits]


def _next_lines(nodes: list[_Node], line: int) -> frozenset[int]:
    """Lines that can follow ``line``, given the nodes that run on it."""
    found: set[int] = set()
    for node in nodes:
        found |= node.lines - {line}
        found |= _reachable_lines(node, line=line)
    return frozenset(found)


def _reachable_lines(start: _Node, *, line: int) -> frozenset[int]:
    """Lines that can be the next line frame after ``start`` (which runs on ``line``)."""
    found: set[int] = set()
    seen: set[int] = set()
    stack = list(start.edges)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found |= node.lines - {line}
        if line in node.lines and node.loop_header:
            found.add(line)  # a jump back to a loop on the same line starts the line again
        if line in node.lines or node.maybe_silent:
            stack.extend(node.edges)
    return frozenset(found)


def _always_true(statement: ast.For | ast.While) -> bool:
    test = statement.test if isinstance(statement, ast.While) else None
    return isinstance(test, ast.Constant) and bool(test.value)


def _maybe_silent(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Global | ast.Nonlocal | ast.Try):
        return True  # no code of its own (``try:`` may or may not start a line)
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _statements(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Every statement of a function body in its own scope, nested blocks included."""
    for statement in body:
        yield statement
        if isinstance(statement, _SCOPE_NODES):
            continue
        for name in ("body", "orelse", "finalbody"):
            block = getattr(statement, name, None)
            if isinstance(block, list):
                yield from _statements([s for s in block if isinstance(s, ast.stmt)])
        for handler in getattr(statement, "handlers", []) or []:
            yield from _statements(handler.body)
