"""The ``run`` backend: observe a call's trace by executing it in the sandbox (no model)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from cwm_lsp.backends.base import (
    BackendError,
    CancelToken,
    FrameCallback,
    PredictionCancelled,
    PredictionRequest,
    PredictionResult,
)
from cwm_lsp.execution.limits import SandboxLimits
from cwm_lsp.execution.recorder import CONTEXT_FILENAME
from cwm_lsp.execution.sandbox import (
    WEAK_SANDBOXES,
    TraceRecording,
    TracerError,
    choose_sandbox,
    record_call,
)
from cwm_lsp.execution.session import SessionPool
from cwm_lsp.project import InterpreterError, plan_run
from cwm_lsp.provenance import Origin, Provenance

_MODULE_FAILURE_SUFFIX = " (while defining the module)"
_CONTEXT_LINE = re.compile(rf'File "{re.escape(CONTEXT_FILENAME)}", line (\d+)')


class RunPredictor:
    """Runs the request's context under the tracer; its frames are observed, not predicted.

    The context must mark a function callable without arguments (the harness of a concrete
    call); a marked user function with parameters asks for invented inputs, which only a model
    can do.
    """

    name = "run"

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        sandbox: str = "auto",
        python: str | None = None,
        editor_python: str | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.sandbox = sandbox
        self.python = python  # the interpreter that runs the code; None: discover it
        self.editor_python = editor_python  # the editor's selected one, after project venvs
        self._sessions: SessionPool | None = None

    @contextlib.contextmanager
    def file_sessions(self) -> Iterator[None]:
        """While open, the examples of one file (per thread) share one sandboxed fork server:
        the module is imported once, each example runs in a fresh forked child."""
        pool = self._sessions = SessionPool()
        try:
            yield
        finally:
            self._sessions = None
            pool.close()

    def end_file(self) -> None:
        """The calling thread is done with its file: stop its fork server."""
        if self._sessions is not None:
            self._sessions.close_thread()

    def provenance(self, sandbox: str | None = None) -> Provenance:
        """``sandbox``: the one a run used; None: the one this predictor would use."""
        if sandbox is None:
            try:
                sandbox = choose_sandbox(self.sandbox)
            except TracerError:
                sandbox = self.sandbox
        return Provenance(
            origin=Origin.OBSERVED, backend=self.name, weak_sandbox=sandbox in WEAK_SANDBOXES
        )

    def predict(
        self,
        request: PredictionRequest,
        *,
        on_frame: FrameCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PredictionResult:
        limits = self.limits
        if request.max_frames != limits.max_frames:
            limits = SandboxLimits(**{**limits.to_json(), "max_frames": request.max_frames})
        if cancel is not None and cancel.cancelled:
            raise PredictionCancelled("cancelled before the run started")
        try:
            # the user's file, when the request names it: run as a member of its package
            place, interpreter = plan_run(
                request.source_path, request.workspace_root, self.python, self.editor_python
            )
            sessions = self._sessions
            if sessions is not None and place.source_path is not None:
                recording = sessions.record(
                    request.context,
                    limits=limits,
                    place=place,
                    sandbox=self.sandbox,
                    on_frame=on_frame,
                    cancel=cancel,
                )
            else:
                recording = record_call(
                    request.context,
                    limits=limits,
                    cancel=cancel,
                    on_frame=on_frame,
                    sandbox=self.sandbox,
                    place=place,
                )
        except (TracerError, InterpreterError) as exc:
            raise BackendError(f"cannot run `{request.function}`: {exc}") from None
        if cancel is not None and cancel.cancelled:
            raise PredictionCancelled("the sandboxed run was cancelled (the process was killed)")
        limit = recording.limit
        if not recording.frames:
            limit = _before_the_call(recording)
        problems = [limit] if limit else []
        problems += [f"blocked by the sandbox: {message}" for message in recording.violations]
        return PredictionResult(
            frames=recording.frames,
            trace_text=recording.trace_text,
            provenance=self.provenance(recording.sandbox),
            finished=recording.finished,
            problems=problems,
            stdout=recording.stdout,
            stderr=recording.stderr,
            limit=limit,
            seconds=recording.seconds,
            interpreter=interpreter.describe(),
        )


def _before_the_call(recording: TraceRecording) -> str | None:
    """Why a run recorded no frame at all: the module's top level raised, hit a limit, or ended
    the process before the call started. ``None`` when nothing says so."""
    uncaught = recording.uncaught
    if uncaught is not None and uncaught.endswith(_MODULE_FAILURE_SUFFIX):
        summary = uncaught.removesuffix(_MODULE_FAILURE_SUFFIX)
        error = summary.strip().splitlines()[-1]  # a SyntaxError's summary starts with its place
        lines = _CONTEXT_LINE.findall(recording.stderr + summary)
        where = f" (line {lines[-1]})" if lines else ""
        return f"the module's top level{where} raised {error}, so the call never ran"
    if recording.limit:
        return f"{recording.limit} while running the module's top level (before the call started)"
    return None
