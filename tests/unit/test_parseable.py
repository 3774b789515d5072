"""The part of a source that parses: blocks that do not are blanked, line numbers kept."""

from __future__ import annotations

from cwm_lsp.entry import list_functions
from cwm_lsp.parseable import syntax_problem, trim_to_parseable

SOURCE = '''\
"""Module."""
import functools


@functools.cache
def good(a):
    return a + 1


def bad(x):
    return x +


try:
    import json
except ImportError:
    json = None
'''


def test_only_the_block_that_does_not_parse_is_left_out() -> None:
    trimmed = trim_to_parseable(SOURCE)
    assert trimmed is not None
    assert trimmed.left_out == ((10, 13),)
    assert trimmed.problem.line == 11
    assert trimmed.source.count("\n") == SOURCE.count("\n")  # every line keeps its number
    assert [fn.qualname for fn in list_functions(trimmed.source)] == ["good"]
    assert list_functions(trimmed.source)[0].def_line == 6  # decorator kept with its def
    assert "except ImportError:" in trimmed.source  # a clause stays with its try
    assert trimmed.describe() == "line 11: invalid syntax; left out line(s) 10-13"


def test_a_source_that_parses_needs_no_trimming() -> None:
    assert syntax_problem("x = 1\n") is None
    assert trim_to_parseable("x = 1\n") is None


def test_the_syntax_problem_has_a_range() -> None:
    problem = syntax_problem("def f(:\n    pass\n")
    assert problem is not None
    assert (problem.line, problem.column) == (1, 6) and problem.end_column > problem.column
