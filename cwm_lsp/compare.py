"""Predicted vs observed traces of the same call, frame by frame, down to the first divergence.

Used by ``trace-check --verify`` and by the language server's verify command.

Frames are compared in order after ``..`` resolution: event, source line, every local's value
(call and line frames) and the returned or raised value (return and exception frames). Values
are ``repr`` texts; two reprs are the same value when they are equal after putting the elements
of every set and frozenset display in a canonical order (set order varies with hashing) and
blanking memory addresses (``<Foo object at 0x7f...>``); other whitespace stays significant.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.linemap import map_lines
from cwm_lsp.trace.resolve import ResolvedFrame, resolve_states
from cwm_lsp.trace.timeline import describe_exception

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
END_OF_TRACE = "end of trace"


@dataclass(frozen=True)
class Divergence:
    """Where the traces first differ. ``line`` is a 1-based context line (None: unknown)."""

    frame_index: int
    line: int | None
    source_line: str  # the code of that line as the trace shows it
    what: str  # "event", "line", "variable", "return value", "exception", "length"
    variable: str | None
    predicted: str | None
    observed: str | None

    def describe(self, *, in_file: bool = True) -> str:
        """``line 5 `total += v`: total predicted 4, observed 5``; ``in_file=False`` names the
        frame instead of a line of the harness the check added after the module."""
        at = (
            f"line {self.line}"
            if self.line is not None and in_file
            else f"frame {self.frame_index}"
        )
        code = f" `{self.source_line.strip()}`" if self.source_line.strip() else ""
        if self.what == "variable":
            return (
                f"{at}{code}: {self.variable} predicted {_shown(self.predicted)}, "
                f"observed {_shown(self.observed)}"
            )
        return f"{at}{code}: {self.what} predicted {self.predicted}, observed {self.observed}"

    @property
    def message(self) -> str:
        """The difference in a sentence, without its place: ``predicted y = 4, observed y = 5``."""
        predicted, observed = _shown(self.predicted), _shown(self.observed)
        if self.what == "variable":
            return f"predicted {self.variable} = {predicted}, observed {self.variable} = {observed}"
        if self.what == "return value":
            return f"predicted returns {predicted}, observed returns {observed}"
        if self.what == "exception":
            return (
                f"predicted raises {_exception_text(self.predicted)}, "
                f"observed raises {_exception_text(self.observed)}"
            )
        if self.what == "line":
            return f"predicted line {predicted} next, observed line {observed}"
        if self.predicted == END_OF_TRACE:
            return f"the prediction stops here; the real run goes on ({observed})"
        if self.observed == END_OF_TRACE:
            return f"the real run stops here; the prediction goes on ({predicted})"
        return f"predicted {predicted} next, observed {observed}"


def _shown(value: str | None) -> str:
    return "(not set)" if value is None else value


def _exception_text(value: str | None) -> str:
    if value is None:
        return _shown(value)
    type_name, message = describe_exception(value)
    return f"{type_name}: {message}" if message else type_name


def canonical_repr(text: str) -> str:
    """``text`` with set displays sorted and addresses blanked (for comparison only)."""
    text = _ADDRESS.sub(" at 0x?", text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return text
    try:
        return ast.unparse(_SortSets().visit(tree))
    except (RecursionError, ValueError):
        return text


class _SortSets(ast.NodeTransformer):
    def visit_Set(self, node: ast.Set) -> ast.AST:
        self.generic_visit(node)
        node.elts.sort(key=ast.unparse)
        return node


def same_value(predicted: str | None, observed: str | None) -> bool:
    if predicted == observed:
        return True
    if predicted is None or observed is None:
        return False
    return same_up_to_set_order(predicted, observed)


def same_up_to_set_order(first: str, second: str) -> bool:
    """Equal once set elements are sorted and addresses blanked, and nothing else differs.

    Reordering a set keeps the characters of its repr, so the character counts must match:
    that keeps ``[1,\n 2]`` different from ``[1, 2]``, as a repr comparison should.
    """
    first, second = _ADDRESS.sub(" at 0x?", first), _ADDRESS.sub(" at 0x?", second)
    if first == second:
        return True
    if Counter(first) != Counter(second):
        return False
    return canonical_repr(first) == canonical_repr(second)


def first_divergence(
    predicted: Sequence[Frame], observed: Sequence[Frame], context: str
) -> Divergence | None:
    """The first frame where the traces differ, or ``None`` when they agree throughout."""
    guesses = resolve_states(predicted).frames
    truths = resolve_states(observed).frames
    lines = map_lines(observed, context).lines
    guessed_lines = map_lines(predicted, context).lines

    def line_of(index: int) -> int | None:
        if index < len(lines) and lines[index] is not None:
            return lines[index]
        return guessed_lines[index] if index < len(guessed_lines) else None

    def producer(index: int) -> int:
        """The line frame whose effect frame ``index`` shows: the scope's previous line frame."""
        scope = truths[index].scope
        for earlier in range(index - 1, -1, -1):
            if truths[earlier].scope == scope and truths[earlier].frame.event is Event.LINE:
                return earlier
        return index

    for index, (guess, truth) in enumerate(zip(guesses, truths, strict=False)):
        found = _frame_difference(index, guess, truth, line_of(index))
        if found is None:
            continue
        if found.what == "variable" and truth.frame.event is Event.LINE:
            at = producer(index)  # a line frame holds the state left by the line before it
            return Divergence(
                found.frame_index,
                line_of(at),
                truths[at].frame.line,
                found.what,
                found.variable,
                found.predicted,
                found.observed,
            )
        return found
    if len(guesses) == len(truths):
        return None
    index = min(len(guesses), len(truths))
    if len(guesses) < len(truths):
        extra = truths[index].frame
        predicted_text, observed_text = END_OF_TRACE, _event_text(extra)
    else:
        extra = guesses[index].frame
        predicted_text, observed_text = _event_text(extra), END_OF_TRACE
    return Divergence(
        index, line_of(index), extra.line, "next event", None, predicted_text, observed_text
    )


def _event_text(frame: Frame) -> str:
    return f"{frame.event.value} at `{frame.line.strip()}`"


def _frame_difference(
    index: int, guess: ResolvedFrame, truth: ResolvedFrame, line: int | None
) -> Divergence | None:
    g, t = guess.frame, truth.frame
    if g.event is not t.event:
        return Divergence(index, line, t.line, "next event", None, _event_text(g), _event_text(t))
    if g.line != t.line:
        return Divergence(
            index, line, t.line, "line", None, f"`{g.line.strip()}`", f"`{t.line.strip()}`"
        )
    if g.has_locals:
        names = list(truth.state) + [name for name in guess.state if name not in truth.state]
        for name in names:
            if not same_value(guess.state.get(name), truth.state.get(name)):
                return Divergence(
                    index,
                    line,
                    t.line,
                    "variable",
                    name,
                    guess.state.get(name),
                    truth.state.get(name),
                )
        return None
    if not same_value(g.arg, t.arg):
        what = "return value" if g.event is Event.RETURN else "exception"
        return Divergence(index, line, t.line, what, None, g.arg, t.arg)
    return None
