"""The sandboxed child: ``python -m cwm_lsp.tracer.child``.

Reads one JSON request from stdin (then stdin is replaced by ``/dev/null``: the program gets no
input), applies resource limits and the audit-hook policy, records the call and writes
line-delimited JSON messages to the result file descriptor named in the request:

    {"t": "frame", "event": ..., "line": ..., "locals": {...} | "arg": ..., "lineno": N}
    {"t": "end", "finished": bool, "uncaught": str|null, "limit": str|null,
     "error": str|null, "violations": [str, ...]}

The program's own stdout/stderr stay on fds 1 and 2 (captured and capped by the parent).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
from typing import Any, NoReturn

from cwm_lsp.trace.frames import Frame
from cwm_lsp.tracer import audit, seccomp
from cwm_lsp.tracer.limits import (
    PROCESS_LIMIT_MESSAGE,
    SandboxLimits,
    memory_limit_message,
    trace_size_message,
)
from cwm_lsp.tracer.recorder import EntryError, Recorder, TraceStopped


class Channel:
    """Writes whole JSON lines to the result pipe (blocking, retried on short writes)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.chars = 0

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode("utf-8")
        self.chars += len(data)
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class Child:
    def __init__(self, request: dict[str, Any]) -> None:
        self.context: str = request["context"]
        self.limits = SandboxLimits.from_json(request["limits"])
        self.scratch: str = request["scratch"]
        self.full_policy: bool = request["sandbox"] != "bubblewrap"
        self.channel = Channel(int(request["result_fd"]))
        os.set_inheritable(self.channel.fd, False)
        self.source_path: str | None = request.get("source_path")
        self.module_name: str | None = request.get("module_name")  # pkg.sub.mod, in a package
        self.import_root: str | None = request.get("import_root")
        self.violations: list[str] = []
        self.process_blocked = False
        self.seccomp = False

    # -- setup ------------------------------------------------------------------------------

    def apply_limits(self) -> None:
        limits = self.limits
        cpu = limits.cpu_limit()
        wanted = [
            (resource.RLIMIT_CPU, (cpu, cpu + 1)),
            (resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes)),
            (resource.RLIMIT_CORE, (0, 0)),
            (resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes)),
        ]
        for which, values in wanted:
            with contextlib.suppress(ValueError, OSError):  # e.g. RLIMIT_AS on macOS
                resource.setrlimit(which, values)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes fail with EFBIG

    def install_policy(self) -> None:
        def on_violation(kind: str, message: str) -> None:
            if kind == "process":
                self.process_blocked = True
            if len(self.violations) < 20:
                self.violations.append(message)

        audit.install(
            self.scratch,
            restrict_files=self.full_policy,
            restrict_network=self.full_policy,
            on_violation=on_violation,
        )

    def add_import_root(self) -> None:
        """The module's import root (a loose file: its directory) first on ``sys.path``."""
        root = self.import_root
        if root is None and self.source_path:
            root = os.path.dirname(os.path.abspath(self.source_path))
        if root:
            sys.path.insert(0, root)

    # -- messages ---------------------------------------------------------------------------

    def on_frame(self, frame: Frame, lineno: int) -> None:
        message = frame.to_json()
        message["t"] = "frame"
        message["lineno"] = lineno
        self.channel.send(message)
        if self.channel.chars > self.limits.trace_chars:
            self.finish(limit=trace_size_message(self.limits.trace_chars))

    def finish(
        self,
        *,
        finished: bool = False,
        uncaught: str | None = None,
        limit: str | None = None,
        error: str | None = None,
    ) -> NoReturn:
        sys.setrecursionlimit(sys.getrecursionlimit() + 200)  # may be called at the limit
        if limit is None and self.process_blocked:
            limit = PROCESS_LIMIT_MESSAGE
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the program may have closed the stream
                stream.flush()
        self.channel.send(
            {
                "t": "end",
                "finished": finished,
                "uncaught": uncaught,
                "limit": limit,
                "error": error,
                "violations": self.violations,
                "seccomp": self.seccomp,
            }
        )
        os._exit(0)  # skip atexit handlers and finalizers of the program

    # -- run --------------------------------------------------------------------------------

    def run(self) -> NoReturn:
        self.channel.send({"t": "started"})  # the sandbox and the interpreter work
        try:
            recorder = Recorder(
                self.context,
                self.on_frame,
                repr_chars=self.limits.repr_chars,
                max_frames=self.limits.max_frames,
                on_limit=lambda message: self.finish(limit=message),
                module_file=self.source_path,
                module_name=self.module_name,
            )
        except EntryError as exc:
            self.finish(error=str(exc))
        self.add_import_root()
        self.apply_limits()
        self.seccomp = seccomp.block_process_creation()
        self.install_policy()
        try:
            outcome = recorder.run()
        except TraceStopped as stop:
            self.finish(limit=str(stop))
        except MemoryError:
            self.finish(limit=memory_limit_message(self.limits.memory_bytes))
        limit = outcome.limit
        if outcome.uncaught_type == "MemoryError":
            limit = memory_limit_message(self.limits.memory_bytes)
        self.finish(finished=outcome.finished, uncaught=outcome.uncaught, limit=limit)


def _read_request() -> dict[str, Any]:
    data = sys.stdin.buffer.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the process
    request: dict[str, Any] = json.loads(data)
    return request


def main() -> NoReturn:
    Child(_read_request()).run()


if __name__ == "__main__":
    main()
