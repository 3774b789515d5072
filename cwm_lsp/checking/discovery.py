"""Finding the Python files under the given paths and the example calls written in them.

Directories are walked with version-control metadata, virtual environments (any directory
holding ``pyvenv.cfg``), ``site-packages``, ``node_modules``, caches and ``.gitignore``d paths
left out. A file named explicitly is always read.
"""

from __future__ import annotations

import io
import os
import tokenize
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cwm_lsp.checking.gitignore import GitignoreMatcher, git_ignored, git_toplevel
from cwm_lsp.entry import EntryError, ExampleCall, FunctionInfo, list_functions

SKIPPED_DIRECTORIES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "node_modules",
        "site-packages",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".cwm-lsp-cache",
    }
)
_EXAMPLE_MARKERS = ("prophecy:", ">>>")


class CheckUsageError(Exception):
    """The command cannot run as asked (bad path, bad option); exit code 2."""


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    relative: str  # posix path relative to the report root (absolute when outside it)

    @property
    def module(self) -> str:
        """Dotted module path (``pkg/mod.py`` -> ``pkg.mod``), used as JUnit classname."""
        parts = list(Path(self.relative).with_suffix("").parts)
        if parts and parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        return ".".join(part for part in parts if part not in ("/", "")) or self.relative


@dataclass(frozen=True)
class DoctestInfo:
    """What doctest itself knows about one ``>>>`` example."""

    want: str  # expected output, with its trailing newline ("" when none was written)
    exc_msg: str | None  # the exception line(s) when a traceback is expected
    options: dict[int, bool] = field(default_factory=dict)  # doctest option flags from directives


@dataclass(frozen=True)
class Example:
    """One example call to check, or a file whose examples cannot be read (``problem``)."""

    file: SourceFile
    source: str
    function: str  # qualified name ("" for a file-level problem)
    call: str  # the call expression as written ("" for a file-level problem)
    line: int
    end_line: int
    column: int
    kind: str  # "prophecy", "doctest" or "source"
    setup: tuple[str, ...] = ()
    doctest: DoctestInfo | None = None
    problem: str | None = None  # set when it cannot be predicted at all
    skip: str | None = None  # set when it is deliberately not checked
    info: FunctionInfo | None = None

    @property
    def title(self) -> str:
        if not self.function:
            return self.file.relative
        return f"{self.function}: {self.call}" if self.call else self.function


def report_root() -> Path:
    """Paths in reports and baselines are relative to the repository root (else the cwd)."""
    cwd = Path.cwd().resolve()
    return git_toplevel(cwd) or cwd


def relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def find_python_files(paths: Sequence[str], root: Path) -> list[SourceFile]:
    """Every Python file under ``paths``, sorted by relative name; raises on a missing path."""
    found: dict[Path, SourceFile] = {}
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise CheckUsageError(f"no such file or directory: {given}")
        resolved = path.resolve()
        if resolved.is_file():
            found.setdefault(resolved, SourceFile(resolved, relative_name(resolved, root)))
        elif resolved.is_dir():
            for file in _walk(resolved):
                found.setdefault(file, SourceFile(file, relative_name(file, root)))
        else:
            raise CheckUsageError(f"{given} is neither a file nor a directory")
    return sorted(found.values(), key=lambda source: source.relative)


def _walk(directory: Path) -> list[Path]:
    toplevel = git_toplevel(directory)
    matcher = None if toplevel is not None else GitignoreMatcher(directory)
    files = list(_candidate_files(directory, matcher))
    if toplevel is None:
        return files
    ignored = git_ignored(toplevel, files)
    if ignored is None:  # git could not answer: fall back to reading .gitignore ourselves
        matcher = GitignoreMatcher(toplevel)
        return list(_candidate_files(directory, matcher))
    return [file for file in files if file not in ignored]


def _candidate_files(directory: Path, matcher: GitignoreMatcher | None) -> Iterator[Path]:
    for current, dirnames, filenames in os.walk(directory):
        base = Path(current)
        kept = []
        for name in sorted(dirnames):
            sub = base / name
            if name in SKIPPED_DIRECTORIES or (sub / "pyvenv.cfg").exists():
                continue
            if matcher is not None and matcher.ignored(sub, is_dir=True):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            file = base / name
            if matcher is not None and matcher.ignored(file, is_dir=False):
                continue
            yield file


# --------------------------------------------------------------------------- examples


def read_examples(file: SourceFile) -> list[Example]:
    """The example calls of one file, in source order (file problems as pseudo-examples)."""
    try:
        data = file.path.read_bytes()
    except OSError as exc:
        return _file_problem(file, "", 1, f"cannot read: {exc.strerror or exc}", always=True)
    try:
        # A coding cookie (``# -*- coding: latin-1 -*-``) is honoured, as Python does.
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        source = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        text = data.decode("utf-8", errors="replace")
        return _file_problem(file, text, 1, f"cannot decode the source: {exc}", always=False)
    try:
        functions = list_functions(source)
    except EntryError as exc:
        return _file_problem(file, source, exc.line or 1, str(exc), always=False)
    examples: list[Example] = []
    for fn in functions:
        for call in fn.examples:
            examples.append(_example(file, source, fn, call))
    return examples


def _file_problem(
    file: SourceFile, source: str, line: int, message: str, *, always: bool
) -> list[Example]:
    # A file we cannot parse matters only when it looks like it holds examples.
    if not always and not any(marker in source for marker in _EXAMPLE_MARKERS):
        return []
    return [
        Example(
            file=file,
            source=source,
            function="",
            call="",
            line=line,
            end_line=line,
            column=0,
            kind="source",
            problem=message,
        )
    ]


def _example(file: SourceFile, source: str, fn: FunctionInfo, call: ExampleCall) -> Example:
    info: DoctestInfo | None = None
    skip: str | None = None
    if call.kind == "doctest":
        want = "" if call.expected is None else call.expected + "\n"
        info = DoctestInfo(want, call.raises, dict(call.options))
        if call.skipped:
            skip = "doctest directive +SKIP"
    if fn.is_async and skip is None:
        skip = "async functions cannot be traced yet"
    return Example(
        file=file,
        source=source,
        function=fn.qualname,
        call=call.expression,
        line=call.line,
        end_line=call.end_line,
        column=call.column,
        kind=call.kind,
        setup=call.setup,
        doctest=info,
        problem=call.error,
        skip=skip,
        info=fn,
    )
