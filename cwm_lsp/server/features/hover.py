"""Hover on a line with results: its runs as a table, the call and where it came from.

Long tables are capped with a summary row; ``cwm.showAllRuns [uri, line]`` makes that line's
hover show every run and returns the whole table as plain text (Neovim's ``:ProphecyRuns``).
Clients that ask for plain text get aligned columns instead of Markdown.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from lsprotocol import types

from cwm_lsp.server.features.base import Feature, prefers_plain_text
from cwm_lsp.server.labels import dropped_note, execution_table, provenance_text
from cwm_lsp.server.run_table import ALL_ROWS, SHOWN_ROWS
from cwm_lsp.server.runs import FunctionRun
from cwm_lsp.server.view import focused_executions, loop_iterations

SHOW_ALL_RUNS = "cwm.showAllRuns"
KEEP_HINT = 'keep it with the code action "Prophecy: keep the invented call as an example"'


def _show_all_link(uri: str, line: int) -> str:
    return f"command:{SHOW_ALL_RUNS}?{quote(json.dumps([uri, line]))}"


def invented_text(run: FunctionRun, *, plain: bool) -> str | None:
    """The hover's line about the call the model invented, or ``None``."""
    invented = run.invented
    if invented is None:
        return None
    described = invented.describe()
    shown = described if plain else f"`{described}`"
    what = "Invented call" if invented.call else "Invented arguments"
    keep = f"; {KEEP_HINT}" if invented.call else ""
    return f"{what}: {shown}{keep}"


class Hover(Feature):
    def register(self) -> None:
        self.on(types.TEXT_DOCUMENT_HOVER, self.hover)
        self.command(SHOW_ALL_RUNS, self.show_all_runs)

    def _markup(self, text: str, plain: bool) -> types.Hover:
        kind = types.MarkupKind.PlainText if plain else types.MarkupKind.Markdown
        return types.Hover(contents=types.MarkupContent(kind=kind, value=text))

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        server = self.server
        uri = params.text_document.uri
        line = params.position.line
        plain = prefers_plain_text(server)
        run = server.runs.at_line(uri, line)
        if run is None:
            return None
        if run.stale:
            text = "this function was edited after the prediction; predict it again."
            return self._markup(("Prophecy: " if plain else "**Prophecy**: ") + text, plain)
        if run.view is None:
            return None
        context_line = run.context_line(line)
        line_view = run.view.lines.get(context_line) if context_line is not None else None
        notes = [note for note in (invented_text(run, plain=plain), dropped_note(run.view)) if note]
        if line_view is None or not line_view.executions:
            if line == run.function_block.current.first and notes:
                return self._markup("\n\n".join([*notes, provenance_text(run, plain=plain)]), plain)
            return None
        shown, suffix = focused_executions(run.view, line_view, run.focus)
        if run.focus is not None and not suffix:
            header, iteration = run.focus
            if header < line_view.line <= run.view.loops.get(header, -1):
                passes = len(loop_iterations(run.view, header))
                suffix = f", showing iteration {iteration + 1} of {passes}"
        kind = "observed" if run.observed else "predicted"
        if run.observed and run.provenance is not None and run.provenance.weak_sandbox:
            kind = "observed, weak sandbox"
        count = len(line_view.executions)
        title = f"({kind}): line ran {count} time{'s' if count != 1 else ''}{suffix}"
        title = ("Prophecy " if plain else "**Prophecy** ") + title
        limit = ALL_ROWS if line_view.line in run.expanded else SHOWN_ROWS
        show_all = (
            f"(command {SHOW_ALL_RUNS}; :ProphecyRuns in Neovim)"
            if plain
            else _show_all_link(uri, line)
        )
        # A line run 100 000 times takes a while to tabulate: once per view, line and shape.
        key = (line_view.line, run.focus, plain, limit, show_all)
        table = run.view.tables.get(key)
        if table is None:
            table = execution_table(shown, plain=plain, limit=limit, show_all=show_all)
            run.view.tables[key] = table
        parts = [title, table, *notes, provenance_text(run, plain=plain)]
        if run.mismatch is not None and run.mismatch.line == context_line:
            parts.append(f"Verify: {run.mismatch.message}")
        return self._markup("\n\n".join(parts), plain)

    def show_all_runs(self, *args: Any) -> dict[str, Any]:
        """``[uri, line]``: the line's hover shows every run from now on; returns them."""
        uri = args[0] if args and isinstance(args[0], str) else None
        line = args[1] if len(args) > 1 and isinstance(args[1], int) else None
        if uri is None or line is None or isinstance(line, bool):
            message = f"{SHOW_ALL_RUNS} takes [document URI, line]"
            self.server.notifier.problem(message)
            return {"status": "failed", "message": message}
        run = self.server.runs.at_line(uri, line)
        context_line = run.context_line(line) if run is not None else None
        if run is None or run.view is None or run.stale or context_line is None:
            return {"status": "failed", "message": f"no results on line {line + 1}"}
        line_view = run.view.lines.get(context_line)
        if line_view is None:
            return {"status": "failed", "message": f"no results on line {line + 1}"}
        run.expanded.add(context_line)
        shown, _ = focused_executions(run.view, line_view, run.focus)
        table = execution_table(shown, plain=True, limit=ALL_ROWS)
        return {"status": "expanded", "runs": len(shown), "table": table}
