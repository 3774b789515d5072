"""Predicting every example (cached, optionally in parallel) and checking each prediction."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cwm_lsp.backends.base import (
    STOP_TIMEOUT,
    BackendError,
    PredictionCancelled,
    PredictionResult,
    Predictor,
)
from cwm_lsp.backends.options import BackendOptions
from cwm_lsp.checking import batch
from cwm_lsp.checking.baseline import BaselineKey
from cwm_lsp.checking.cache import PredictionCache, cache_key, imported_siblings
from cwm_lsp.checking.checks import (
    BACKEND_ERROR,
    INVALID_EXAMPLE,
    Failure,
    check_prediction,
    check_verification,
)
from cwm_lsp.checking.discovery import Example
from cwm_lsp.entry import EntryError
from cwm_lsp.prediction import Prepared, Target, prepare

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
ProgressCallback = Callable[[int, int], None]


@dataclass
class CheckResult:
    example: Example
    status: str  # PASSED, FAILED or SKIPPED
    failures: list[Failure] = field(default_factory=list)
    predicted: str | None = None  # "returns 3", "raises ValueError: bad", ...
    cached: bool = False  # every trace it needed came from the cache
    skip_reason: str | None = None
    seconds: float = 0.0
    provenance: str | None = None

    @property
    def new_failures(self) -> list[Failure]:
        return [failure for failure in self.failures if not failure.baselined]

    def key(self, failure: Failure) -> BaselineKey:
        example = self.example
        return BaselineKey(example.file.relative, example.function, example.call, failure.rule)


def failures_of(results: Iterable[CheckResult]) -> Iterator[tuple[CheckResult, Failure]]:
    """Every failure of the failed results (known ones too), with the result it belongs to."""
    for result in results:
        if result.status == FAILED:
            for failure in result.failures:
                yield result, failure


@dataclass(frozen=True)
class Backend:
    """A predictor and what identifies its output in the cache."""

    predictor: Predictor
    identity: dict[str, Any]


class Checker:
    def __init__(
        self,
        backend: Backend,
        options: BackendOptions,
        *,
        observer: Backend | None = None,
        cache: PredictionCache | None = None,
    ) -> None:
        self.backend = backend
        self.options = options
        self.observer = observer
        self.cache = cache or PredictionCache(None)

    def check(self, example: Example) -> CheckResult:
        started = time.monotonic()
        result = self._check(example)
        result.seconds = time.monotonic() - started
        return result

    def _check(self, example: Example) -> CheckResult:
        if example.problem is not None:
            failure = Failure(INVALID_EXAMPLE, _problem_message(example), example.line)
            return CheckResult(example, FAILED, [failure])
        if example.skip is not None:
            return CheckResult(example, SKIPPED, skip_reason=example.skip)
        assert example.info is not None
        # trace-check traces each example as written (a generator call stays one)
        target = Target(example.info, example.call, example.setup)
        try:
            prepared = prepare(example.source, target, self.options, path=str(example.file.path))
        except EntryError as exc:
            failure = Failure(INVALID_EXAMPLE, f"{example.call}: {exc}", example.line)
            return CheckResult(example, FAILED, [failure])
        context = prepared.context
        try:
            predicted, from_cache = self._trace(self.backend, example, prepared)
            failures, outcome = check_prediction(example, predicted, context.context)
            cached = from_cache
            if self.observer is not None:
                observed, observed_cached = self._trace(self.observer, example, prepared)
                cached = cached and observed_cached
                divergence = check_verification(example, predicted, observed, context.context)
                if divergence is not None:
                    failures.append(divergence)
        except (BackendError, PredictionCancelled, OSError, RuntimeError, MemoryError) as exc:
            failure = Failure(BACKEND_ERROR, f"{example.call}: {exc}", example.line)
            return CheckResult(example, FAILED, [failure])
        return CheckResult(
            example,
            FAILED if failures else PASSED,
            failures,
            predicted=outcome.describe(),
            cached=cached,
            provenance=predicted.provenance.describe(),
        )

    def _trace(
        self, backend: Backend, example: Example, prepared: Prepared
    ) -> tuple[PredictionResult, bool]:
        request = prepared.request
        key = cache_key(
            {
                "backend": backend.identity,
                "context": request.context,
                "call": request.call,
                "harness": request.harness,
                "function": example.function,
                "max_frames": request.max_frames,
                "siblings": imported_siblings(example.source, example.file.path.parent),
                "interpreter": _interpreter_identity(backend, example.file.path),
            }
        )
        stored = self.cache.get(key)
        if stored is not None:
            return stored, True
        result = backend.predictor.predict(request)
        if result.stop != STOP_TIMEOUT:  # another try, or a faster machine, may finish it
            self.cache.put(key, result)
        return result, False


def _interpreter_identity(backend: Backend, path: Path) -> list[Any] | None:
    """For sandboxed runs: the interpreter that would run ``path`` and its version (another
    venv, or another Python, gives other runs)."""
    if backend.identity.get("backend") != "run":
        return None
    identity = backend.identity
    return _interpreter_of(str(path), identity.get("python"), identity.get("editor_python"))


@functools.lru_cache(maxsize=256)
def _interpreter_of(path: str, explicit: str | None, editor: str | None) -> list[Any] | None:
    """The run backend's own choice (``plan_run``), so the key follows whatever it picks."""
    from cwm_lsp.project.interpreter import InterpreterError, describe_interpreter
    from cwm_lsp.project.place import plan_run

    try:
        _, interpreter = plan_run(path, None, explicit, editor)
        return [interpreter.path, list(describe_interpreter(interpreter.path).version)]
    except (InterpreterError, OSError):
        return None  # the run itself will say what is wrong; such a result is not reused


def _problem_message(example: Example) -> str:
    if example.kind == "source":
        return f"cannot read the examples of {example.file.relative}: {example.problem}"
    return f"line {example.line}: {example.problem}"


def run_checks(
    checker: Checker,
    examples: Sequence[Example],
    *,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
) -> list[CheckResult]:
    """Check every example; results come back in the order of ``examples``.

    Sandboxed runs go file by file (one fork server per file, ``jobs`` files at a time); model
    predictions go example by example, ``jobs`` at a time."""
    predictors = batch.session_predictors(checker)
    # a file's examples share a sandbox: they go together, one file after another
    units = batch.by_file(examples) if predictors else [[i] for i in range(len(examples))]
    with batch.sessions_open(predictors):
        return _check_units(checker, examples, units, predictors, jobs=jobs, progress=progress)


def _check_units(
    checker: Checker,
    examples: Sequence[Example],
    units: list[list[int]],
    predictors: list[batch.FileSessions],
    *,
    jobs: int,
    progress: ProgressCallback | None,
) -> list[CheckResult]:
    results: list[CheckResult | None] = [None] * len(examples)
    total, done = len(examples), 0
    serial = jobs <= 1 or len(units) <= 1
    if progress is not None:
        progress(0, total)

    def check_unit(unit: list[int]) -> int:
        nonlocal done
        try:
            for index in unit:
                results[index] = checker.check(examples[index])
                if serial:  # in parallel, progress counts whole units as they finish
                    done += 1
                    if progress is not None:
                        progress(done, total)
        finally:
            for predictor in predictors:
                predictor.end_file()  # the next unit is another file
        return len(unit)

    if serial:
        for unit in units:
            check_unit(unit)
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="trace-check") as pool:
            futures = [pool.submit(check_unit, unit) for unit in units]
            try:
                for future in as_completed(futures):
                    done += future.result()
                    if progress is not None:
                        progress(done, total)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)  # only running ones finish
                raise
    return [result for result in results if result is not None]
