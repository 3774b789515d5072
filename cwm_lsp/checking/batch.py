"""Checking examples file by file: files run in parallel, a file's examples in one sandbox.

For the run backend (and ``--verify``'s observer) a file's examples share one sandboxed fork
server (:mod:`cwm_lsp.tracer.session`): the module and its package are imported once, each
example runs in a fresh forked child with its own limits. ``jobs`` files are checked at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cwm_lsp.checking.discovery import Example
    from cwm_lsp.checking.runner import Checker, CheckResult

ProgressCallback = Callable[[int, int], None]


class _FileSessions(Protocol):
    def file_sessions(self) -> contextlib.AbstractContextManager[None]: ...

    def end_file(self) -> None: ...


def _session_predictors(checker: Checker) -> list[_FileSessions]:
    backends = [checker.backend, checker.observer]
    predictors: list[Any] = [backend.predictor for backend in backends if backend is not None]
    return [p for p in predictors if hasattr(p, "file_sessions") and hasattr(p, "end_file")]


def runs_per_file(checker: Checker) -> bool:
    """Whether the checker's backend or observer keeps one sandbox per file."""
    return bool(_session_predictors(checker))


def by_file(examples: Sequence[Example]) -> list[list[int]]:
    """Indexes of ``examples`` grouped by file, files in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault(str(example.file.path), []).append(index)
    return list(groups.values())


@contextlib.contextmanager
def _sessions_open(predictors: list[_FileSessions]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for predictor in predictors:
            stack.enter_context(predictor.file_sessions())
        yield


def check_per_file(
    checker: Checker,
    examples: Sequence[Example],
    *,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
) -> list[CheckResult]:
    """Check every example; results come back in the order of ``examples``."""
    results: list[CheckResult | None] = [None] * len(examples)
    total = len(examples)
    done = 0
    if progress is not None:
        progress(0, total)
    predictors = _session_predictors(checker)

    def check_file(indexes: list[int]) -> list[int]:
        try:
            for index in indexes:
                results[index] = checker.check(examples[index])
        finally:
            for predictor in predictors:
                predictor.end_file()
        return indexes

    groups = by_file(examples)
    with _sessions_open(predictors):
        if jobs <= 1 or len(groups) <= 1:
            for indexes in groups:
                for index in indexes:
                    results[index] = checker.check(examples[index])
                    done += 1
                    if progress is not None:
                        progress(done, total)
                for predictor in predictors:
                    predictor.end_file()
        else:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="trace-check") as pool:
                futures = [pool.submit(check_file, indexes) for indexes in groups]
                try:
                    for future in as_completed(futures):
                        done += len(future.result())
                        if progress is not None:
                            progress(done, total)
                except KeyboardInterrupt:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    return [result for result in results if result is not None]
