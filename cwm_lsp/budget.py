"""How long a prediction may take: a wall-clock deadline and a token budget scaled to the work.

A leaf module (standard library only) so the runtime, the backends, the sandbox and the server can
share it; the limit labels read the same for predicted and observed traces.
The deadline is measured from when the prediction was asked for, so loading the model counts:
the user waits for that too. The token budget follows the prompt's size: a short function's
trace is short unless it loops, and a model that keeps writing long after a trace of that size
would have ended is cycling, not tracing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Trace tokens allowed per prompt token (at least MIN_TRACE_TOKENS; never past the context).
TRACE_TOKENS_PER_PROMPT_TOKEN = 32
MIN_TRACE_TOKENS = 4096
# One frame holds the scope's locals: a few times the prompt is plenty (within these bounds).
FRAME_TOKENS_PER_PROMPT_TOKEN = 4
MIN_FRAME_TOKENS = 512
MAX_FRAME_TOKENS = 4096


def format_seconds(seconds: float) -> str:
    """``30 s``, ``2.5 s``."""
    return f"{seconds:g} s"


def time_limit_message(seconds: float) -> str:
    """The label of a trace the wall-clock limit stopped (the sandbox's words)."""
    return f"time limit ({format_seconds(seconds)}) exceeded"


def prediction_time_limit_message(budget: float, spent: float) -> str:
    """The label of a prediction the wall-clock budget stopped: the sandbox's words and how far
    it got."""
    return f"{time_limit_message(budget)}: stopped after {spent:.1f} s"


def frame_limit_message(max_frames: int) -> str:
    """The label of a trace the frame cap stopped (the sandbox's words)."""
    return f"frame limit ({max_frames}) reached"


def prediction_frame_limit_message(max_frames: int) -> str:
    """The label of a prediction the frame cap stopped: the sandbox's words and how far it got."""
    return f"{frame_limit_message(max_frames)}: stopped after {max_frames} frames"


@dataclass(frozen=True)
class Deadline:
    """A wall-clock budget of ``seconds`` (``None``: no limit) from ``started``."""

    seconds: float | None
    started: float = field(default_factory=time.monotonic)

    @property
    def expired(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.started >= self.seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float | None:
        if self.seconds is None:
            return None
        return max(0.0, self.seconds - self.elapsed())

    def message(self) -> str:
        assert self.seconds is not None
        return prediction_time_limit_message(self.seconds, self.elapsed())


@dataclass(frozen=True)
class TokenBudget:
    """How many tokens a trace after a prompt of ``prompt_tokens`` may use in all
    (``trace``) and per frame (``frame``), within ``room`` tokens of context."""

    trace: int
    frame: int
    scaled: bool  # False: the context's room, not the prompt's size, set ``trace``

    @classmethod
    def for_prompt(cls, prompt_tokens: int, room: int) -> TokenBudget:
        scaled = max(MIN_TRACE_TOKENS, TRACE_TOKENS_PER_PROMPT_TOKEN * prompt_tokens)
        per_frame = FRAME_TOKENS_PER_PROMPT_TOKEN * prompt_tokens
        frame = min(MAX_FRAME_TOKENS, max(MIN_FRAME_TOKENS, per_frame))
        room = max(room, 1)
        return cls(trace=min(scaled, room), frame=min(frame, room), scaled=scaled < room)

    @classmethod
    def room(cls, room: int) -> TokenBudget:
        """No budget but the context's room (and the largest frame :data:`MAX_FRAME_TOKENS`)."""
        room = max(room, 1)
        return cls(trace=room, frame=min(MAX_FRAME_TOKENS, room), scaled=False)

    def frame_message(self) -> str:
        """The label when one frame used up its tokens without ending."""
        return (
            f"frame token limit ({self.frame} tokens) reached: the model's last frame never ended"
        )

    def message(self, context: str) -> str:
        """The label when the trace used up its tokens; ``context`` names the context (the
        model's, the llama.cpp one)."""
        if self.scaled:
            return (
                f"token limit ({self.trace} tokens, {TRACE_TOKENS_PER_PROMPT_TOKEN}x the prompt) "
                f"reached: stopped after {self.trace} tokens"
            )
        return f"token limit reached: stopped after {self.trace} tokens ({context} is full)"
