"""The language server's framing recovers from every kind of bad frame without losing the good
messages around it, however the bytes are split into reads."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cwm_lsp.server.framing import FramedMessage, FrameParser, FramingError


def frame(message: Any) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(n: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": n, "method": "textDocument/hover", "params": {"n": "é" * n}}


def too_short(message: Any) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % (len(body) // 2) + body


def too_long(message: Any) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % (len(body) + 7) + body


def not_a_number(message: Any) -> bytes:
    return b"Content-Length: abc\r\n\r\n" + json.dumps(message).encode()


def superscript_two(message: Any) -> bytes:
    return "Content-Length: \u00b2\r\n\r\n".encode() + json.dumps(message).encode()


def missing(message: Any) -> bytes:
    return (
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
        + json.dumps(message).encode()
    )


def bare_body(message: Any) -> bytes:
    return json.dumps(message).encode()


BREAKERS = [too_short, too_long, not_a_number, superscript_two, missing, bare_body]


def run(data: bytes, cuts: list[int]) -> tuple[list[Any], list[FramingError]]:
    parser = FrameParser()
    events: list[FramedMessage | FramingError] = []
    last = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        events += parser.feed(data[last:cut])
        last = cut
    events += parser.stalled()
    messages = [e.message for e in events if isinstance(e, FramedMessage)]
    return messages, [e for e in events if isinstance(e, FramingError)]


def test_each_bad_frame_is_reported_and_the_next_message_read() -> None:
    for breaker in BREAKERS:
        messages, errors = run(breaker(request(1)) + frame(request(2)), [])
        assert messages == [request(2)], breaker.__name__
        assert len(errors) == 1, breaker.__name__
        assert errors[0].request() == request(1), breaker.__name__  # it can be answered


def test_an_overstated_length_with_nothing_after_it_is_given_up_when_input_stalls() -> None:
    parser = FrameParser()
    assert parser.feed(too_long(request(3))) == []
    assert parser.pending
    [error] = parser.stalled()
    assert isinstance(error, FramingError) and error.request() == request(3)
    assert "stopped after" in error.reason
    assert parser.feed(frame(request(4))) == [FramedMessage(request(4))]


def test_a_slow_message_is_not_mistaken_for_a_broken_one() -> None:
    parser = FrameParser()
    data = frame(request(5))
    assert parser.feed(data[:30]) == []
    assert parser.stalled() == []  # half a JSON body: still arriving
    assert parser.feed(data[30:]) == [FramedMessage(request(5))]


def test_oversized_lengths_and_headers_are_refused() -> None:
    parser = FrameParser(max_body=300)
    events = parser.feed(b"Content-Length: 1000\r\n\r\n" + b"x" * 50 + frame(request(6)))
    assert isinstance(events[0], FramingError) and "limit" in events[0].reason
    assert events[1:] == [FramedMessage(request(6))]
    events = FrameParser().feed(b"X-Junk: " + b"y" * 70_000 + frame(request(7)))
    assert isinstance(events[0], FramingError)
    assert events[1:] == [FramedMessage(request(7))]


@settings(max_examples=400, deadline=None)
@given(
    plan=st.lists(st.tuples(st.integers(0, 40), st.sampled_from([None, *BREAKERS])), max_size=8),
    cuts=st.lists(st.integers(0, 100_000), max_size=12),
)
def test_good_messages_survive_any_mix_of_bad_frames_and_reads(
    plan: list[tuple[int, Any]], cuts: list[int]
) -> None:
    data = b""
    good = []
    broken = 0
    for n, breaker in plan:
        if breaker is None:
            data += frame(request(n))
            good.append(request(n))
        else:
            data += breaker(request(n))
            broken += 1
    messages, errors = run(data + frame(request(99)), cuts)
    assert messages == [*good, request(99)]
    assert (len(errors) >= 1) == (broken >= 1)


def test_a_header_written_apart_from_its_body_survives_a_pause() -> None:
    parser = FrameParser()
    data = frame(request(8))
    head_end = data.index(b"\r\n") + 2  # "Content-Length: N\r\n", the blank line still to come
    assert parser.feed(data[:head_end]) == []
    assert parser.stalled() == []
    assert parser.feed(data[head_end:]) == [FramedMessage(request(8))]
