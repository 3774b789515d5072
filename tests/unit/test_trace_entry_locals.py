"""The entry call frame's locals known from the harness (cwm_lsp.trace.entry_locals): equal to
what the recorder observes wherever it answers (goldens, the dev set, a vendored package's
doctest calls), and no answer where the values could differ."""

from __future__ import annotations

import ast
import doctest
import json
import re
from pathlib import Path

import goldens
import pytest

from cwm_lsp.execution.recorder import record_in_process
from cwm_lsp.trace.entry_locals import entry_call
from cwm_lsp.trace.frames import Event

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "tests/fixtures/packages/more-itertools/more_itertools/recipes.py"
_CALL_LINE = re.compile(r"^# call: (.+)$")


def _harness(source: str, call: str) -> str:
    return f"{source}\n\ndef main():  # << START_OF_TRACE\n    return {call}\n"


def _observed(context: str) -> tuple[str, str] | None:
    """The recorded third frame (the called function's call): its line and its LOCALS."""
    frames, _ = record_in_process(context)
    if len(frames) < 3 or frames[2].event is not Event.CALL:
        return None
    return frames[2].line, json.dumps(frames[2].locals)


def entry_call_locals(context: str) -> str | None:
    known = entry_call(context)
    return None if known is None else known.locals


def _devset_contexts() -> list[str]:
    contexts = []
    for path in sorted((ROOT / "model/devset").glob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            match = _CALL_LINE.match(line)
            if match is None:
                continue
            end = index + 1
            while end + 1 < len(lines) and not _CALL_LINE.match(lines[end + 1]):
                end += 1
            function = "\n".join(lines[index + 1 : end + 1]).rstrip()
            contexts.append(_harness(function, match.group(1)))
    return contexts


def _doctest_contexts(path: Path) -> list[str]:
    """A harness for every doctest example of ``path`` that calls one of its functions."""
    source = path.read_text(encoding="utf-8")
    contexts = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for example in doctest.DocTestParser().get_examples(ast.get_docstring(node) or ""):
            try:
                call = ast.parse(example.source.strip(), mode="eval").body
            except SyntaxError:
                continue
            if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Call):
                call = call.args[0]  # list(f(...)): the call of interest is inside
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                contexts.append(_harness(source, ast.unparse(call)))
    return contexts


def _agree(contexts: list[str]) -> int:
    """How many contexts have known locals; every known line and locals is the recorded one."""
    answered = 0
    for context in contexts:
        known = entry_call(context)
        if known is None:
            continue
        observed = _observed(context)
        assert observed is not None, context[-300:]
        assert known.line == observed[0], context[-300:]
        if known.locals is not None:
            answered += 1
            assert known.locals == observed[1], context[-300:]
    return answered


def test_the_goldens_known_locals_are_the_recorded_ones() -> None:
    contexts = [json.loads(p.read_text())["context"] for p in goldens.GOLDEN_FILES]
    assert _agree(contexts) == 9  # all but the one whose argument is not a literal


def test_the_dev_sets_known_locals_are_the_recorded_ones() -> None:
    contexts = _devset_contexts()
    assert len(contexts) >= 100
    assert _agree(contexts) >= 100


def test_a_vendored_packages_doctest_calls_agree_with_the_recorder() -> None:
    contexts = _doctest_contexts(RECIPES)
    assert len(contexts) >= 50
    assert _agree(contexts) >= 15


def test_parameters_come_in_cpythons_order_with_defaults() -> None:
    source = "def f(a, /, b=2, *args, c, d=[1], **kw):\n    return a\n"
    context = _harness(source, "f(1, 'x', 3, c=(1, 2), z={'k': None})")
    known = entry_call_locals(context)
    assert known == (
        '{"a": "1", "b": "\'x\'", "c": "(1, 2)", "d": "[1]", "args": "(3,)", '
        "\"kw\": \"{'z': {'k': None}}\"}"
    )
    observed = _observed(context)
    assert observed is not None and known == observed[1]


@pytest.mark.parametrize(
    ("source", "call"),
    [
        ("def f(x):\n    return x\n", "f(len('ab'))"),  # a call runs first
        ("def f(x):\n    return x\n", "f(*[1])"),
        ("def f(x):\n    return x\n", "f(1, 2)"),  # raises TypeError before f runs
        ("def f(x=[]):\n    return x\n", "f(y=1)"),
        ("def f(x):\n    return x\nf = print\n", "f(1)"),  # rebound: another object runs
        ("def f(x):\n    return x\nfrom os import sep as f\n", "f(1)"),
        ("def f(x):\n    yield x\n", "f(1)"),  # a generator's frame starts later
        ("import functools\n@functools.cache\ndef f(x):\n    return x\n", "f(1)"),
        ("class C:\n    def __init__(self, x):\n        self.x = x\n", "C(1)"),
        ("async def f(x):\n    return x\n", "f(1)"),
    ],
)
def test_no_answer_where_the_frame_is_not_certain(source: str, call: str) -> None:
    assert entry_call(_harness(source, call)) is None


@pytest.mark.parametrize(
    ("source", "call"),
    [
        ("def f(x):\n    return x\n", "f({'b', 'a'})"),  # a set's order depends on hashing
        ("def f(x, y=len):\n    return x\n", "f(1)"),  # a default that is not a literal
    ],
)
def test_the_line_alone_where_a_value_is_not_certain(source: str, call: str) -> None:
    context = _harness(source, call)
    known = entry_call(context)
    assert known is not None and known.locals is None
    observed = _observed(context)
    assert observed is not None
    assert observed[0] == known.line == source.splitlines(keepends=True)[0]


def test_no_answer_for_a_marked_user_function_or_a_broken_context() -> None:
    assert entry_call("def f(x):  # << START_OF_TRACE\n    return x\n") is None
    assert entry_call(_harness("def f(x:\n    return x\n", "f(1)")) is None
