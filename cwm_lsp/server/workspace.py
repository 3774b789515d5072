"""Documents whose lines are the protocol's lines.

pygls splits a document with ``str.splitlines``, which also breaks lines at form feeds,
vertical tabs, U+001C-U+001E, U+0085, U+2028 and U+2029. LSP positions (and Python's own line
numbers) count only ``\\n``, ``\\r\\n`` and ``\\r``, so in pygls' document every such character
moves the lines after it down, and an incremental ``didChange`` below it is applied to the wrong
text. :class:`LspTextDocument` numbers lines the LSP way; every position conversion of pygls'
document (incremental edits, UTF-16 columns, offsets) goes through its ``lines``.
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from cwm_lsp.lines import source_lines


class LspTextDocument(TextDocument):
    @property
    def lines(self) -> Sequence[str]:
        return tuple(source_lines(self.source, keepends=True))


class CwmWorkspace(Workspace):
    """pygls' workspace, holding :class:`LspTextDocument` documents."""

    def __init__(self, like: Workspace, sync_kind: types.TextDocumentSyncKind) -> None:
        super().__init__(
            like.root_uri,
            sync_kind,
            list(like.folders.values()),
            like.position_encoding,
        )

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self.position_codec,
        )
