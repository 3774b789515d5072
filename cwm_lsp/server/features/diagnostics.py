"""Diagnostics: a syntax error (Error on its range: the functions around it are still predicted,
without the part that does not parse), a predicted uncaught exception (Warning on the raising
line) and the first place where a prediction differs from the sandboxed run of the same call
(Information)."""

from __future__ import annotations

from lsprotocol import types

from cwm_lsp.lines import source_lines
from cwm_lsp.parseable import SyntaxProblem, syntax_problem
from cwm_lsp.server.features.base import Feature
from cwm_lsp.server.runs import FunctionRun, RunStatus

SOURCE = "cwm-lsp"


class Diagnostics(Feature):
    def register(self) -> None:
        self.server.publish_diagnostics = self.publish

    def publish(self, uri: str) -> None:
        diagnostics: list[types.Diagnostic] = []
        source = self.server.document_source(uri) or ""
        lines = source_lines(source)
        problem = syntax_problem(source)
        if problem is not None:
            diagnostics.append(_syntax_diagnostic(problem))
        for run in self.server.runs.in_document(uri):
            diagnostics.extend(self._of_run(run, lines))
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
        )

    def _of_run(self, run: FunctionRun, lines: list[str]) -> list[types.Diagnostic]:
        if run.stale or run.view is None or run.status is not RunStatus.DONE:
            return []
        found: list[types.Diagnostic] = []
        call = run.call or "invented inputs"
        where = run.provenance.describe() if run.provenance else ""
        uncaught = run.view.uncaught
        if uncaught is not None:
            line = run.report_line(uncaught.line)
            verb = "raises" if run.observed else "is predicted to raise"
            found.append(
                _diagnostic(
                    lines,
                    line,
                    f"{call} {verb} {uncaught.description} here ({where})",
                    types.DiagnosticSeverity.Warning,
                )
            )
        mismatch = run.mismatch
        if mismatch is not None:
            line = run.report_line(mismatch.line)
            found.append(
                _diagnostic(
                    lines,
                    line,
                    f"{call}: {mismatch.message} (prediction vs sandboxed run)",
                    types.DiagnosticSeverity.Information,
                )
            )
        return found


def _diagnostic(
    lines: list[str], line: int, message: str, severity: types.DiagnosticSeverity
) -> types.Diagnostic:
    text = lines[line] if 0 <= line < len(lines) else ""
    start = len(text) - len(text.lstrip())
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=line, character=start),
            end=types.Position(line=line, character=len(text)),
        ),
        message=message,
        severity=severity,
        source=SOURCE,
    )


def _syntax_diagnostic(problem: SyntaxProblem) -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=problem.line - 1, character=problem.column),
            end=types.Position(line=problem.end_line - 1, character=max(problem.end_column, 0)),
        ),
        message=(
            f"syntax error: {problem.message} (Prophecy predicts the other functions of the "
            "file without the part that does not parse)"
        ),
        severity=types.DiagnosticSeverity.Error,
        source=SOURCE,
    )
