"""Entry discovery: which function to trace, with which example call, and the CWM context for it.

Example calls are written by the user in two places:

- ``# prophecy: EXPR`` comment lines directly above a ``def`` (or above its decorators, or
  between them); a blank line ends the block;
- doctest ``>>> EXPR`` lines (with ``...`` continuation lines) in the function's docstring, whose
  expected output is kept so a trace can be checked against it later.

:func:`build_context` turns the module source and a call into the CWM trace context
(``cwm-trace-format.md``): the source verbatim, one blank line, then a harness function whose
``def`` line carries ``# << START_OF_TRACE`` and which returns the call. Line numbers of the
module part of the context are the file's own line numbers.

Modules: ``types`` (what is described), ``examples`` (example calls in comments and doctests),
``functions`` (the module's functions, choosing one), ``calls`` (what a call reaches; generator
calls consumed) and ``context`` (the harness context).
"""

from cwm_lsp.entry.calls import generator_consuming_call, names_in
from cwm_lsp.entry.context import build_context
from cwm_lsp.entry.examples import parse_call
from cwm_lsp.entry.functions import (
    example_calls,
    find_function,
    function_for_call,
    list_functions,
    parse_module,
)
from cwm_lsp.entry.types import (
    HARNESS_NAMES,
    EntryError,
    ExampleCall,
    FunctionInfo,
    HarnessContext,
    Parameter,
)
from cwm_lsp.lines import source_lines

__all__ = [
    "HARNESS_NAMES",
    "EntryError",
    "ExampleCall",
    "FunctionInfo",
    "HarnessContext",
    "Parameter",
    "build_context",
    "example_calls",
    "find_function",
    "function_for_call",
    "generator_consuming_call",
    "list_functions",
    "names_in",
    "parse_call",
    "parse_module",
    "source_lines",
]
