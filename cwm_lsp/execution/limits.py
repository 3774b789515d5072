"""Resource limits of a sandboxed run, and the messages shown when one is hit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cwm_lsp.budget import format_seconds, frame_limit_message, time_limit_message
from cwm_lsp.execution.recorder import DEFAULT_MAX_FRAMES, DEFAULT_REPR_CHARS

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one recorded run. ``None`` for ``cpu_seconds`` means "same as wall_seconds"."""

    wall_seconds: float = 10.0
    cpu_seconds: int | None = None
    memory_bytes: int = 1 * GIB  # RLIMIT_AS of the child
    max_frames: int = DEFAULT_MAX_FRAMES
    repr_chars: int = DEFAULT_REPR_CHARS  # longer reprs end with "...<cut N chars>"
    output_bytes: int = 1 * MIB  # per stream (stdout, stderr); the rest is dropped and counted
    trace_chars: int = 64 * MIB  # total size of the recorded frames
    file_bytes: int = 64 * MIB  # largest file the program may write in its scratch directory
    scratch_bytes: int = 256 * MIB  # disk space of the scratch directory (checked 5 times a second)
    scratch_files: int = 10_000  # files and directories in the scratch directory

    def cpu_limit(self) -> int:
        if self.cpu_seconds is not None:
            return max(1, self.cpu_seconds)
        return max(1, int(self.wall_seconds + 0.999))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxLimits:
        return cls(**data)


def format_bytes(count: int) -> str:
    if count >= GIB and count % GIB == 0:
        return f"{count // GIB} GiB"
    if count >= MIB:
        return f"{count / MIB:g} MiB"
    return f"{count} bytes"


def cpu_limit_message(seconds: int) -> str:
    return f"CPU time limit ({format_seconds(seconds)}) exceeded"


def memory_limit_message(memory_bytes: int) -> str:
    return f"memory limit ({format_bytes(memory_bytes)}) exceeded"


def trace_size_message(chars: int) -> str:
    return f"trace size limit ({format_bytes(chars)}) reached"


def scratch_bytes_message(limit: int) -> str:
    return f"disk limit ({format_bytes(limit)}) exceeded in the scratch directory"


def scratch_files_message(limit: int) -> str:
    return f"file count limit ({limit}) exceeded in the scratch directory"


PROCESS_LIMIT_MESSAGE = "process limit: the sandbox does not allow starting processes"
CANCELLED_MESSAGE = "cancelled"

__all__ = [
    "CANCELLED_MESSAGE",
    "PROCESS_LIMIT_MESSAGE",
    "SandboxLimits",
    "cpu_limit_message",
    "format_bytes",
    "frame_limit_message",
    "memory_limit_message",
    "scratch_bytes_message",
    "scratch_files_message",
    "time_limit_message",
    "trace_size_message",
]
