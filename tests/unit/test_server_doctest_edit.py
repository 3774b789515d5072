"""Recording a call and its result as a doctest, with and without an existing docstring."""

from __future__ import annotations

import doctest

import pytest

from cwm_lsp.entry import find_function
from cwm_lsp.server.doctest_edit import Insertion, doctest_insertion, doctest_output


def apply(source: str, insertion: Insertion) -> str:
    lines = source.splitlines(keepends=True)
    offset = sum(len(line) for line in lines[: insertion.line]) + insertion.character
    return source[:offset] + insertion.text + source[offset:]


def run_doctests(source: str, name: str) -> doctest.TestResults:
    namespace: dict[str, object] = {}
    exec(compile(source, "example.py", "exec"), namespace)
    tests = doctest.DocTestFinder().find(namespace[name], globs=namespace)
    runner = doctest.DocTestRunner()
    for test in tests:
        runner.run(test)
    return runner.summarize(verbose=False)


ADD = "def add(a, b):\n{doc}    return a + b\n"


@pytest.mark.parametrize(
    "doc",
    [
        "",
        '    """Add."""\n',
        '    """Add.\n\n    More words.\n    """\n',
        '    """Add.\n    More words."""\n',
        "    '''Add.\n\n    '''\n",
    ],
)
def test_doctest_lands_in_the_docstring_and_passes(doc: str) -> None:
    source = ADD.format(doc=doc)
    fn = find_function(source, name="add")
    insertion = doctest_insertion(source, fn, "add(2, 3)", doctest_output("5", None))
    assert insertion is not None
    updated = apply(source, insertion)
    assert ">>> add(2, 3)\n    5\n" in updated
    results = run_doctests(updated, "add")
    assert results.attempted == 1 and results.failed == 0


def test_exception_output_matches_doctest_traceback_form() -> None:
    source = "def inverse(x):\n    return 1 / x\n"
    fn = find_function(source, name="inverse")
    output = doctest_output(None, "ZeroDivisionError: division by zero")
    insertion = doctest_insertion(source, fn, "inverse(0)", output)
    assert insertion is not None
    results = run_doctests(apply(source, insertion), "inverse")
    assert results.attempted == 1 and results.failed == 0


def test_none_has_no_output_line_and_methods_keep_their_indentation() -> None:
    assert doctest_output("None", None) == []
    source = 'class C:\n    def m(self):\n        """Nothing."""\n        return None\n'
    fn = find_function(source, name="C.m")
    insertion = doctest_insertion(source, fn, "C().m()", [])
    assert insertion is not None
    assert '"""Nothing.\n\n        >>> C().m()\n        """' in apply(source, insertion)


def test_backslashes_in_values_are_escaped_for_the_docstring() -> None:
    source = "def path():\n    return 'a\\\\b'\n"
    fn = find_function(source, name="path")
    insertion = doctest_insertion(source, fn, "path()", doctest_output("'a\\\\b'", None))
    assert insertion is not None
    results = run_doctests(apply(source, insertion), "path")
    assert results.attempted == 1 and results.failed == 0


def test_no_insertion_for_one_line_functions_or_multi_line_calls() -> None:
    source = "def one(): return 1\n"
    fn = find_function(source, name="one")
    assert doctest_insertion(source, fn, "one()", ["1"]) is None
    source = "def two():\n    return 2\n"
    fn = find_function(source, name="two")
    assert doctest_insertion(source, fn, "two(\n)", ["2"]) is None
