"""What a call expression does in a module: the names it can reach, generator calls consumed."""

from __future__ import annotations

import ast
import functools

from cwm_lsp.entry.examples import parse_call
from cwm_lsp.entry.functions import function_for_call, parse_module
from cwm_lsp.entry.types import EntryError, FunctionInfo


def names_in(source: str) -> set[str]:
    """Every name the module mentions (defined, imported, assigned or read)."""
    return set(_module_names(source))


@functools.lru_cache(maxsize=8)
def _module_names(source: str) -> frozenset[str]:
    return frozenset(names_used(parse_module(source)))


def names_used(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(child.name)
        elif isinstance(child, ast.arg):
            names.add(child.arg)
        elif isinstance(child, ast.alias):
            names.add((child.asname or child.name).split(".")[0])
        elif isinstance(child, ast.Global | ast.Nonlocal):
            names.update(child.names)
    return names


def generator_consuming_call(source: str, call: str) -> tuple[str, FunctionInfo] | None:
    """``(list(CALL), the generator function)`` when ``call`` calls a generator function of
    ``source``, else ``None``: such a call only builds the generator, so a trace of it would
    show nothing of the body; ``list(CALL)`` runs it (an endless one stops at the frame limit).
    Shared by ``cwm-lsp predict`` and the language server."""
    try:
        if not isinstance(parse_call(call), ast.Call):
            return None
        target = function_for_call(source, call)
        if target is None or not target.is_generator or _may_rebind_list(source):
            return None  # a module that rebinds ``list`` would change what list(CALL) does
    except EntryError:
        return None
    return f"list({call})", target


def _may_rebind_list(source: str) -> bool:
    """Whether the module may bind the name ``list`` (reading it, ``list(x)``, is fine)."""
    bound = _bound_names(ast.parse(source))
    return "list" in bound or "*" in bound


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the module binds anywhere; ``*`` for a star import (it may bind any name)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
    return names
