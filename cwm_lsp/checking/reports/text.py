"""Readable report: each failure with a source excerpt, then a pytest-like summary line."""

from __future__ import annotations

from cwm_lsp.checking.checks import Failure
from cwm_lsp.checking.report import Report
from cwm_lsp.checking.runner import FAILED, SKIPPED, CheckResult

CONTEXT_LINES = 2
WIDTH = 72


def render(report: Report) -> str:
    out: list[str] = []
    failing = [r for r in report.results if r.status == FAILED and r.new_failures]
    known = [r for r in report.results if r.status == FAILED and not r.new_failures]
    skipped = [r for r in report.results if r.status == SKIPPED]
    files = len({r.example.file.relative for r in report.results})
    out.append(
        f"{len(report.results)} example{'s' if len(report.results) != 1 else ''} "
        f"in {files} file{'s' if files != 1 else ''} ({report.backend})\n"
    )
    if failing:
        out.append("\n" + _rule(" FAILURES ") + "\n")
        for result in failing:
            for failure in result.new_failures:
                out.append(_failure_block(result, failure))
    if known:
        out.append("\n" + _rule(" known failures (baseline) ") + "\n")
        for result in known:
            for failure in result.failures:
                out.append(f"{_where(result, failure)} [{failure.rule}]\n")
    if skipped:
        out.append("\n" + _rule(" skipped ") + "\n")
        for result in skipped:
            out.append(f"{_where(result, None)}: {result.skip_reason}\n")
    if report.fixed:
        out.append("\n" + _rule(" fixed ") + "\n")
        for key in report.fixed:
            out.append(f"{key.file}::{key.function} {key.call} [{key.rule}] no longer fails\n")
        out.append("(run with --update-baseline to drop these entries from the baseline)\n")
    for note in report.notes:
        out.append(f"note: {note}\n")
    summary = report.summary()
    tail = f" {summary.line()} in {report.seconds:.2f}s "
    if summary.cached:
        tail = f" {summary.line()} ({summary.cached} cached) in {report.seconds:.2f}s "
    out.append("\n" + _rule(tail) + "\n")
    return "".join(out)


def _rule(title: str) -> str:
    side = max(3, (WIDTH - len(title)) // 2)
    return "=" * side + title + "=" * side


def _where(result: CheckResult, failure: Failure | None) -> str:
    example = result.example
    line = failure.line if failure is not None else example.line
    name = f"::{example.function}" if example.function else ""
    call = f" {example.call}" if example.call else ""
    return f"{example.file.relative}:{line}{name}{call}"


def _failure_block(result: CheckResult, failure: Failure) -> str:
    lines = [f"\n{_where(result, failure)}  [{failure.rule}]\n"]
    lines.append(f"  {failure.message.splitlines()[0] if failure.message else ''}\n")
    for extra in failure.message.splitlines()[1:]:
        lines.append(f"    {extra}\n")
    lines.append(_excerpt(result.example.source, failure.line))
    return "".join(lines)


def _excerpt(source: str, line: int) -> str:
    source_lines = source.splitlines()
    if not source_lines or not 1 <= line <= len(source_lines):
        return ""
    first = max(1, line - CONTEXT_LINES)
    last = min(len(source_lines), line + CONTEXT_LINES)
    digits = len(str(last))
    shown = []
    for number in range(first, last + 1):
        marker = ">" if number == line else " "
        shown.append(f"  {marker} {number:>{digits}} | {source_lines[number - 1]}".rstrip() + "\n")
    return "".join(shown)
