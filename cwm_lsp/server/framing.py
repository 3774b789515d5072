"""Base-protocol framing (``Content-Length: N`` + blank line + N bytes of JSON) that recovers
from a bad frame instead of losing every message after it.

pygls' reader trusts each header: a ``Content-Length`` that is too short, too long, not a
number or missing leaves it reading JSON as headers or headers as JSON, and it stops answering
for good. Here a bad frame costs only itself: the parser skips to the next
``Content-Length: <digits>\\r\\n``, a byte sequence that valid JSON can never contain (outside a
string ``C`` is not a JSON token; inside one a raw CR is not allowed), so it can always be found
and never appears by chance inside a good body. Pure logic, no I/O: fed bytes, it returns
:class:`FramedMessage` and :class:`FramingError` events.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 512 * 1024 * 1024
_MARKER = re.compile(rb"Content-Length:[ \t]*[0-9]+[ \t]*\r\n")  # literal prefix: fast search
_MARKER_PREFIX = len(b"Content-Length:")
_HEADER_END = b"\r\n\r\n"
_DIGITS = re.compile(rb"[0-9]{1,12}")
_HEADER_NAME = re.compile(rb"[A-Za-z0-9-]+")


@dataclass(frozen=True)
class FramedMessage:
    """One well-framed message, its JSON already parsed."""

    message: Any


@dataclass(frozen=True)
class FramingError:
    """Bytes that were not a well-framed message, and why."""

    reason: str
    skipped: bytes

    def request(self) -> dict[str, Any] | None:
        """The request inside the skipped bytes when its JSON survived (so it can be answered)."""
        start = self.skipped.find(b"{")
        if start < 0:
            return None
        try:
            message = json.loads(self.skipped[start:])
        except (ValueError, RecursionError):
            return None
        if isinstance(message, dict) and "method" in message and "id" in message:
            return message
        return None


FramingEvent = FramedMessage | FramingError


class FrameParser:
    def __init__(self, max_body: int = MAX_BODY_BYTES) -> None:
        self._buffer = bytearray()
        self._max_body = max_body
        self._skipped = bytearray()  # bytes thrown away since the last good frame
        self._reason = ""  # why the first of them were
        self._scanned = 0  # the declared body was searched for a next header up to here

    @property
    def pending(self) -> bool:
        """Bytes are held that do not make a whole message yet."""
        return bool(self._buffer or self._skipped)

    def feed(self, data: bytes) -> list[FramingEvent]:
        self._buffer += data
        events: list[FramingEvent] = []
        while self._buffer and self._step(events):
            pass
        return events

    def stalled(self) -> list[FramingEvent]:
        """Nothing arrived for a while: what cannot become a message is reported now (with the
        bytes skipped before it), and so is a partial body that is already a whole JSON value
        (its Content-Length overstated it). A message still arriving is left alone."""
        header = self._header()
        if isinstance(header, tuple):
            length, start = header
            partial = bytes(self._buffer[start:])
            if _parse(partial) is _INVALID:
                return [self._flush()] if self._skipped else []
            reason = f"Content-Length {length} but the body stopped after {len(partial)} bytes"
            self._skip(len(self._buffer), reason)
        elif isinstance(header, str) or (self._buffer and not _could_start_header(self._buffer)):
            self._skip(len(self._buffer), header or "bytes outside a message")
        # else: a header block still arriving (a client may write it apart from its body)
        return [self._flush()] if self._skipped else []

    # -- parsing ---------------------------------------------------------------------------------

    def _step(self, events: list[FramingEvent]) -> bool:
        """Take one message or one skip off the buffer; False when more bytes are needed."""
        header = self._header()
        if header is None:
            return self._resync_if_junk()
        if isinstance(header, str):
            return self._resync(header)
        length, start = header
        end = start + length
        marker = _MARKER.search(
            self._buffer, max(start, self._scanned), min(end, len(self._buffer))
        )
        if marker is not None:  # the next message began inside this one's declared body
            body = bytes(self._buffer[start : marker.start()])
            self._skip(
                marker.start(),
                f"Content-Length {length} but the next message began after {len(body)} bytes",
            )
            events.append(self._flush())
            return True
        if len(self._buffer) < end:
            self._scanned = max(start, len(self._buffer) - 64)  # a header is shorter than 64
            return False
        message = _parse(self._buffer[start:end])
        if message is _INVALID:
            # Too short a length cuts the JSON, too long a one may end inside the next header:
            # skip from the body on up to the next header (the whole message stays together,
            # so that its request can be read back and answered).
            self._skip(start, f"Content-Length {length} does not frame a JSON body")
            if self._marker_at_start() is not None:
                events.append(self._flush())
                return True
            return self._resync(self._reason)
        del self._buffer[:end]
        self._scanned = 0
        if self._skipped:
            events.append(self._flush())
        events.append(FramedMessage(message))
        return True

    def _header(self) -> tuple[int, int] | str | None:
        """(length, body start) for a whole, valid header block at the start of the buffer; a
        reason when the block is invalid; None while it is incomplete."""
        end = self._buffer.find(_HEADER_END, 0, MAX_HEADER_BYTES + 4)
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                return f"no end of headers in {MAX_HEADER_BYTES} bytes"
            return None
        lengths = []
        for line in bytes(self._buffer[:end]).split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon or not _HEADER_NAME.fullmatch(name):
                return f"not a header line: {line[:40]!r}"
            if name.lower() == b"content-length":
                lengths.append(value.strip())
        if len(lengths) != 1:
            return "no Content-Length header" if not lengths else "several Content-Length headers"
        if not _DIGITS.fullmatch(lengths[0]):
            return f"Content-Length is not a number: {lengths[0][:20]!r}"
        length = int(lengths[0])
        if length > self._max_body:
            return f"Content-Length {length} is over the {self._max_body}-byte limit"
        return length, end + len(_HEADER_END)

    def _resync_if_junk(self) -> bool:
        """An incomplete header block: wait, unless it cannot be the start of a header."""
        if self._marker_at_start() is not None or _could_start_header(self._buffer):
            return False
        return self._resync("bytes outside a message")

    def _resync(self, reason: str) -> bool:
        """Skip to the next Content-Length header after the start of the buffer."""
        marker = _MARKER.search(self._buffer, 1)
        if marker is None:
            # Keep a tail that may be the start of the next header; skip the rest.
            keep = min(len(self._buffer) - 1, _MARKER_PREFIX + 16)
            self._skip(len(self._buffer) - keep, reason)
            return False
        self._skip(marker.start(), reason)
        return True

    def _marker_at_start(self) -> re.Match[bytes] | None:
        return _MARKER.match(self._buffer)

    def _skip(self, count: int, reason: str) -> None:
        if count <= 0:
            return
        if not self._skipped:
            self._reason = reason
        self._skipped += self._buffer[:count]
        del self._buffer[:count]
        self._scanned = 0

    def _flush(self) -> FramingError:
        error = FramingError(self._reason, bytes(self._skipped))
        self._skipped.clear()
        self._reason = ""
        return error


_INVALID = object()


def _parse(data: bytes | bytearray) -> Any:
    """The JSON value of ``data``, or ``_INVALID``."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _INVALID


def _could_start_header(data: bytearray) -> bool:
    """Whether ``data`` may still grow into a header block (a prefix of header lines)."""
    first = bytes(data[:64]).split(b"\r\n", 1)[0]
    return bool(re.fullmatch(rb"[A-Za-z][A-Za-z0-9-]*(:[^\r\n]*)?\r?", first))
