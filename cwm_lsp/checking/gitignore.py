"""Which files ``.gitignore`` excludes: ``git check-ignore`` inside a repository, else a matcher.

The fallback matcher reads the ``.gitignore`` files from the walked directory downwards and
supports what most projects write: comments, ``!`` negation, a trailing ``/`` for directories,
anchoring by a leading or inner ``/``, ``*``, ``?``, ``[...]`` and ``**``. As in git, the last
matching pattern wins and a file below an ignored directory stays ignored.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def git_toplevel(directory: Path) -> Path | None:
    """The work tree root of the git repository holding ``directory``, if any."""
    if shutil.which("git") is None:
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return Path(done.stdout.strip()).resolve()


def git_ignored(toplevel: Path, files: Sequence[Path]) -> set[Path] | None:
    """The subset of ``files`` git ignores (``None`` when git could not answer)."""
    if not files:
        return set()
    payload = "".join(f"{path}\0" for path in files)
    try:
        done = subprocess.run(
            ["git", "-C", str(toplevel), "check-ignore", "--stdin", "-z"],
            input=payload.encode("utf-8", "surrogateescape"),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode not in (0, 1):  # 1: nothing ignored; anything else: git failed
        return None
    names = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    ignored: set[Path] = set()
    for name in names:
        if name:
            path = Path(name)
            ignored.add(path if path.is_absolute() else toplevel / path)
    return ignored


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def _translate(glob: str) -> str:
    """A regular expression for one gitignore glob (matched against a ``/``-joined path)."""
    out: list[str] = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if glob.startswith("/**", index) and index + 3 == len(glob):
            out.append("/.*")
            index += 3
            continue
        if glob.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = glob.find("]", index + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = glob[index + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                index = end
        elif char == "\\" and index + 1 < len(glob):
            index += 1
            out.append(re.escape(glob[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _parse_line(line: str) -> _Pattern | None:
    text = line.rstrip("\n").rstrip("\r")
    if not text.strip() or text.startswith("#"):
        return None
    if not text.endswith("\\ "):
        text = text.rstrip(" ")
    negated = text.startswith("!")
    if negated or text.startswith("\\!") or text.startswith("\\#"):
        text = text[1:]
    directory_only = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return None
    anchored = "/" in text
    text = text.lstrip("/")
    body = _translate(text)
    regex = f"^{body}$" if anchored else f"^(?:.*/)?{body}$"
    return _Pattern(re.compile(regex, re.S), negated, directory_only)


class GitignoreMatcher:
    """``.gitignore`` rules below ``root`` (for trees that are not in a git repository)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._rules: dict[Path, list[_Pattern]] = {}

    def _rules_of(self, directory: Path) -> list[_Pattern]:
        if directory not in self._rules:
            patterns: list[_Pattern] = []
            try:
                text = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            for line in text.splitlines():
                pattern = _parse_line(line)
                if pattern is not None:
                    patterns.append(pattern)
            self._rules[directory] = patterns
        return self._rules[directory]

    def ignored(self, path: Path, *, is_dir: bool) -> bool:
        """Whether ``path`` (below ``root``; its parent directories not ignored) is ignored."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        verdict = False
        # Rules of outer directories first: deeper .gitignore files override them.
        directory = self.root
        parts = relative.parts
        for depth in range(len(parts)):
            rest = "/".join(parts[depth:])
            for pattern in self._rules_of(directory):
                if pattern.directory_only and not is_dir:
                    continue
                if pattern.regex.match(rest):
                    verdict = not pattern.negated
            directory = directory / parts[depth]
        return verdict
