"""Checking examples file by file: a file's examples in one sandbox.

For the run backend (and ``--verify``'s observer) a file's examples share one sandboxed fork
server (:mod:`cwm_lsp.execution.session`): the module and its package are imported once, each
example runs in a fresh forked child with its own limits. :func:`~cwm_lsp.checking.runner.
run_checks` checks ``jobs`` such files at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cwm_lsp.checking.discovery import Example
    from cwm_lsp.checking.runner import Checker

ProgressCallback = Callable[[int, int], None]


class FileSessions(Protocol):
    def file_sessions(self) -> contextlib.AbstractContextManager[None]: ...

    def end_file(self) -> None: ...


def session_predictors(checker: Checker) -> list[FileSessions]:
    """The checker's predictors that keep one sandbox per file (the run backend's)."""
    backends = [checker.backend, checker.observer]
    predictors: list[Any] = [backend.predictor for backend in backends if backend is not None]
    return [p for p in predictors if hasattr(p, "file_sessions") and hasattr(p, "end_file")]


def by_file(examples: Sequence[Example]) -> list[list[int]]:
    """Indexes of ``examples`` grouped by file, files in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault(str(example.file.path), []).append(index)
    return list(groups.values())


@contextlib.contextmanager
def sessions_open(predictors: list[FileSessions]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for predictor in predictors:
            stack.enter_context(predictor.file_sessions())
        yield
