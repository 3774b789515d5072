"""Ground-truth traces: record a call's execution in CWM's trace format, in a sandbox.

Public API::

    record_call(context, *, limits=SandboxLimits(), cancel=None, on_frame=None,
                sandbox="auto") -> TraceRecording
"""

from __future__ import annotations

from cwm_lsp.tracer.limits import SandboxLimits
from cwm_lsp.tracer.recorder import MODULE_NAME, EntryError, record_in_process
from cwm_lsp.tracer.sandbox import (
    AUDIT_HOOK,
    BUBBLEWRAP,
    TraceRecording,
    TracerError,
    bubblewrap_works,
    choose_sandbox,
    record_call,
)

__all__ = [
    "AUDIT_HOOK",
    "BUBBLEWRAP",
    "MODULE_NAME",
    "EntryError",
    "SandboxLimits",
    "TraceRecording",
    "TracerError",
    "bubblewrap_works",
    "choose_sandbox",
    "record_call",
    "record_in_process",
]
