"""Where a predicted trace first departs from the observed trace of the same call.

Frames are compared in order: event, line, full local states (after ``..`` resolution) and
returned or raised values. Set and frozenset values compare without regard to order, because
their order changes with hash randomisation.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.linemap import map_lines
from cwm_lsp.trace.resolve import resolve_states
from cwm_lsp.trace.timeline import describe_exception


@dataclass(frozen=True)
class Divergence:
    frame_index: int
    line: int | None  # 0-based context line to report at
    message: str


def same_value(predicted: str | None, observed: str | None) -> bool:
    if predicted == observed:
        return True
    if predicted is None or observed is None:
        return False
    return _as_set(predicted) is not None and _as_set(predicted) == _as_set(observed)


def _as_set(text: str) -> frozenset[object] | None:
    body = text.strip()
    if body.startswith("frozenset(") and body.endswith(")"):
        body = body[len("frozenset(") : -1]
    if not (body.startswith("{") and body.endswith("}")) or body == "{}":
        return None
    try:
        value = ast.literal_eval(body)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, set | frozenset):
        return frozenset(value)
    return None


def first_divergence(
    predicted: Sequence[Frame],
    observed: Sequence[Frame],
    context: str,
) -> Divergence | None:
    """The first difference, located on the observed trace's lines; ``None`` when they agree."""
    expected = resolve_states(predicted).frames
    actual = resolve_states(observed).frames
    lines = map_lines(observed, context).lines

    def line_of(index: int) -> int | None:
        line = lines[index] if 0 <= index < len(lines) else None
        return None if line is None else line - 1

    def producer(index: int) -> int:
        """The line frame whose effect frame ``index`` shows (the scope's previous frame)."""
        scope = actual[index].scope
        for earlier in range(index - 1, -1, -1):
            if actual[earlier].scope == scope and actual[earlier].frame.event is Event.LINE:
                return earlier
        return index

    for index, (guess, truth) in enumerate(zip(expected, actual, strict=False)):
        g, t = guess.frame, truth.frame
        if g.event is not t.event or g.line != t.line:
            at = producer(index)
            return Divergence(
                index,
                line_of(at),
                f"predicted {_describe(g)} next, observed {_describe(t)}",
            )
        if t.has_locals:
            for name in dict.fromkeys([*truth.state, *guess.state]):
                if not same_value(guess.state.get(name), truth.state.get(name)):
                    at = producer(index)
                    return Divergence(
                        index,
                        line_of(at),
                        f"predicted {name} = {_shown(guess.state.get(name))}, "
                        f"observed {name} = {_shown(truth.state.get(name))}",
                    )
        elif not same_value(g.arg, t.arg):
            verb = "returns" if t.event is Event.RETURN else "raises"
            return Divergence(
                index,
                line_of(index),
                f"predicted {verb} {_arg(g)}, observed {verb} {_arg(t)}",
            )
    if len(expected) != len(actual):
        index = min(len(expected), len(actual)) - 1
        if len(expected) < len(actual):
            message = "the prediction stops here; the real run goes on"
        else:
            message = "the real run stops here; the prediction goes on"
        return Divergence(max(index, 0), line_of(max(index, 0)), message)
    return None


def _describe(frame: Frame) -> str:
    text = frame.line.strip()
    if frame.event is Event.LINE:
        return f"line `{text}`"
    return f"{frame.event.value} at `{text}`"


def _arg(frame: Frame) -> str:
    if frame.arg is None:
        return "?"
    if frame.event is not Event.EXCEPTION:
        return frame.arg
    type_name, message = describe_exception(frame.arg)
    return f"{type_name}: {message}" if message else type_name


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else value
