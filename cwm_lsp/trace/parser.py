"""Parse CWM trace text (model output or recorded text) into frames without ever raising.

The grammar (``cwm-trace-format.md``)::

    <|call_sep|>LOCALS<|action_sep|>LINE<|frame_sep|>
    <|line_sep|>LOCALS<|action_sep|>LINE<|frame_sep|>
    <|return_sep|><|action_sep|>LINE<|arg_sep|>VALUE<|frame_sep|>
    <|exception_sep|><|action_sep|>LINE<|arg_sep|>VALUE<|frame_sep|>
    ... <|end_of_text|>

Model output can break any of it. The parser keeps every frame it can read, drops the others and
records a :class:`ParseProblem` for each thing it skipped or repaired:

- text before the first frame, stray separators, unknown special tokens: skipped, reported;
- a frame cut by another event token or by ``<|end_of_text|>``: dropped, reported;
- LOCALS that is not a JSON object: the frame is dropped, reported;
- a LOCALS value or a VALUE that is JSON but not a string (``3``, ``null``): kept as the text a
  Python ``repr`` would most likely have given (``"3"``, ``"None"``), reported;
- a VALUE that is not JSON at all: kept as the raw text, reported;
- text after ``<|end_of_text|>``: ignored, reported;
- text ending inside a frame (a truncated generation): the partial frame is dropped, reported.

``ParseProblem.offset`` is a character offset into the parsed text; ``frame_index`` is the
index the next kept frame gets (so ``frames[:frame_index]`` are the frames read before it).
``ParseResult.finished`` is true when the text reached ``<|end_of_text|>`` (or a chat stop token
``<|eot_id|>`` / ``<|eom_id|>``, which is also reported).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from cwm_lsp.trace import tokens
from cwm_lsp.trace.codec import TOKEN_EVENT
from cwm_lsp.trace.frames import Event, Frame

__all__ = [
    "ParseProblem",
    "ParseResult",
    "TraceStreamParser",
    "parse_frame",
    "parse_trace",
]


@dataclass
class ParseProblem:
    """Something in the trace text that was skipped or repaired."""

    offset: int
    frame_index: int
    message: str
    repaired: bool = False  # the frame at ``frame_index`` was kept after a fix

    def __str__(self) -> str:
        return f"frame {self.frame_index} (offset {self.offset}): {self.message}"


@dataclass
class ParseResult:
    frames: list[Frame]
    finished: bool
    problems: list[ParseProblem] = field(default_factory=list)


_STOP_TOKENS = ("<|eot_id|>", "<|eom_id|>")
_KNOWN_SPECIAL = sorted(set(tokens.TRACE_TOKENS) | set(tokens.SPECIAL_TOKEN_OFFSETS), key=len)
_TOKEN_RE = re.compile(
    "|".join(re.escape(tok) for tok in reversed(_KNOWN_SPECIAL))
    + r"|<\|reserved_special_token_\d+\|>"
)
_MAX_QUOTED = 40


def _quote(text: str) -> str:
    """A short printable excerpt of ``text`` for problem messages."""
    shown = text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 1] + "…"
    return repr(shown)


def _pieces(text: str, base: int) -> Iterator[tuple[int, str, bool]]:
    """Split ``text`` into ``(offset, piece, is_special_token)`` runs."""
    pos = 0
    for match in _TOKEN_RE.finditer(text):
        if match.start() > pos:
            yield base + pos, text[pos : match.start()], False
        yield base + match.start(), match.group(), True
        pos = match.end()
    if pos < len(text):
        yield base + pos, text[pos:], False


def _value_repr(value: object) -> str:
    """Best-effort repr text for a JSON value that should have been a string."""
    if value is None:
        return "None"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


class _FrameBuilder:
    """Collects the pieces of one frame, from its event token up to ``<|frame_sep|>``."""

    def __init__(self, event: Event, offset: int) -> None:
        self.event = event
        self.offset = offset
        self.parts: list[tuple[int, str, bool]] = []

    def build(self) -> tuple[Frame | None, list[tuple[int, str]]]:
        """The frame (or None when unreadable) and the ``(offset, message)`` problems found."""
        if self.event in (Event.CALL, Event.LINE):
            return self._build_with_locals()
        return self._build_with_arg()

    def _split(self, separators: tuple[str, ...]) -> tuple[list[tuple[int, str]], str | None]:
        """Split the parts at the expected separators, in order.

        Returns the text fields (offset, text) and an error message if the token layout is wrong.
        """
        fields: list[tuple[int, str]] = [(self.offset, "")]
        expected = list(separators)
        for offset, piece, special in self.parts:
            if not special:
                start, text = fields[-1]
                fields[-1] = (start if text else offset, text + piece)
                continue
            if expected and piece == expected[0]:
                expected.pop(0)
                fields.append((offset + len(piece), ""))
                continue
            return fields, f"unexpected {piece} inside a {self.event.value} frame"
        if expected:
            return fields, f"{self.event.value} frame has no {expected[0]}"
        return fields, None

    def _build_with_locals(self) -> tuple[Frame | None, list[tuple[int, str]]]:
        fields, error = self._split((tokens.ACTION_SEP,))
        if error:
            return None, [(self.offset, error + "; frame dropped")]
        (locals_at, locals_text), (_, line) = fields
        problems: list[tuple[int, str]] = []
        try:
            decoded = json.loads(locals_text)
        except json.JSONDecodeError as exc:
            message = f"locals are not valid JSON ({exc.msg}): {_quote(locals_text)}; frame dropped"
            return None, [(locals_at, message)]
        if not isinstance(decoded, dict):
            return None, [(locals_at, f"locals are not a JSON object: {_quote(locals_text)}")]
        values: dict[str, str] = {}
        for name, value in decoded.items():
            if isinstance(value, str):
                values[name] = value
            else:
                values[name] = _value_repr(value)
                problems.append(
                    (locals_at, f"local {name!r} is not a JSON string ({_quote(locals_text)})")
                )
        return Frame(self.event, line, values), problems

    def _build_with_arg(self) -> tuple[Frame | None, list[tuple[int, str]]]:
        fields, error = self._split((tokens.ACTION_SEP, tokens.ARG_SEP))
        if error:
            return None, [(self.offset, error + "; frame dropped")]
        (head_at, head), (_, line), (value_at, value_text) = fields
        problems: list[tuple[int, str]] = []
        if head:
            problems.append((head_at, f"ignored text before {tokens.ACTION_SEP}: {_quote(head)}"))
        try:
            value = json.loads(value_text)
        except ValueError:
            problems.append((value_at, f"value is not JSON, kept as is: {_quote(value_text)}"))
            return Frame(self.event, line, {}, value_text.strip()), problems
        if not isinstance(value, str):
            problems.append((value_at, f"value is not a JSON string: {_quote(value_text)}"))
            value = _value_repr(value)
        return Frame(self.event, line, {}, value), problems


class TraceStreamParser:
    """Incremental parser: feed text as it is generated, get frames as soon as they complete.

    ``feed`` returns the frames whose ``<|frame_sep|>`` arrived in that text. ``close`` returns
    the :class:`ParseResult` for everything fed (all frames, problems, whether the trace
    finished). Feeding the text in any chunks gives the same result as :func:`parse_trace`.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._buffer_offset = 0  # offset of _buffer[0] in the whole text
        self._frames: list[Frame] = []
        self._problems: list[ParseProblem] = []
        self._current: _FrameBuilder | None = None
        self._junk_at: int | None = None  # start of skipped text between frames
        self._finished = False
        self._after_end_at: int | None = None
        self._closed_result: ParseResult | None = None

    @property
    def frames(self) -> list[Frame]:
        return list(self._frames)

    @property
    def problems(self) -> list[ParseProblem]:
        return list(self._problems)

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, text: str) -> list[Frame]:
        if self._closed_result is not None or not text:
            return []
        if self._finished:
            self._note_after_end(self._buffer_offset, text)
            self._buffer_offset += len(text)
            return []
        self._buffer += text
        # Only whole special tokens are safe to act on: keep the tail after the last complete
        # frame separator or end token; a special token can be split across chunks.
        cut = max(self._buffer.rfind(tokens.FRAME_SEP), self._buffer.rfind(tokens.END_OF_TEXT))
        for stop in _STOP_TOKENS:
            cut = max(cut, self._buffer.rfind(stop))
        if cut < 0:
            return []
        end = self._buffer.index(">", cut) + 1
        ready, self._buffer = self._buffer[:end], self._buffer[end:]
        before = len(self._frames)
        self._consume(ready, self._buffer_offset)
        self._buffer_offset += len(ready)
        if self._finished and self._buffer:
            self._note_after_end(self._buffer_offset, self._buffer)
            self._buffer_offset += len(self._buffer)
            self._buffer = ""
        return self._frames[before:]

    def close(self) -> ParseResult:
        if self._closed_result is not None:
            return self._closed_result
        if self._buffer and not self._finished:
            self._consume(self._buffer, self._buffer_offset)
        self._buffer = ""
        if self._current is not None:
            self._problem(
                self._current.offset,
                f"text ends inside a {self._current.event.value} frame; partial frame dropped",
            )
            self._current = None
        self._flush_junk()
        if self._after_end_at is not None:
            self._problem(self._after_end_at, f"text after {tokens.END_OF_TEXT} ignored")
        self._closed_result = ParseResult(list(self._frames), self._finished, list(self._problems))
        return self._closed_result

    # -- internals -------------------------------------------------------------------------

    def _problem(self, offset: int, message: str, *, repaired: bool = False) -> None:
        self._problems.append(ParseProblem(offset, len(self._frames), message, repaired))

    def _note_after_end(self, offset: int, text: str) -> None:
        if self._after_end_at is None and text:
            self._after_end_at = offset

    def _flush_junk(self) -> None:
        if self._junk_at is not None:
            where = "before the first frame" if not self._frames else "between frames"
            self._problem(self._junk_at, f"text {where} ignored")
            self._junk_at = None

    def _consume(self, text: str, base: int) -> None:
        for offset, piece, special in _pieces(text, base):
            if self._finished:
                self._note_after_end(offset, text[offset - base :])
                return
            if not special:
                if self._current is not None:
                    self._current.parts.append((offset, piece, False))
                elif self._junk_at is None:
                    self._junk_at = offset
                continue
            self._consume_token(offset, piece)

    def _consume_token(self, offset: int, token: str) -> None:
        event = TOKEN_EVENT.get(token)
        if event is not None:
            if self._current is not None:
                self._problem(
                    self._current.offset,
                    f"{self._current.event.value} frame cut short by {token}; frame dropped",
                )
            self._flush_junk()
            self._current = _FrameBuilder(event, offset)
            return
        if token == tokens.FRAME_SEP:
            if self._current is None:
                self._flush_junk()
                self._problem(offset, f"{token} without a frame ignored")
                return
            builder, self._current = self._current, None
            frame, problems = builder.build()
            for at, message in problems:
                self._problem(at, message, repaired=frame is not None)
            if frame is not None:
                self._frames.append(frame)
            return
        if token == tokens.END_OF_TEXT or token in _STOP_TOKENS:
            if self._current is not None:
                self._problem(
                    self._current.offset,
                    f"{self._current.event.value} frame cut short by {token}; frame dropped",
                )
                self._current = None
            self._flush_junk()
            if token != tokens.END_OF_TEXT:
                self._problem(offset, f"trace ended with {token} instead of {tokens.END_OF_TEXT}")
            self._finished = True
            return
        if self._current is not None:
            # Separators inside a frame are checked when the frame is built.
            self._current.parts.append((offset, token, True))
            return
        self._flush_junk()
        self._problem(offset, f"unexpected {token} between frames ignored")


def parse_trace(text: str) -> ParseResult:
    """Parse trace text (everything the model wrote after the prompt). Never raises."""
    parser = TraceStreamParser()
    parser.feed(text)
    return parser.close()


def parse_frame(text: str) -> Frame | ParseProblem:
    """Parse the text of exactly one frame (ending in ``<|frame_sep|>``).

    Returns the frame, or the first problem when the text is not exactly one readable frame.
    A frame that was kept after a repair (a non-string JSON value) is returned as a frame.
    """
    result = parse_trace(text)
    fatal = [problem for problem in result.problems if not problem.repaired]
    if fatal:
        return fatal[0]
    if result.finished:
        return ParseProblem(0, len(result.frames), f"expected one frame, got {tokens.END_OF_TEXT}")
    if len(result.frames) != 1:
        return ParseProblem(0, 0, f"expected one frame, got {len(result.frames)}")
    return result.frames[0]
