"""What hovers and hints show, on traces recorded by the real tracer: run tables (constant
columns said once, capped with a summary row, plain text), lines that hold no values, and the
call a model invented."""

from __future__ import annotations

from dataclasses import replace

from cwm_lsp.entry import find_function
from cwm_lsp.execution.recorder import record_in_process
from cwm_lsp.server.invented import invented_arguments, invented_call, read_invented
from cwm_lsp.server.labels import dropped_note, render_lines
from cwm_lsp.server.run_table import build_table, to_markdown, to_plaintext
from cwm_lsp.server.view import build_view, valueless_lines

LOOP = '''\
def count_up(n=30, step=2):  # << START_OF_TRACE
    """Add step n times.

    Nothing else.
    """
    total = 0
    # the loop

    for i in range(n):
        total += step
    return total
'''


def loop_view():  # type: ignore[no-untyped-def]
    frames, outcome = record_in_process(LOOP)
    assert outcome.finished and outcome.uncaught is None, outcome
    return frames, build_view(frames, LOOP, finished=True)


def line_of(text: str) -> int:
    return next(number for number, line in enumerate(LOOP.splitlines()) if text in line)


def test_a_long_table_is_capped_with_a_summary_row_and_constants_said_once() -> None:
    _, view = loop_view()
    executions = view.lines[line_of("total += step")].executions
    table = build_table(executions, limit=12)
    assert table.total == 30 and len(table.rows) == 12 and table.hidden == 18
    assert table.columns == ("iteration", "total")  # one call: no call column
    assert table.rows[0] == ("1", "2") and table.rows[11] == ("12", "24")
    assert table.summary == ("30 runs", "first 2, last 60, min 2, max 60")
    markdown = to_markdown(table, show_all="command:x")
    assert markdown.splitlines()[0] == "| iteration | `total` |"
    assert "| *30 runs* | *first 2, last 60, min 2, max 60* |" in markdown
    assert "Showing 12 of 30 runs. [Show all 30 runs](command:x)" in markdown
    # The header line: `i` changes every pass; the loop's other locals are not in the table.
    header = build_table(view.lines[line_of("for i in range")].executions)
    assert header.columns[-1] == "i"


def test_a_column_with_one_value_in_every_run_is_said_once_above_the_table() -> None:
    source = (
        "def f(n=4):  # << START_OF_TRACE\n    for i in range(n):\n        k = 7\n    return k\n"
    )
    frames, _ = record_in_process(source)
    view = build_view(frames, source, finished=True)
    table = build_table(view.lines[2].executions)
    assert table.constants == (("k", "7"),)
    assert table.columns == ()  # nothing left that differs (iteration alone says nothing)
    assert to_markdown(table) == "`k` = `7` in every run"
    assert to_plaintext(table) == "k = 7 in every run"


def test_plain_text_tables_align_columns_without_markdown() -> None:
    _, view = loop_view()
    text = to_plaintext(build_table(view.lines[line_of("total += step")].executions, limit=3))
    lines = text.splitlines()
    assert lines[0].split() == ["iteration", "total"]
    assert lines[2].split() == ["1", "2"]
    assert "|" not in text and "`" not in text
    assert lines[-1] == "Showing 3 of 30 runs."
    assert "30 runs" in lines[-3]


def test_docstring_comment_and_blank_lines_hold_no_values() -> None:
    valueless = valueless_lines(LOOP)
    docstring = range(line_of('"""Add step'), line_of('    """') + 1)
    assert set(docstring) <= valueless
    assert line_of("# the loop") in valueless and line_of("# the loop") + 1 in valueless
    assert line_of("total = 0") not in valueless and line_of("return total") not in valueless


def test_a_frame_naming_a_docstring_line_is_dropped_and_counted() -> None:
    frames, _ = loop_view()
    docstring_text = LOOP.splitlines(keepends=True)[line_of("Nothing else")]
    # What a weak model does: a step on a line no statement starts on.
    wrong = [
        replace(frame, line=docstring_text) if "total = 0" in frame.line else frame
        for frame in frames
    ]
    view = build_view(wrong, LOOP, finished=True)
    assert line_of("Nothing else") not in view.lines
    assert view.dropped == {line_of("Nothing else"): 1}
    assert line_of("Nothing else") not in render_lines(view, 60, observed=False)
    note = dropped_note(view)
    assert note is not None and "1 step of the trace named a line that cannot hold values" in note
    assert dropped_note(build_view(frames, LOOP, finished=True)) is None


def test_the_invented_call_is_read_from_the_call_frame() -> None:
    frames, _ = loop_view()
    fn = find_function(LOOP, line=1)
    assert invented_arguments(frames, fn) == {"n": "30", "step": "2"}
    assert invented_call(fn, {"n": "30", "step": "2"}) == "count_up(30, 2)"
    invented = read_invented(frames, LOOP, 0)
    assert invented is not None and invented.describe() == "count_up(30, 2)"


def test_invented_calls_of_every_parameter_kind() -> None:
    source = "def g(a, /, b, *rest, c, d=1, **more):\n    return a\n"
    fn = find_function(source, line=1)
    arguments = {"a": "1", "b": "'x'", "rest": "(2, 3)", "c": "None", "d": "1", "more": "{}"}
    assert invented_call(fn, arguments) == "g(1, 'x', *(2, 3), c=None, d=1)"
    assert invented_call(fn, {"a": "1"}) is None  # b and c are required
    method = "class K:\n    def m(self, x):\n        return x\n"
    assert invented_call(find_function(method, line=2), {"self": "<K>", "x": "1"}) is None
