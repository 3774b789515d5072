"""Machine-readable report (``--format json``)."""

from __future__ import annotations

import json
from typing import Any

from cwm_lsp.checking.report import TOOL_NAME, Report
from cwm_lsp.checking.runner import CheckResult

FORMAT_VERSION = 1


def render(report: Report) -> str:
    summary = report.summary()
    document: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "tool": TOOL_NAME,
        "version": report.version,
        "backend": report.backend,
        "root": str(report.root),
        "ok": report.ok,
        "summary": {
            "total": summary.total,
            "passed": summary.passed,
            "failed": summary.failed,
            "known_failures": summary.known,
            "skipped": summary.skipped,
            "cached": summary.cached,
        },
        "seconds": round(report.seconds, 3),
        "results": [_result(result) for result in report.results],
        "fixed_baseline_entries": [key.to_json() for key in report.fixed],
        "notes": list(report.notes),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _result(result: CheckResult) -> dict[str, Any]:
    example = result.example
    expected = None
    if example.doctest is not None:
        expected = example.doctest.exc_msg or example.doctest.want
        expected = expected.rstrip("\n")
    return {
        "file": example.file.relative,
        "line": example.line,
        "function": example.function,
        "call": example.call,
        "kind": example.kind,
        "status": result.status,
        "cached": result.cached,
        "expected": expected,
        "predicted": result.predicted,
        "provenance": result.provenance,
        "skip_reason": result.skip_reason,
        "seconds": round(result.seconds, 3),
        "failures": [
            {
                "rule": failure.rule,
                "line": failure.line,
                "message": failure.message,
                "expected": failure.expected,
                "predicted": failure.predicted,
                "baselined": failure.baselined,
            }
            for failure in result.failures
        ],
    }
