"""What entry discovery describes: functions, their example calls, the trace context, errors."""

from __future__ import annotations

import ast
import doctest
from dataclasses import dataclass, field
from typing import Literal

HARNESS_NAMES = ("main", "_prophecy_main")


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
