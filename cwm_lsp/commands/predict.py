"""``cwm-lsp predict FILE``: trace one function with one example call and print the result.

Exit codes: 0 the trace finished normally; 1 the traced code raised (or a limit stopped it) and
the trace is still printed; 2 the input or the backend was unusable (message on stderr).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import sys
import tokenize
from pathlib import Path
from typing import Any

from cwm_lsp.backends.base import BackendError, PredictionResult
from cwm_lsp.backends.decoding import CallDepth
from cwm_lsp.backends.registry import build_predictor
from cwm_lsp.commands.common import options_from_args, use_utf8_output
from cwm_lsp.compare import Divergence, first_divergence
from cwm_lsp.entry import EntryError, FunctionInfo, HarnessContext, list_functions, source_lines
from cwm_lsp.prediction import NoExampleCall, Prepared, Target, prepare, select_target
from cwm_lsp.provenance import Provenance
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.render import format_value, render_text
from cwm_lsp.trace.timeline import Timeline, build_timeline, timeline_to_json

EXIT_OK = 0
EXIT_RAISED = 1
EXIT_USAGE = 2
MAX_PROBLEMS_SHOWN = 5
MIN_WIDTH = 8  # narrower values would be cut to nothing but "…"
MAX_SOURCE_BYTES = 1 << 20  # far more than a model context holds; keeps every step quick
MAX_OUTPUT_LINES = 10  # lines of the run's own output shown under the text result

_EXCEPTION_TRIPLE = re.compile(
    r"^\(<class '(?P<type>[^']+)'>, (?P<value>.*), <traceback object>\)$", re.S
)


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


def run(args: argparse.Namespace) -> int:
    use_utf8_output()
    try:
        if args.width < MIN_WIDTH:
            raise UsageError(f"--width must be at least {MIN_WIDTH} characters")
        source = read_source(args.file)
        prepared, result = _predict(args, source)
    except (UsageError, EntryError, BackendError) as exc:
        print(f"cwm-lsp predict: {exc}", file=sys.stderr)
        return EXIT_USAGE
    raised = uncaught_exception(result.frames)
    verification = _verification(args, prepared, result) if args.verify else None
    extra = None
    if verification is not None and args.format == "json":
        extra = {"verification": _verification_json(*verification)}
    _print_result(args, source, prepared.target, prepared.context, result, raised, extra)
    if verification is not None and args.format == "text":
        _print_verification(args, source, prepared, *verification)
    if raised is not None:
        print(f"cwm-lsp predict: the call raised {raised}", file=sys.stderr)
        return EXIT_RAISED
    if not result.finished:
        print(f"cwm-lsp predict: {incomplete_reason(result)}", file=sys.stderr)
        return EXIT_RAISED
    return EXIT_OK


def incomplete_reason(result: PredictionResult) -> str:
    """Why the trace stopped before the call returned, as one line."""
    if not result.frames and result.limit:
        return result.limit  # the call never started: the message says why
    return f"trace incomplete: {result.limit or 'the trace did not reach its end'}"


def uncaught_exception(frames: list[Frame]) -> str | None:
    """``Type: value`` when the entry scope ended by an exception, else ``None``.

    CPython's order for an exception leaving a scope is its exception frame then a return frame
    with ``None``; when that pair closes the entry scope (depth 1) the call raised.
    """
    calls = CallDepth()
    for index, frame in enumerate(frames):
        _, returned = calls.after(frame.event.value)
        if returned:
            previous = frames[index - 1] if index else None
            if previous is not None and previous.event is Event.EXCEPTION:
                return exception_repr(previous.arg or "")
            return None
    return None


def exception_repr(triple: str) -> str:
    """``ZeroDivisionError('division by zero')`` from the ``(type, value, traceback)`` repr."""
    match = _EXCEPTION_TRIPLE.match(triple)
    return match.group("value") if match else triple


def read_source(file: str) -> str:
    path = Path(file)
    try:
        if path.is_dir():
            raise UsageError(f"{file} is a directory, not a Python file")
        if not path.is_file():  # a FIFO or device (/dev/zero) could be read forever
            path.stat()  # FileNotFoundError for a missing path
            raise UsageError(f"{file} is not a regular file")
        with path.open("rb") as stream:
            data = stream.read(MAX_SOURCE_BYTES + 1)
            if len(data) > MAX_SOURCE_BYTES:
                size = max(path.stat().st_size, len(data))
                raise UsageError(
                    f"{file} is too large to trace ({size / (1 << 20):.1f} MiB; the limit is "
                    f"{MAX_SOURCE_BYTES >> 20} MiB): move the function into a smaller module"
                )
    except FileNotFoundError:
        raise UsageError(f"no such file: {file}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise UsageError(f"{file} is a binary file, not Python source")
    try:
        # A coding cookie (``# -*- coding: latin-1 -*-``) is honoured, as Python does.
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError) as exc:
        raise UsageError(f"{file}: cannot decode the source: {exc}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{file} is not {encoding} text (line {line}, byte {exc.start}); "
            "save it as UTF-8 or declare its encoding with a coding comment"
        ) from None


def _predict(args: argparse.Namespace, source: str) -> tuple[Prepared, PredictionResult]:
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError("--max-frames must be at least 1")
    options = options_from_args(args)
    if args.verify:
        if options.is_run:
            raise UsageError(
                "--verify compares a model's prediction with a sandboxed run; with --backend run "
                "the result already is a sandboxed run"
            )
        if args.format == "cwm":
            raise UsageError("--verify prints two traces: use --format text or json")
        options = options.for_prediction()  # --timeout, --python, --sandbox are the run's
    if args.invent and args.call is not None:
        raise UsageError("--invent and --call exclude each other: give one")
    try:
        target = select_target(
            source, function=args.function, line=args.line, call=args.call, invent=args.invent
        )
    except NoExampleCall as missing:
        fn = missing.function
        raise UsageError(
            f"{fn.qualname} (line {fn.def_line}) has no example call: add a line "
            f"'# prophecy: {fn.template}' above its def (with real values), "
            f"or pass --call '{fn.template}', or --invent to let a model invent the inputs"
        ) from None
    for note in target.notes:
        print(f"cwm-lsp predict: {note}", file=sys.stderr)
    if target.invented and options.is_run:
        raise UsageError("a sandboxed run needs a call: only a model can invent inputs")
    path = str(Path(args.file).resolve())  # its package and sibling modules are importable
    prepared = prepare(source, target, options, path=path)
    predictor = build_predictor(options)
    return prepared, predictor.predict(prepared.request)


def _verification(
    args: argparse.Namespace, prepared: Prepared, predicted: PredictionResult
) -> tuple[PredictionResult, Divergence | None] | None:
    """The same call run in the sandbox, and the first divergence from the prediction."""
    try:
        observed = build_predictor(options_from_args(args).for_run()).predict(prepared.request)
    except BackendError as exc:
        print(f"cwm-lsp predict: --verify: {exc}", file=sys.stderr)
        return None
    return observed, first_divergence(predicted.frames, observed.frames, prepared.context.context)


def _verification_json(observed: PredictionResult, divergence: Divergence | None) -> dict[str, Any]:
    return {
        "observed_frames": [frame.to_json() for frame in observed.frames],
        "observed_finished": observed.finished,
        "interpreter": observed.interpreter,
        "divergence": None if divergence is None else divergence.describe(),
        "divergence_line": None if divergence is None else divergence.line,
    }


def _print_verification(
    args: argparse.Namespace,
    source: str,
    prepared: Prepared,
    observed: PredictionResult,
    divergence: Divergence | None,
) -> None:
    sys.stdout.write("\n")
    raised = uncaught_exception(observed.frames)
    _print_result(args, source, prepared.target, prepared.context, observed, raised)
    if divergence is None:
        sys.stdout.write("# verified: the prediction matches the sandboxed run\n")
        return
    in_file = divergence.line is not None and divergence.line <= len(source_lines(source))
    described = divergence.describe(in_file=in_file)
    sys.stdout.write(f"# first divergence from the sandboxed run: {described}\n")


# --------------------------------------------------------------------------- output


def provenance_line(provenance: Provenance) -> str:
    text = provenance.describe()
    if provenance.is_demo_model and "not CWM" not in text:
        text += " (demo model, not CWM)"
    return text


def _print_result(
    args: argparse.Namespace,
    source: str,
    target: Target,
    context: HarnessContext,
    result: PredictionResult,
    raised: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    if args.format == "cwm":
        sys.stdout.write(result.trace_text)
        sys.stdout.flush()
        return
    timeline = build_timeline(result.frames, context.context, source_path=args.file)
    if args.format == "json":
        document = {**_json_document(target, context, result, raised, timeline), **(extra or {})}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return
    call = target.call or "invented inputs"
    if target.setup:  # the doctest session before the call ran too: say so
        session = format_value("; ".join(target.setup), max(args.width, 20))
        call += f" after {session}"
    origin = provenance_line(result.provenance)
    if result.interpreter:
        origin += f"; Python: {result.interpreter}"
    if result.limit:  # a trace cut short is never shown as a finished one
        origin += f"; {result.limit}"
    label = f"{call} ({origin})"
    if target.targeted and target.function is not None:
        label = f"{target.function.qualname}: {label}"
    sys.stdout.write(_annotated(timeline, source, target, args.width, result, label))
    sys.stdout.write(_program_output(result.stdout, args.width))
    problems = [p for p in _problems(result, timeline) if p != result.limit]  # limit: see exit
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"cwm-lsp predict: {problem}", file=sys.stderr)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        hidden = len(problems) - MAX_PROBLEMS_SHOWN
        print(
            f"cwm-lsp predict: ... and {hidden} more problems (--format json lists all)",
            file=sys.stderr,
        )


def _annotated(
    timeline: Timeline,
    source: str,
    target: Target,
    width: int,
    result: PredictionResult,
    label: str,
) -> str:
    """The traced function and every other function that ran, annotated, then the result."""
    origin = result.provenance.origin
    parts = [f"# {label}\n"]
    chosen = target.function if target.targeted else None
    for first, last in shown_ranges(source, chosen, timeline.line_numbers()):
        if len(parts) > 1:
            parts.append("\n")
        text = render_text(
            timeline,
            source,
            width=width,
            first_line=first,
            last_line=last,
            origin=origin,
            summary=False,
        )
        parts.append(text)
    if not result.finished and timeline.result.exception is None:
        parts.append(f"# {incomplete_reason(result)}\n")
    else:
        parts.append(render_text(timeline, "", width=width, origin=origin))  # the summary line
    return "".join(parts)


def shown_ranges(source: str, chosen: FunctionInfo | None, ran: list[int]) -> list[tuple[int, int]]:
    """Line ranges of the chosen function, of the other functions where some line ran, and of
    module-level lines that ran during the call (a lambda assigned to a name), in file order.
    A method comes with the ``class`` line(s) around it."""
    executed = set(ran)
    tree = ast.parse(source)
    ranges: list[tuple[int, int]] = []
    covered: set[int] = set()
    for fn in list_functions(source):
        if fn.is_nested:
            continue  # shown with the function around it
        lines = range(fn.first_line, fn.last_line + 1)
        is_chosen = chosen is not None and (
            fn.qualname == chosen.qualname or (chosen.is_nested and chosen.def_line in lines)
        )
        if is_chosen:
            ranges.append((fn.comment_line, fn.last_line))
        elif executed.intersection(lines):
            ranges.append((fn.first_line, fn.last_line))
        covered.update(lines)
    statements = [(node.lineno, node.end_lineno or node.lineno) for node in tree.body]
    for line in sorted(executed - covered):
        # a module-level line that ran (a lambda's body): show the whole statement around it
        ranges += [(first, last) for first, last in statements if first <= line <= last]
    ranges += _class_headers(tree, ranges)
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:  # touching: one block (a multi-line lambda)
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged


def _class_headers(tree: ast.Module, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``class`` lines (decorators included) of the classes around the given ranges."""
    headers: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        end = node.end_lineno or node.lineno
        if any(node.lineno < first and last <= end for first, last in ranges):
            first_line = min([node.lineno] + [d.lineno for d in node.decorator_list])
            headers.append((first_line, node.lineno))
    return headers


def _program_output(stdout: str, width: int) -> str:
    """What the run printed, as comment lines under the result (the first few lines)."""
    lines = source_lines(stdout)
    if not lines:
        return ""
    cut = max(width, 20) * 2
    shown = [line if len(line) <= cut else line[: cut - 1] + "…" for line in lines]
    text = "# printed:\n" + "".join(f"#   {line}\n" for line in shown[:MAX_OUTPUT_LINES])
    if len(lines) > MAX_OUTPUT_LINES:
        text += f"#   … ({len(lines) - MAX_OUTPUT_LINES} more lines; --format json has all)\n"
    return text


def _problems(result: PredictionResult, timeline: Timeline) -> list[str]:
    return list(result.problems) + [str(problem) for problem in timeline.problems]


def _json_document(
    target: Target,
    context: HarnessContext,
    result: PredictionResult,
    raised: str | None,
    timeline: Timeline,
) -> dict[str, Any]:
    provenance = result.provenance
    return {
        "function": target.function.qualname if target.function else None,
        "def_line": target.function.def_line if target.function else None,
        "call": target.call,
        "setup": list(target.setup),  # doctest examples run before the call
        "invented_inputs": target.call is None,
        "provenance": {**provenance.to_json(), "description": provenance_line(provenance)},
        "interpreter": result.interpreter,
        "finished": result.finished,
        "raised": raised,
        "limit": result.limit,
        "stop": result.stop,  # which limit: "timeout", "no_termination", "max_frames", ...
        "problems": _problems(result, timeline),
        "stdout": result.stdout,
        "stderr": result.stderr,
        "context": context.context,
        "timeline": timeline_to_json(timeline),
        "frames": [frame.to_json() for frame in result.frames],
    }
