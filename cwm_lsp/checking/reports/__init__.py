"""Report writers: one module per ``--format``, each ``render(report) -> str``."""

from __future__ import annotations

from collections.abc import Callable

from cwm_lsp.checking.report import Report
from cwm_lsp.checking.reports import github, json_report, junit, sarif, text

RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": text.render,
    "json": json_report.render,
    "junit": junit.render,
    "sarif": sarif.render,
    "github": github.render,
}

__all__ = ["RENDERERS"]
