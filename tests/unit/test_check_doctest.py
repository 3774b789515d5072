"""Doctest expectations against a trace's outcome, as doctest itself would compare them."""

from __future__ import annotations

from pathlib import Path

from cwm_lsp.checking.checks import DOCTEST_MISMATCH, Outcome, doctest_failure
from cwm_lsp.checking.discovery import Example, SourceFile, read_examples
from cwm_lsp.trace.timeline import ExceptionInfo, describe_exception

SOURCE = '''def f(x):
    """
    >>> f([1, 2])
    [1,
     2]
    >>> f(list(range(30)))  # doctest: +ELLIPSIS
    [0, 1, ..., 29]
    >>> f({})
    Traceback (most recent call last):
      ...
    KeyError: 'k'
    >>> f(None)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    mod.Oops: whatever
    >>> f(3)
    <BLANKLINE>
    a
    >>> f(0)
    """
    return x
'''


def examples(tmp_path: Path) -> list[Example]:
    path = tmp_path / "mod.py"
    path.write_text(SOURCE, encoding="utf-8")
    return read_examples(SourceFile(path, "mod.py"))


def raised(text: str) -> Outcome:
    type_name, message = describe_exception(text)
    return Outcome(None, ExceptionInfo(text, type_name, message, 20, 0), True)


def returned(value: str) -> Outcome:
    return Outcome(value, None, True)


def check(example: Example, outcome: Outcome, stdout: str | None = None) -> str | None:
    assert example.doctest is not None
    failure = doctest_failure(example, example.doctest, outcome, stdout)
    if failure is None:
        return None
    assert failure.rule == DOCTEST_MISMATCH and failure.line == example.line
    return failure.message


def test_directives_and_whitespace_follow_doctest(tmp_path: Path) -> None:
    listing, ellipsis, *_ = examples(tmp_path)
    # doctest compares exactly: a repr on one line does not match the wrapped expectation
    assert check(listing, returned("[1, 2]")) is not None
    assert check(ellipsis, returned(repr(list(range(30))))) is None
    assert check(ellipsis, returned(repr(list(range(31))))) is not None


def test_expected_exceptions_compare_type_and_message(tmp_path: Path) -> None:
    key_error, detail = examples(tmp_path)[2:4]
    triple = "(<class 'KeyError'>, KeyError('k'), <traceback object>)"
    assert check(key_error, raised(triple)) is None  # traceback shows KeyError: 'k'
    assert check(key_error, raised("(<class 'KeyError'>, KeyError('j'), <traceback object>)"))
    message = check(key_error, returned("1"))
    assert message == "f({}): expected KeyError: 'k', but it returns 1"
    assert (
        check(detail, raised("(<class 'mod.Oops'>, Oops('other text'), <traceback object>)"))
        is None
    )
    assert check(detail, raised("(<class 'ValueError'>, ValueError('x'), <traceback object>)"))


def test_printed_output_and_blank_lines(tmp_path: Path) -> None:
    printed, silent = examples(tmp_path)[4:6]
    assert check(printed, returned("None"), stdout="\na\n") is None
    message = check(printed, returned("None"), stdout=None)
    assert message is not None and "a model predicts values, not printed output" in message
    assert check(silent, returned("None")) is None
    assert check(silent, returned("0")) == "f(0): expected no output, predicted 0"


def test_an_unexpected_exception_is_a_mismatch(tmp_path: Path) -> None:
    silent = examples(tmp_path)[5]
    message = check(silent, raised("(<class 'ValueError'>, ValueError('x'), <traceback object>)"))
    assert message == "f(0): expected no output, but it raises ValueError: x"
