"""trace-check reads only regular files, within a size cap, and follows no symlink out of the
tree it walks (a named pipe or /dev/zero called ``x.py`` must not hang or exhaust it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cwm_lsp.checking.discovery import find_python_files, read_examples

EXAMPLE = "# prophecy: double(2)\ndef double(x):\n    return 2 * x\n"


def examples_by_file(tree: Path, max_bytes: int = 5 * 1024 * 1024) -> dict[str, list[str]]:
    """relative name -> the skip reasons / calls read from it."""
    out: dict[str, list[str]] = {}
    for file in find_python_files([str(tree)], tree):
        out[file.relative] = [
            example.skip or example.call for example in read_examples(file, max_bytes)
        ]
    return out


@pytest.mark.timeout(20)
def test_a_named_pipe_is_skipped_not_opened_for_a_blocking_read(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(EXAMPLE)
    os.mkfifo(tmp_path / "x.py")
    found = examples_by_file(tmp_path)
    assert found["good.py"] == ["double(2)"]
    assert found["x.py"] == ["not a regular file (a named pipe): not read"]


def test_symlinks_leaving_the_tree_are_not_followed(tmp_path: Path) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    (outside / "secret.py").write_text(EXAMPLE)
    (tree / "real.py").write_text(EXAMPLE)
    (tree / "zero.py").symlink_to("/dev/zero")
    (tree / "away.py").symlink_to(outside / "secret.py")
    (tree / "alias.py").symlink_to(tree / "real.py")
    found = examples_by_file(tree)
    assert found["zero.py"] == [
        "a symlink to /dev/zero, outside " + str(tree.resolve()) + " (not followed)"
    ]
    assert found["away.py"][0].startswith("a symlink to ")
    assert "(not followed)" in found["away.py"][0]
    assert found["alias.py"] == found["real.py"] == ["double(2)"]


def test_files_over_the_size_cap_are_skipped_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text(EXAMPLE)
    (tmp_path / "big.py").write_text(EXAMPLE + "# padding\n" * 20_000)
    found = examples_by_file(tmp_path, max_bytes=100_000)
    assert found["small.py"] == ["double(2)"]
    [reason] = found["big.py"]
    assert reason.startswith("larger than the 100000 bytes size cap (200")
    assert "--max-file-size" in reason
    assert examples_by_file(tmp_path)["big.py"] == ["double(2)"]  # the 5 MB default reads it
