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


_SPLIT_MIN_LINES = 200  # shorter texts are parsed whole


@functools.lru_cache(maxsize=8)
def _parse(text: str) -> ast.Module | Unparsable:
    tree = _parse_in_two(text)
    if tree is not None:
        return tree
    return _parse_whole(text)


@functools.lru_cache(maxsize=8)
def _parse_head(text: str) -> ast.Module | Unparsable:
    return _parse_whole(text)


def _parse_whole(text: str) -> ast.Module | Unparsable:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return Unparsable(error)


def _parse_in_two(text: str) -> ast.Module | None:
    """A long text ending in a top-level ``def`` (a module plus a trace harness) as the tree of
    its head (kept: every example of a file has the same one) joined with the tree of that last
    ``def``; ``None`` when it cannot be split that way (then it is parsed whole).

    The head is a complete module when it parses on its own, and the ``def`` at column 0 after
    it starts a new statement, so the joined tree equals the whole text's tree (line numbers
    kept by parsing the ``def`` below as many blank lines)."""
    cut = text.rfind("\ndef ")
    if cut < 0 or "\r" in text or "__future__" in text:  # line counting; parser features
        return None
    lines_before = text.count("\n", 0, cut + 1)
    if lines_before < _SPLIT_MIN_LINES:
        return None
    head = _parse_head(text[: cut + 1])
    if isinstance(head, Unparsable):
        return None
    try:
        tail = ast.parse("\n" * lines_before + text[cut + 1 :])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(tail.body) != 1 or not isinstance(tail.body[0], ast.FunctionDef):
        return None
    return ast.Module(body=[*head.body, *tail.body], type_ignores=[])


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
