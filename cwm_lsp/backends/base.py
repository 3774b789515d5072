"""The one interface every predictor backend implements.

A backend turns a :class:`PredictionRequest` (a CWM trace context with the entry marked) into a
stream of CWM frames. Model backends *predict* them; the ``run`` backend *observes* them by
executing the code in a sandbox. Everything downstream (parser, timeline, LSP, CLI) is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cwm_lsp.backends.options import DEFAULT_MAX_FRAMES
from cwm_lsp.cancel import CancelToken as CancelToken  # re-exported
from cwm_lsp.cancel import PredictionCancelled as PredictionCancelled  # re-exported
from cwm_lsp.provenance import Origin as Origin  # re-exported
from cwm_lsp.provenance import Provenance as Provenance  # re-exported
from cwm_lsp.trace.frames import Frame

# PredictionResult.stop: why a model's trace ended before its end (with ``limit``, its label)
STOP_TIMEOUT = "timeout"  # the wall-clock budget (prediction_timeout) ran out
STOP_NO_TERMINATION = "no_termination"  # the trace repeats: predicted never to end


@dataclass(frozen=True)
class PredictionRequest:
    """What to trace.

    ``context`` is the full CWM trace context: the module source plus, for a concrete call, the
    harness function whose ``def`` line carries ``# << START_OF_TRACE``.
    """

    context: str
    source: str
    call: str | None  # the example call expression; None when the model invents inputs
    function: str
    harness: str | None = None
    max_frames: int = DEFAULT_MAX_FRAMES
    step_over: bool = False  # force <|return_sep|> after calls into other functions
    temperature: float = 0.0
    seed: int | None = None
    source_path: str | None = None  # the file the source came from (its package, in runs)
    workspace_root: str | None = None  # the editor's workspace folder holding that file
    prediction_timeout: float | None = None  # model backends: wall-clock budget, seconds


class BackendError(Exception):
    """A backend could not produce a trace (missing model, crashed runtime, ...).

    The message is shown to the user as is: make it say what to do.
    """


@dataclass
class PredictionResult:
    frames: list[Frame]
    trace_text: str  # the raw trace text (generated or recorded), without the prompt
    provenance: Provenance
    finished: bool  # the trace reached <|end_of_text|>
    problems: list[str] = field(default_factory=list)  # parse problems, limits hit, warnings
    stdout: str = ""
    stderr: str = ""
    limit: str | None = None  # set when a sandbox/frame limit stopped the trace
    stop: str | None = None  # which limit: STOP_TIMEOUT, STOP_NO_TERMINATION, "max_frames", ...
    tokens_generated: int = 0
    seconds: float = 0.0
    interpreter: str | None = None  # observed runs: "PATH (why it was chosen)"


FrameCallback = Callable[[Frame], None]


class Predictor(Protocol):
    name: str

    def provenance(self) -> Provenance: ...

    def predict(
        self,
        request: PredictionRequest,
        *,
        on_frame: FrameCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PredictionResult: ...
