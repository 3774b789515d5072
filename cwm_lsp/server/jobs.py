"""Predictions in the background: worker threads, cancellation, progress and streaming.

A prediction never runs on the event loop: the predictor (model load included) runs in a worker
thread and hands frames back as they arrive; the loop thread rebuilds the run's view at most a
few times a second and asks the client to refresh its inlay hints. Requests for hints and hovers
are answered from the stored runs meanwhile.

Cancellation reaches the predictor through a :class:`CancelToken` (the ``run`` backend kills its
sandbox child, model backends stop generating) from three places: the client cancelling the
``workspace/executeCommand`` request, the client cancelling the work-done progress, and a newer
prediction of the same function.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from cwm_lsp.backends.base import (
    BackendError,
    CancelToken,
    PredictionCancelled,
    PredictionResult,
    Predictor,
)
from cwm_lsp.backends.options import BackendOptions
from cwm_lsp.backends.registry import build_predictor
from cwm_lsp.entry import (
    EntryError,
    FunctionInfo,
    list_functions,
    source_lines,
)
from cwm_lsp.prediction import Prepared, Target, prepare
from cwm_lsp.provenance import Origin, Provenance
from cwm_lsp.server.cache import ResultKey
from cwm_lsp.server.edits import LineSpan, relocate_lines
from cwm_lsp.server.labels import render_lines
from cwm_lsp.server.runs import FunctionRun, RunStatus
from cwm_lsp.server.settings import Settings
from cwm_lsp.server.view import RunView, build_view, view_of
from cwm_lsp.trace.frames import Frame
from cwm_lsp.trace.timeline import TimelineBuilder

if TYPE_CHECKING:
    from cwm_lsp.server.app import CwmServer

logger = logging.getLogger(__name__)

STREAM_INTERVAL = 0.25  # seconds between partial views (and so hint refreshes) of one run
STREAM_COST_FACTOR = 10.0  # at least this many times the last rebuild's time between rebuilds
# Until the first hint shows a value, each of the first frames is looked at as it arrives (the
# trace is short then, so rebuilding costs little): the first hint does not wait for an interval.
EAGER_FRAMES = 16


@dataclass
class PredictionSpec:
    """What to predict: a function of a document at one version, with one call (or none)."""

    uri: str
    source: str
    target: Target
    backend: str | None = None  # overrides settings.backend (verify runs the ``run`` backend)

    @property
    def function(self) -> FunctionInfo:
        assert self.target.function is not None  # the server always targets a function
        return self.target.function

    @property
    def call(self) -> str | None:
        return self.target.call


@dataclass
class JobOutcome:
    """What became of a prediction; returned to the client as the command's result."""

    status: str  # "done" | "cached" | "cancelled" | "failed" | "stale"
    frames: int = 0
    message: str | None = None
    result: PredictionResult | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "frames": self.frames}
        if self.message:
            data["message"] = self.message
        return data


@dataclass(eq=False)
class Job:
    spec: PredictionSpec
    run: FunctionRun | None  # None for a hidden job (the observed half of a verify)
    prepared: Prepared
    options: BackendOptions
    settings: Settings
    token: CancelToken = field(default_factory=CancelToken)
    request_id: Any = None
    progress_token: str | None = None
    frames: list[Frame] = field(default_factory=list)
    last_stream: float = 0.0
    builder: TimelineBuilder | None = None
    stream_interval: float = STREAM_INTERVAL
    shown_value: bool = False  # a streamed view has shown a value (the first hint is out)
    final_view: RunView | None = None
    provenance: Provenance | None = None  # known once the predictor is built

    @property
    def label(self) -> str:
        return self.spec.function.qualname

    @property
    def context(self) -> str:
        return self.prepared.context.context


class PredictionJobs:
    def __init__(self, server: CwmServer) -> None:
        self._server = server
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cwm-predict")
        self._predictors: dict[BackendOptions, Predictor] = {}
        self._predictor_locks: dict[BackendOptions, threading.Lock] = {}
        self._warned: set[BackendOptions] = set()
        self._construct_lock = threading.Lock()
        self._jobs: set[Job] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._preloading: asyncio.Future[None] | None = None  # held: the loop keeps weak refs

    # ------------------------------------------------------------------ cancellation

    def running(self) -> list[Job]:
        return list(self._jobs)

    def cancel_request(self, request_id: Any) -> None:
        for job in self._cancel_where(lambda job: job.request_id == request_id):
            logger.info("request %s cancelled: stopping %s", request_id, job.label)

    def cancel_progress(self, token: Any) -> None:
        for job in self._cancel_where(lambda job: job.progress_token == token):
            logger.info("progress %s cancelled: stopping %s", token, job.label)

    def cancel_function(self, uri: str, qualname: str) -> None:
        self._cancel_where(
            lambda job: (
                job.run is not None
                and job.spec.uri == uri
                and job.spec.function.qualname == qualname
            )
        )

    def cancel_run(self, run: FunctionRun) -> None:
        self._cancel_where(lambda job: job.run is run)

    def cancel_all(self) -> None:
        self._cancel_where(lambda job: True)

    def _cancel_where(self, matches: Callable[[Job], bool]) -> list[Job]:
        """Cancel the running jobs that ``matches`` picks; returns them."""
        picked = [job for job in list(self._jobs) if matches(job)]
        for job in picked:
            job.token.cancel()
        return picked

    async def stop_all(self, timeout: float = 5.0) -> None:
        """Cancel every prediction and wait (a while) until they have stopped."""
        self.cancel_all()
        deadline = time.monotonic() + timeout
        while self._jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ predicting

    async def predict(
        self, spec: PredictionSpec, *, request_id: Any = None, shown: bool = True
    ) -> JobOutcome:
        """Predict ``spec`` and show the result (unless ``shown`` is false); never raises."""
        server = self._server
        self._loop = asyncio.get_running_loop()
        await server.wait_for_settings()
        settings = server.settings
        options = self._options(settings, spec.backend)
        path, workspace_root = server.document_location(spec.uri)
        try:
            prepared = prepare(
                spec.source, spec.target, options, path=path, workspace_root=workspace_root
            )
        except EntryError as error:
            server.notifier.problem(f"Prophecy cannot trace {spec.function.qualname}: {error}")
            return JobOutcome("failed", message=str(error))

        if shown:
            self.cancel_function(spec.uri, spec.function.qualname)
        run = server.runs.start(spec.uri, spec.function, spec.source, spec.call) if shown else None
        if run is not None:
            run.context = prepared.context.context
        job = Job(spec, run, prepared, options, settings, request_id=request_id)
        # a finished trace is the same under any time budget (a stopped one is never stored)
        key = ResultKey.of(prepared.context.context, spec.call, options.for_cache())
        # A verification's observed half must be a fresh run, never a remembered one.
        cached = server.cache.get(key) if shown else None
        if cached is not None:
            await self._loop.run_in_executor(self._executor, self._build_final_view, job, cached)
            return self._finish(job, cached, status="cached")

        self._jobs.add(job)
        try:
            await self._begin_progress(job)
            future = self._loop.run_in_executor(self._executor, self._work, job)
            try:
                result = await asyncio.shield(future)
            except asyncio.CancelledError:
                job.token.cancel()  # the server is shutting down or the task was cancelled
                raise
            if job.token.cancelled:
                raise PredictionCancelled()
        except PredictionCancelled:
            self._drop(job)
            return JobOutcome("cancelled", frames=len(job.frames), message="prediction cancelled")
        except BackendError as error:
            self._drop(job)
            server.notifier.problem(str(error))
            return JobOutcome("failed", message=str(error))
        except Exception as error:  # a crashing backend must not take the server down
            self._drop(job)
            backend = options.backend
            message = f"the {backend} backend failed: {type(error).__name__}: {error}"
            server.notifier.problem(message, details=traceback.format_exc())
            return JobOutcome("failed", message=message)
        finally:
            self._jobs.discard(job)
            self._end_progress(job)

        problem = _unusable(result)
        if problem is not None:
            self._drop(job)
            server.notifier.problem(problem, details="\n".join(result.problems))
            return JobOutcome("failed", frames=len(result.frames), message=problem, result=result)
        if result.finished and not result.limit and shown:
            server.cache.put(key, result)
        if result.limit:
            server.notifier.problem(
                f"{job.label}: {result.limit}; showing the trace up to that point",
                details="\n".join(result.problems),
            )
        return self._finish(job, result, status="done")

    def _finish(self, job: Job, result: PredictionResult, *, status: str) -> JobOutcome:
        run = job.run
        if run is None:
            return JobOutcome(status, frames=len(result.frames), result=result)
        if not self._server.runs.is_current(run):
            return JobOutcome("stale", frames=len(result.frames), result=result)
        if run.stale:
            # The function was edited while this ran: the values describe old code.
            return JobOutcome(
                "stale", frames=len(result.frames), message="the function was edited", result=result
            )
        run.frames = list(result.frames)
        run.provenance = result.provenance
        run.interpreter = result.interpreter
        run.limit = result.limit
        run.status = RunStatus.DONE
        run.context = job.context
        run.view = job.final_view
        self._attach_blocks(run, job)
        self._server.results_changed(run.uri)
        return JobOutcome(status, frames=len(result.frames), result=result)

    def _drop(self, job: Job) -> None:
        if job.run is not None:
            if job.run.stale:
                # Edited while running: keep it as a stale marker (it shows no values).
                job.run.status = RunStatus.DONE
                self._server.results_changed(job.run.uri)
                return
            self._server.runs.remove(job.run)
            self._server.results_changed(job.run.uri)

    def _attach_blocks(self, run: FunctionRun, job: Job) -> None:
        """Make the run depend also on the other functions its trace ran."""
        if run.view is None:
            return
        try:
            functions = list_functions(job.spec.source)
        except EntryError:
            return
        known = len(run.blocks)
        run.add_blocks_for(sorted(run.view.lines), functions, source_lines(job.spec.source))
        current = self._server.document_source(run.uri)
        if current is None or current == job.spec.source:
            return
        # The document changed while the prediction ran: find the new blocks where they are now.
        lines = source_lines(current)
        for block in run.blocks[known:]:
            start = relocate_lines(block.text, lines, block.origin.first)
            if start is None:
                run.stale = True
                return
            block.current = LineSpan(start, start + len(block.text) - 1)

    # ------------------------------------------------------------------ worker thread

    def _work(self, job: Job) -> PredictionResult:
        predictor, lock = self._predictor(job.options)
        job.provenance = predictor.provenance()
        request = job.prepared.request
        with lock:
            if job.token.cancelled:
                raise PredictionCancelled()
            started = time.monotonic()
            result = predictor.predict(
                request, on_frame=lambda frame: self._on_frame(job, frame), cancel=job.token
            )
        logger.info(
            "%s: %d frames in %.2fs", job.label, len(result.frames), time.monotonic() - started
        )
        if job.token.cancelled:
            raise PredictionCancelled()
        if result.frames:
            self._build_final_view(job, result)
        return result

    def _build_final_view(self, job: Job, result: PredictionResult) -> None:
        """The finished run's view, built and rendered here rather than on the event loop."""
        if job.run is None:
            return
        view = build_view(result.frames, job.context, finished=result.finished)
        observed = result.provenance.origin is Origin.OBSERVED
        render_lines(view, job.settings.hint_width, observed=observed)
        job.final_view = view

    def _on_frame(self, job: Job, frame: Frame) -> None:
        job.frames.append(frame)
        now = time.monotonic()
        if job.token.cancelled:
            return
        eager = not job.shown_value and len(job.frames) <= EAGER_FRAMES
        if not eager and now - job.last_stream < job.stream_interval:
            return
        view = None
        if job.run is not None:
            if job.builder is None:
                job.builder = TimelineBuilder(job.context)
            job.builder.add(job.frames[len(job.builder.frames) :])
            view = view_of(job.builder.timeline(), job.context, finished=False)
            observed = job.provenance is not None and job.provenance.origin is Origin.OBSERVED
            # rendered here, not on the loop
            rendered = render_lines(view, job.settings.hint_width, observed=observed)
            if eager and not any(rendered.values()):
                return  # no value to show yet: no refresh for an empty view
        job.shown_value = True
        # Rebuilding takes time linear in the trace: keep it to a small share of the CPU (and
        # of the interpreter lock the event loop needs to answer requests).
        spent = time.monotonic() - now
        job.stream_interval = max(STREAM_INTERVAL, STREAM_COST_FACTOR * spent)
        job.last_stream = time.monotonic()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stream, job, view, len(job.frames))

    def _stream(self, job: Job, view: RunView | None, count: int) -> None:
        """On the loop thread: show a partial result and report progress."""
        if job.token.cancelled or job not in self._jobs:
            return
        self._report_progress(job, f"frame {count}")
        run = job.run
        if run is None or view is None or run.stale or not self._server.runs.is_current(run):
            return
        run.view = view
        run.provenance = run.provenance or job.provenance
        self._server.results_changed(run.uri, diagnostics=False)

    def _options(self, settings: Settings, backend: str | None) -> BackendOptions:
        """The backend options of ``settings``; a setting the backend cannot honour is said
        once (per settings value) and left out."""
        options = settings.options(backend)
        unsupported = options.unsupported()
        if not unsupported:
            return options
        if options not in self._warned:
            self._warned.add(options)
            for item in unsupported:
                self._server.notifier.problem(f"{item.message}: the setting is ignored")
        return options.without([item.option for item in unsupported])

    def _predictor(self, options: BackendOptions) -> tuple[Predictor, threading.Lock]:
        """One predictor per backend configuration, built on first use (in a worker thread)."""
        key = options.predictor_key()
        with self._construct_lock:
            predictor = self._predictors.get(key)
            if predictor is None:
                predictor = build_predictor(key)
                self._predictors[key] = predictor
                self._predictor_locks[key] = threading.Lock()
            return predictor, self._predictor_locks[key]

    # ------------------------------------------------------------------ loading ahead

    def preload(self) -> None:
        """Load the configured model now, in a worker thread with progress, so the first
        prediction does not wait for it (it waits on the predictor's lock if still loading).
        Sandboxed runs and servers (openai) load nothing; a failure is said by the prediction."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the server's loop (a test building a server by hand)
            return
        options = self._options(self._server.settings, None)
        if options.backend in ("run", "openai") or (options.model or "").startswith("http"):
            return
        self._preloading = asyncio.ensure_future(self._preload(options))

    async def _preload(self, options: BackendOptions) -> None:
        assert self._loop is not None
        token = await self._progress_begin("Loading the model…", cancellable=False)
        started = time.monotonic()
        try:
            await self._loop.run_in_executor(self._executor, self._load, options)
        except Exception as error:  # the first prediction reports it where the user looks
            logger.info("loading ahead failed: %s", error)
            message = "failed"
        else:
            message = "ready"
            logger.info("model loaded ahead in %.2fs", time.monotonic() - started)
        finally:
            if token is not None:
                self._server.work_done_progress.end(
                    token, types.WorkDoneProgressEnd(message=message)
                )
                self._server.work_done_progress.tokens.pop(token, None)

    def _load(self, options: BackendOptions) -> None:
        predictor, lock = self._predictor(options)
        load = getattr(predictor, "load", None)
        if load is not None:
            with lock:
                load()

    # ------------------------------------------------------------------ progress

    async def _progress_begin(
        self, title: str, *, cancellable: bool, message: str | None = None
    ) -> str | None:
        """A new work-done progress with ``title``; its token (None: the client has none)."""
        server = self._server
        if not server.supports_work_done_progress():
            return None
        token = f"cwm-predict-{uuid.uuid4().hex[:12]}"
        try:
            await asyncio.wait_for(server.work_done_progress.create_async(token), timeout=5.0)
        except Exception as error:  # the client refused or never answered: go on without
            logger.info("no progress for %s: %s", title, error)
            return None
        server.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(title=title, cancellable=cancellable, message=message),
        )
        return token

    async def _begin_progress(self, job: Job) -> None:
        verb = "Running" if job.options.is_run else "Predicting"
        job.progress_token = await self._progress_begin(
            f"{verb} {job.label}…", cancellable=True, message="starting"
        )

    def _report_progress(self, job: Job, message: str) -> None:
        if job.progress_token is None:
            return
        verb = "Running" if job.options.is_run else "Predicting"
        self._server.work_done_progress.report(
            job.progress_token,
            types.WorkDoneProgressReport(message=f"{verb} {job.label}… {message}"),
        )

    def _end_progress(self, job: Job) -> None:
        if job.progress_token is None:
            return
        message = "cancelled" if job.token.cancelled else "done"
        self._server.work_done_progress.end(
            job.progress_token, types.WorkDoneProgressEnd(message=message)
        )
        self._server.work_done_progress.tokens.pop(job.progress_token, None)


def _unusable(result: PredictionResult) -> str | None:
    """Why a finished prediction cannot be shown at all, or ``None`` when it can."""
    if result.frames:
        return None
    details = [text for text in (result.limit, *result.problems[:1]) if text]
    detail = f" ({details[0]})" if details else ""
    if result.provenance.origin is Origin.OBSERVED:
        return f"the sandboxed run produced no trace{detail}"
    return f"the model's output could not be read as a trace{detail}"
