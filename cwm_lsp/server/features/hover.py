"""Hover on a line with results: its executions as a table, the call and where it came from."""

from __future__ import annotations

from lsprotocol import types

from cwm_lsp.server.features.base import Feature
from cwm_lsp.server.features.inlay_hints import provenance_text
from cwm_lsp.server.labels import execution_table
from cwm_lsp.server.view import focused_executions


class Hover(Feature):
    def register(self) -> None:
        self.on(types.TEXT_DOCUMENT_HOVER, self.hover)

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        server = self.server
        uri = params.text_document.uri
        line = params.position.line
        run = server.runs.at_line(uri, line)
        if run is None:
            return None
        if run.stale:
            text = "**Prophecy**: this function was edited after the prediction; predict it again."
            return types.Hover(
                contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)
            )
        if run.view is None:
            return None
        context_line = run.context_line(line)
        line_view = run.view.lines.get(context_line) if context_line is not None else None
        if line_view is None or not line_view.executions:
            return None
        shown, suffix = focused_executions(run.view, line_view, run.focus)
        kind = "observed" if run.observed else "predicted"
        count = len(line_view.executions)
        title = f"**Prophecy** ({kind}): line ran {count} time{'s' if count != 1 else ''}{suffix}"
        parts = [title, execution_table(shown), provenance_text(run)]
        if run.mismatch is not None and run.mismatch.line == context_line:
            parts.append(f"Verify: {run.mismatch.message}")
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n".join(parts))
        )
