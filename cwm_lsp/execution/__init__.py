"""Ground-truth traces: record a call's execution in CWM's trace format, in a sandbox.

Public API::

    record_call(context, *, limits=SandboxLimits(), cancel=None, on_frame=None,
                sandbox="auto", source_path=None) -> TraceRecording

Names are imported lazily so that the sandboxed child (:mod:`cwm_lsp.execution.child`) starts
without loading the parent-side machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwm_lsp.execution.limits import SandboxLimits
    from cwm_lsp.execution.recorder import MODULE_NAME, NoRunnableEntry, record_in_process
    from cwm_lsp.execution.sandbox import (
        AUDIT_HOOK,
        BUBBLEWRAP,
        LANDLOCK,
        TraceRecording,
        TracerError,
        bubblewrap_works,
        choose_sandbox,
        record_call,
    )

_HOMES = {
    "SandboxLimits": "limits",
    "MODULE_NAME": "recorder",
    "NoRunnableEntry": "recorder",
    "record_in_process": "recorder",
    "AUDIT_HOOK": "sandbox",
    "BUBBLEWRAP": "sandbox",
    "LANDLOCK": "sandbox",
    "TraceRecording": "sandbox",
    "TracerError": "sandbox",
    "bubblewrap_works": "sandbox",
    "choose_sandbox": "sandbox",
    "record_call": "sandbox",
}

__all__ = [
    "AUDIT_HOOK",
    "BUBBLEWRAP",
    "LANDLOCK",
    "MODULE_NAME",
    "NoRunnableEntry",
    "SandboxLimits",
    "TraceRecording",
    "TracerError",
    "bubblewrap_works",
    "choose_sandbox",
    "record_call",
    "record_in_process",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cwm_lsp.execution' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cwm_lsp.execution.{home}"), name)
