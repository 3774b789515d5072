"""The in-process recorder: golden byte-exactness, reprs, entry discovery, frame limit."""

from __future__ import annotations

import sys
from pathlib import Path

import goldens
import pytest
from goldens import harness, load, py311

from cwm_lsp.execution.recorder import (
    NoRunnableEntry,
    cut_text,
    find_entry,
    record_in_process,
    safe_repr,
)
from cwm_lsp.trace.codec import encode_trace
from cwm_lsp.trace.frames import Event, Frame

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))


@py311
@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_trace_is_reproduced_byte_for_byte(path: Path) -> None:
    golden = load(path)
    frames, outcome = record_in_process(golden["context"])
    assert encode_trace(frames, finished=outcome.finished) == golden["trace_text"]
    assert [f.to_json() for f in frames] == golden["frames"]
    assert outcome.uncaught == golden["uncaught"]
    assert outcome.limit is None


def test_all_ten_goldens_are_present() -> None:
    assert len(GOLDEN_FILES) == 10


def test_repr_strips_addresses_and_keeps_user_text() -> None:
    class Thing:
        pass

    assert safe_repr(Thing()).endswith("Thing object>")
    assert " at 0x" not in safe_repr(Thing())
    assert safe_repr("jump at 0x10") == "'jump at 0x10'"


def test_repr_cut_is_marked_with_dropped_count() -> None:
    assert cut_text("abcdef", 4) == "abcd...<cut 2 chars>"
    assert cut_text("abc", 4) == "abc"
    assert safe_repr("x" * 50, 10) == "'xxxxxxxxx...<cut 42 chars>"


def test_failing_repr_does_not_break_the_trace() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("nope")

    assert safe_repr(Broken()) == "<Broken object (repr failed: RuntimeError)>"


def test_entry_with_required_parameters_is_refused_clearly() -> None:
    with pytest.raises(NoRunnableEntry, match="takes arguments"):
        find_entry("def f(x):  # << START_OF_TRACE\n    return x\n")


def test_missing_marker_and_syntax_error_are_clear() -> None:
    with pytest.raises(NoRunnableEntry, match="no function is marked"):
        find_entry("def f():\n    return 1\n")
    with pytest.raises(NoRunnableEntry, match="does not parse"):
        find_entry("def f(:\n")


def test_entry_with_defaults_only_is_runnable() -> None:
    frames, outcome = record_in_process("def f(x=2):  # << START_OF_TRACE\n    return x * 3\n")
    assert outcome.finished
    assert frames[0] == Frame(Event.CALL, "def f(x=2):  # << START_OF_TRACE\n", {"x": "2"})
    assert frames[-1].arg == "6"


def test_frame_limit_stops_an_endless_loop_with_frames_kept() -> None:
    context = harness("def spin():\n    n = 0\n    while True:\n        n += 1\n", "spin()")
    frames, outcome = record_in_process(context, max_frames=50)
    assert len(frames) == 50
    assert not outcome.finished
    assert outcome.limit == "frame limit (50) reached"


def test_frame_limit_cannot_be_swallowed_by_user_code() -> None:
    source = (
        "def stubborn():\n"
        "    try:\n"
        "        while True:\n"
        "            pass\n"
        "    except BaseException:\n"
        "        return 'swallowed'\n"
    )
    frames, outcome = record_in_process(harness(source, "stubborn()"), max_frames=20)
    assert outcome.limit == "frame limit (20) reached"
    assert len(frames) == 20


def test_decorated_function_call_frame_shows_def_line() -> None:
    source = "import functools\n@functools.lru_cache\ndef sq(x):\n    return x * x\n"
    frames, outcome = record_in_process(harness(source, "sq(4)"))
    assert outcome.finished
    calls = [f for f in frames if f.event is Event.CALL]
    assert calls[1].line == "def sq(x):\n"
    assert frames[-1].arg == "16"


def test_module_level_code_and_generated_code_are_not_traced() -> None:
    source = (
        "from dataclasses import dataclass\n"
        "@dataclass\n"
        "class P:\n"
        "    x: int\n"
        "TABLE = [i for i in range(3)]\n"
    )
    frames, outcome = record_in_process(harness(source, "P(TABLE[2]).x"))
    assert outcome.finished
    assert [f.event for f in frames] == [Event.CALL, Event.LINE, Event.RETURN]
    assert frames[-1].arg == "2"


def test_user_class_repr_uses_module_name() -> None:
    source = "class Box:\n    pass\n"
    frames, _ = record_in_process(harness(source, "Box()"))
    assert frames[-1].arg == "<__prophecy__.Box object>"


def test_generator_frames_restart_in_full_after_resuming() -> None:
    source = "def gen():\n    yield 1\n    yield 2\n\ndef total():\n    return sum(gen())\n"
    frames, outcome = record_in_process(harness(source, "total()"))
    assert outcome.finished
    assert frames[-1].arg == "3"
    # each resumption of the generator is a call frame with full locals
    assert [f.event for f in frames].count(Event.CALL) == 2 + 3


def test_runaway_recursion_stops_with_a_clear_message() -> None:
    source = (
        "def down(n):\n"
        "    return down(n + 1)\n"
        "def f():\n"
        "    try:\n"
        "        return down(0)\n"
        "    except RecursionError:\n"
        "        return 'caught'\n"
    )
    before = sys.getrecursionlimit()
    frames, outcome = record_in_process(harness(source, "f()"), max_frames=100_000)
    assert outcome.limit is not None
    assert outcome.limit.startswith(f"recursion limit ({before}) reached")
    assert not outcome.finished
    assert len(frames) > 2 * 500
    assert sys.getrecursionlimit() == before


def test_code_the_compiler_rejects_is_a_module_failure_not_a_crash() -> None:
    # ast.parse accepts `nonlocal` at module level; only the compiler refuses it
    frames, outcome = record_in_process(harness("def f():\n    return 1\nnonlocal q\n", "f()"))
    assert frames == [] and not outcome.finished
    assert outcome.uncaught is not None and outcome.uncaught_type == "SyntaxError"
    assert outcome.uncaught.endswith(
        "SyntaxError: nonlocal declaration not allowed at module level (while defining the module)"
    )
