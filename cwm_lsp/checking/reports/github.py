"""GitHub Actions workflow commands (``--format github``): one ``::error`` per new failure."""

from __future__ import annotations

from cwm_lsp.checking.report import Report
from cwm_lsp.checking.runner import failures_of


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: str) -> str:
    shown = ",".join(f"{name}={escape_property(value)}" for name, value in properties.items())
    return f"::{kind} {shown}::{escape_data(message)}"


def render(report: Report) -> str:
    lines: list[str] = []
    for result, failure in failures_of(report.results):
        kind = "notice" if failure.baselined else "error"
        title = f"{failure.rule}: {result.example.title}"
        if failure.baselined:
            title += " (known failure)"
        lines.append(
            command(
                kind,
                failure.message,
                file=result.example.file.relative,
                line=str(failure.line),
                title=title,
            )
        )
    lines.append(f"cwm-lsp trace-check: {report.summary().line()}")
    return "\n".join(lines) + "\n"
