"""Noticing a predicted trace that would never end.

Two signs, checked frame by frame as a trace streams in:

- **A repeated state.** A line frame whose scope is at the same line with the same locals as
  at an earlier line frame, the whole call stack unchanged, and no call, return or exception in
  between: a program is deterministic, so from there it would do the same again forever. Only
  where the state is all in the locals: not inside a ``for`` loop or comprehension (the
  iterator's position is not a local: ``for c in "aa"`` passes the same state twice), not with
  a value whose repr hides its state (``<generator object … at 0x…>``), not across a call (it
  may have changed a global).
- **Repeated frame text.** The model writing the same block of frames again and again (a
  recursion with unchanged arguments, or a model stuck in a cycle): :data:`TEXT_REPEATS`
  repetitions in a row of a block of at most :data:`MAX_CYCLE` frames (inside a ``for`` loop,
  whose items may repeat, :data:`LOOP_TEXT_REPEATS`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from cwm_lsp.trace.frames import UNCHANGED, Event, Frame

MAX_CYCLE = 16  # longest block of frames whose repetition is looked for
TEXT_REPEATS = 12  # how many times in a row a block must repeat to count as a cycle
LOOP_TEXT_REPEATS = 32  # ... when a line of the block is in a for loop

# A repr that does not show the object's state: the object may change while its repr stays.
_OPAQUE_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>|^<[A-Za-z_][\w.]*(?: \w+)* object")


@dataclass
class _Scope:
    locals: dict[str, str] = field(default_factory=dict)
    line: str = ""


@dataclass(frozen=True)
class Repetition:
    """Why the trace is predicted not to terminate."""

    line: str  # the repeated state's source line (as the frame wrote it)
    line_number: int | None  # its 1-based line in the context, when found
    cycle: int | None = None  # frame-text cycles: the block's length in frames
    repeats: int = TEXT_REPEATS  # frame-text cycles: how many times it was written

    def message(self) -> str:
        where = f"line {self.line_number}" if self.line_number else repr(self.line.strip())
        if self.cycle is None:
            return f"predicted not to terminate (state at {where} repeats)"
        frames = "frame" if self.cycle == 1 else f"{self.cycle} frames"
        return (
            f"predicted not to terminate (the model repeats the same {frames} at {where} "
            f"{self.repeats} times)"
        )


class RepetitionWatch:
    """Fed each frame in order (with its text); :meth:`add` returns a :class:`Repetition` once
    the trace is seen to repeat."""

    def __init__(self, context: str | None = None) -> None:
        self._context_lines = (context or "").splitlines(keepends=True)
        self._loop_lines = _loop_lines(context or "")
        self._stack: list[_Scope] = []
        self._seen: set[tuple[object, ...]] = set()  # states since the last call/return
        self._texts: list[str] = []
        self._lines: list[str] = []  # each frame's source line, beside its text

    def add(self, frame: Frame, text: str) -> Repetition | None:
        found = self._state(frame)
        if found is None:
            found = self._text(frame, text)
        return found

    # ------------------------------------------------------------------ states

    def _state(self, frame: Frame) -> Repetition | None:
        if frame.event is Event.CALL:
            self._stack.append(_Scope(dict(frame.locals), frame.line))
            self._seen.clear()
            return None
        if frame.event in (Event.RETURN, Event.EXCEPTION):
            if frame.event is Event.RETURN and self._stack:
                self._stack.pop()
            self._seen.clear()
            return None
        if not self._stack:
            self._stack.append(_Scope())
        scope = self._stack[-1]
        for name, value in frame.locals.items():
            if value != UNCHANGED:
                scope.locals[name] = value
        for name in [name for name in scope.locals if name not in frame.locals]:
            del scope.locals[name]  # a frame lists every local: one missing was deleted
        scope.line = frame.line
        if any(_OPAQUE_REPR.search(value) for s in self._stack for value in s.locals.values()):
            return None
        state = tuple((s.line, tuple(sorted(s.locals.items()))) for s in self._stack)
        if state in self._seen:
            number = self._line_number(frame.line)
            if number is not None and not self._in_loop(frame.line):
                return Repetition(frame.line, number)
            return None
        self._seen.add(state)
        return None

    # ------------------------------------------------------------------ frame text

    def _text(self, frame: Frame, text: str) -> Repetition | None:
        texts = self._texts
        texts.append(text)
        self._lines.append(frame.line)
        for cycle in range(1, MAX_CYCLE + 1):
            if len(texts) < cycle * TEXT_REPEATS:
                break
            block = texts[-cycle:]
            repeats = _repeats(texts, block)
            if repeats < TEXT_REPEATS:
                continue
            needed = TEXT_REPEATS
            if any(self._in_loop(line) for line in self._lines[-cycle:]):
                needed = LOOP_TEXT_REPEATS
            if repeats >= needed:
                number = self._line_number(frame.line)
                return Repetition(frame.line, number, cycle=cycle, repeats=repeats)
        if len(texts) > 2 * MAX_CYCLE * LOOP_TEXT_REPEATS:
            dropped = len(texts) - MAX_CYCLE * LOOP_TEXT_REPEATS
            del texts[:dropped]
            del self._lines[:dropped]
        return None

    def _in_loop(self, line: str) -> bool:
        """Whether ``line`` (frame text) is a line of a for loop or comprehension (unknown
        lines count as such: nothing is claimed about them)."""
        numbers = self._line_numbers(line)
        return not numbers or any(number in self._loop_lines for number in numbers)

    def _line_number(self, line: str) -> int | None:
        numbers = self._line_numbers(line)
        return numbers[0] if numbers else None

    def _line_numbers(self, line: str) -> list[int]:
        wanted = line.rstrip("\n")
        return [
            number
            for number, text in enumerate(self._context_lines, start=1)
            if text.rstrip("\n") == wanted
        ]


def _repeats(texts: list[str], block: list[str]) -> int:
    """How many times in a row ``block`` ends ``texts``."""
    cycle, count, end = len(block), 0, len(texts)
    while end >= cycle and texts[end - cycle : end] == block:
        count += 1
        end -= cycle
    return count


def _loop_lines(context: str) -> set[int]:
    """Line numbers inside for loops and comprehensions of ``context`` (every line when it
    does not parse)."""
    try:
        tree = ast.parse(context)
    except (SyntaxError, ValueError):
        return set(range(1, context.count("\n") + 2))
    lines: set[int] = set()
    loops = (ast.For, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    for node in ast.walk(tree):
        if isinstance(node, loops):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines
