"""Everything a report writer needs about one trace-check run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cwm_lsp import __version__
from cwm_lsp.checking.baseline import BaselineKey
from cwm_lsp.checking.runner import FAILED, PASSED, SKIPPED, CheckResult

TOOL_NAME = "cwm-lsp trace-check"


@dataclass
class Summary:
    passed: int
    failed: int  # examples with at least one failure not in the baseline
    known: int  # examples whose failures are all in the baseline
    skipped: int
    cached: int

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.known + self.skipped

    def line(self) -> str:
        """``3 passed, 2 failed, 1 known failure (baseline), 1 skipped``."""
        parts = [f"{self.passed} passed", f"{self.failed} failed"]
        if self.known:
            parts.append(f"{self.known} known failure{'s' if self.known != 1 else ''} (baseline)")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return ", ".join(parts)


@dataclass
class Report:
    results: list[CheckResult]
    root: Path
    backend: str  # how the traces were made, for people
    seconds: float = 0.0
    fixed: list[BaselineKey] = field(default_factory=list)  # baseline entries that now pass
    notes: list[str] = field(default_factory=list)
    version: str = __version__

    def summary(self) -> Summary:
        passed = sum(1 for r in self.results if r.status == PASSED)
        skipped = sum(1 for r in self.results if r.status == SKIPPED)
        failing = [r for r in self.results if r.status == FAILED]
        failed = sum(1 for r in failing if r.new_failures)
        cached = sum(1 for r in self.results if r.cached)
        return Summary(passed, failed, len(failing) - failed, skipped, cached)

    @property
    def ok(self) -> bool:
        return self.summary().failed == 0
