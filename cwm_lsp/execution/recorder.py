"""Record a call's execution as CWM trace frames, in this process, with ``sys.settrace``.

The context (module source plus the marked entry function) is executed as module
``__prophecy__`` without tracing, then the entry function is called with no arguments under a
trace function that records every event of code compiled from the context:

- ``call`` and ``line`` frames carry the locals (``frame.f_locals`` order, address-free reprs),
  diff-encoded against the previous frame of the same scope (``".."`` = unchanged);
- ``return`` frames carry the returned value's repr, ``exception`` frames the repr of
  ``(type, value, <traceback object>)``;
- the trace ends when the entry scope returns.

This module runs user code; :mod:`cwm_lsp.execution.sandbox` runs it in a sandboxed child process.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import linecache
import os
import re
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from cwm_lsp.budget import frame_limit_message
from cwm_lsp.trace.frames import UNCHANGED, Event, Frame
from cwm_lsp.trace.tokens import START_OF_TRACE_MARKER

# The program may replace builtins (``builtins.repr = lambda o: "FAKE"``): this module's
# functions look names up in a copy taken before any user code runs.
__builtins__ = dict(vars(builtins))  # type: ignore[assignment]

MODULE_NAME = "__prophecy__"
CONTEXT_FILENAME = "<__prophecy__>"
DEFAULT_REPR_CHARS = 10_000
DEFAULT_MAX_FRAMES = 10_000

# `<Foo object at 0x7f...>` -> `<Foo object>`: the address changes from run to run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+(?=>)")
_TRACER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


class NoRunnableEntry(ValueError):
    """The context has no runnable entry point (the message says why)."""


class TraceStopped(BaseException):
    """Raised inside the traced program to stop it (frame limit, no stack left to trace).

    A ``BaseException`` so that ``except Exception`` in user code does not swallow it.
    """


@dataclass(frozen=True)
class Entry:
    name: str
    def_line: int  # 1-based line of the ``def`` keyword


@dataclass
class RecordOutcome:
    finished: bool  # the entry scope returned (normally or with an exception)
    uncaught: str | None  # "ZeroDivisionError: division by zero" when the entry raised
    uncaught_type: str | None
    limit: str | None  # "frame limit (N) reached" when stopped early
    frame_count: int


FrameSink = Callable[[Frame, int], None]  # (frame, 1-based context line number)


def cut_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` chars, marked ``...<cut N chars>`` when cut (N = chars dropped)."""
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}...<cut {len(text) - limit} chars>"


def safe_repr(value: object, limit: int = DEFAULT_REPR_CHARS) -> str:
    """The value's ``repr`` without memory addresses, cut to ``limit`` chars; never raises."""
    try:
        text = repr(value)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except Exception as exc:  # user __repr__ may raise anything
        text = f"<{type(value).__name__} object (repr failed: {type(exc).__name__})>"
    return cut_text(_ADDRESS.sub("", text), limit)


def context_lines(context: str) -> list[str]:
    """The context's lines as Python's tokenizer splits them, each with its line ending."""
    return _LINE.findall(context)


def find_entry(context: str) -> Entry:
    """The top-level function whose ``def`` line carries ``# << START_OF_TRACE``.

    Raises :class:`NoRunnableEntry` when there is none, or when it cannot be called without
    arguments (a marked user function asks a model to invent inputs; a run cannot).
    """
    try:
        tree = ast.parse(context, CONTEXT_FILENAME)
    except SyntaxError as exc:
        raise NoRunnableEntry(f"the code does not parse: {exc.msg} (line {exc.lineno})") from None
    lines = context_lines(context)
    marked = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and START_OF_TRACE_MARKER in lines[node.lineno - 1]
    ]
    if not marked:
        raise NoRunnableEntry(
            f"no function is marked with `{START_OF_TRACE_MARKER}` on its def line"
        )
    node = marked[0]
    if node not in tree.body:
        raise NoRunnableEntry(f"the marked function `{node.name}` is not defined at module level")
    if isinstance(node, ast.AsyncFunctionDef):
        raise NoRunnableEntry(
            f"the marked function `{node.name}` is async; a run needs a plain def"
        )
    args = node.args
    required = len(args.posonlyargs) + len(args.args) - len(args.defaults)
    required += sum(1 for default in args.kw_defaults if default is None)
    if required:
        raise NoRunnableEntry(
            f"`{node.name}` takes arguments: a run needs a concrete call. Add an example call "
            "(a `# prophecy: EXPR` comment or a doctest) instead of marking the function itself"
        )
    return Entry(node.name, node.lineno)


def decorated_def_lines(tree: ast.AST) -> dict[int, int]:
    """First line of a decorated def/class (its first decorator) -> its ``def``/``class`` line."""
    mapping: dict[int, int] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.decorator_list
        ):
            mapping[node.decorator_list[0].lineno] = node.lineno
    return mapping


class Recorder:
    """Trace one call of the context's entry function, handing each frame to ``sink``."""

    def __init__(
        self,
        context: str,
        sink: FrameSink,
        *,
        repr_chars: int = DEFAULT_REPR_CHARS,
        max_frames: int = DEFAULT_MAX_FRAMES,
        on_limit: Callable[[str], None] | None = None,
        module_file: str | None = None,
        module_name: str | None = None,
        parsed: tuple[Entry, dict[int, int]] | None = None,
    ) -> None:
        """``on_limit(message)`` is called when the trace must stop (frame limit, no stack
        left), before the program is stopped with :class:`TraceStopped` (a child process may
        exit there instead). ``module_name`` (``pkg.sub.mod``) runs the context as that member
        of its package, its parent package imported first; ``None`` runs it as
        ``__prophecy__``. ``parsed``: the context's entry and decorated-def lines, when the
        caller has them (a fork server parses the shared top level once)."""
        self.context = context
        self._on_limit = on_limit
        self._module_file = module_file
        self._module_name = module_name
        self.module: types.ModuleType | None = None
        self.failure_text = ""  # the traceback printed for the last failure
        self.entry = parsed[0] if parsed else find_entry(context)
        self._sink = sink
        self._repr_chars = repr_chars
        self._max_frames = max_frames
        self._lines = context_lines(context)
        if parsed:
            self._def_lines = parsed[1]
        else:
            self._def_lines = decorated_def_lines(ast.parse(context, CONTEXT_FILENAME))
        self._entry_frame: types.FrameType | None = None
        self._done = False
        self._count = 0
        self._limit: str | None = None
        self._last_scope: int | None = None
        self._last_locals: dict[str, str] | None = None

    # -- running ----------------------------------------------------------------------------

    def run(self) -> RecordOutcome:
        """Execute the module untraced, then the traced entry call; never lets user errors out.

        Raises :class:`TraceStopped` when the frame limit stops the program.
        """
        failure = self.define_module(self.context)
        if failure is not None:
            return failure
        return self.call_entry()

    def define_module(self, text: str) -> RecordOutcome | None:
        """Execute ``text`` (the context, or the part of it before the entry) untraced as the
        module; the outcome when it fails, else ``None``."""
        name = self._module_name or MODULE_NAME
        module = types.ModuleType(name)
        module.__dict__["__builtins__"] = builtins  # the real ones, not our copy
        if self._module_file is not None:
            module.__file__ = self._module_file
        self.module = module
        self._remember_lines()
        try:
            if self._module_name is not None:
                module.__package__ = _package_of(self._module_name, self._module_file)
                if module.__package__:
                    importlib.import_module(module.__package__)  # as an import would, first
            sys.modules[MODULE_NAME] = sys.modules[name] = module
            # inside the try: the compiler rejects what ast.parse accepts (`nonlocal` at top level)
            code = compile(text, CONTEXT_FILENAME, "exec", dont_inherit=True)
            exec(code, module.__dict__)
        except BaseException as exc:  # SystemExit too: report it, do not end the process
            return self._failed(exc, "while defining the module")
        return None

    def define_entry(self, module: types.ModuleType, module_lines: int) -> RecordOutcome | None:
        """Add the context's lines after the first ``module_lines`` (the harness) to ``module``,
        which already holds the module's top level (a fork server defined it once per file)."""
        self.module = module
        self._remember_lines()
        rest = "\n" * module_lines + "".join(self._lines[module_lines:])
        try:
            exec(compile(rest, CONTEXT_FILENAME, "exec", dont_inherit=True), module.__dict__)
        except BaseException as exc:
            return self._failed(exc, "while defining the module")
        return None

    def _remember_lines(self) -> None:
        linecache.cache[CONTEXT_FILENAME] = (
            len(self.context),
            None,
            self._lines,
            CONTEXT_FILENAME,
        )

    def call_entry(self) -> RecordOutcome:
        """Call the entry function of the defined module under the trace function."""
        module = self.module
        assert module is not None, "define_module() first"
        entry = module.__dict__.get(self.entry.name)
        if not callable(entry):
            return RecordOutcome(False, f"`{self.entry.name}` is not callable", None, None, 0)
        error: BaseException | None = None
        sys.settrace(self._on_call)
        try:
            entry()
        except TraceStopped:
            raise
        except BaseException as exc:  # SystemExit too: it ends the program, not the recorder
            error = exc
        finally:
            # Python drops a trace function that raised: here, one that had no stack left
            lost = sys.gettrace() is None
            sys.settrace(None)
        if self._limit is not None:  # user code swallowed TraceStopped
            raise TraceStopped(self._limit)
        if error is not None:
            outcome = self._failed(error, None)
        else:
            outcome = RecordOutcome(self._done, None, None, None, self._count)
        if lost and not self._done:
            outcome.limit = (
                f"tracing stopped early: the program reached the recursion limit "
                f"({sys.getrecursionlimit()}) or changed the trace function"
            )
        return outcome

    def _failed(self, exc: BaseException, where: str | None) -> RecordOutcome:
        summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        # the program's traceback as Python would print it, without the tracer's own frames
        entries = [
            entry
            for entry in traceback.extract_tb(exc.__traceback__)
            if not entry.filename.startswith(_TRACER_DIR)
        ]
        self.failure_text = "".join(
            ["Traceback (most recent call last):\n", *traceback.format_list(entries), summary, "\n"]
        )
        print(self.failure_text, end="", file=sys.stderr)
        if where is not None:
            summary = f"{summary} ({where})"
        return RecordOutcome(self._done, summary, type(exc).__name__, None, self._count)

    # -- trace functions --------------------------------------------------------------------

    def _on_call(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        try:
            return self._handle_call(frame)
        except RecursionError:
            self._out_of_stack()

    def _on_event(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        try:
            return self._handle_event(frame, event, arg)
        except RecursionError:
            self._out_of_stack()

    def _out_of_stack(self) -> NoReturn:
        # the program is at the recursion limit; give the tracer room to stop it cleanly
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 200)
        self._stop(f"recursion limit ({limit}) reached: the trace stops here")

    def _stop(self, message: str) -> NoReturn:
        self._done = True
        self._limit = message
        if self._on_limit is not None:
            self._on_limit(message)
        raise TraceStopped(message)

    def _handle_call(self, frame: types.FrameType) -> Any:
        if self._done or frame.f_code.co_filename != CONTEXT_FILENAME:
            return None
        if self._entry_frame is None:
            self._entry_frame = frame
        first = frame.f_code.co_firstlineno
        self._emit_locals(Event.CALL, frame, self._def_lines.get(first, first))
        return self._on_event

    def _handle_event(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if self._done:
            return None
        lineno = frame.f_lineno or frame.f_code.co_firstlineno
        if event == "line":
            self._emit_locals(Event.LINE, frame, lineno)
        elif event == "return":
            self._emit_value(Event.RETURN, frame, lineno, safe_repr(arg, self._repr_chars))
            if frame is self._entry_frame:
                self._done = True
        elif event == "exception":
            exc_type, exc_value, _ = arg
            value = (
                f"({safe_repr(exc_type, self._repr_chars)}, "
                f"{safe_repr(exc_value, self._repr_chars)}, <traceback object>)"
            )
            self._emit_value(Event.EXCEPTION, frame, lineno, value)
        return self._on_event

    # -- frames -----------------------------------------------------------------------------

    def _enter_scope(self, frame: types.FrameType) -> None:
        scope = id(frame)
        if scope != self._last_scope:
            self._last_scope = scope
            self._last_locals = None

    def _emit_locals(self, event: Event, frame: types.FrameType, lineno: int) -> None:
        self._enter_scope(frame)
        full = {name: safe_repr(value, self._repr_chars) for name, value in frame.f_locals.items()}
        shown = full
        previous = self._last_locals
        if event is Event.LINE and previous is not None:
            shown = {
                name: UNCHANGED if previous.get(name) == text else text
                for name, text in full.items()
            }
        self._last_locals = full
        self._emit(Frame(event, self._line(lineno), shown), lineno)

    def _emit_value(self, event: Event, frame: types.FrameType, lineno: int, value: str) -> None:
        self._enter_scope(frame)
        self._emit(Frame(event, self._line(lineno), {}, value), lineno)

    def _emit(self, frame: Frame, lineno: int) -> None:
        self._sink(frame, lineno)
        self._count += 1
        if self._count >= self._max_frames and not self._done:
            if frame.event is Event.RETURN and self._last_scope == id(self._entry_frame):
                return  # the limit frame is the entry's return: the trace is complete anyway
            self._stop(frame_limit_message(self._max_frames))

    def _line(self, lineno: int) -> str:
        if 1 <= lineno <= len(self._lines):
            text = self._lines[lineno - 1]
            return text if text.endswith(("\n", "\r")) else text + "\n"
        return "\n"


def _package_of(module_name: str, module_file: str | None) -> str:
    if module_file is not None and os.path.basename(module_file) == "__init__.py":
        return module_name
    return module_name.rpartition(".")[0]


def record_in_process(
    context: str,
    *,
    repr_chars: int = DEFAULT_REPR_CHARS,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> tuple[list[Frame], RecordOutcome]:
    """Trace the context's entry call in *this* process (no sandbox; for tests and tools)."""
    frames: list[Frame] = []
    recorder = Recorder(
        context, lambda frame, _: frames.append(frame), repr_chars=repr_chars, max_frames=max_frames
    )
    saved_limit = sys.getrecursionlimit()
    try:
        outcome = recorder.run()
    except TraceStopped as stop:
        sys.settrace(None)
        outcome = RecordOutcome(False, None, None, str(stop), len(frames))
    finally:
        sys.setrecursionlimit(saved_limit)
    return frames, outcome
