"""The trace parser: exact on the goldens, and never raising on anything else."""

from __future__ import annotations

import json

import goldens
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwm_lsp.trace import tokens
from cwm_lsp.trace.codec import encode_frame, encode_trace
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.parser import (
    ParseProblem,
    ParseResult,
    TraceStreamParser,
    parse_frame,
    parse_trace,
)

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDENS = {p.stem: json.loads(p.read_text()) for p in sorted(GOLDEN_DIR.glob("*.json"))}
GOLDEN_FRAMES = {
    name: [Frame.from_json(item) for item in data["frames"]] for name, data in GOLDENS.items()
}


def test_ten_goldens_present() -> None:
    assert len(GOLDENS) == 10


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden_round_trip(name: str) -> None:
    text = GOLDENS[name]["trace_text"]
    result = parse_trace(text)
    assert result.frames == GOLDEN_FRAMES[name]
    assert result.finished
    assert result.problems == []
    assert encode_trace(result.frames) == text


@pytest.mark.parametrize("name", sorted(GOLDENS))
@pytest.mark.parametrize("chunk", [1, 3, 17, 1000])
def test_stream_matches_whole_parse(name: str, chunk: int) -> None:
    text = GOLDENS[name]["trace_text"]
    parser = TraceStreamParser()
    emitted: list[Frame] = []
    for start in range(0, len(text), chunk):
        emitted += parser.feed(text[start : start + chunk])
    assert emitted == GOLDEN_FRAMES[name]
    assert parser.close() == parse_trace(text)


def test_stream_emits_frame_as_soon_as_its_separator_arrives() -> None:
    frames = GOLDEN_FRAMES["loop_accumulate"]
    first, second = encode_frame(frames[0]), encode_frame(frames[1])
    parser = TraceStreamParser()
    assert parser.feed(first[:-3]) == []
    assert parser.feed(first[-3:]) == [frames[0]]
    assert parser.feed(second + tokens.END_OF_TEXT) == [frames[1]]
    result = parser.close()
    assert result.finished and result.frames == frames[:2]


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_every_truncation_keeps_exactly_the_complete_frames(name: str) -> None:
    frames = GOLDEN_FRAMES[name]
    text = GOLDENS[name]["trace_text"]
    ends = []
    position = 0
    for frame in frames:
        position += len(encode_frame(frame))
        ends.append(position)
    for cut in range(len(text) + 1):
        result = parse_trace(text[:cut])
        complete = sum(1 for end in ends if end <= cut)
        assert result.frames == frames[:complete], cut
        assert result.finished == (cut == len(text))
        # A cut inside a frame is reported; a cut on a frame boundary is clean.
        assert (result.problems == []) == (cut in ends or cut in (0, len(text))), cut


def test_problems_are_reported_with_offsets_and_frame_indices() -> None:
    good = encode_frame(Frame(Event.LINE, "    y = a\n", {"a": "2"}))
    text = (
        "I think the trace is:\n"
        + good
        + '<|line_sep|>{"a": <|action_sep|>    y = a\n<|frame_sep|>'
        + good
        + tokens.END_OF_TEXT
        + "and more"
    )
    result = parse_trace(text)
    assert len(result.frames) == 2
    assert result.finished
    messages = [(p.frame_index, p.message) for p in result.problems]
    assert messages[0] == (0, "text before the first frame ignored")
    assert messages[1][0] == 1 and "not valid JSON" in messages[1][1]
    assert messages[2] == (2, "text after <|end_of_text|> ignored")
    assert result.problems[0].offset == 0
    assert text[result.problems[2].offset :] == "and more"
    assert text[result.problems[1].offset :].startswith('{"a": ')


def test_non_string_values_are_kept_and_reported() -> None:
    text = (
        '<|line_sep|>{"n": 3, "s": null, "ok": "1"}<|action_sep|>x = 1\n<|frame_sep|>'
        "<|return_sep|><|action_sep|>    return n\n<|arg_sep|>48<|frame_sep|>"
        "<|return_sep|><|action_sep|>    return n\n<|arg_sep|>forty-eight<|frame_sep|>"
    )
    result = parse_trace(text)
    assert result.frames == [
        Frame(Event.LINE, "x = 1\n", {"n": "3", "s": "None", "ok": "1"}),
        Frame(Event.RETURN, "    return n\n", {}, "48"),
        Frame(Event.RETURN, "    return n\n", {}, "forty-eight"),
    ]
    assert not result.finished
    assert [p.repaired for p in result.problems] == [True, True, True, True]


def test_misplaced_tokens_drop_only_the_broken_frame() -> None:
    good = encode_frame(Frame(Event.CALL, "def f(a):\n", {"a": "1"}))
    text = (
        good
        + "<|line_sep|>{}<|arg_sep|>x\n<|frame_sep|>"  # arg_sep in a line frame
        + "<|return_sep|><|action_sep|>x\n<|frame_sep|>"  # no arg_sep
        + "<|line_sep|>{}<|action_sep|>x\n<|call_sep|>{}<|action_sep|>def g():\n<|frame_sep|>"
        + "<|frame_sep|><|pad|><|reserved_special_token_7|>"
        + good
    )
    result = parse_trace(text)
    f_call = Frame(Event.CALL, "def f(a):\n", {"a": "1"})
    assert result.frames == [f_call, Frame(Event.CALL, "def g():\n", {}), f_call]
    assert [p.frame_index for p in result.problems] == [1, 1, 1, 2, 2, 2]
    assert "cut short by <|call_sep|>" in result.problems[2].message


def test_chat_stop_token_finishes_with_a_problem() -> None:
    result = parse_trace(encode_frame(GOLDEN_FRAMES["recursion"][0]) + "<|eot_id|>")
    assert result.finished
    assert len(result.frames) == 1
    assert "<|eot_id|>" in result.problems[0].message


def test_parse_frame() -> None:
    frame = GOLDEN_FRAMES["caught_exception"][5]
    assert parse_frame(encode_frame(frame)) == frame
    problem = parse_frame(encode_frame(frame)[:-5])
    assert isinstance(problem, ParseProblem) and "ends inside" in problem.message
    assert isinstance(parse_frame(encode_frame(frame) * 2), ParseProblem)
    assert isinstance(parse_frame(""), ParseProblem)
    assert isinstance(parse_frame("<|line_sep|>[1]<|action_sep|>x<|frame_sep|>"), ParseProblem)


# -- properties: never raise, and the invariants hold on arbitrary input ---------------------

ALL_TOKENS = [*tokens.TRACE_TOKENS, "<|eot_id|>", "<|pad|>", "<|reserved_special_token_3|>"]
soup = st.lists(
    st.one_of(
        st.sampled_from(ALL_TOKENS),
        st.sampled_from(['{"a": "1"}', '{"a": ".."}', "    y = a\n", '"48"', "{", "}", '"', "3"]),
        st.text(max_size=8),
    ),
    max_size=40,
).map("".join)


def _check_invariants(text: str, result: ParseResult) -> None:
    assert isinstance(result.finished, bool)
    for problem in result.problems:
        assert 0 <= problem.offset <= len(text)
        assert 0 <= problem.frame_index <= len(result.frames)
        assert problem.message
    for frame in result.frames:
        assert all(isinstance(v, str) for v in frame.locals.values())
        # Every kept frame can be written back and read again unchanged.
        assert parse_frame(encode_frame(frame)) == frame


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_never_raises(text: str) -> None:
    _check_invariants(text, parse_trace(text))


@settings(max_examples=300, deadline=None)
@given(soup, st.integers(min_value=1, max_value=9))
def test_token_soup_never_raises_and_streams_identically(text: str, chunk: int) -> None:
    whole = parse_trace(text)
    _check_invariants(text, whole)
    parser = TraceStreamParser()
    emitted: list[Frame] = []
    for start in range(0, len(text), chunk):
        emitted += parser.feed(text[start : start + chunk])
    streamed = parser.close()
    assert streamed == whole
    assert emitted == whole.frames


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(GOLDENS)),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 12), soup), min_size=1, max_size=4),
)
def test_mutated_goldens_never_raise(name: str, edits: list[tuple[float, int, str]]) -> None:
    text = GOLDENS[name]["trace_text"]
    first_edit = len(text)
    for where, delete, insert in edits:
        at = int(where * len(text))
        first_edit = min(first_edit, at)
        text = text[:at] + insert + text[at + delete :]
    result = parse_trace(text)
    _check_invariants(text, result)
    # Every frame that ends before the first edited position is kept, in order.
    intact, end = 0, 0
    for frame in GOLDEN_FRAMES[name]:
        end += len(encode_frame(frame))
        if end > first_edit:
            break
        intact += 1
    assert result.frames[:intact] == GOLDEN_FRAMES[name][:intact]
