"""The call a model invented: read from its trace's first call frame of the function.

With no example call the model starts its trace at the function's own ``call`` frame, whose
locals are the arguments it chose; written as a call, the user can keep them as a
``# prophecy:`` line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cwm_lsp.entry import EntryError, FunctionInfo, find_function
from cwm_lsp.trace.frames import Event, Frame


@dataclass(frozen=True)
class Invented:
    """What the model chose: the arguments (name -> repr) and, where it can be written, the
    call an example line would hold."""

    arguments: dict[str, str]
    call: str | None

    def describe(self) -> str:
        if self.call is not None:
            return self.call
        return ", ".join(f"{name} = {value}" for name, value in self.arguments.items())


def read_invented(frames: Sequence[Frame], context: str, def_line: int) -> Invented | None:
    """The invented arguments of the function whose ``def`` is on 0-based ``def_line`` of
    ``context`` (the prediction's context), or ``None`` when the trace does not give them."""
    try:
        fn = find_function(context, line=def_line + 1)
    except EntryError:
        return None
    arguments = invented_arguments(frames, fn)
    if arguments is None:
        return None
    return Invented(arguments, invented_call(fn, arguments))


def invented_arguments(frames: Sequence[Frame], fn: FunctionInfo) -> dict[str, str] | None:
    """The arguments of the first call of ``fn`` in ``frames`` (name -> repr), or ``None``."""
    starts = (f"def {fn.name}(", f"async def {fn.name}(")
    for frame in frames:
        if frame.event is Event.CALL and frame.line.strip().startswith(starts):
            names = {parameter.name for parameter in fn.parameters}
            # ".." (unchanged) says nothing about a call's first frame: not an argument.
            arguments = {
                name: value
                for name, value in frame.locals.items()
                if name in names and value not in ("..", "")
            }
            return arguments if arguments or not names else None
    return None


def invented_call(fn: FunctionInfo, arguments: dict[str, str]) -> str | None:
    """``arguments`` written as a call of ``fn``, or ``None`` when they cannot be (a method: the
    trace does not say how its object was built; a required argument the trace lacks)."""
    if fn.is_method or fn.is_nested:
        return None
    written: list[str] = []
    keywords_only = False
    for parameter in fn.parameters:
        value = arguments.get(parameter.name)
        if value is None:
            if parameter.default is None and parameter.kind not in (
                "var_positional",
                "var_keyword",
            ):
                return None
            keywords_only = True  # a skipped positional: name the ones after it
            continue
        if parameter.kind == "var_positional":
            if value not in ("()", ""):
                written.append(f"*{value}")
        elif parameter.kind == "var_keyword":
            if value not in ("{}", ""):
                written.append(f"**{value}")
        elif parameter.kind == "keyword_only" or (keywords_only and parameter.kind == "positional"):
            written.append(f"{parameter.name}={value}")
        else:
            written.append(value)
    return f"{fn.name}({', '.join(written)})"
