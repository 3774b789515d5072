"""The static control-flow view: it must allow every line a real trace names, and be tight.

Soundness is checked against traces recorded by our tracer (and the golden traces): each
frame's line must be among the lines the tracker allowed for it. Tightness is checked on
shapes where the next line is certain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import goldens
import pytest
from goldens import harness

from cwm_lsp.execution.recorder import record_in_process
from cwm_lsp.trace.flow import SourceFlow
from cwm_lsp.trace.flow_tracker import FlowTracker
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.parser import parse_trace

PROGRAMS: dict[str, tuple[str, str]] = {
    "try_except_else_continue": (
        """
def parse(items):
    out = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            out.append(None)
            continue
        except TypeError as err:
            out.append(str(err)[:5])
        else:
            out.append(value)
    return out
""",
        'parse(["1", "x", None, "4"])',
    ),
    "for_else_break": (
        """
def find(values, target):
    for i, v in enumerate(values):
        if v == target:
            break
    else:
        i = -1
    return i
""",
        "find([3, 4], 9) + find([1, 2, 3], 2)",
    ),
    "while_else_continue": (
        """
def collatz(n):
    steps = 0
    while n != 1:
        steps += 1
        if n % 2:
            n = 3 * n + 1
            continue
        n //= 2
    else:
        steps += 100
    return steps
""",
        "collatz(6)",
    ),
    "while_true_break": (
        """
def first_square_above(limit):
    k = 0
    while True:
        k += 1
        if k * k > limit:
            break
    return k
""",
        "first_square_above(10)",
    ),
    "one_line_bodies": (
        """
def clip(xs, lo, hi):
    out = []; n = 0
    for x in xs: out.append(x)
    while n < 2: n += 1
    if lo > hi: lo, hi = hi, lo
    for i, x in enumerate(out):
        if x < lo: out[i] = lo
        elif x > hi: out[i] = hi
        else: pass
    return out
""",
        "clip([1, 5, 9], 7, 3)",
    ),
    "multi_line_statements": (
        """
def build(a, b):
    total = (
        a
        + b
    )
    parts = [
        str(a),
        str(b),
    ]
    if (total > 3
            and a):
        parts.append(
            "big"
        )
    return {
        "total": total,
        "parts": parts,
    }
""",
        "build(2, 5)",
    ),
    "docstring_global_nonlocal": (
        '''
COUNT = 0

def bump(n):
    """Add n to COUNT."""
    global COUNT
    "a constant expression statement"
    COUNT += n
    def inner():
        nonlocal n
        n += 1
        return n
    return inner() + COUNT
''',
        "bump(3)",
    ),
    "decorated_nested_and_class": (
        """
import functools

def twice(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return fn(fn(x))
    return wrapper

class Box:
    size = 2

    def __init__(self, items):
        self.items = list(items)

    @property
    def total(self):
        return sum(self.items) * self.size

@twice
def inc(x):
    return x + 1

def run():
    box = Box([inc(1), 2])
    return box.total
""",
        "run()",
    ),
    "with_statement": (
        """
import contextlib

@contextlib.contextmanager
def tag(log, name):
    log.append("<" + name)
    yield name
    log.append(name + ">")

def render(names):
    log = []
    for name in names:
        with tag(log, name) as t:
            log.append(t.upper())
    return log
""",
        'render(["a", "b"])',
    ),
    "try_finally_and_raise": (
        """
def risky(n):
    try:
        if n > 1:
            raise ValueError(n)
        return n
    finally:
        n = 0

def guarded(n):
    try:
        return risky(n)
    except ValueError as err:
        return -len(str(err))
""",
        "guarded(1) + guarded(5)",
    ),
    "generator_lambda_comprehensions": (
        """
def evens(limit):
    for i in range(limit):
        if i % 2 == 0:
            yield i

def combine(limit):
    square = lambda v: v * v
    got = [square(v) for v in evens(limit)]
    table = {v: [w for w in range(v)] for v in got if v}
    return sum(got), len(table), sorted({len(w) for w in table.values()})
""",
        "combine(5)",
    ),
    "recursion_and_uncaught": (
        """
def depth(tree):
    if not tree:
        return 0
    return 1 + max(depth(child) for child in tree)

def explode(values):
    total = 0
    for v in values:
        total += 10 // v
    return total
""",
        "depth([[], [[]]]) + explode([5, 0])",
    ),
    "match_statement": (
        """
def kind(value):
    match value:
        case 0:
            return "zero"
        case [x, *_]:
            return f"list starting {x}"
        case _:
            return "other"

def kinds(values):
    return [kind(v) for v in values]
""",
        'kinds([0, [1, 2], "s"])',
    ),
    "multi_line_comprehension_and_lambda": (
        """
def shape(values):
    pairs = [
        (v, v * 2)
        for v in values
        if v
    ]
    key = (lambda p:
           -p[1])
    total = sum(
        a + b
        for a, b in pairs
    )
    return sorted(pairs, key=key), total
""",
        "shape([2, 0, 5])",
    ),
    "jumps_out_of_with_blocks": (
        """
class Guard:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

def first_big(xs):
    for x in xs:
        with Guard():
            with Guard():
                if x > 1:
                    return x
            if x == 0:
                continue
            if x < 0:
                break
    return -1
""",
        "first_big([0, -1]) + first_big([0, 5])",
    ),
    "exception_through_with": (
        """
import contextlib

@contextlib.contextmanager
def opened():
    yield 1

def load(n):
    try:
        with opened() as handle:
            if n:
                raise ValueError(n)
            got = handle
    except ValueError:
        got = 0
    with opened():
        return got + 1 // n
""",
        "load(1) + load(0)",
    ),
    "pass_and_ellipsis": (
        """
def f(x):
    if x:
        pass
    else:
        ...
    y = 1
    for i in range(2):
        pass
    return y
""",
        "f(1) + f(0)",
    ),
    "jumps_in_handlers": (
        """
def g(items):
    total = 0
    for it in items:
        try:
            total += 10 // it
        except ZeroDivisionError as err:
            if total > 5:
                break
            continue
        except TypeError:
            return -1
        finally_like = total
    return total

def h(items):
    try:
        return g(items)
    except Exception:
        return 0
""",
        "g([1, 0, 2]) + g([0, 1]) + g([2, 'x']) + h([1])",
    ),
    "nested_loops_with_else": (
        """
def primes(n):
    found = []
    for k in range(2, n):
        for d in found:
            if k % d == 0:
                break
        else:
            found.append(k)
            continue
        k = -k
    return found
""",
        "primes(12)",
    ),
    "class_in_function": (
        """
def make(v):
    class Point:
        scale = 2
        def norm(self):
            return v * self.scale
    p = Point()
    return p.norm()
""",
        "make(3)",
    ),
    "assert_delete_augmented": (
        """
def shrink(d):
    assert d, "empty"
    keys = list(d)
    del d[keys[0]]
    d.setdefault("z", 0)
    d["z"] += len(keys)
    return d
""",
        'shrink({"a": 1, "b": 2})',
    ),
}


def violations(context: str, frames: list[Frame]) -> list[str]:
    flow = SourceFlow.from_context(context)
    assert flow is not None
    tracker = FlowTracker(flow)
    found = []
    for number, frame in enumerate(frames):
        allowed = tracker.allowed(frame.event)
        if allowed is not None and frame.line not in allowed:
            found.append(f"frame {number} {frame.event.value} {frame.line!r} not in {allowed}")
        tracker.advance(frame.event, frame.line)
    return found


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_recorded_line_is_allowed(name: str) -> None:
    if name == "match_statement" and sys.version_info < (3, 10):
        pytest.skip("match needs Python 3.10")
    context = harness(*PROGRAMS[name])
    frames, outcome = record_in_process(context)
    assert len(frames) > 5, outcome
    assert violations(context, frames) == []


@pytest.mark.parametrize("path", sorted(goldens.GOLDEN_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_golden_traces_stay_on_the_flow(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    frames = parse_trace(data["trace_text"]).frames
    assert violations(data["context"], frames) == []


def _allowed_after(context: str, frames: list[Frame], event: Event) -> frozenset[str] | None:
    flow = SourceFlow.from_context(context)
    assert flow is not None
    tracker = FlowTracker(flow)
    for frame in frames:
        tracker.advance(frame.event, frame.line)
    return tracker.allowed(event)


def test_a_simple_statement_is_followed_by_the_next_one() -> None:
    context = harness(*PROGRAMS["while_true_break"])
    frames, _ = record_in_process(context)
    increment = next(i for i, f in enumerate(frames) if f.line == "        k += 1\n")
    allowed = _allowed_after(context, frames[: increment + 1], Event.LINE)
    assert allowed == {"        if k * k > limit:\n"}
    check = increment + 1
    assert _allowed_after(context, frames[: check + 1], Event.LINE) == {
        "            break\n",
        "    while True:\n",
    }


def test_return_and_exception_frames_name_the_current_line() -> None:
    context = harness(*PROGRAMS["while_true_break"])
    frames, _ = record_in_process(context)
    last_line = max(i for i, f in enumerate(frames) if f.line == "    return k\n")
    assert _allowed_after(context, frames[:last_line], Event.RETURN) == {"    return k\n"}
    assert _allowed_after(context, frames[:last_line], Event.EXCEPTION) == {"    return k\n"}


def test_call_frames_name_a_scope_and_an_exception_frees_the_scope() -> None:
    context = harness(*PROGRAMS["try_except_else_continue"])
    frames, _ = record_in_process(context)
    calls = _allowed_after(context, [], Event.CALL)
    assert calls == {"def parse(items):\n", "def main():  # << START_OF_TRACE\n"}
    raised = next(i for i, f in enumerate(frames) if f.event is Event.EXCEPTION)
    after = _allowed_after(context, frames[: raised + 1], Event.LINE)
    assert after is not None and "        except ValueError:\n" in after
    assert "    out = []\n" in after  # any line of the scope: the handler is not known statically


def test_unparsable_context_gives_no_flow() -> None:
    assert SourceFlow.from_context("def broken(:\n    pass\n") is None


def test_an_unknown_call_line_allows_every_code_line() -> None:
    context = harness(*PROGRAMS["while_true_break"])
    flow = SourceFlow.from_context(context)
    assert flow is not None
    tracker = FlowTracker(flow)
    tracker.advance(Event.CALL, "def not_in_the_file():\n")
    allowed = tracker.allowed(Event.LINE)
    assert allowed is not None and "    k = 0\n" in allowed and "    return k\n" in allowed
    assert "\n" not in allowed  # blank lines are never code


def test_flow_check_script_passes_the_goldens_and_fails_a_skipped_line(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "model" / "recipe"))
    import flow_check

    assert flow_check.main(["--golden", str(goldens.GOLDEN_DIR)]) == 0
    golden = json.loads((goldens.GOLDEN_DIR / "while_break.json").read_text())
    skipped = golden["trace_text"].replace("        if k * k > limit:\n", "    while True:\n", 1)
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text(json.dumps({"context": golden["context"], "trace": skipped}) + "\n")
    assert flow_check.main([str(corpus)]) == 1
