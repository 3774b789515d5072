"""Finding the Python files under the given paths and the example calls written in them.

Directories are walked with version-control metadata, virtual environments (any directory
holding ``pyvenv.cfg``), ``site-packages``, ``node_modules``, caches and ``.gitignore``d paths
left out. A file named explicitly is always read.

Reading is bounded: only regular files are read (a named pipe or a device called ``x.py`` is
skipped, never opened for a blocking read), files larger than a size cap are skipped with the
reason, and a symlink found in a walked directory is followed only when it stays inside it.
"""

from __future__ import annotations

import io
import os
import stat
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
DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024


class CheckUsageError(Exception):
    """The command cannot run as asked (bad path, bad option); exit code 2."""


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    relative: str  # posix path relative to the report root (absolute when outside it)
    skip: str | None = None  # set when discovery already knows the file must not be read

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
                skip = _outside_link(file, resolved)
                found.setdefault(file, SourceFile(file, relative_name(file, root), skip))
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


def _outside_link(file: Path, tree: Path) -> str | None:
    """Why ``file`` (found walking ``tree``) must not be read: a symlink leaving the tree."""
    if not file.is_symlink():
        return None
    target = file.resolve()
    if target == tree or tree in target.parents:
        return None
    return f"a symlink to {target}, outside {tree} (not followed)"


# --------------------------------------------------------------------------- examples


def read_examples(file: SourceFile, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[Example]:
    """The example calls of one file, in source order (file problems as pseudo-examples; a file
    that is not read, such as one larger than ``max_bytes``, as one skipped pseudo-example)."""
    if file.skip is not None:
        return [_file_skip(file, file.skip)]
    try:
        data = read_regular_file(file.path, max_bytes)
    except FileSkipped as skipped:
        return [_file_skip(file, str(skipped))]
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


class FileSkipped(Exception):
    """A file that is deliberately not read; the message says why."""


def read_regular_file(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``max_bytes``; raises
    FileSkipped otherwise, OSError when it cannot be opened."""
    # O_NONBLOCK: opening a named pipe must not wait for a writer; the type is checked on the
    # opened descriptor, so a file swapped after a check cannot slip through.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileSkipped(f"not a regular file ({_file_kind(info.st_mode)}): not read")
        if info.st_size > max_bytes:
            raise FileSkipped(_too_large(info.st_size, max_bytes))
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)  # it may have grown since fstat
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise FileSkipped(_too_large(len(data), max_bytes))
    return data


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"larger than the {_megabytes(max_bytes)} size cap ({_megabytes(size)}): not read "
        "(raise the cap with --max-file-size)"
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _file_skip(file: SourceFile, reason: str) -> Example:
    return Example(
        file=file,
        source="",
        function="",
        call="",
        line=1,
        end_line=1,
        column=0,
        kind="source",
        skip=reason,
    )


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
