"""One sandboxed fork server per file: the parent side of :mod:`cwm_lsp.execution.forkserver`.

A :class:`FileSession` starts the server on its first example and keeps it for the file's
other examples: the sandbox starts once and the module (and its package) is imported once.
Each example still gets its own wall-clock deadline here; a run that goes over it, is
cancelled, or exceeds the scratch-directory limits ends the server (the next example starts a
new one), so no example can leave state behind for the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from cwm_lsp.cancel import CancelToken
from cwm_lsp.cpu_share import child_running
from cwm_lsp.execution.limits import CANCELLED_MESSAGE, SandboxLimits, time_limit_message
from cwm_lsp.execution.recorder import NoRunnableEntry, context_lines, find_entry
from cwm_lsp.execution.sandbox import (
    BUBBLEWRAP,
    NOBODY_ID,
    FrameCallback,
    LineBuffer,
    RunPlace,
    TraceRecording,
    TracerError,
    _child_command,
    _child_env,
    _kill_tree,
    _Run,
    choose_sandbox,
    public_etc,
    scratch_limit,
)
from cwm_lsp.trace.tokens import START_OF_TRACE_MARKER

_POLL_SECONDS = 0.05
_SCRATCH_CHECK_SECONDS = 0.2
_READ_CHUNK = 1 << 16
_SERVER_CPU_SECONDS = 3600  # the server forks and waits; the top level keeps the wall limit


def module_part(context: str) -> tuple[str, int]:
    """The context's top level (the lines before the marked entry) and its line count: what
    the examples of one file share. Raises :class:`TracerError` without a marked entry."""
    lines = context_lines(context)
    for index in range(len(lines) - 1, -1, -1):  # a harness is the last top-level def
        line = lines[index]
        if line.startswith("def ") and START_OF_TRACE_MARKER in line:
            return "".join(lines[:index]), index
    try:
        entry = find_entry(context)
    except NoRunnableEntry as exc:
        raise TracerError(str(exc)) from None
    lines = context_lines(context)[: entry.def_line - 1]
    return "".join(lines), len(lines)


@dataclass(frozen=True)
class SessionKey:
    """What must match for an example to run in an open session."""

    module_text: str
    place: RunPlace
    sandbox: str
    limits: tuple[Any, ...]  # the limits except the frame limit (sent per example)


class _ResultStatus(Exception):
    pass


class FileSession:
    """A fork server for one file's top level; :meth:`record` runs one example in it."""

    def __init__(self, key: SessionKey, limits: SandboxLimits) -> None:
        self.key = key
        self.limits = limits
        self.proc: subprocess.Popen[bytes] | None = None
        self.scratch = ""
        self.result_fd = -1
        self.secret = os.urandom(16)
        self.lines = LineBuffer(limits.trace_chars + _READ_CHUNK)
        self.selector: selectors.BaseSelector | None = None

    # -- lifetime ---------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _start(self) -> None:
        key = self.key
        self.scratch = tempfile.mkdtemp(prefix="cwm-lsp-run-")
        if os.geteuid() == 0 and key.sandbox != BUBBLEWRAP:
            os.chown(self.scratch, NOBODY_ID, NOBODY_ID)  # the server gives up root
        result_read, result_write = os.pipe()
        self.result_fd = result_read
        command = _child_command(
            key.sandbox,
            self.scratch,
            key.place.read_dirs(),
            key.place.python,
            module="cwm_lsp.execution.forkserver",
        )
        try:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(result_write,),
                env=_child_env(self.scratch),
                cwd=self.scratch,
                start_new_session=True,
            )
        except OSError as exc:
            self.close()
            raise TracerError(f"could not start the sandboxed Python: {exc}") from None
        finally:
            os.close(result_write)
        server_limits = SandboxLimits(
            **{**self.limits.to_json(), "cpu_seconds": _SERVER_CPU_SECONDS}
        )
        setup = {
            "limits": server_limits.to_json(),
            "scratch": self.scratch,
            "sandbox": key.sandbox,
            "result_fd": result_write,
            "key": self.secret.hex(),
            "readable": key.place.read_dirs(),
            "etc": public_etc(),
            "module_text": key.module_text,
            "module_lines": key.module_text.count("\n"),
            **key.place.request_fields(),
        }
        self._send(setup)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream in (self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)

    def _send(self, message: dict[str, Any]) -> bool:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def close(self) -> None:
        if self.proc is not None:
            _kill_tree(self.proc)
            self.proc = None
        if self.result_fd >= 0:
            os.close(self.result_fd)
            self.result_fd = -1
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = ""
        self.lines.clear()

    # -- one example ------------------------------------------------------------------------

    def record(
        self,
        context: str,
        limits: SandboxLimits,
        *,
        on_frame: FrameCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> TraceRecording:
        """Run one example of the file. Raises :class:`TracerError` when the sandbox cannot
        start or the run cannot be trusted; limits hit are in the recording."""
        started = time.monotonic()
        fresh = not self.alive
        if fresh:
            self.close()
            self._start()
        run = _Run(context, limits, self.key.sandbox, on_frame, cancel, self.key.place)
        run.key = self.secret
        run.started = not fresh
        run.scratch = self.scratch
        status: int | None = None
        if self._send({"context": context, "limits": limits.to_json()}):
            with child_running():
                status = self._collect(run, started + limits.wall_seconds)
        if status is None:  # the server is gone or must go (limit, cancel): never reused
            proc = self.proc
            self._drain(run)
            if proc is not None:
                _kill_tree(proc)
            recording = run._recording(proc, time.monotonic() - started)
            self.close()
            return recording
        return run._recording(_Exited(status), time.monotonic() - started)  # type: ignore[arg-type]

    def _collect(self, run: _Run, deadline: float) -> int | None:
        """Read until the server says the example's child exited: its exit status; ``None``
        when the server died, or a limit or a cancel ended the example."""
        proc = self.proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        selector = selectors.DefaultSelector()
        selector.register(self.result_fd, selectors.EVENT_READ, "result")
        selector.register(proc.stdout.fileno(), selectors.EVENT_READ, run.stdout.add)
        selector.register(proc.stderr.fileno(), selectors.EVENT_READ, run.stderr.add)
        next_scratch_check = 0.0
        try:
            while True:
                if run.cancel is not None and run.cancel.cancelled:
                    run.limit = CANCELLED_MESSAGE
                    return None
                now = time.monotonic()
                if now >= deadline:
                    if run.started:
                        run.limit = time_limit_message(run.limits.wall_seconds)
                    return None
                if now >= next_scratch_check:
                    next_scratch_check = now + _SCRATCH_CHECK_SECONDS
                    run.limit = scratch_limit(self.scratch, run.limits)
                    if run.limit is not None:
                        return None
                for key, _ in selector.select(min(_POLL_SECONDS, deadline - now)):
                    try:
                        chunk = os.read(key.fd, _READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        if key.data == "result":
                            return None  # the server ended
                        selector.unregister(key.fd)
                    elif key.data == "result":
                        status = self._on_result(run, chunk)
                        if status is not None:
                            self._drain(run)
                            return status
                    else:
                        key.data(chunk)
        finally:
            selector.close()

    def _on_result(self, run: _Run, chunk: bytes) -> int | None:
        status: int | None = None
        for message in run._messages(self.lines, chunk):
            kind = message.get("t") if isinstance(message, dict) else None
            if kind == "exit":
                status = int(message.get("status", 0))
            elif kind == "started":
                run.started = True
            elif kind == "ready":
                self._drain(run)  # the top level's output is in the pipes: it is no one's
                for stream in (run.stdout, run.stderr):
                    stream.data.clear()
                    stream.dropped = 0
            else:
                run._on_message(message)
        return status

    def _drain(self, run: _Run) -> None:
        """What the example printed is in the pipes before its exit is reported: take it."""
        proc = self.proc
        if proc is None:
            return
        for stream, sink in ((proc.stdout, run.stdout), (proc.stderr, run.stderr)):
            if stream is None or stream.closed:
                continue
            with contextlib.suppress(OSError):
                while chunk := os.read(stream.fileno(), _READ_CHUNK):
                    sink.add(chunk)


class _Exited:
    """The exit status of an example's child, as ``_Run`` reads it from a process."""

    def __init__(self, status: int) -> None:
        self.returncode = status


class SessionPool:
    """The open session of each thread's current file (trace-check runs files in threads)."""

    def __init__(self) -> None:
        self.sessions: dict[int, FileSession] = {}

    def record(
        self,
        context: str,
        *,
        limits: SandboxLimits,
        place: RunPlace,
        sandbox: str = "auto",
        on_frame: FrameCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> TraceRecording:
        module_text, _ = module_part(context)
        kind = choose_sandbox(sandbox)
        shared = {**limits.to_json(), "max_frames": 0}
        key = SessionKey(module_text, place, kind, tuple(sorted(shared.items())))
        thread = _thread_id()
        session = self.sessions.get(thread)
        if session is None or session.key != key:
            if session is not None:
                session.close()
            session = self.sessions[thread] = FileSession(key, limits)
        return session.record(context, limits, on_frame=on_frame, cancel=cancel)

    def close(self) -> None:
        sessions, self.sessions = self.sessions, {}
        for session in sessions.values():
            session.close()

    def close_thread(self) -> None:
        session = self.sessions.pop(_thread_id(), None)
        if session is not None:
            session.close()


def _thread_id() -> int:
    import threading

    return threading.get_ident()
