"""Line mapping: frame line texts to context line numbers, checked against real CPython runs."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import goldens
import pytest

from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.linemap import ContextIndex, map_lines

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDENS = {p.stem: json.loads(p.read_text()) for p in sorted(GOLDEN_DIR.glob("*.json"))}
FILENAME = "<linemap-test>"


def record(context: str, *, def_line_for_calls: bool = False) -> tuple[list[Frame], list[int]]:
    """Run ``main()`` of ``context`` under ``sys.settrace``: frames and the true line numbers.

    Call frames show ``co_firstlineno`` (a decorated function's first decorator line) unless
    ``def_line_for_calls`` asks for the ``def`` line.
    """
    lines = context.splitlines(keepends=True)
    code = compile(context, FILENAME, "exec")
    module = types.ModuleType("__prophecy__")
    exec(code, module.__dict__)
    frames: list[Frame] = []
    numbers: list[int] = []

    def event(kind: Event, number: int, **extra: Any) -> None:
        frames.append(Frame(kind, lines[number - 1], **extra))
        numbers.append(number)

    def tracer(frame: types.FrameType, what: str, arg: Any) -> Any:
        if frame.f_code.co_filename != FILENAME:
            return None
        state = {name: repr(value) for name, value in frame.f_locals.items()}
        if what == "call":
            number = frame.f_code.co_firstlineno
            if def_line_for_calls:
                while lines[number - 1].lstrip().startswith("@"):
                    number += 1
            event(Event.CALL, number, locals=state)
        elif what == "line":
            event(Event.LINE, frame.f_lineno, locals=state)
        elif what == "return":
            event(Event.RETURN, frame.f_lineno, arg=repr(arg))
        elif what == "exception":
            kind, value, _ = arg
            text = f"(<class '{kind.__name__}'>, {value!r}, <traceback object>)"
            event(Event.EXCEPTION, frame.f_lineno, arg=text)
        return tracer

    sys.settrace(tracer)
    try:
        module.main()
    except Exception:
        pass
    finally:
        sys.settrace(None)
    return frames, numbers


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden_frames_map_to_their_lines(name: str) -> None:
    golden = GOLDENS[name]
    frames = [Frame.from_json(item) for item in golden["frames"]]
    line_map = map_lines(frames, golden["context"])
    lines = golden["context"].splitlines()
    assert line_map.problems == []
    for frame, number in zip(frames, line_map.lines, strict=True):
        assert number is not None
        assert lines[number - 1] == frame.line.rstrip("\n")


TRICKY = {
    "two_return_none": """\
def check(x):
    if x > 0:
        return None
    x = -x
    return None

def main():  # << START_OF_TRACE
    return [check(1), check(-1)]
""",
    "same_loop_in_two_functions": """\
def a(xs):
    t = 0
    for x in xs:
        t += x
    return t

def b(xs):
    t = 0
    for x in xs:
        t += x
    return t

def main():  # << START_OF_TRACE
    return b([3]) + a([1, 2]) + b([4, 5])
""",
    "same_loop_twice_in_a_row": """\
def twice(n):
    s = 0
    for i in range(n):
        s += i
    for i in range(n):
        s += i
    return s

def main():  # << START_OF_TRACE
    return twice(3)
""",
    "nested_lambda_comprehension": """\
def outer(xs):
    def inner(x):
        return x + 1
    key = lambda x: -x
    ys = sorted(xs, key=key)
    return [inner(y) for y in ys if y]

def inner(x):
    return x + 1

def main():  # << START_OF_TRACE
    return outer([2, 0, 5]) + [inner(1)]
""",
    "decorated": """\
import functools

def deco(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)
    return wrapper

@deco
def inc(x):
    return x + 1

def main():  # << START_OF_TRACE
    return inc(inc(1))
""",
    "same_method_name_in_two_classes": """\
class A:
    def get(self, k):
        return k + 1

class B:
    def get(self, k):
        return k * 2

def main():  # << START_OF_TRACE
    return B().get(A().get(1))
""",
    "recursion_and_exceptions": """\
def depth(n):
    if n == 0:
        raise ValueError("bottom")
    try:
        return depth(n - 1)
    except ValueError:
        if n < 2:
            raise
        return n

def main():  # << START_OF_TRACE
    return depth(3)
""",
    "multi_line_call_and_class_body": """\
def build(a,
          b):
    class Box:
        size = a + b
    values = dict(
        left=a,
        right=b,
    )
    return Box.size, values

def main():  # << START_OF_TRACE
    return build(1,
                 2)
""",
    "one_line_loops_and_generator": """\
def spin(n):
    while n > 0: n -= 1
    for i in range(2): n += i
    return n

def evens(limit):
    for k in range(limit):
        if k % 2 == 0:
            yield k

def main():  # << START_OF_TRACE
    total = sum(
        v * 2
        for v in evens(5)
    )
    return spin(3) + total
""",
}


@pytest.mark.parametrize("name", sorted(TRICKY))
@pytest.mark.parametrize("def_line_for_calls", [False, True])
def test_tricky_contexts_map_like_cpython(name: str, def_line_for_calls: bool) -> None:
    frames, truth = record(TRICKY[name], def_line_for_calls=def_line_for_calls)
    line_map = map_lines(frames, TRICKY[name])
    assert line_map.problems == []
    assert line_map.lines == truth


def test_scopes_get_their_code_blocks() -> None:
    frames, _ = record(TRICKY["nested_lambda_comprehension"])
    line_map = map_lines(frames, TRICKY["nested_lambda_comprehension"])
    names = [block.qualname if block else None for block in line_map.blocks]
    assert names == [
        "main",
        "outer",
        "outer.<locals>.<lambda>",
        "outer.<locals>.<lambda>",
        "outer.<locals>.<lambda>",
        "outer.<locals>.<listcomp>",
        "outer.<locals>.inner",
        "outer.<locals>.inner",
        "inner",
    ]


def test_call_frame_on_a_body_line_uses_the_enclosing_function() -> None:
    context = TRICKY["one_line_loops_and_generator"]
    frames, truth = record(context)
    lines = context.splitlines(keepends=True)
    # Show each generator resume on the line where it resumes instead of the def line.
    moved = [
        Frame(f.event, lines[truth[i + 1] - 1], f.locals)
        if f.event is Event.CALL and f.line.startswith("def evens") and "k" in f.locals
        else f
        for i, f in enumerate(frames)
    ]
    assert moved != frames
    line_map = map_lines(moved, context)
    assert line_map.problems == []
    assert {b.qualname for b in line_map.blocks if b} == {
        "main",
        "evens",
        "main.<locals>.<genexpr>",
        "spin",
    }


def test_context_that_does_not_parse_uses_indentation() -> None:
    context = TRICKY["same_loop_in_two_functions"] + "\ndef broken(:\n    pass\n"
    frames, truth = record(TRICKY["same_loop_in_two_functions"])
    index = ContextIndex(context)
    assert not index.parsed
    line_map = map_lines(frames, index)
    assert line_map.problems == []
    assert line_map.lines == truth
    assert [b.qualname if b else None for b in line_map.blocks] == ["main", "b", "a", "b"]


def test_comprehension_without_ast_lives_on_its_line() -> None:
    golden = GOLDENS["comprehension_and_closure"]
    context = golden["context"] + "if (:\n"
    frames = [Frame.from_json(item) for item in golden["frames"]]
    line_map = map_lines(frames, context)
    assert line_map.problems == []
    assert line_map.lines == map_lines(frames, golden["context"]).lines


def test_unmappable_lines_are_reported_not_fatal() -> None:
    golden = GOLDENS["loop_accumulate"]
    frames = [Frame.from_json(item) for item in golden["frames"]]
    frames[5] = Frame(Event.LINE, "        y = y ** 2\n", {"y": ".."})
    frames[9] = Frame(Event.LINE, "    return f(2, 4)\n", {})  # exists, but in main
    frames.insert(2, Frame(Event.CALL, "def nowhere():\n", {}))
    frames.insert(3, Frame(Event.RETURN, "    pass\n", {}, "None"))
    line_map = map_lines(frames, golden["context"])
    assert [p.frame_index for p in line_map.problems] == [2, 3, 7, 11]
    assert "not in the context" in line_map.problems[0].message
    assert "outside its function" in line_map.problems[3].message
    assert line_map.lines[7] is None and line_map.lines[11] is None
    assert line_map.lines[8] == 3
    assert line_map.lines[12:14] == [3, 4]


def test_indentation_mistakes_still_map() -> None:
    golden = GOLDENS["loop_accumulate"]
    frames = [Frame.from_json(item) for item in golden["frames"]]
    frames[5] = Frame(Event.LINE, "  y += y * i\n", frames[5].locals)
    assert map_lines(frames, golden["context"]).lines[5] == 4
