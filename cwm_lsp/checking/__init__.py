"""``cwm-lsp trace-check``: check every documented example call headlessly (for CI).

discovery (files and example calls) -> runner (cached predictions, thread pool) -> checks
(doctest output, uncaught exceptions, trace validity, predicted-vs-observed with --verify) ->
baseline (known failures) -> reports (text, json, junit, sarif, github).
"""

from cwm_lsp.checking.baseline import BaselineKey, load_baseline, write_baseline
from cwm_lsp.checking.cache import PredictionCache, default_cache_directory
from cwm_lsp.checking.checks import RULES, Failure, check_prediction, check_verification
from cwm_lsp.checking.discovery import (
    CheckUsageError,
    Example,
    SourceFile,
    find_python_files,
    read_examples,
)
from cwm_lsp.checking.runner import Backend, Checker, CheckResult, run_checks
from cwm_lsp.compare import Divergence, first_divergence, same_value

__all__ = [
    "RULES",
    "Backend",
    "BaselineKey",
    "CheckResult",
    "CheckUsageError",
    "Checker",
    "Divergence",
    "Example",
    "Failure",
    "PredictionCache",
    "SourceFile",
    "check_prediction",
    "check_verification",
    "default_cache_directory",
    "find_python_files",
    "first_divergence",
    "load_baseline",
    "read_examples",
    "run_checks",
    "same_value",
    "write_baseline",
]
