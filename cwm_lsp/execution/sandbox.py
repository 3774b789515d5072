"""Run the recorder in a sandboxed, killable child process and collect what it recorded.

Three modes (README, "Trust"): ``bubblewrap`` (read-only view of ``/``, private ``/tmp``,
writable scratch directory only, the program as user nobody in its own user, PID, network, IPC
and UTS namespaces, new session, no capabilities, /etc secrets hidden), ``landlock`` (no
bubblewrap: the kernel's Landlock limits reads to what the run needs and writes to the scratch
directory; root's child becomes user nobody) and ``audit-hook`` (weak: only an audit hook stands
between the program and the file system; its values are labelled "observed, weak sandbox").
The child applies Landlock where the kernel has it (also under bubblewrap) and a seccomp filter
(:mod:`cwm_lsp.execution.seccomp`) in every mode, with RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE, no
stdin, an environment built from scratch and a wall-clock limit enforced here. What the recorder
sends back is signed with a per-run key, so lines the program writes to the channel are caught.
Whatever ends the run, the whole process group is killed and the scratch directory removed;
the frames recorded up to that point are kept.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import hmac
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cwm_lsp
from cwm_lsp.cancel import CancelToken
from cwm_lsp.cpu_share import child_running
from cwm_lsp.execution import landlock, seccomp
from cwm_lsp.execution.limits import (
    CANCELLED_MESSAGE,
    SandboxLimits,
    cpu_limit_message,
    format_bytes,
    scratch_bytes_message,
    scratch_files_message,
    time_limit_message,
)
from cwm_lsp.execution.recorder import NoRunnableEntry, find_entry
from cwm_lsp.trace.codec import encode_trace
from cwm_lsp.trace.frames import Frame

BUBBLEWRAP = "bubblewrap"
LANDLOCK = "landlock"
AUDIT_HOOK = "audit-hook"
SANDBOXES = ("auto", BUBBLEWRAP, LANDLOCK, AUDIT_HOOK)
WEAK_SANDBOXES = frozenset({AUDIT_HOOK})  # values observed there are labelled "weak sandbox"
SANDBOX_ENV = "CWM_LSP_SANDBOX"  # one of SANDBOXES; "auto" (the default) honours it
NOBODY = "65534"  # the sandboxed program's user and group inside bubblewrap's namespace
NOBODY_ID = 65534  # without bubblewrap, root's child switches to this user
# secrets that bubblewrap's read-only view of / hides (Landlock hides them too, where it works)
SECRET_FILES = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers")
SECRET_DIRS = ("/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d", "/etc/credstore")
_POLL_SECONDS = 0.05
_SCRATCH_CHECK_SECONDS = 0.2
_READ_CHUNK = 1 << 16


class TracerError(Exception):
    """The run could not start (bad context, sandbox unavailable); the message says why."""


@dataclass
class TraceRecording:
    frames: list[Frame]
    trace_text: str  # encode_trace(frames), ending in <|end_of_text|> only when finished
    finished: bool  # the entry scope returned
    stdout: str
    stderr: str
    limit: str | None  # "time limit (10 s) exceeded", "frame limit (10000) reached", ...
    sandbox: str  # "bubblewrap", "landlock" or "audit-hook"
    uncaught: str | None  # "ZeroDivisionError: division by zero" when the entry raised
    line_numbers: list[int] = field(default_factory=list)  # context line of each frame
    violations: list[str] = field(default_factory=list)  # operations the sandbox blocked
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    seconds: float = 0.0
    seccomp: bool = False  # the kernel's system-call filter was in force
    protections: list[str] = field(default_factory=list)  # what the child applied, in words


FrameCallback = Callable[[Frame], None]


@dataclass(frozen=True)
class RunPlace:
    """Where the traced module lives and which Python runs it (see :mod:`cwm_lsp.project`)."""

    source_path: str | None = None  # the module's file (its ``__file__``)
    module_name: str | None = None  # ``pkg.sub.mod``; None: run as ``__prophecy__``
    import_root: str | None = None  # first on sys.path (a loose file: its directory)
    python: str | None = None  # None: cwm-lsp's own interpreter
    visible_dirs: tuple[str, ...] = ()  # what that interpreter reads (prefixes, site dirs)

    def request_fields(self) -> dict[str, Any]:
        return {
            "source_path": self.source_path,
            "module_name": self.module_name,
            "import_root": self.import_root,
        }

    def read_dirs(self) -> list[str]:
        dirs = list(self.visible_dirs)
        if self.import_root:
            dirs.append(self.import_root)
        elif self.source_path:
            dirs.append(str(Path(self.source_path).resolve().parent))
        return dirs


@functools.cache
def bubblewrap_works() -> bool:
    """Whether ``bwrap`` is installed and can create its namespaces here."""
    path = shutil.which("bwrap")
    if path is None:
        return False
    probe = [path, *_bwrap_namespace_args(), "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: unavailable), as the child will find it."""
    return landlock.abi_version()


def seccomp_works() -> bool:
    """Whether this machine has the seccomp filter (x86-64 and aarch64)."""
    import platform

    return seccomp.filter_program(platform.machine()) is not None


def choose_sandbox(requested: str = "auto") -> str:
    """The sandbox for ``requested`` (``"auto"`` honours $CWM_LSP_SANDBOX).

    ``auto`` picks bubblewrap, else Landlock; it never settles for the weak audit-hook-only
    mode, which must be asked for by name. Raises :class:`TracerError` saying what is missing.
    """
    if requested == "auto":
        requested = os.environ.get(SANDBOX_ENV, "auto") or "auto"
    if requested not in SANDBOXES:
        raise TracerError(
            f"unknown sandbox {requested!r} (use auto, bubblewrap, landlock or audit-hook)"
        )
    if requested == "auto":
        if bubblewrap_works():
            return BUBBLEWRAP
        if landlock_abi() > 0 and seccomp_works():
            return LANDLOCK
        raise TracerError(
            "no strong sandbox here: `bwrap` is missing or cannot create namespaces, and the "
            "kernel has no Landlock (Linux >= 5.13) or no seccomp filter for this machine. "
            "Install bubblewrap, or accept the weak audit-hook sandbox explicitly "
            '(--sandbox audit-hook, or cwm.sandbox: "audit-hook"); its values are labelled '
            '"observed, weak sandbox"'
        )
    if requested == BUBBLEWRAP and not bubblewrap_works():
        raise TracerError(
            "bubblewrap sandbox requested but `bwrap` is missing or cannot create namespaces "
            "here (install the `bubblewrap` package, or use --sandbox landlock)"
        )
    if requested == LANDLOCK and landlock_abi() <= 0:
        raise TracerError(
            "Landlock sandbox requested but this kernel has no Landlock (Linux >= 5.13 with "
            "landlock among its LSMs; a container's seccomp profile may hide it)"
        )
    if requested == LANDLOCK and not seccomp_works():
        raise TracerError("Landlock sandbox requested but this machine has no seccomp filter")
    return requested


@functools.cache
def public_etc() -> list[str] | None:
    """What of /etc everyone may read (Landlock's rules for it), worked out once here so that
    each sandboxed child need not walk /etc; None when /etc cannot be listed."""
    try:
        return landlock.public_subtrees("/etc")
    except OSError:
        return None


@functools.cache
def _bwrap_supports(option: str) -> bool:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in done.stdout + done.stderr


def _bwrap_namespace_args() -> list[str]:
    # the program runs as nobody, with no capabilities, in its own session, user, PID (so no
    # process of the host in /proc), network, IPC and UTS namespaces
    args = [
        "--ro-bind", "/", "/",
        "--tmpfs", "/tmp",
        "--dev", "/dev",
        "--proc", "/proc",
        "--unshare-all",
        "--unshare-user",
        "--uid", NOBODY,
        "--gid", NOBODY,
        "--cap-drop", "ALL",
        "--new-session",
        "--die-with-parent",
    ]  # fmt: skip
    if _bwrap_supports("--disable-userns"):
        args.append("--disable-userns")
    # inside the namespace nobody maps to the caller: for root that is root, so files only
    # root may read would be readable; hide the usual secrets
    for path in SECRET_FILES:
        if os.path.isfile(path):
            args += ["--ro-bind", "/dev/null", path]
    for path in SECRET_DIRS:
        if os.path.isdir(path):
            args += ["--tmpfs", path, "--remount-ro", path]
    return args


def _package_dir() -> str:
    return str(Path(cwm_lsp.__file__).resolve().parent)


@functools.cache
def child_path_dir() -> str:
    """A directory holding only a link to the ``cwm_lsp`` package: on the child's path, it
    makes the (stdlib-only) child side importable in any interpreter without exposing
    cwm-lsp's own site-packages to the project's code."""
    directory = tempfile.mkdtemp(prefix="cwm-lsp-child-path-")
    os.symlink(_package_dir(), os.path.join(directory, "cwm_lsp"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


def _under_tmp(path: str) -> bool:
    return path == "/tmp" or path.startswith("/tmp/")


def _tmp_binds(paths: list[str]) -> list[str]:
    """``--ro-bind`` arguments for the existing paths under ``/tmp`` (the private ``/tmp``
    would hide them), outermost first, nested ones dropped."""
    wanted: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths} | {os.path.abspath(p) for p in paths}):
        if not _under_tmp(path) or not os.path.exists(path):
            continue
        if any(path.startswith(outer + os.sep) for outer in wanted):
            continue
        wanted.append(path)
    return [arg for path in wanted for arg in ("--ro-bind", path, path)]


@functools.cache
def _own_interpreter_dirs() -> tuple[str, ...]:
    """The directories cwm-lsp's own interpreter runs from: its prefixes (a venv's too), the
    directory of its executable and its import path."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    dirs.update(path for path in sys.path if path and os.path.isdir(path))
    return tuple(sorted(dirs))


def _child_command(
    sandbox: str,
    scratch: str,
    visible_dirs: list[str],
    python: str | None = None,
    module: str = "cwm_lsp.execution.child",
) -> list[str]:
    """``visible_dirs``: what the run reads (the interpreter's prefixes, site directories,
    the import root), made visible read-only under bubblewrap."""
    # PYTHONSAFEPATH in the environment keeps the scratch directory (cwd) off sys.path
    interpreter = [python or sys.executable, "-s", "-B", "-m", module]
    if sandbox != BUBBLEWRAP:
        return interpreter
    if python is None:  # cwm-lsp's own interpreter: what it reads may live under /tmp too
        visible_dirs = [*visible_dirs, *_own_interpreter_dirs()]
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [bwrap, *_bwrap_namespace_args()]
    args += _tmp_binds([child_path_dir(), _package_dir(), *visible_dirs])
    args += ["--bind", scratch, scratch, "--chdir", scratch]
    # the private /tmp is a tmpfs (RAM): read-only, so only the disk-backed scratch is writable
    args += ["--remount-ro", "/tmp", "--"]
    return args + interpreter


def _child_env(scratch: str) -> dict[str, str]:
    return {
        "PYTHONHASHSEED": "0",  # set order is part of the trace
        "PYTHONPATH": child_path_dir(),
        "PYTHONSAFEPATH": "1",  # like -P (3.11+), which Python 3.10 would reject
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUTF8": "1",
        "PYTHONUNBUFFERED": "1",  # output printed before a kill is still captured
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "HOME": scratch,
        "TMPDIR": scratch,
        # one BLAS/OpenMP thread: each extra thread reserves address space under RLIMIT_AS
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


class LineBuffer:
    """Complete lines out of the result pipe's chunks. A partial line longer than ``cap`` is
    dropped: the recorder never writes one, so it can only be the program's."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        if len(self.pending) > self.cap:
            self.pending = b""
        return lines

    def clear(self) -> None:
        self.pending = b""


class _CappedStream:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[output truncated: {self.dropped} more bytes not shown]\n"
        return text


class _Run:
    """One child process and the state read back from it."""

    def __init__(
        self,
        context: str,
        limits: SandboxLimits,
        sandbox: str,
        on_frame: FrameCallback | None,
        cancel: CancelToken | None,
        place: RunPlace,
    ) -> None:
        self.context = context
        self.place = place
        self.limits = limits
        self.sandbox = sandbox
        self.on_frame = on_frame
        self.cancel = cancel
        self.frames: list[Frame] = []
        self.line_numbers: list[int] = []
        self.end: dict[str, Any] | None = None
        self.stdout = _CappedStream(limits.output_bytes)
        self.stderr = _CappedStream(limits.output_bytes)
        self.lines = LineBuffer(limits.trace_chars + _READ_CHUNK)
        self.limit: str | None = None
        self.scratch = ""
        self.started = False  # the child reported that it runs (sandbox and interpreter work)
        self.key = os.urandom(16)  # signs the recorder's messages (see child.Channel)
        self.forged = 0  # lines on the result pipe that the recorder did not sign

    def execute(self) -> TraceRecording:
        start = time.monotonic()
        scratch = self.scratch = tempfile.mkdtemp(prefix="cwm-lsp-run-")
        if os.geteuid() == 0 and self.sandbox != BUBBLEWRAP:
            os.chown(scratch, NOBODY_ID, NOBODY_ID)  # the child gives up root (see capabilities)
        result_read, result_write = os.pipe()
        proc: subprocess.Popen[bytes] | None = None
        try:
            request = {
                "context": self.context,
                "limits": self.limits.to_json(),
                "scratch": scratch,
                "sandbox": self.sandbox,
                "result_fd": result_write,
                "key": self.key.hex(),
                "readable": self.place.read_dirs(),
                "etc": public_etc(),
                **self.place.request_fields(),
            }
            place = self.place
            try:
                proc = subprocess.Popen(
                    _child_command(self.sandbox, scratch, place.read_dirs(), place.python),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    pass_fds=(result_write,),
                    env=_child_env(scratch),
                    cwd=scratch,
                    start_new_session=True,
                )
            except OSError as exc:
                raise TracerError(f"could not start the sandboxed Python: {exc}") from None
            os.close(result_write)
            result_write = -1
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(json.dumps(request).encode("utf-8"))
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            with child_running():
                self._collect(proc, result_read, start + self.limits.wall_seconds)
        finally:
            if proc is not None:
                _kill_tree(proc)
            if result_write >= 0:
                os.close(result_write)
            os.close(result_read)
            shutil.rmtree(scratch, ignore_errors=True)
        return self._recording(proc, time.monotonic() - start)

    def _collect(self, proc: subprocess.Popen[bytes], result_fd: int, deadline: float) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        selector = selectors.DefaultSelector()
        selector.register(result_fd, selectors.EVENT_READ, self._on_result)
        selector.register(proc.stdout.fileno(), selectors.EVENT_READ, self.stdout.add)
        selector.register(proc.stderr.fileno(), selectors.EVENT_READ, self.stderr.add)
        grace_end: float | None = None
        next_scratch_check = 0.0
        try:
            while selector.get_map():
                if self.cancel is not None and self.cancel.cancelled:
                    self.limit = CANCELLED_MESSAGE
                    return
                now = time.monotonic()
                if self.end is not None:
                    # finished: drain what is left of stdout/stderr, but never wait on a writer
                    grace_end = grace_end or now + 1.0
                    if now >= grace_end:
                        break
                    wait = grace_end - now
                elif now >= deadline:
                    self.limit = time_limit_message(self.limits.wall_seconds)
                    return
                else:
                    wait = deadline - now
                if now >= next_scratch_check:
                    next_scratch_check = now + _SCRATCH_CHECK_SECONDS
                    self.limit = scratch_limit(self.scratch, self.limits)
                    if self.limit is not None:
                        return
                for key, _ in selector.select(min(_POLL_SECONDS, wait)):
                    chunk = os.read(key.fd, _READ_CHUNK)
                    if chunk:
                        key.data(chunk)
                    else:
                        selector.unregister(key.fd)
            _wait_unreaped(proc.pid, min(1.0, deadline - time.monotonic()))
        finally:
            selector.close()

    def _on_result(self, chunk: bytes) -> None:
        for message in self._messages(self.lines, chunk):
            self._on_message(message)

    def _messages(self, lines: LineBuffer, chunk: bytes) -> Iterator[Any]:
        """The parsed messages of the lines ``chunk`` completes in ``lines`` that the recorder
        signed (other lines are counted as forged)."""
        for line in lines.feed(chunk):
            raw = self._verified(line)
            if raw is None:
                continue
            try:
                yield json.loads(raw)
            except ValueError:
                continue

    def _on_message(self, message: Any) -> None:
        """One verified message of the recorder (a frame, the end, or that it started)."""
        try:
            frame = Frame.from_json(message) if message.get("t") == "frame" else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not a message of the recorder's shape
        if frame is not None:
            self.frames.append(frame)
            self.line_numbers.append(int(message.get("lineno", 0)))
            if self.on_frame is not None:
                self.on_frame(frame)
        elif message.get("t") == "end":
            self.end = message
        elif message.get("t") == "started":
            self.started = True

    def _verified(self, line: bytes) -> bytes | None:
        """The message of a line the recorder signed; None (counted) for any other line."""
        mac, _, body = line.partition(b" ")
        expected = hashlib.blake2b(body, key=self.key, digest_size=16).hexdigest().encode()
        if hmac.compare_digest(mac, expected):
            return body
        self.forged += 1
        return None

    def _recording(self, proc: subprocess.Popen[bytes] | None, seconds: float) -> TraceRecording:
        if self.forged:
            raise TracerError(
                f"the program wrote {self.forged} forged line(s) to the recorder's result "
                "channel; nothing of this run is shown as observed"
            )
        end = self.end or {}
        if end.get("error"):
            raise TracerError(str(end["error"]))
        if not self.started and self.limit is None:
            raise TracerError(start_failure(self.stderr.text(), self.place.python))
        limit = self.limit or end.get("limit")
        if limit is None and self.end is None:
            limit = self._death_reason(proc)
        finished = bool(end.get("finished")) and self.limit is None
        return TraceRecording(
            frames=self.frames,
            trace_text=encode_trace(self.frames, finished=finished),
            finished=finished,
            stdout=self.stdout.text(),
            stderr=self.stderr.text(),
            limit=limit,
            sandbox=self.sandbox,
            uncaught=end.get("uncaught"),
            line_numbers=self.line_numbers,
            violations=list(end.get("violations") or []),
            stdout_truncated=self.stdout.dropped > 0,
            stderr_truncated=self.stderr.dropped > 0,
            seconds=seconds,
            seccomp=bool(end.get("seccomp")),
            protections=[str(item) for item in end.get("protections") or []],
        )

    def _death_reason(self, proc: subprocess.Popen[bytes] | None) -> str:
        code = proc.returncode if proc is not None else None
        if code is None:
            return "the sandboxed process ended without a result"
        signum = -code if code < 0 else code - 128 if code > 128 else 0
        if signum == signal.SIGXCPU:
            return cpu_limit_message(self.limits.cpu_limit())
        if signum == signal.SIGKILL:
            return (
                "the sandboxed process was killed (SIGKILL); the CPU time limit "
                f"({self.limits.cpu_limit()} s) or the memory limit "
                f"({format_bytes(self.limits.memory_bytes)}) may have been exceeded"
            )
        if signum > 0:
            name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
            return f"the sandboxed process was killed by {name}"
        return f"the sandboxed process exited with code {code} before finishing"


def start_failure(stderr: str, python: str | None) -> str:
    """Why the sandboxed Python never started: the last line it or bubblewrap printed
    (``bwrap: execvp ...: No such file or directory``, an interpreter that cannot import the
    tracer), not a generic exit code."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    cause = lines[-1] if lines else "it exited without a message"
    return f"the sandbox could not start {python or sys.executable}: {cause}"


def scratch_limit(scratch: str, limits: SandboxLimits) -> str | None:
    """The message for the scratch-directory limit the program went over, if any."""
    total = 0
    entries = 0
    pending = [scratch]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                for entry in listing:
                    entries += 1
                    if entries > limits.scratch_files:
                        return scratch_files_message(limits.scratch_files)
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += getattr(info, "st_blocks", 0) * 512 or info.st_size
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except OSError:
            continue
    if total > limits.scratch_bytes:
        return scratch_bytes_message(limits.scratch_bytes)
    return None


def _wait_unreaped(pid: int, seconds: float) -> None:
    """Wait up to ``seconds`` for ``pid`` to exit without reaping it.

    An unreaped child keeps its pid (and so its process group id) from being reused, so the
    group can still be killed safely afterwards.
    """
    end = time.monotonic() + max(0.0, seconds)
    if not hasattr(os, "waitid"):  # macOS: no WNOWAIT; poll the process's existence instead
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.005)
        return
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:
            return
        if time.monotonic() >= end:
            return
        time.sleep(0.005)


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child, its process group and every descendant; reap the child."""
    descendants: list[Any] = []
    try:
        import psutil

        with contextlib.suppress(psutil.Error):
            descendants = psutil.Process(proc.pid).children(recursive=True)
    except ImportError:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for process in descendants:
        with contextlib.suppress(Exception):
            process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def record_call(
    context: str,
    *,
    limits: SandboxLimits | None = None,
    cancel: CancelToken | None = None,
    on_frame: FrameCallback | None = None,
    sandbox: str = "auto",
    source_path: str | None = None,
    place: RunPlace | None = None,
) -> TraceRecording:
    """Run the context's marked entry function in a sandboxed child and record its trace.

    ``sandbox``: ``"auto"`` (bubblewrap when it works, else Landlock, never the weak mode;
    $CWM_LSP_SANDBOX overrides), ``"bubblewrap"``, ``"landlock"`` or ``"audit-hook"``. ``on_frame`` is called with each frame as
    it arrives. ``source_path`` (the user's file) becomes the module's ``__file__`` and its
    directory importable (read-only), so sibling modules can be imported; ``place`` says that
    and more (the module's package, the interpreter) and wins over it. Raises :class:`TracerError` when the run cannot start (no runnable entry,
    sandbox unavailable); limits hit while running are reported in ``TraceRecording.limit``.
    """
    try:
        find_entry(context)
    except NoRunnableEntry as exc:
        raise TracerError(str(exc)) from None
    kind = choose_sandbox(sandbox)
    place = place or RunPlace(source_path=source_path)
    run = _Run(context, limits or SandboxLimits(), kind, on_frame, cancel, place)
    return run.execute()
