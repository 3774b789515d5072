"""A generated trace, frame by frame, turned into a :class:`PredictionResult`.

The native and llama.cpp backends generate the same way (frame token ids from a local model):
each frame's text goes through the streaming parser as it arrives, and the end of generation
decides whether the trace finished, which limit stopped it, or whether it was cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from cwm_lsp.backends.base import (
    FrameCallback,
    PredictionCancelled,
    PredictionResult,
    Provenance,
)
from cwm_lsp.trace import tokens
from cwm_lsp.trace.parser import TraceStreamParser


class GeneratedTrace:
    """Collects generated frame texts, reporting each parsed frame to ``on_frame``."""

    def __init__(self, on_frame: FrameCallback | None, started: float, *, context: str) -> None:
        self.on_frame = on_frame
        self.started = started
        self.context = context  # what "max_tokens" filled up, e.g. "the llama.cpp context"
        self.parser = TraceStreamParser()
        self.pieces: list[str] = []

    def feed(self, text: str) -> None:
        self.pieces.append(text)
        for frame in self.parser.feed(text):
            if self.on_frame is not None:
                self.on_frame(frame)

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
            tokens_generated=tokens_generated,
            seconds=time.monotonic() - self.started,
        )


def limit_message(stopped_by: str | None, frames: int, context: str) -> str | None:
    """What the user is told when generation stopped before the end of the trace."""
    if stopped_by == "max_frames":
        return f"stopped after {frames} frames (the frame limit)"
    if stopped_by == "max_tokens":
        return f"stopped: {context} (or a frame's token limit) is full"
    if stopped_by == "stop_token":
        return "the model ended the trace with a chat stop token"
    return None
