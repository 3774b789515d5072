"""Inlay hints: one per line that did something, answered from stored runs at once."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types

from cwm_lsp.lines import source_lines
from cwm_lsp.server.features.base import Feature, prefers_plain_text
from cwm_lsp.server.labels import (
    INVENTED_LABEL,
    RUNNING_LABEL,
    STALE_LABEL,
    STOPPED_LABEL,
    cut,
    provenance_text,
    render_lines,
)
from cwm_lsp.server.runs import RunStatus


class InlayHints(Feature):
    def register(self) -> None:
        self.on(
            types.TEXT_DOCUMENT_INLAY_HINT,
            self.inlay_hints,
            types.InlayHintOptions(resolve_provider=False),
        )

    def inlay_hints(self, params: types.InlayHintParams) -> list[types.InlayHint]:
        server = self.server
        uri = params.text_document.uri
        try:
            document = server.workspace.get_text_document(uri)
            lines = source_lines(document.source)  # without line ends, unlike document.lines
        except Exception:
            return []
        first, last = params.range.start.line, params.range.end.line
        width = server.settings.hint_width
        plain = prefers_plain_text(server)
        hints: list[types.InlayHint] = []
        for run in server.runs.in_document(uri):
            def_line = run.function_block.current.first
            if run.stale:
                if first <= def_line <= last:
                    hints.append(
                        self._hint(
                            lines,
                            def_line,
                            STALE_LABEL,
                            "The function was edited after this prediction; its values are hidden.",
                            document,
                        )
                    )
                continue
            if run.view is None:
                if run.status is RunStatus.RUNNING and first <= def_line <= last:
                    hints.append(
                        self._hint(
                            lines,
                            def_line,
                            RUNNING_LABEL,
                            provenance_text(run, plain=plain),
                            document,
                        )
                    )
                continue
            if run.limit and run.status is RunStatus.DONE and first <= def_line <= last:
                label = STOPPED_LABEL + cut(run.limit, width)
                tooltip = provenance_text(run, plain=plain)
                hints.append(self._hint(lines, def_line, label, tooltip, document, plain=plain))
            invented = run.invented
            if invented is not None and first <= def_line <= last:
                hints.append(
                    self._hint(
                        lines,
                        def_line,
                        INVENTED_LABEL + cut(invented.describe(), width),
                        f"The model chose these inputs: {invented.describe()}\n\n"
                        f"{provenance_text(run, plain=plain)}",
                        document,
                        plain=plain,
                    )
                )
            rendered = render_lines(
                run.view, width, observed=run.observed, focus=run.focus, plain=plain
            )
            for context_line, shown in rendered.items():
                line = run.document_line(context_line)
                if shown is None or line is None or not first <= line <= last:
                    continue
                if line >= len(lines) or server.runs.at_line(uri, line) is not run:
                    continue
                label, table = shown
                tooltip = f"{table}\n\n{provenance_text(run, plain=plain)}"
                hints.append(self._hint(lines, line, label, tooltip, document, plain=plain))
        hints.sort(key=lambda hint: (hint.position.line, hint.position.character))
        return hints

    @staticmethod
    def _hint(
        lines: Sequence[str],
        line: int,
        label: str,
        tooltip: str,
        document: object,
        *,
        plain: bool = False,
    ) -> types.InlayHint:
        text = lines[line] if line < len(lines) else ""
        codec = getattr(document, "position_codec", None)
        column = codec.client_num_units(text) if codec is not None else len(text)
        return types.InlayHint(
            position=types.Position(line=line, character=column),
            label=label,
            padding_left=True,
            tooltip=types.MarkupContent(
                kind=types.MarkupKind.PlainText if plain else types.MarkupKind.Markdown,
                value=tooltip,
            ),
        )
