"""The sandboxed child: ``python -m cwm_lsp.execution.child``.

Reads one JSON request from stdin (then stdin is replaced by ``/dev/null``: the program gets no
input), applies resource limits and the audit-hook policy, records the call and writes
line-delimited JSON messages to the result file descriptor named in the request:

    {"t": "frame", "event": ..., "line": ..., "locals": {...} | "arg": ..., "lineno": N}
    {"t": "end", "finished": bool, "uncaught": str|null, "limit": str|null,
     "error": str|null, "violations": [str, ...]}

The program's own stdout/stderr stay on fds 1 and 2 (captured and capped by the parent).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import random
import resource
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from cwm_lsp.execution import audit, capabilities, landlock, seccomp
from cwm_lsp.execution.limits import (
    PROCESS_LIMIT_MESSAGE,
    SandboxLimits,
    memory_limit_message,
    trace_size_message,
)
from cwm_lsp.execution.recorder import Entry, NoRunnableEntry, Recorder, RecordOutcome, TraceStopped
from cwm_lsp.trace.frames import Frame

# The program may replace builtins and module attributes (``builtins.repr``, ``json.dumps``,
# ``os.write``): this module's functions see their own copy of the builtins, and the
# functions the channel needs are taken now, before any user code runs.
__builtins__ = dict(vars(builtins))  # type: ignore[assignment]
_write = os.write
_blake2b = hashlib.blake2b
_join = "".join


def _no_default(value: object) -> object:
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:  # the C encoder keeps its own references
    _iterencode = _c_make_encoder(
        None, _no_default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
        False, False, True,
    )  # fmt: skip
else:  # pragma: no cover - CPython always has _json
    _iterencode = json.JSONEncoder(check_circular=False).iterencode


def _encode(message: dict[str, Any]) -> str:
    return _join(_iterencode(message, 0))


class Channel:
    """Writes whole signed JSON lines to the result pipe (blocking, retried on short writes).

    Each line is ``<mac> <json>``, the MAC keyed with the run's secret key (sent on stdin), so
    the parent can tell the recorder's lines from anything the program writes to the pipe. The
    pipe's descriptor is moved to a random high number, close-on-exec.
    """

    def __init__(self, fd: int, key: bytes) -> None:
        self.fd = _hide(fd)
        self.key = key
        self.chars = 0

    def send(self, message: dict[str, Any]) -> None:
        body = _encode(message).encode("utf-8")
        mac = _blake2b(body, key=self.key, digest_size=16).hexdigest().encode("ascii")
        data = mac + b" " + body + b"\n"
        self.chars += len(data)
        view = memoryview(data)
        while view:
            written = _write(self.fd, view)
            view = view[written:]


def _hide(fd: int) -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = min(soft if soft != resource.RLIM_INFINITY else 1 << 16, 1 << 16)
    if ceiling <= 64:
        return fd
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, random.randrange(ceiling // 2, ceiling - 8))
    os.close(fd)
    return high


class Child:
    def __init__(self, request: dict[str, Any]) -> None:
        self.context: str = request["context"]
        self.limits = SandboxLimits.from_json(request["limits"])
        self.scratch: str = request["scratch"]
        self.sandbox: str = request["sandbox"]
        self.full_policy: bool = self.sandbox != "bubblewrap"
        self.channel = Channel(int(request["result_fd"]), bytes.fromhex(request.get("key", "")))
        self.readable: list[str] = list(request.get("readable") or [])
        self.etc: list[str] | None = request.get("etc")  # what of /etc everyone may read
        self.source_path: str | None = request.get("source_path")
        self.module_name: str | None = request.get("module_name")  # pkg.sub.mod, in a package
        self.import_root: str | None = request.get("import_root")
        self.violations: list[str] = []
        self.process_blocked = False
        self.seccomp = False
        self.protections: list[str] = []

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

    def install_policy(self, allow_fork: Callable[[], bool] | None = None) -> None:
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
            allow_fork=allow_fork,
        )

    def protect(self, *, for_forks: bool = False) -> str | None:
        """Apply the kernel protections of this sandbox mode; why one that the mode requires
        failed, or None. Order matters: capabilities go first (Landlock and seccomp need no
        privilege), Landlock's system calls come before the seccomp filter.

        ``for_forks``: a fork server's own protection before it runs the module's top level;
        its filter lets it fork, and each forked child calls ``protect()`` again, which adds the
        full filter (identity and Landlock are inherited and not applied twice)."""
        if not self.protections:
            failure = self._drop_privileges() or self._confine_files()
            if failure is not None:
                return failure
        installed = seccomp.install(
            deny_symlinks=self.sandbox == "audit-hook", allow_fork=for_forks
        )
        if not installed and self.sandbox == "landlock":
            return "the seccomp filter could not be installed (unsupported machine?)"
        if installed and not for_forks:
            self.seccomp = True
            self.protections.append(
                "seccomp: no processes, exec, ptrace, signals out, sockets but AF_UNIX"
            )
        return None

    def _drop_privileges(self) -> str | None:
        if os.geteuid() == 0 and self.sandbox != "bubblewrap":
            # root without capabilities still owns root's files: their mode could be changed
            if not capabilities.become_nobody():
                return "could not switch from root to user nobody"
            self.protections.append(
                "runs as user nobody (65534), may only read, not write, root's files"
            )
        elif capabilities.drop_all():
            self.protections.append("no capabilities")
        else:
            self.protections.append("capabilities not dropped")
        return None

    def _confine_files(self) -> str | None:
        if self.sandbox == "audit-hook":  # the weak mode is what is left without Landlock
            return None
        package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        try:
            read = landlock.default_read_paths([package, *self.readable, *sys.path], self.etc)
            self.protections += landlock.restrict(read, [self.scratch])
        except OSError as exc:
            if self.sandbox == "landlock":
                return f"Landlock could not be applied ({exc})"
        return None

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
                "protections": self.protections,
            }
        )
        os._exit(0)  # skip atexit handlers and finalizers of the program

    # -- run --------------------------------------------------------------------------------

    def recorder(
        self, context: str, parsed: tuple[Entry, dict[int, int]] | None = None
    ) -> Recorder:
        """A recorder of ``context`` that sends its frames to the parent and ends this child
        when a limit stops it (``parsed``: see :class:`Recorder`)."""
        return Recorder(
            context,
            self.on_frame,
            repr_chars=self.limits.repr_chars,
            max_frames=self.limits.max_frames,
            on_limit=lambda message: self.finish(limit=message),
            module_file=self.source_path,
            module_name=self.module_name,
            parsed=parsed,
        )

    def run(self) -> NoReturn:
        self.channel.send({"t": "started"})  # the sandbox and the interpreter work
        try:
            recorder = self.recorder(self.context)
        except NoRunnableEntry as exc:
            self.finish(error=str(exc))
        self.add_import_root()
        self.apply_limits()
        failure = self.protect()
        if failure is not None:
            self.finish(error=f"sandbox failure ({self.sandbox}): {failure}; the code was not run")
        self.install_policy()
        _forget_own_modules()
        self.record(recorder.run)

    def record(self, trace: Callable[[], RecordOutcome]) -> NoReturn:
        """Run ``trace`` (the recorder on user code) and report how it ended: a trace limit or
        running out of memory is the run's limit, not the program's failure."""
        try:
            outcome = trace()
        except TraceStopped as stop:
            self.finish(limit=str(stop))
        except MemoryError:
            self.finish(limit=memory_limit_message(self.limits.memory_bytes))
        limit = outcome.limit
        if outcome.uncaught_type == "MemoryError":
            limit = memory_limit_message(self.limits.memory_bytes)
        self.finish(finished=outcome.finished, uncaught=outcome.uncaught, limit=limit)


def _forget_own_modules() -> None:
    """Drop cwm_lsp's modules from ``sys.modules``: the program importing them gets fresh
    copies, and patching those changes nothing of the running recorder."""
    for name in [name for name in sys.modules if name == "cwm_lsp" or name.startswith("cwm_lsp.")]:
        del sys.modules[name]


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
