"""CWM traces: frames, text codec, robust parser, state resolution, line mapping, timeline.

The usual path: ``parse_trace(text).frames`` -> ``build_timeline(frames, context)`` ->
``hint_labels(timeline, origin=...)`` / ``render_text(timeline, source)``.
"""

from cwm_lsp.trace.codec import encode_frame, encode_prompt, encode_trace
from cwm_lsp.trace.frames import UNCHANGED, Event, Frame
from cwm_lsp.trace.linemap import CodeBlock, ContextIndex, LineMap, map_lines
from cwm_lsp.trace.parser import (
    ParseProblem,
    ParseResult,
    TraceStreamParser,
    parse_frame,
    parse_trace,
)
from cwm_lsp.trace.render import (
    format_series,
    format_value,
    hint_label,
    hint_labels,
    relation,
    render_text,
)
from cwm_lsp.trace.resolve import Resolution, ResolvedFrame, diff_states, resolve_states
from cwm_lsp.trace.timeline import (
    EntryResult,
    ExceptionInfo,
    Invocation,
    LineExecution,
    Timeline,
    TimelineBuilder,
    build_timeline,
    timeline_to_json,
)

__all__ = [
    "UNCHANGED",
    "CodeBlock",
    "ContextIndex",
    "EntryResult",
    "Event",
    "ExceptionInfo",
    "Frame",
    "Invocation",
    "LineExecution",
    "LineMap",
    "ParseProblem",
    "ParseResult",
    "Resolution",
    "ResolvedFrame",
    "Timeline",
    "TimelineBuilder",
    "TraceStreamParser",
    "build_timeline",
    "diff_states",
    "encode_frame",
    "encode_prompt",
    "encode_trace",
    "format_series",
    "format_value",
    "hint_label",
    "hint_labels",
    "map_lines",
    "parse_frame",
    "parse_trace",
    "relation",
    "render_text",
    "resolve_states",
    "timeline_to_json",
]
