"""Results per document: which run owns a line, and what edits do to runs."""

from __future__ import annotations

from cwm_lsp.entry import find_function, list_functions
from cwm_lsp.server.edits import TextChange
from cwm_lsp.server.runs import RunStore

SOURCE = """\
def helper(x):
    return x * 2


# prophecy: main_fn(3)
def main_fn(n):
    doubled = helper(n)
    return doubled + 1
"""


def started(store: RunStore, source: str = SOURCE):
    fn = find_function(source, name="main_fn")
    run = store.start("file:///a.py", fn, source, "main_fn(3)")
    # The trace reached helper's body (context line 1) and main_fn's lines.
    run.add_blocks_for([1, 6, 7], list_functions(source), source.splitlines())
    return run


def insert(line: int, text: str) -> TextChange:
    return TextChange(line, 0, line, 0, text)


def test_blocks_cover_the_function_and_the_callees_the_trace_reached() -> None:
    store = RunStore()
    run = started(store)
    assert [block.qualname for block in run.blocks] == ["main_fn", "helper"]
    assert run.document_line(6) == 6 and run.document_line(1) == 1
    assert run.document_line(3) is None  # between the functions: not part of the run
    assert store.at_line("file:///a.py", 6) is run


def test_reports_outside_the_document_go_to_the_def_line() -> None:
    store = RunStore()
    run = started(store)
    assert run.report_line(6) == 6
    assert run.report_line(None) == 5 and run.report_line(20) == 5  # the harness: def line
    store.apply_changes("file:///a.py", [insert(0, "import os\n")], "import os\n" + SOURCE)
    assert run.report_line(None) == 6


def test_an_edit_between_callee_and_function_moves_only_the_function() -> None:
    store = RunStore()
    run = started(store)
    new = SOURCE.replace("\n\n# prophecy", "\n\nLIMIT = 3\n# prophecy")
    assert store.apply_changes("file:///a.py", [insert(4, "LIMIT = 3\n")], new) == []
    assert run.document_line(6) == 7  # main_fn moved down one line
    assert run.document_line(1) == 1  # helper stayed
    assert run.context_line(7) == 6


def test_editing_a_callee_makes_the_run_stale() -> None:
    store = RunStore()
    run = started(store)
    change = TextChange(1, 15, 1, 16, "3")
    new = SOURCE.replace("x * 2", "x * 3")
    assert store.apply_changes("file:///a.py", [change], new) == [run]
    assert run.stale and not run.showable


def test_whole_document_changes_relocate_or_invalidate() -> None:
    store = RunStore()
    run = started(store)
    moved = "import os\n" + SOURCE
    assert store.apply_changes("file:///a.py", [None], moved) == []
    assert run.document_line(6) == 7 and run.document_line(1) == 2
    edited = moved.replace("doubled + 1", "doubled + 2")
    assert store.apply_changes("file:///a.py", [None], edited) == [run]


def test_a_newer_run_replaces_the_older_one() -> None:
    store = RunStore()
    first = started(store)
    second = started(store)
    assert not store.is_current(first) and store.is_current(second)
    store.remove(first)  # removing a replaced run leaves the current one alone
    assert store.get("file:///a.py", "main_fn") is second
    assert store.clear("file:///a.py") == [second]
    assert store.in_document("file:///a.py") == []
