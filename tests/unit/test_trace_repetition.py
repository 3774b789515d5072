"""RepetitionWatch: a predicted trace that revisits a state, or repeats its text, never ends."""

from __future__ import annotations

from cwm_lsp.budget import MIN_TRACE_TOKENS, TokenBudget
from cwm_lsp.trace.codec import encode_frame
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.repetition import LOOP_TEXT_REPEATS, TEXT_REPEATS, Repetition, RepetitionWatch

WHILE = "def spin(n):\n    while n:\n        n = n\n    return n\n"
FOR = "def each(items):\n    for item in items:\n        pass\n    return items\n"
RECURSE = "def down(n):\n    return down(n)\n"


def feed(watch: RepetitionWatch, frames: list[Frame]) -> list[Repetition | None]:
    return [watch.add(frame, encode_frame(frame)) for frame in frames]


def line(text: str, **values: str) -> Frame:
    return Frame(Event.LINE, text, dict(values))


def test_a_while_loop_back_at_the_same_state_is_predicted_not_to_terminate() -> None:
    watch = RepetitionWatch(WHILE)
    found = feed(
        watch,
        [
            Frame(Event.CALL, "def spin(n):\n", {"n": "1"}),
            line("    while n:\n", n=".."),
            line("        n = n\n", n=".."),
            line("    while n:\n", n=".."),
        ],
    )
    assert found[:3] == [None, None, None]
    assert found[3] is not None
    assert found[3].message() == "predicted not to terminate (state at line 2 repeats)"


def test_a_changing_local_is_progress() -> None:
    watch = RepetitionWatch(WHILE)
    frames = [Frame(Event.CALL, "def spin(n):\n", {"n": "3"})]
    for value in ("3", "2", "1"):
        frames += [line("    while n:\n", n=value), line("        n = n\n", n="..")]
    assert feed(watch, frames) == [None] * len(frames)


def test_a_for_loop_over_equal_items_is_not_a_repeated_state() -> None:
    # the iterator's position is not a local: ("a", "a") passes the same locals twice
    watch = RepetitionWatch(FOR)
    frames = [Frame(Event.CALL, "def each(items):\n", {"items": "('a', 'a')"})]
    for _ in range(2):
        frames += [line("    for item in items:\n", items="..", item="'a'")]
        frames += [line("        pass\n", items="..", item="..")]
    assert feed(watch, frames) == [None] * len(frames)


def test_a_call_in_between_may_have_changed_a_global() -> None:
    watch = RepetitionWatch(WHILE)
    frames = [
        Frame(Event.CALL, "def spin(n):\n", {"n": "1"}),
        line("    while n:\n", n=".."),
        Frame(Event.CALL, "def other():\n", {}),
        Frame(Event.RETURN, "def other():\n", arg="None"),
        line("    while n:\n", n=".."),
    ]
    assert feed(watch, frames) == [None] * len(frames)


def test_an_opaque_repr_hides_the_state() -> None:
    watch = RepetitionWatch(WHILE)
    frames = [
        Frame(Event.CALL, "def spin(n):\n", {"n": "<generator object g at 0x7f00>"}),
        line("    while n:\n", n=".."),
        line("    while n:\n", n=".."),
    ]
    assert feed(watch, frames) == [None] * len(frames)


def test_the_same_frames_written_again_and_again_are_a_cycle() -> None:
    watch = RepetitionWatch(RECURSE)
    block = [
        Frame(Event.CALL, "def down(n):\n", {"n": "1"}),
        line("    return down(n)\n", n=".."),
    ]
    found = feed(watch, block * TEXT_REPEATS)
    assert all(item is None for item in found[:-1])
    last = found[-1]
    assert last is not None and last.cycle == 2
    assert last.message() == (
        f"predicted not to terminate (the model repeats the same 2 frames at line 2 "
        f"{TEXT_REPEATS} times)"
    )


def test_a_for_loop_needs_more_repeats_before_its_text_counts_as_a_cycle() -> None:
    watch = RepetitionWatch(FOR)
    block = [
        Frame(Event.CALL, "def helper():\n", {}),
        Frame(Event.RETURN, "def helper():\n", arg="None"),
        line("    for item in items:\n", items="..", item=".."),
    ]
    found = feed(watch, block * LOOP_TEXT_REPEATS)
    assert all(item is None for item in found[: -len(block)])
    assert found[-1] is not None and found[-1].repeats == LOOP_TEXT_REPEATS


def test_the_token_budget_follows_the_prompt_within_the_context() -> None:
    small = TokenBudget.for_prompt(50, room=8000)
    assert small.trace == MIN_TRACE_TOKENS and small.scaled
    large = TokenBudget.for_prompt(1000, room=8000)
    assert large.trace == 8000 and not large.scaled
    assert "context is full" in large.message("the model's context")
    assert TokenBudget.for_prompt(200, room=100_000).trace == 32 * 200
