"""The results shown in open documents: one :class:`FunctionRun` per predicted function.

A run remembers which lines of the document its trace describes (*blocks*: the function itself
and every other function the trace ran), so that an edit can be judged: an edit inside a block
makes the run stale (its values describe code that no longer exists), an edit above a block
moves the block. Context line numbers (the trace's) map to document lines through the blocks.

All methods run on the server's event-loop thread.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cwm_lsp.entry import FunctionInfo
from cwm_lsp.lines import source_lines
from cwm_lsp.provenance import Origin, Provenance
from cwm_lsp.server.edits import LineSpan, TextChange, relocate_lines, span_after_change
from cwm_lsp.server.invented import Invented, read_invented
from cwm_lsp.server.view import RunView
from cwm_lsp.trace.frames import Frame


class RunStatus(str, enum.Enum):
    RUNNING = "running"
    DONE = "done"


@dataclass
class TrackedLines:
    """Lines of the document a run depends on. ``origin`` is the span in the prediction's
    context (0-based), ``current`` where those lines are now, ``text`` their text back then."""

    qualname: str
    origin: LineSpan
    current: LineSpan
    text: list[str]

    @property
    def delta(self) -> int:
        return self.current.first - self.origin.first


@dataclass
class Mismatch:
    """The first place where a prediction and the sandboxed run of the same call differ."""

    line: int | None  # context line, 0-based (None: nowhere in the module, e.g. the harness)
    message: str


@dataclass
class FunctionRun:
    id: int
    uri: str
    qualname: str
    name: str
    call: str | None
    blocks: list[TrackedLines]
    status: RunStatus = RunStatus.RUNNING
    provenance: Provenance | None = None
    interpreter: str | None = None  # observed runs: "PATH (why it was chosen)"
    view: RunView | None = None
    frames: list[Frame] = field(default_factory=list)
    stale: bool = False
    focus: tuple[int, int] | None = None  # (loop line in the context, 0-based; iteration)
    mismatch: Mismatch | None = None
    limit: str | None = None  # why the trace stopped before its end ("time limit (30 s) ...")
    context: str = ""
    def_line: int = 0  # the function's def line in the context, 0-based
    expanded: set[int] = field(default_factory=set)  # context lines whose hover shows every run
    _invented: Invented | None = field(default=None, repr=False)

    @property
    def invented_inputs(self) -> bool:
        return self.call is None

    @property
    def invented(self) -> Invented | None:
        """The arguments the model invented (when it did), read from its finished trace."""
        if self.call is not None or self.status is not RunStatus.DONE or not self.frames:
            return None
        if self._invented is None:
            self._invented = read_invented(self.frames, self.context, self.def_line)
        return self._invented

    @property
    def observed(self) -> bool:
        return self.provenance is not None and self.provenance.origin is Origin.OBSERVED

    @property
    def function_block(self) -> TrackedLines:
        return self.blocks[0]

    @property
    def showable(self) -> bool:
        return not self.stale and self.view is not None

    def document_line(self, context_line: int) -> int | None:
        """The document line (0-based) of a context line, or ``None`` outside every block."""
        for block in self.blocks:
            if block.origin.contains(context_line):
                return context_line + block.delta
        return None

    def report_line(self, context_line: int | None) -> int:
        """Where to report something about ``context_line`` in the document: that line, or the
        function's ``def`` line when the line is not in the document (the call harness)."""
        line = self.document_line(context_line) if context_line is not None else None
        if line is not None:
            return line
        return self.def_line + self.function_block.delta

    def context_line(self, document_line: int) -> int | None:
        for block in self.blocks:
            if block.current.contains(document_line):
                return document_line - block.delta
        return None

    def add_blocks_for(
        self, lines: Sequence[int], functions: Sequence[FunctionInfo], source_lines: Sequence[str]
    ) -> None:
        """Depend also on the functions holding ``lines`` (context lines the trace reached)."""
        known = {block.qualname for block in self.blocks}
        for fn in functions:
            if fn.qualname in known:
                continue
            span = _span_of(fn)
            if any(span.contains(line) for line in lines):
                self.blocks.append(
                    TrackedLines(
                        fn.qualname, span, span, list(source_lines[span.first : span.last + 1])
                    )
                )
                known.add(fn.qualname)


def _span_of(fn: FunctionInfo) -> LineSpan:
    return LineSpan(fn.first_line - 1, fn.last_line - 1)


class RunStore:
    """Runs per document, at most one per function."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, FunctionRun]] = {}
        self._ids = itertools.count(1)

    def start(self, uri: str, fn: FunctionInfo, source: str, call: str | None) -> FunctionRun:
        """A new running run for ``fn``, replacing the function's previous one."""
        lines = source_lines(source)
        span = _span_of(fn)
        block = TrackedLines(fn.qualname, span, span, lines[span.first : span.last + 1])
        run = FunctionRun(next(self._ids), uri, fn.qualname, fn.name, call, [block])
        run.def_line = fn.def_line - 1
        self._runs.setdefault(uri, {})[fn.qualname] = run
        return run

    def is_current(self, run: FunctionRun) -> bool:
        return self._runs.get(run.uri, {}).get(run.qualname) is run

    def remove(self, run: FunctionRun) -> None:
        runs = self._runs.get(run.uri, {})
        if runs.get(run.qualname) is run:
            del runs[run.qualname]

    def get(self, uri: str, qualname: str) -> FunctionRun | None:
        return self._runs.get(uri, {}).get(qualname)

    def in_document(self, uri: str) -> list[FunctionRun]:
        return list(self._runs.get(uri, {}).values())

    def all(self) -> Iterator[FunctionRun]:
        for runs in self._runs.values():
            yield from runs.values()

    def clear(self, uri: str | None = None) -> list[FunctionRun]:
        if uri is None:
            removed = list(self.all())
            self._runs.clear()
        else:
            removed = list(self._runs.pop(uri, {}).values())
        return removed

    def at_line(self, uri: str, line: int) -> FunctionRun | None:
        """The run showing results on document line ``line``: the run of the innermost function
        whose own block holds the line, else the newest run that reached the line."""
        candidates = [run for run in self.in_document(uri) if run.context_line(line) is not None]
        if not candidates:
            return None
        owners = [run for run in candidates if run.function_block.current.contains(line)]
        if owners:
            return max(owners, key=lambda run: run.function_block.current.first)
        return max(candidates, key=lambda run: run.id)

    # ------------------------------------------------------------------ edits

    def apply_changes(
        self, uri: str, changes: Sequence[TextChange | None], new_source: str
    ) -> list[FunctionRun]:
        """Move or invalidate the document's runs after an edit; returns the runs made stale.

        ``None`` in ``changes`` stands for a whole-document replacement.
        """
        made_stale: list[FunctionRun] = []
        for run in self.in_document(uri):
            if run.stale:
                continue
            for change in changes:
                if not self._follow(run, change, new_source):
                    run.stale = True
                    made_stale.append(run)
                    break
        return made_stale

    @staticmethod
    def _follow(run: FunctionRun, change: TextChange | None, new_source: str) -> bool:
        new_lines = source_lines(new_source)
        moved: list[LineSpan] = []
        for block in run.blocks:
            if change is None:
                start = relocate_lines(block.text, new_lines, block.current.first)
                if start is None:
                    return False
                moved.append(LineSpan(start, start + len(block.text) - 1))
            else:
                span = span_after_change(block.current, change)
                if span is None:
                    return False
                moved.append(span)
        for block, span in zip(run.blocks, moved, strict=True):
            block.current = span
        return True
