"""One parse of a text, shared by everyone who reads it.

A prediction's context is read by entry discovery, the line mapper, the flow analysis and the
editor's view; each used to parse it again. :func:`parsed` parses a text once (the last few texts
are kept) and hands out the same tree: callers read it and never change it.
"""

from __future__ import annotations

import ast
import functools


class Unparsable(Exception):
    """The text is not Python; ``error`` is what the parser said."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@functools.lru_cache(maxsize=8)
def _parse(text: str) -> ast.Module | Unparsable:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return Unparsable(error)


def parsed(text: str) -> ast.Module:
    """The tree of ``text`` (shared: do not modify it); raises the parser's own error
    (``SyntaxError``, ``ValueError`` for null bytes, ``RecursionError``, ``MemoryError``)."""
    tree = _parse(text)
    if isinstance(tree, Unparsable):
        raise tree.error
    return tree


def parsed_or_none(text: str) -> ast.Module | None:
    """The tree of ``text`` (shared: do not modify it), or ``None`` when it does not parse."""
    tree = _parse(text)
    return None if isinstance(tree, Unparsable) else tree
