"""One way from a question to a prediction request.

The command line, the language server and trace-check all ask the same question: trace *this*
(a function at a position, a function by name, or a call) in *this* source. :func:`select_target`
answers which function and which example call; :func:`prepare` turns the answer into the CWM
trace context and the :class:`PredictionRequest` a backend takes. The backend itself is
configured by one :class:`BackendOptions` (see :mod:`cwm_lsp.backends.options`).

Example choice, everywhere: the example whose lines hold the given position, else the first one
doctest would run (not ``+SKIP``), else the first one.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
from dataclasses import dataclass

from cwm_lsp.backends.base import PredictionRequest
from cwm_lsp.backends.options import DEFAULT_MAX_FRAMES, BackendOptions
from cwm_lsp.entry import (
    EntryError,
    ExampleCall,
    FunctionInfo,
    HarnessContext,
    build_context,
    find_function,
    function_for_call,
    generator_consuming_call,
    list_functions,
    names_in,
    parse_call,
)

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "BackendOptions",
    "NoExampleCall",
    "Prepared",
    "Target",
    "prepare",
    "select_target",
]


class NoExampleCall(EntryError):
    """The function has no usable example call and inventing inputs was not asked for."""

    def __init__(self, function: FunctionInfo) -> None:
        super().__init__(
            f"{function.qualname} (line {function.def_line}) has no example call: add a line "
            f"'# prophecy: {function.template}' above its def (with real values), "
            f"or give a call ('{function.template}')",
            line=function.def_line,
        )
        self.function = function


@dataclass(frozen=True)
class Target:
    """What to trace: the function, the call (``None``: the model invents the inputs) and the
    doctest session that runs before it."""

    function: FunctionInfo | None  # None: the source defines no function (the call uses a lambda)
    call: str | None
    setup: tuple[str, ...] = ()
    example: ExampleCall | None = None
    targeted: bool = True  # False: the call invokes something else (a lambda, a builtin)
    notes: tuple[str, ...] = ()  # what the user should know about the choice

    @property
    def invented(self) -> bool:
        return self.call is None

    @property
    def label(self) -> str:
        if self.function is not None:
            return self.function.qualname
        return self.call or ""


@dataclass(frozen=True)
class Prepared:
    """A target ready for a backend: its CWM trace context and the request."""

    target: Target
    context: HarnessContext
    request: PredictionRequest


def select_target(
    source: str,
    *,
    line: int | None = None,
    function: str | None = None,
    call: str | None = None,
    invent: bool = False,
) -> Target:
    """The function and example call to trace; ``line`` is 1-based.

    Raises :class:`EntryError` with a message for the user (:class:`NoExampleCall` when the
    function has no usable example call and ``invent`` is false).
    """
    if call is not None:
        return _explicit_call(source, call, line=line, function=function)
    if not list_functions(source):
        raise EntryError(
            "the file defines no functions to trace; give a call (--call EXPR) to trace any call"
        )
    fn = find_function(source, line=line, name=function)
    if invent:
        return Target(fn, None)
    usable = [example for example in fn.examples if example.error is None]
    if not usable:
        if fn.examples:
            first = fn.examples[0]
            raise EntryError(f"line {first.line}: {first.error}", line=first.line)
        raise NoExampleCall(fn)
    at_line = [e for e in usable if line is not None and e.line <= line <= e.end_line]
    runnable = [e for e in usable if not e.skipped] or usable  # +SKIP: doctest does not run it
    chosen = at_line[0] if at_line else runnable[0]
    notes: list[str] = []
    if len(usable) > 1 and not at_line:
        others = "; ".join(f"{e.expression} (line {e.line})" for e in usable if e is not chosen)
        notes.append(
            f"tracing {chosen.expression} (line {chosen.line}); other example calls: {others}"
        )
    target = Target(fn, chosen.expression, chosen.setup, chosen, notes=tuple(notes))
    return _consume_generator(source, target)


def _explicit_call(source: str, call: str, *, line: int | None, function: str | None) -> Target:
    parse_call(call)  # reject a bad call before anything else
    _check_callee_defined(source, call)
    call = call.strip()
    if function is None and line is None and not list_functions(source):
        return Target(None, call, targeted=False)
    fn = find_function(source, line=line, name=function, call=call)
    targeted = line is not None or function is not None
    targeted = targeted or function_for_call(source, call) is not None
    # the call as written in an example: its doctest session runs before it, as in doctest
    example = next(
        (e for e in fn.examples if e.error is None and e.expression.strip() == call), None
    )
    setup = example.setup if example is not None else ()
    return _consume_generator(source, Target(fn, call, setup, example, targeted=targeted))


def prepare(
    source: str,
    target: Target,
    options: BackendOptions,
    *,
    path: str | None = None,
    workspace_root: str | None = None,
) -> Prepared:
    """The trace context and request for ``target``; raises :class:`EntryError`."""
    context = build_context(source, target.call, target.function, setup=target.setup)
    request = PredictionRequest(
        context=context.context,
        source=source,
        call=target.call,
        function=target.label,
        harness=context.harness,
        max_frames=options.max_frames,
        prediction_timeout=options.prediction_timeout,
        step_over=options.step_over,
        temperature=options.temperature,
        seed=options.seed,
        source_path=path,
        workspace_root=workspace_root,
    )
    return Prepared(target, context, request)


# --------------------------------------------------------------------------- calls


def _consume_generator(source: str, target: Target) -> Target:
    """``list(CALL)`` when the call returns a generator of the module, so its body runs."""
    if target.call is None:
        return target
    consumed = generator_consuming_call(source, target.call)
    if consumed is None:
        return target
    call, generator = consumed
    note = f"{generator.qualname} is a generator function: tracing {call} so that its body runs"
    return dataclasses.replace(target, call=call, notes=(*target.notes, note))


def _check_callee_defined(source: str, call: str) -> None:
    """Reject a call whose callee the module never mentions and Python does not provide."""
    node = parse_call(call)
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        else:
            break
    if not isinstance(node, ast.Name):
        return
    if "*" in names_in(source):  # `from x import *` may bring any name
        return
    known = names_in(source) | set(dir(builtins))
    if node.id in known:
        if node.id not in _module_level_names(source):
            _reject_inner_function(source, node.id)
        return
    functions = ", ".join(fn.qualname for fn in list_functions(source)[:10]) or "none"
    raise EntryError(
        f"the call uses {node.id!r}, which the file does not define "
        f"(functions in this file: {functions})"
    )


def _module_level_names(source: str) -> set[str]:
    """Names bound at module level (an over-approximation: any name stored outside a def)."""
    tree = ast.parse(source)
    names = set(dir(builtins))
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            pending.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):  # a function may bind a module-level name
            names.update(node.names)
    return names


def _reject_inner_function(source: str, name: str) -> None:
    """A call can only reach module-level names: say how to reach a nested function or method."""
    inner = [fn for fn in list_functions(source) if fn.name == name and fn.qualname != name]
    if inner:
        fn = inner[0]
        raise EntryError(
            f"{name!r} is not a module-level name (it is {fn.qualname}): "
            f"try --call '{fn.template}' with real values"
        )
