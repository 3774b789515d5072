"""Typed CWM trace frames, exactly as the model reads and writes them.

A frame is one event. ``locals`` is in *diff form*: each value is the ``repr`` text of the local,
or ``".."`` when unchanged since the previous frame of the same scope (see ``cwm-trace-format.md``).
Use :mod:`cwm_lsp.trace.resolve` to turn diff-form frames into full states.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

UNCHANGED = ".."


class Event(str, enum.Enum):
    CALL = "call"
    LINE = "line"
    RETURN = "return"
    EXCEPTION = "exception"


@dataclass(frozen=True)
class Frame:
    """One trace event.

    ``line`` is the full source line of the event with indentation and trailing newline.
    ``locals`` is set for call and line frames (diff form); ``arg`` for return and exception
    frames (a repr: the returned value, or the ``(type, value, traceback)`` triple).
    """

    event: Event
    line: str
    locals: dict[str, str] = field(default_factory=dict)
    arg: str | None = None

    @property
    def has_locals(self) -> bool:
        return self.event in (Event.CALL, Event.LINE)

    def to_json(self) -> dict[str, Any]:
        """The ``golden/*.json`` ``frames`` item form."""
        if self.has_locals:
            return {"event": self.event.value, "locals": dict(self.locals), "line": self.line}
        return {"event": self.event.value, "line": self.line, "arg": self.arg}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Frame:
        event = Event(data["event"])
        if event in (Event.CALL, Event.LINE):
            return cls(event, data["line"], dict(data.get("locals") or {}))
        return cls(event, data["line"], {}, data.get("arg"))
