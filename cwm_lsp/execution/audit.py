"""Audit-hook sandbox policy, installed in the child before any user code runs.

``sys.addaudithook`` cannot be removed once installed. It is not a security boundary against
hostile code (C extensions and ctypes can bypass it; ctypes stays allowed because numpy and
other common libraries need it at import time); it stops the ordinary ways a function under study
would touch the world. With bubblewrap in force only the process policy is used (the file system
and the network are cut off by the namespaces); without bubblewrap all of it is.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any

PROCESS_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "os.exec",
        "os.kill",
        "os.killpg",
        "subprocess.Popen",
        "pty.spawn",
    }
)
NETWORK_EVENTS = frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "socket.sethostname",
    }
)
SOCKET_ADDRESS_EVENTS = frozenset(
    {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}
)
# event -> (index of a path argument the program would modify, index of its dir_fd or None)
PATH_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.link": ((0, 2), (1, 3)),  # a link to an outside file would make it writable
    "os.symlink": ((1, 2),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.truncate": ((0, None),),
    "os.utime": ((0, 3),),
    "os.mkfifo": ((0, 2),),
    "os.mknod": ((0, 3),),
    "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_DIRECTORY_FLAGS = os.O_DIRECTORY | getattr(os, "O_PATH", 0)
_ALWAYS_WRITABLE = ("/dev/null",)
_MEMORY_DATABASES = ("", ":memory:")


def _resolved(path: Any, dir_fd: Any = None) -> str | None:
    """The real path ``path`` names (relative to ``dir_fd`` when given); None if unknown."""
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if isinstance(dir_fd, int) and not os.path.isabs(text):
        try:
            text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
        except OSError:
            return None  # cannot tell where the descriptor points: treat as outside
    return os.path.realpath(text)


def _inside(path: Any, root: str, dir_fd: Any = None) -> bool:
    if isinstance(path, int):  # an already open file descriptor
        return True
    real = _resolved(path, dir_fd)
    if real is None:
        return False
    return real == root or real.startswith(root + os.sep) or real in _ALWAYS_WRITABLE


def _other_process(path: Any) -> bool:
    """Whether ``path`` is in another process's ``/proc/<pid>`` (its environment, memory)."""
    real = _resolved(path)
    if real is None or not real.startswith("/proc/"):
        return False
    pid = real.split("/")[2]
    return pid.isdigit() and int(pid) != os.getpid()


def install(
    scratch: str,
    *,
    restrict_files: bool,
    restrict_network: bool,
    on_violation: Callable[[str, str], None],
    allow_fork: Callable[[], bool] | None = None,
) -> None:
    """Install the policy. ``on_violation(kind, message)`` is told each blocked operation;
    ``os.fork`` passes while ``allow_fork()`` is true (a fork server's own forks)."""
    root = os.path.realpath(scratch)

    def deny(kind: str, message: str) -> None:
        on_violation(kind, message)
        raise PermissionError(f"cwm-lsp sandbox: {message}")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.fork" and allow_fork is not None and allow_fork():
            return
        if event in PROCESS_EVENTS:
            if event in ("os.kill", "os.killpg") and args and args[0] == os.getpid():
                return
            deny("process", f"starting or signalling processes is not allowed ({event})")
        elif event == "socket.__new__":
            # AF_UNIX socket pairs stay allowed (asyncio's event loop needs one)
            if restrict_network and args[1] != socket.AF_UNIX:
                deny("network", f"network access is not allowed ({event})")
        elif event in SOCKET_ADDRESS_EVENTS:
            # bubblewrap's network namespace does not cover Unix socket files (e.g. a daemon's)
            deny("network", f"connecting sockets is not allowed ({event})")
        elif restrict_network and event in NETWORK_EVENTS:
            deny("network", f"network access is not allowed ({event})")
        elif restrict_files and event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and not _inside(path, root):
                deny("file", f"writing to {path!r} is not allowed (only {root} is writable)")
            # a directory descriptor would let relative paths (dir_fd=) reach outside
            directory = isinstance(flags, int) and flags & _DIRECTORY_FLAGS
            if not isinstance(path, int) and not _inside(path, root):
                if directory or os.path.isdir(path):
                    deny("file", f"opening the directory {path!r} is not allowed")
                if _other_process(path):
                    deny("file", f"reading another process's {path!r} is not allowed")
        elif restrict_files and event in PATH_EVENTS:
            for index, fd_index in PATH_EVENTS[event]:
                dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
                if index < len(args) and not _inside(args[index], root, dir_fd):
                    deny(
                        "file", f"changing {args[index]!r} is not allowed (only {root} is writable)"
                    )
        elif restrict_files and event == "sqlite3.connect":
            database = args[0]
            if not (database in _MEMORY_DATABASES or _inside(database, root)):
                deny("file", f"opening the database {database!r} is not allowed")

    sys.addaudithook(hook)
