"""Source lines as Python (and LSP positions) number them."""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def source_lines(source: str, *, keepends: bool = False) -> list[str]:
    """The lines of ``source`` as Python numbers them: only ``\\n``, ``\\r\\n`` and ``\\r`` end
    a line (``str.splitlines`` also splits at form feeds and U+2028, which Python does not)."""
    if not source:
        return []
    if keepends:
        return _LINE_WITH_END.findall(source)
    lines = _LINE_BREAK.split(source)
    if lines[-1] == "":
        lines.pop()
    return lines


def line_break_count(text: str) -> int:
    """How many lines ``text`` ends, counting as :func:`source_lines` (and LSP positions) do."""
    return len(_LINE_BREAK.findall(text))
