"""``cwm-lsp trace-check PATH...``: predict every documented example call and check it (for CI).

Exit codes: 0 every check passed (failures listed in the baseline do not count; a tree without
any example call passes, with a note); 1 some check failed; 2 the command could not run as asked
(a missing path, a bad option, an unusable baseline, a backend or model that cannot be used).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from cwm_lsp.backends.base import BackendError
from cwm_lsp.checking.baseline import BaselineKey, load_baseline, write_baseline
from cwm_lsp.checking.cache import PredictionCache, backend_identity, default_cache_directory
from cwm_lsp.checking.discovery import (
    DEFAULT_MAX_FILE_BYTES,
    CheckUsageError,
    Example,
    find_python_files,
    read_examples,
    report_root,
)
from cwm_lsp.checking.report import Report
from cwm_lsp.checking.reports import RENDERERS
from cwm_lsp.checking.runner import Backend, Checker, CheckResult, failures_of, run_checks
from cwm_lsp.commands.common import options_from_args, use_utf8_output

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_VERIFY_WITH_RUN = (
    "--verify compares a model's predictions with sandboxed runs; with --backend run the "
    "prediction already is a sandboxed run, so there is nothing to compare: drop --verify, or "
    "pick a model backend (--backend auto|native|llama-cpp|openai)"
)


def run(args: argparse.Namespace) -> int:
    use_utf8_output()
    started = time.monotonic()
    try:
        _validate(args)
        root = report_root()
        files = find_python_files(args.paths, root)
        max_bytes = args.max_file_size or DEFAULT_MAX_FILE_BYTES
        examples = [example for file in files for example in read_examples(file, max_bytes)]
        baseline_path = Path(args.baseline) if args.baseline else None
        baseline: set[BaselineKey] = set()
        if baseline_path is not None and not (args.update_baseline and not baseline_path.exists()):
            baseline = load_baseline(baseline_path)
        checker, description = _checker(args, examples)
    except (CheckUsageError, BackendError) as exc:
        print(f"cwm-lsp trace-check: {exc}", file=sys.stderr)
        return EXIT_USAGE

    progress = _Progress(sys.stderr) if _show_progress() else None
    results = run_checks(checker, examples, jobs=args.jobs, progress=progress) if checker else []
    if progress is not None:
        progress.finish()

    report = Report(results, root, description)
    if not examples:
        shown = ", ".join(args.paths)
        report.notes.append(f"no example calls (# prophecy: or >>>) found under {shown}")
    checked_files = {file.relative for file in files}
    current = _apply_baseline(results, baseline)
    report.fixed = sorted(key for key in baseline - current if key.file in checked_files)
    if args.update_baseline:
        assert baseline_path is not None
        kept = {key for key in baseline if key.file not in checked_files}  # other trees' entries
        try:
            write_baseline(baseline_path, kept | current)
        except CheckUsageError as exc:
            print(f"cwm-lsp trace-check: {exc}", file=sys.stderr)
            return EXIT_USAGE
        _apply_baseline(results, kept | current)
        report.fixed = []
        report.notes.append(
            f"baseline {baseline_path} written with {len(kept | current)} known failure(s)"
        )
    report.seconds = time.monotonic() - started

    text = RENDERERS[args.format](report)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"cwm-lsp trace-check: cannot write {args.output}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"cwm-lsp trace-check: {report.summary().line()}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return EXIT_OK if report.ok else EXIT_FAILED


def _validate(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise CheckUsageError("--jobs must be at least 1")
    if args.max_frames is not None and args.max_frames < 1:
        raise CheckUsageError("--max-frames must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise CheckUsageError("--timeout must be a positive number of seconds")
    if args.update_baseline and not args.baseline:
        raise CheckUsageError("--update-baseline needs --baseline FILE (the file to write)")
    if args.verify and args.backend == "run":
        raise CheckUsageError(_VERIFY_WITH_RUN)


def _checker(args: argparse.Namespace, examples: list[Example]) -> tuple[Checker | None, str]:
    """The checker for these options (None when nothing needs predicting) and its description."""
    from cwm_lsp.backends.registry import build_predictor
    from cwm_lsp.commands.predict import provenance_line

    if not any(example.problem is None and example.skip is None for example in examples):
        return None, "nothing to predict"
    asked = options_from_args(args)
    # --verify is the opt-in to executing the examples; the run-only flags are the run's
    options = (asked.for_prediction() if args.verify else asked).resolved()
    predictor = build_predictor(options)
    description = provenance_line(predictor.provenance())
    observer = None
    if args.verify:
        run_options = asked.for_run()
        run_predictor = build_predictor(run_options)
        observer = Backend(run_predictor, backend_identity(run_options, run_predictor.provenance()))
        description += ", verified against sandboxed runs"
    cache = PredictionCache(None if args.no_cache else default_cache_directory())
    backend = Backend(predictor, backend_identity(options, predictor.provenance()))
    return Checker(backend, options, observer=observer, cache=cache), description


def _apply_baseline(results: list[CheckResult], baseline: set[BaselineKey]) -> set[BaselineKey]:
    """Mark failures listed in ``baseline``; returns the keys of every failure of this run."""
    current: set[BaselineKey] = set()
    for result, failure in failures_of(results):
        key = result.key(failure)
        current.add(key)
        failure.baselined = key in baseline
    return current


def _show_progress() -> bool:
    if os.environ.get("CI"):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class _Progress:
    """A one-line progress bar redrawn in place on the terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if total == 0:
            return
        filled = self.WIDTH * done // total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\rtrace-check [{bar}] {done}/{total} examples")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * (self.WIDTH + 40) + "\r")
            self.stream.flush()
