"""Encode frames and prompts to CWM's exact text form (byte-exact with ``golden/*.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from cwm_lsp.trace import tokens
from cwm_lsp.trace.frames import Event, Frame

_EVENT_TOKEN = {
    Event.CALL: tokens.CALL_SEP,
    Event.LINE: tokens.LINE_SEP,
    Event.RETURN: tokens.RETURN_SEP,
    Event.EXCEPTION: tokens.EXCEPTION_SEP,
}
TOKEN_EVENT = {token: event for event, token in _EVENT_TOKEN.items()}


def event_token(event: Event) -> str:
    return _EVENT_TOKEN[event]


def encode_frame(frame: Frame) -> str:
    head = _EVENT_TOKEN[frame.event]
    if frame.has_locals:
        return f"{head}{json.dumps(frame.locals)}{tokens.ACTION_SEP}{frame.line}{tokens.FRAME_SEP}"
    value = json.dumps(frame.arg if frame.arg is not None else "None")
    return f"{head}{tokens.ACTION_SEP}{frame.line}{tokens.ARG_SEP}{value}{tokens.FRAME_SEP}"


def encode_trace(frames: Iterable[Frame], *, finished: bool = True) -> str:
    """The trace text as in ``golden/*.json`` ``trace_text``: frames, then ``<|end_of_text|>``."""
    body = "".join(encode_frame(frame) for frame in frames)
    return body + tokens.END_OF_TEXT if finished else body


def encode_prompt(context: str) -> str:
    """``<|begin_of_text|><|trace_context_start|>CONTEXT<|frame_sep|>``."""
    return f"{tokens.BEGIN_OF_TEXT}{tokens.TRACE_CONTEXT_START}{context}{tokens.FRAME_SEP}"
