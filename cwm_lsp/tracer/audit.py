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
# event -> indexes of its path arguments that the program would modify
PATH_EVENTS: dict[str, tuple[int, ...]] = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.link": (1,),
    "os.symlink": (1,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "os.mkfifo": (0,),
    "os.mknod": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_ALWAYS_WRITABLE = ("/dev/null",)


def _inside(path: Any, root: str) -> bool:
    if isinstance(path, int):  # an already open file descriptor
        return True
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return False
    real = os.path.realpath(text)
    return real == root or real.startswith(root + os.sep) or real in _ALWAYS_WRITABLE


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
        elif restrict_files and event in PATH_EVENTS:
            for index in PATH_EVENTS[event]:
                if index < len(args) and not _inside(args[index], root):
                    deny(
                        "file", f"changing {args[index]!r} is not allowed (only {root} is writable)"
                    )

    sys.addaudithook(hook)
