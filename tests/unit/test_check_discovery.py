"""Finding files (ignore rules, virtualenvs) and example calls for trace-check."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwm_lsp.checking.discovery import (
    CheckUsageError,
    SourceFile,
    find_python_files,
    read_examples,
)
from cwm_lsp.checking.gitignore import GitignoreMatcher


def write(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rules", "path", "is_dir", "ignored"),
    [
        ("*.py\n", "a/b.py", False, True),
        ("/b.py\n", "a/b.py", False, False),
        ("/b.py\n", "b.py", False, True),
        ("a/*.py\n", "a/b.py", False, True),
        ("a/*.py\n", "x/a/b.py", False, False),
        ("build/\n", "build", True, True),
        ("build/\n", "build", False, False),
        ("**/gen/*.py\n", "x/y/gen/z.py", False, True),
        ("docs/**\n", "docs/a/b.py", False, True),
        ("*.py\n!keep.py\n", "keep.py", False, False),
        ("# comment\n\n", "a.py", False, False),
        ("t?st_[0-9].py\n", "test_1.py", False, True),
        ("t?st_[!0-9].py\n", "test_1.py", False, False),
    ],
)
def test_gitignore_patterns(
    tmp_path: Path, rules: str, path: str, is_dir: bool, ignored: bool
) -> None:
    write(tmp_path / ".gitignore", rules)
    matcher = GitignoreMatcher(tmp_path)
    assert matcher.ignored(tmp_path / path, is_dir=is_dir) is ignored


def test_nested_gitignore_overrides_the_outer_one(tmp_path: Path) -> None:
    write(tmp_path / ".gitignore", "*.py\n")
    write(tmp_path / "sub" / ".gitignore", "!main.py\n")
    matcher = GitignoreMatcher(tmp_path)
    assert matcher.ignored(tmp_path / "sub" / "other.py", is_dir=False)
    assert not matcher.ignored(tmp_path / "sub" / "main.py", is_dir=False)


def test_walk_skips_virtualenvs_vendor_dirs_and_ignored_files(tmp_path: Path) -> None:
    for name in ("a.py", "pkg/b.py", "notes.txt", "env/lib/c.py", "node_modules/d.py",
                 "pkg/__pycache__/e.py", ".git/f.py", "lib/site-packages/g.py", "out/h.py"):  # fmt: skip
        write(tmp_path / name)
    write(tmp_path / "env" / "pyvenv.cfg", "home = /usr\n")
    write(tmp_path / ".gitignore", "out/\n")
    found = find_python_files([str(tmp_path)], tmp_path)
    assert [file.relative for file in found] == ["a.py", "pkg/b.py"]
    explicit = find_python_files([str(tmp_path / "out" / "h.py"), str(tmp_path)], tmp_path)
    assert [file.relative for file in explicit] == ["a.py", "out/h.py", "pkg/b.py"]


def test_missing_paths_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckUsageError, match="no such file or directory: nowhere"):
        find_python_files(["nowhere"], tmp_path)


def test_doctest_setup_replays_earlier_examples_except_raising_ones(tmp_path: Path) -> None:
    source = '''class Stack:
    def push(self, item):
        """
        >>> s = Stack()
        >>> s.items = []
        >>> s.push(1)
        [1]
        >>> s.push(None)
        Traceback (most recent call last):
        TypeError: no
        >>> s.push(2)  # doctest: +SKIP
        >>> s.push(3)
        [1, 3]
        """
        self.items.append(item)
        return self.items


# prophecy: later(1)
async def later(x):
    return x
'''
    path = write(tmp_path / "stack.py", source)
    examples = read_examples(SourceFile(path, "stack.py"))
    calls = [(e.call, e.line, e.kind, e.skip) for e in examples]
    assert calls == [
        ("s.push(1)", 6, "doctest", None),
        ("s.push(None)", 8, "doctest", None),
        ("s.push(2)  # doctest: +SKIP", 11, "doctest", "doctest directive +SKIP"),
        ("s.push(3)", 12, "doctest", None),
        ("later(1)", 19, "prophecy", "async functions cannot be traced yet"),
    ]
    last = examples[3]
    assert last.setup == ("s = Stack()", "s.items = []", "s.push(1)")
    assert last.doctest is not None and last.doctest.want == "[1, 3]\n"
    assert examples[1].doctest is not None and examples[1].doctest.exc_msg == "TypeError: no\n"


def test_unparsable_files_matter_only_when_they_hold_examples(tmp_path: Path) -> None:
    quiet = write(tmp_path / "old.py", "print 'python 2'\n")
    assert read_examples(SourceFile(quiet, "old.py")) == []
    loud = write(tmp_path / "new.py", "def f(:\n    '''\n    >>> f()\n    '''\n")
    [problem] = read_examples(SourceFile(loud, "new.py"))
    assert (
        problem.kind == "source" and problem.line == 1 and "syntax error" in (problem.problem or "")
    )


def test_module_names_for_reports() -> None:
    assert SourceFile(Path("/r/pkg/mod.py"), "pkg/mod.py").module == "pkg.mod"
    assert SourceFile(Path("/r/pkg/__init__.py"), "pkg/__init__.py").module == "pkg"


def test_a_coding_cookie_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin.py"
    source = "# -*- coding: latin-1 -*-\n# prophecy: name()\ndef name():\n    return 'café'\n"
    path.write_bytes(source.encode("latin-1"))
    [example] = read_examples(SourceFile(path, "latin.py"))
    assert example.problem is None and "café" in example.source
