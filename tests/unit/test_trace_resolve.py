"""Resolving '..' into full states per scope, and the inverse."""

from __future__ import annotations

import json

import goldens
import pytest

from cwm_lsp.trace.codec import encode_trace
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.resolve import UNKNOWN_VALUE, diff_states, resolve_states

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDENS = {p.stem: json.loads(p.read_text()) for p in sorted(GOLDEN_DIR.glob("*.json"))}


def _frames(name: str) -> list[Frame]:
    return [Frame.from_json(item) for item in GOLDENS[name]["frames"]]


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_resolve_then_diff_reproduces_golden_text(name: str) -> None:
    resolution = resolve_states(_frames(name))
    assert resolution.problems == []
    full = [item.full_frame() for item in resolution.frames]
    assert all(".." not in frame.locals.values() for frame in full)
    assert encode_trace(diff_states(full)) == GOLDENS[name]["trace_text"]


def test_loop_states_are_full() -> None:
    resolution = resolve_states(_frames("loop_accumulate"))
    states = [item.state for item in resolution.frames if item.frame.line == "        y += y * i\n"]
    assert [s["y"] for s in states] == ["2", "2", "4", "12"]
    assert [s["i"] for s in states] == ["0", "1", "2", "3"]
    assert all(s["a"] == "2" and s["b"] == "4" for s in states)


def test_scopes_follow_calls_and_returns() -> None:
    resolution = resolve_states(_frames("recursion"))
    assert [scope.depth for scope in resolution.scopes] == [0, 1, 2, 3]
    assert [scope.parent for scope in resolution.scopes] == [None, 0, 1, 2]
    assert all(scope.return_index is not None for scope in resolution.scopes)
    innermost = resolution.scopes[3]
    assert [resolution.frames[i].state for i in innermost.frame_indices[:3]] == [{"n": "1"}] * 3


def test_caller_state_survives_callee_frames() -> None:
    resolution = resolve_states(_frames("count_letters"))
    after_callee = resolution.frames[30]
    assert after_callee.frame.line == "    ans = format_answer(word, c, num)\n"
    assert after_callee.state == {"c": "'r'", "word": "'strawberry'", "num": "3"}
    # Exception frames keep the scope's state; the handler's '..' copies across them.
    caught = resolve_states(_frames("caught_exception"))
    assert caught.frames[6].state == {"text": "'80a'"}


def test_model_errors_are_tolerated_and_reported() -> None:
    frames = [
        Frame(Event.CALL, "def f(a):\n", {"a": ".."}),
        Frame(Event.LINE, "    b = a\n", {"a": "..", "zz": ".."}),
        Frame(Event.CALL, "def g():\n", {}),
        Frame(Event.RETURN, "    pass\n", {}, "None"),
        Frame(Event.LINE, "    return b\n", {"a": "..", "b": "1"}),
        Frame(Event.RETURN, "    return b\n", {}, "1"),
        Frame(Event.RETURN, "    return x\n", {}, "1"),  # nothing left to return from
    ]
    resolution = resolve_states(frames)
    assert resolution.frames[0].state == {"a": None}
    assert resolution.frames[1].state == {"a": None, "zz": None}
    assert resolution.frames[4].state == {"a": None, "b": "1"}
    assert resolution.frames[0].full_frame().locals == {"a": UNKNOWN_VALUE}
    messages = [(p.frame_index, p.message) for p in resolution.problems]
    assert messages[0][0] == 6 and "outside any call" in messages[0][1]
    assert [index for index, _ in messages[1:]] == [0, 1, 4]
    assert "another scope" in messages[-1][1]


def test_diff_writes_full_values_after_another_scope() -> None:
    frames = [
        Frame(Event.CALL, "def f():\n", {}),
        Frame(Event.LINE, "    x = g()\n", {"x": "1"}),
        Frame(Event.CALL, "def g():\n", {}),
        Frame(Event.RETURN, "    return 2\n", {}, "2"),
        Frame(Event.LINE, "    return x\n", {"x": "1"}),
        Frame(Event.LINE, "    return x\n", {"x": "1"}),
    ]
    diffed = diff_states(frames)
    assert [f.locals for f in diffed] == [{}, {"x": "1"}, {}, {}, {"x": "1"}, {"x": ".."}]
