"""``cwm-lsp trace-check PATH...``: predict every documented example call and check it (for CI).

Exit codes: 0 every check passed (failures listed in the baseline do not count; a tree without
any example call passes, with a note); 1 some check failed; 2 the command could not run as asked
(a missing path, a bad option, an unusable baseline, a backend or model that cannot be used).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from cwm_lsp.backends.base import BackendError, Predictor
from cwm_lsp.checking.baseline import BaselineKey, load_baseline, write_baseline
from cwm_lsp.checking.cache import PredictionCache, default_cache_directory, model_fingerprint
from cwm_lsp.checking.discovery import (
    CheckUsageError,
    Example,
    find_python_files,
    read_examples,
    report_root,
)
from cwm_lsp.checking.report import Report
from cwm_lsp.checking.reports import RENDERERS
from cwm_lsp.checking.runner import Backend, Checker, CheckResult, failures_of, run_checks
from cwm_lsp.commands.common import predictor_from_args, use_utf8_output

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
        examples = [example for file in files for example in read_examples(file)]
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
    from cwm_lsp.backends.registry import get_predictor, resolve_backend_name
    from cwm_lsp.commands.predict import provenance_line

    if not any(example.problem is None and example.skip is None for example in examples):
        return None, "nothing to predict"
    backend_name, model = resolve_backend_name(args.backend, args.model)
    predictor = predictor_from_args(args)
    if backend_name == "native" and model is None:
        from cwm_lsp.backends.registry import demo_model_path

        demo = demo_model_path()
        model = str(demo) if demo is not None else None
    description = provenance_line(predictor.provenance())
    observer = None
    if args.verify:
        # --verify is the opt-in to executing the examples in the sandbox.
        run_predictor = get_predictor(
            "run", allow_execution=True, max_frames=args.max_frames, timeout=args.timeout
        )
        observer = Backend(run_predictor, _identity(args, "run", None, run_predictor))
        description += ", verified against sandboxed runs"
    cache = PredictionCache(None if args.no_cache else default_cache_directory())
    backend = Backend(predictor, _identity(args, backend_name, model, predictor))
    return Checker(backend, observer=observer, cache=cache, max_frames=args.max_frames), description


def _identity(
    args: argparse.Namespace, backend: str, model: str | None, predictor: Predictor
) -> dict[str, Any]:
    provenance = predictor.provenance()
    return {
        "backend": backend,
        "model": str(Path(model).expanduser().resolve()) if model and "://" not in model else model,
        "model_files": model_fingerprint(model),
        "provenance": {**dataclasses.asdict(provenance), "origin": provenance.origin.value},
        "quantize": args.quantize,
        "device": args.device if backend != "run" else None,
        # the decoder changes what a prediction says: flow-constrained results are not reused
        "free_decoding": args.free_decoding if backend in ("native", "llama-cpp") else None,
        "timeout": args.timeout if backend == "run" else None,
        # an observed trace is what this interpreter does (line events differ across versions)
        "python": platform.python_version() if backend == "run" else None,
    }


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
