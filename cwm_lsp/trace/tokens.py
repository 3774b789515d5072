"""CWM trace special tokens: their strings and their ids relative to the tokenizer's rank count."""

from __future__ import annotations

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
FRAME_SEP = "<|frame_sep|>"
ACTION_SEP = "<|action_sep|>"
RETURN_SEP = "<|return_sep|>"
CALL_SEP = "<|call_sep|>"
LINE_SEP = "<|line_sep|>"
EXCEPTION_SEP = "<|exception_sep|>"
ARG_SEP = "<|arg_sep|>"
TRACE_CONTEXT_START = "<|trace_context_start|>"

START_OF_TRACE_MARKER = "# << START_OF_TRACE"

# Offset of each special token after the BPE ranks (CWM: 128000 ranks, so <|frame_sep|> is 128100).
SPECIAL_TOKEN_OFFSETS: dict[str, int] = {
    BEGIN_OF_TEXT: 0,
    END_OF_TEXT: 1,
    "<|pad|>": 4,
    "<|start_header_id|>": 6,
    "<|end_header_id|>": 7,
    "<|eom_id|>": 8,
    "<|eot_id|>": 9,
    FRAME_SEP: 100,
    ACTION_SEP: 101,
    RETURN_SEP: 102,
    CALL_SEP: 103,
    LINE_SEP: 104,
    EXCEPTION_SEP: 105,
    ARG_SEP: 106,
    TRACE_CONTEXT_START: 107,
}

# Every special token string used by the trace format, longest first (for scanning text).
TRACE_TOKENS: tuple[str, ...] = (
    BEGIN_OF_TEXT,
    END_OF_TEXT,
    FRAME_SEP,
    ACTION_SEP,
    RETURN_SEP,
    CALL_SEP,
    LINE_SEP,
    EXCEPTION_SEP,
    ARG_SEP,
    TRACE_CONTEXT_START,
)

CWM_RANK_COUNT = 128000
# Chat end-of-message ids (128008, 128009): treat both as stop tokens.
CHAT_STOP_OFFSETS = (8, 9)
