"""A generated trace, frame by frame, turned into a :class:`PredictionResult`.

The native and llama.cpp backends generate the same way (frame token ids from a local model);
the openai backend streams frame texts. Each frame's text goes through the streaming parser as
it arrives and past a :class:`RepetitionWatch` (a trace predicted never to end stops there), and
the end of generation decides whether the trace finished, which limit stopped it (its label and
its kind, ``PredictionResult.stop``), or whether it was cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from cwm_lsp.backends.base import (
    STOP_NO_TERMINATION,
    STOP_TIMEOUT,
    FrameCallback,
    PredictionCancelled,
    PredictionResult,
)
from cwm_lsp.budget import Deadline, TokenBudget, prediction_frame_limit_message
from cwm_lsp.provenance import Provenance
from cwm_lsp.trace import tokens
from cwm_lsp.trace.codec import encode_frame
from cwm_lsp.trace.parser import TraceStreamParser
from cwm_lsp.trace.repetition import Repetition, RepetitionWatch


class GeneratedTrace:
    """Collects generated frame texts, reporting each parsed frame to ``on_frame``."""

    def __init__(
        self,
        on_frame: FrameCallback | None,
        started: float,
        *,
        context: str,
        trace_context: str | None = None,
        deadline: Deadline | None = None,
        budget: TokenBudget | None = None,
        watch_repetition: bool = True,
    ) -> None:
        self.on_frame = on_frame
        self.started = started
        self.context = context  # what "max_tokens" filled up, e.g. "the llama.cpp context"
        self.deadline = deadline  # the wall-clock budget (its label when it ran out)
        self.budget = budget  # the token budget (its label when it ran out)
        self.parser = TraceStreamParser()
        self.pieces: list[str] = []
        self.watch = RepetitionWatch(trace_context) if watch_repetition else None
        self.repetition: Repetition | None = None

    def feed(self, text: str) -> bool:
        """Take one frame's text; ``True`` when the trace is predicted never to end (stop
        generating: :meth:`result` says why)."""
        self.pieces.append(text)
        for frame in self.parser.feed(text):
            if self.on_frame is not None:
                self.on_frame(frame)
            if self.repetition is None and self.watch is not None:
                self.repetition = self.watch.add(frame, encode_frame(frame))
        return self.repetition is not None

    def result(
        self,
        *,
        provenance: Provenance,
        stopped_by: str | None,
        finished: bool,
        tokens_generated: int,
        limit: str | None = None,
        warnings: Sequence[str] = (),
    ) -> PredictionResult:
        """The prediction once generation ended; raises PredictionCancelled if it was cancelled.

        ``limit`` is a stop the caller worded itself (a server's reason); otherwise it follows
        from ``stopped_by``. ``warnings`` follow the parse problems and the limit in ``problems``."""
        if stopped_by == "cancelled":
            raise PredictionCancelled("prediction cancelled")
        if self.repetition is not None:
            stopped_by, finished = STOP_NO_TERMINATION, False
            limit = limit or self.repetition.message()
        if stopped_by == STOP_TIMEOUT and self.deadline is not None:
            limit = limit or self.deadline.message()
        if stopped_by == "max_tokens" and self.budget is not None:
            limit = limit or self.budget.message(self.context)
        if stopped_by == "max_frame_tokens" and self.budget is not None:
            limit = limit or self.budget.frame_message()
        if finished:
            self.pieces.append(tokens.END_OF_TEXT)
            self.parser.feed(tokens.END_OF_TEXT)
        parsed = self.parser.close()
        problems = [str(problem) for problem in parsed.problems]
        limit = limit or limit_message(stopped_by, len(parsed.frames), self.context)
        if limit:
            problems.append(limit)
        problems.extend(warnings)
        return PredictionResult(
            frames=parsed.frames,
            trace_text="".join(self.pieces),
            provenance=provenance,
            finished=finished,
            problems=problems,
            limit=limit,
            stop=stopped_by if limit else None,
            tokens_generated=tokens_generated,
            seconds=time.monotonic() - self.started,
        )


def limit_message(stopped_by: str | None, frames: int, context: str) -> str | None:
    """What the user is told when generation stopped before the end of the trace."""
    if stopped_by == "max_frames":
        return prediction_frame_limit_message(frames)
    if stopped_by == "max_frame_tokens":
        return "frame token limit reached: the model's last frame never ended"
    if stopped_by == "max_tokens":
        return f"token limit reached: stopped when {context} (or a frame's token limit) was full"
    if stopped_by == STOP_TIMEOUT:
        return f"time limit exceeded: stopped after {frames} frames"
    if stopped_by == "stop_token":
        return "the model ended the trace with a chat stop token"
    return None
