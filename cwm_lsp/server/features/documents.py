"""Open documents: edits move or invalidate results; saves may trigger predictions."""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from cwm_lsp.entry import EntryError, FunctionInfo, list_functions
from cwm_lsp.prediction import select_target
from cwm_lsp.server.edits import TextChange
from cwm_lsp.server.features.base import Feature
from cwm_lsp.server.jobs import PredictionSpec

logger = logging.getLogger(__name__)

ExampleSnapshot = dict[str, tuple[str, ...]]


def example_snapshot(source: str) -> ExampleSnapshot | None:
    """Each function's example calls (``None`` when the source does not parse)."""
    try:
        functions = list_functions(source)
    except EntryError:
        return None
    return {
        fn.qualname: tuple(e.expression for e in fn.examples if not e.error) for fn in functions
    }


class Documents(Feature):
    def register(self) -> None:
        self._examples: dict[str, ExampleSnapshot] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self.on(types.TEXT_DOCUMENT_DID_OPEN, self.on_open)
        self.on(types.TEXT_DOCUMENT_DID_CHANGE, self.on_change)
        self.on(types.TEXT_DOCUMENT_DID_SAVE, self.on_save, types.SaveOptions(include_text=False))
        self.on(types.TEXT_DOCUMENT_DID_CLOSE, self.on_close)

    def on_open(self, params: types.DidOpenTextDocumentParams) -> None:
        snapshot = example_snapshot(params.text_document.text)
        if snapshot is not None:
            self._examples[params.text_document.uri] = snapshot
        if self.server.publish_diagnostics is not None:
            self.server.publish_diagnostics(params.text_document.uri)  # e.g. a syntax error

    def on_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        source = self.server.document_source(uri)
        if source is None:
            return
        changes: list[TextChange | None] = []
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start, end = change.range.start, change.range.end
                changes.append(
                    TextChange(start.line, start.character, end.line, end.character, change.text)
                )
            else:
                changes.append(None)
        made_stale = self.server.runs.apply_changes(uri, changes, source)
        for run in made_stale:
            self.server.jobs.cancel_run(run)  # its values would describe old code
        self.server.results_changed(uri)

    async def on_save(self, params: types.DidSaveTextDocumentParams) -> None:
        await self.server.wait_for_settings()
        uri = params.text_document.uri
        source = self.server.document_source(uri)
        if source is None:
            return
        snapshot = example_snapshot(source)
        if snapshot is None:
            return
        before = self._examples.get(uri, {})
        self._examples[uri] = snapshot
        if self.server.settings.predict_on != "save":
            return
        try:
            functions = {fn.qualname: fn for fn in list_functions(source)}
        except EntryError:
            return
        for qualname, calls in snapshot.items():
            if calls and calls != before.get(qualname):
                self._predict_later(uri, source, functions[qualname])

    def _predict_later(self, uri: str, source: str, fn: FunctionInfo) -> None:
        try:
            target = select_target(source, function=fn.qualname)
        except EntryError as error:
            logger.info("not predicting %s on save: %s", fn.qualname, error)
            return
        spec = PredictionSpec(uri, source, target)
        task: asyncio.Task[object] = asyncio.ensure_future(self.server.jobs.predict(spec))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_close(self, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        self._examples.pop(uri, None)
        for run in self.server.runs.clear(uri):
            self.server.jobs.cancel_run(run)
        self.server.results_changed(uri)
