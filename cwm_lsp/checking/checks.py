"""The checks: what makes an example's prediction a failure.

- A doctest example: the predicted result must match the expected output as doctest would
  compare it (``doctest.OutputChecker`` with the example's directives); an expected traceback
  matches a predicted uncaught exception of the same type and message.
- A ``# prophecy:`` example has no expectation: it fails only when the call is predicted to end
  in an uncaught exception, or when the trace is not a valid, complete trace.
- With ``--verify``: the predicted trace must match the observed one frame by frame.
"""

from __future__ import annotations

import ast
import doctest
import re
from dataclasses import dataclass, field

from cwm_lsp.backends.base import STOP_NO_TERMINATION, STOP_TIMEOUT, PredictionResult
from cwm_lsp.checking.discovery import DoctestInfo, Example
from cwm_lsp.compare import Divergence, first_divergence, same_up_to_set_order
from cwm_lsp.provenance import Origin
from cwm_lsp.trace.timeline import ExceptionInfo, Timeline, build_timeline

DOCTEST_MISMATCH = "prophecy/doctest-mismatch"
UNCAUGHT_EXCEPTION = "prophecy/uncaught-exception"
INVALID_TRACE = "prophecy/invalid-trace"
VERIFY_DIVERGENCE = "prophecy/verify-divergence"
INVALID_EXAMPLE = "prophecy/invalid-example"
BACKEND_ERROR = "prophecy/backend-error"
PREDICTION_TIMEOUT = "prophecy/prediction-timeout"
NON_TERMINATION = "prophecy/non-termination"

RULES: dict[str, str] = {
    DOCTEST_MISMATCH: "The predicted result differs from the doctest's expected output.",
    UNCAUGHT_EXCEPTION: "The example call is predicted to end in an uncaught exception.",
    INVALID_TRACE: "The trace is not a valid, complete trace (parse problems or a limit hit).",
    VERIFY_DIVERGENCE: "The predicted trace departs from the trace observed in a sandboxed run.",
    INVALID_EXAMPLE: "The example call or its file cannot be read as Python.",
    BACKEND_ERROR: "The backend could not produce a trace for the example call.",
    PREDICTION_TIMEOUT: "The prediction ran out of its time budget (--prediction-timeout) "
    "before the trace ended.",
    NON_TERMINATION: "The call is predicted never to end (a state of the trace repeats).",
}

_TRIPLE = re.compile(r"^\(<class '[^']*'>, (?P<value>.*), <traceback object>\)$", re.S)


@dataclass
class Failure:
    rule: str
    message: str
    line: int  # 1-based file line the failure is reported at
    expected: str | None = None
    predicted: str | None = None
    baselined: bool = False


@dataclass
class Outcome:
    """What a trace says the call did."""

    value: str | None  # the returned value's repr
    exception: ExceptionInfo | None
    complete: bool
    problems: list[str] = field(default_factory=list)
    raised_line: int | None = None  # the context line where an uncaught exception started

    def describe(self) -> str:
        if self.exception is not None:
            return f"raises {exception_text(self.exception)}"
        if self.value is not None:
            return f"returns {self.value}"
        return "does not finish"


def outcome_of(result: PredictionResult, context: str) -> tuple[Outcome, Timeline]:
    timeline = build_timeline(result.frames, context)
    problems: list[str] = []
    if result.limit:
        problems.append(result.limit)
    elif not result.finished:
        problems.append("the trace did not reach its end")
    elif not timeline.complete:
        problems.append("the trace ended before the call returned")
    problems += [problem for problem in result.problems if problem != result.limit]
    if result.provenance.origin is Origin.PREDICTED:
        # An observed trace is right by construction; a model's must also map onto the code.
        problems += [str(problem) for problem in timeline.problems]
    entry = timeline.result
    outcome = Outcome(entry.value, entry.exception, timeline.complete, problems)
    origin = entry.exception
    while origin is not None and origin.from_invocation is not None:
        deeper = timeline.invocations[origin.from_invocation].exception
        if deeper is None:
            break
        origin = deeper
    outcome.raised_line = origin.line if origin is not None else None
    return outcome, timeline


def check_prediction(
    example: Example, result: PredictionResult, context: str
) -> tuple[list[Failure], Outcome]:
    """The failures of one example's prediction (empty: it passed)."""
    outcome, _ = outcome_of(result, context)
    stopped = _STOP_RULES.get(result.stop or "")
    if stopped is not None and result.limit:
        failure = Failure(
            stopped, f"{example.call}: {result.limit}", example.line, predicted=outcome.describe()
        )
        return [failure], outcome
    if outcome.problems:
        count = len(outcome.problems)
        first = outcome.problems[0]
        more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
        failure = Failure(
            INVALID_TRACE,
            f"{example.call}: invalid trace: {first}{more}",
            example.line,
            predicted=outcome.describe(),
        )
        return [failure], outcome
    if example.kind == "doctest" and example.doctest is not None:
        stdout = result.stdout if result.provenance.origin is Origin.OBSERVED else None
        mismatch = doctest_failure(example, example.doctest, outcome, stdout)
        return ([mismatch] if mismatch else []), outcome
    if outcome.exception is not None:
        raised = exception_text(outcome.exception)
        where = _raising_line(outcome.raised_line, example)
        message = f"{example.call} raises {raised}{where}"
        return [Failure(UNCAUGHT_EXCEPTION, message, example.line, None, f"raises {raised}")], (
            outcome
        )
    return [], outcome


_STOP_RULES = {STOP_TIMEOUT: PREDICTION_TIMEOUT, STOP_NO_TERMINATION: NON_TERMINATION}


def _raising_line(line: int | None, example: Example) -> str:
    if line is not None and line <= len(example.source.splitlines()):
        return f" (raised at line {line})"
    return ""


def check_verification(
    example: Example, predicted: PredictionResult, observed: PredictionResult, context: str
) -> Failure | None:
    divergence = first_divergence(predicted.frames, observed.frames, context)
    if divergence is None:
        return None
    return Failure(
        VERIFY_DIVERGENCE,
        f"{example.call}: predicted and observed traces diverge at "
        + divergence.describe(in_file=_in_file(divergence.line, example)),
        _reported_line(divergence, example),
        expected=divergence.observed,
        predicted=divergence.predicted,
    )


def _in_file(line: int | None, example: Example) -> bool:
    return line is not None and 1 <= line <= len(example.source.splitlines())


def _reported_line(divergence: Divergence, example: Example) -> int:
    """The divergence's own line when it is in the file (not in the harness), else the call's."""
    if divergence.line is not None and _in_file(divergence.line, example):
        return divergence.line
    return example.line


# --------------------------------------------------------------------------- doctest


def doctest_failure(
    example: Example, info: DoctestInfo, outcome: Outcome, stdout: str | None
) -> Failure | None:
    flags = 0
    for flag, on in info.options.items():
        if on:
            flags |= flag
    expected_text = _expected_text(info)
    if info.exc_msg is not None:
        if _exception_matches(info.exc_msg, outcome.exception, flags):
            return None
        message = f"{example.call}: expected {expected_text}, but it {outcome.describe()}"
        return Failure(DOCTEST_MISMATCH, message, example.line, expected_text, outcome.describe())
    if outcome.exception is not None:
        message = f"{example.call}: expected {_quoted(expected_text)}, but it {outcome.describe()}"
        return Failure(DOCTEST_MISMATCH, message, example.line, expected_text, outcome.describe())
    shown = "" if outcome.value in (None, "None") else f"{outcome.value}\n"
    if _output_matches(info.want, shown, stdout, bool(example.setup), flags):
        return None
    got = ((stdout or "") + shown).rstrip("\n")
    message = f"{example.call}: expected {_quoted(expected_text)}, predicted {_quoted(got)}"
    if stdout is None and outcome.value in (None, "None") and info.want.strip():
        message += " (a model predicts values, not printed output)"
    return Failure(DOCTEST_MISMATCH, message, example.line, expected_text, got)


def _quoted(text: str) -> str:
    if not text:
        return "no output"
    return text if "\n" not in text else "\n" + text


def _expected_text(info: DoctestInfo) -> str:
    if info.exc_msg is not None:
        return info.exc_msg.strip()
    return info.want.rstrip("\n")


def _output_matches(want: str, shown: str, stdout: str | None, has_setup: bool, flags: int) -> bool:
    checker = doctest.OutputChecker()
    candidates = [(stdout or "") + shown]
    if stdout and has_setup:
        # The harness runs the docstring's earlier examples first; what they printed comes
        # before the call's own output in the run's stdout.
        lines = stdout.splitlines(keepends=True)
        candidates += ["".join(lines[start:]) + shown for start in range(1, len(lines) + 1)]
    for got in candidates:
        if checker.check_output(want, got, flags):
            return True
        if got.strip() and same_up_to_set_order(want.strip(), got.strip()):
            return True  # set displays in another order
    return False


def _exception_matches(exc_msg: str, exception: ExceptionInfo | None, flags: int) -> bool:
    if exception is None:
        return False
    head, _, message = exc_msg.strip().partition(":")
    expected_type = head.strip().rsplit(".", 1)[-1]
    if expected_type != exception.type_name.rsplit(".", 1)[-1]:
        return False
    if flags & doctest.IGNORE_EXCEPTION_DETAIL:
        return True
    checker = doctest.OutputChecker()
    wanted = message.strip() + "\n"
    for candidate in exception_messages(exception):
        if checker.check_output(wanted, candidate.strip() + "\n", flags):
            return True
    return False


def exception_messages(exception: ExceptionInfo) -> list[str]:
    """What ``str(exc)`` may be for an exception repr like ``KeyError('k')``.

    ``traceback`` prints ``KeyError: 'k'`` (KeyError's ``str`` is the key's repr) but
    ``ValueError: bad`` for ``ValueError('bad')``; both readings are offered.
    """
    found = [exception.message]
    triple = _TRIPLE.match(exception.text.strip())
    value = triple.group("value").strip() if triple else exception.text.strip()
    start = value.find("(")
    if start != -1 and value.endswith(")"):
        try:
            parsed = (
                ast.literal_eval(f"({value[start + 1 : -1]},)") if value[start + 1 : -1] else ()
            )
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, tuple):
            if len(parsed) == 1:
                found += [str(parsed[0]), repr(parsed[0])]
            elif not parsed:
                found.append("")
            else:
                found.append(str(parsed))
    return found


def exception_text(exception: ExceptionInfo) -> str:
    """``Type: message`` as a traceback's last line shows it (``KeyError: 'k'``)."""
    if exception.type_name == "KeyError":
        candidates = exception_messages(exception)
        if len(candidates) == 3:  # [message, str(key), repr(key)]
            return f"KeyError: {candidates[2]}"
    return exception.describe()
