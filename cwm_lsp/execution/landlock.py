"""Landlock (Linux >= 5.13): confine this process's file access, TCP and signals; stdlib only.

Applied by the sandboxed child to itself before user code runs, through the three landlock
system calls (no dependency). Once applied it cannot be removed and is inherited by threads:
files outside the allowed trees cannot be opened (reads) or changed (writes), no TCP port can be
bound or connected (ABI >= 4), and signals / abstract Unix sockets cannot reach processes outside
the sandbox (ABI >= 6). Each ABI level adds rights; :func:`restrict` handles what the running
kernel knows and says which protections are in force.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct
import sys
from collections.abc import Iterable
from typing import Any

# system call numbers: the same on every architecture (they were added after the unification)
_CREATE_RULESET = 444
_ADD_RULE = 445
_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = READ_FILE | READ_DIR
WRITE_ALL = (1 << 16) - 1 & ~EXECUTE

# Files under /etc that hold secrets: never readable. Everything else in /etc is (programs read
# their configuration, time zone, users, certificates).
SECRET_ETC = frozenset(
    {
        "shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh",
        "ssl", "security", "credstore", "credstore.encrypted", ".pwd.lock", "subuid", "subgid",
        "krb5.keytab", "libvirt", "wireguard", "NetworkManager", "docker", "containerd",
    }
)  # fmt: skip
PUBLIC_ETC_SSL = ("certs", "openssl.cnf")
# where the permissions decide (public_subtrees), these still stay out whatever their mode says
ALWAYS_SECRET_ETC = SECRET_ETC - {"ssl", "ssh", "security"}
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class LandlockError(OSError):
    """Landlock is missing or refused the ruleset (the message says which step)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is unavailable (old kernel, disabled
    at boot, or the system call is filtered, e.g. by a container's seccomp profile)."""
    try:
        syscall = _libc().syscall
    except (OSError, AttributeError):
        return 0
    syscall.restype = ctypes.c_long
    version = syscall(
        ctypes.c_long(_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint(_CREATE_RULESET_VERSION),
    )
    return max(0, int(version))


def handled_fs(abi: int) -> int:
    """The file-system rights Landlock ABI ``abi`` can restrict."""
    best = 0
    for level, rights in _FS_BY_ABI.items():
        if abi >= level:
            best = rights
    return best


def protections(abi: int) -> list[str]:
    """What a ruleset applied at ``abi`` guarantees, in words (for ``doctor`` and reports)."""
    if abi <= 0:
        return []
    found = ["landlock: file reads and writes limited to an allowlist"]
    if abi >= 4:
        found.append("landlock: no TCP bind or connect")
    if abi >= 6:
        found.append("landlock: no signals or abstract sockets to processes outside")
    return found


def default_read_paths(extra: Iterable[str] = (), etc: Iterable[str] | None = None) -> list[str]:
    """What a run needs to read: the interpreter's trees and import path, system libraries,
    /etc without its secrets, a few devices, and ``extra``. ``etc``: the readable part of /etc
    (see :func:`public_subtrees`); None: every entry of /etc but the :data:`SECRET_ETC` names."""
    paths = [*SYSTEM_READ, *DEVICES, *extra]
    paths += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths.append(os.path.dirname(os.path.realpath(sys.executable)))
    paths += [entry for entry in sys.path if entry]
    if etc is not None:
        return paths + list(etc)
    try:
        with os.scandir("/etc") as listing:
            for entry in listing:
                if entry.name not in SECRET_ETC:
                    paths.append(entry.path)
    except OSError:
        pass
    paths += [os.path.join("/etc/ssl", name) for name in PUBLIC_ETC_SSL]
    return paths


def public_subtrees(root: str = "/etc", skip: frozenset[str] = ALWAYS_SECRET_ETC) -> list[str]:
    """The fewest paths under ``root`` covering what everyone may read there: files readable by
    all, directories everyone may list and enter, symbolic links to such files, and none of the
    ``skip`` names at the top. A root-only file stays out even for a process that can read it
    (root's child keeps the right to read everything; Landlock then decides alone)."""
    found: list[str] = []
    with os.scandir(root) as listing:
        entries = [entry for entry in listing if entry.name not in skip]
    for entry in entries:
        found += _public(entry.path)
    return found


def _public(path: str) -> list[str]:
    """``[path]`` when all of it is public, else its public parts."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            info = os.stat(path)
            return [path] if stat.S_ISREG(info.st_mode) and info.st_mode & stat.S_IROTH else []
    except OSError:
        return []
    if not info.st_mode & stat.S_IROTH:
        return []
    if not stat.S_ISDIR(info.st_mode):
        return [path]
    if not info.st_mode & stat.S_IXOTH:
        return []
    try:
        names = os.listdir(path)
    except OSError:
        return []
    parts: list[str] = []
    whole = True
    for name in names:
        inner = _public(os.path.join(path, name))
        whole = whole and inner == [os.path.join(path, name)]
        parts += inner
    return [path] if whole else parts


def restrict(read_paths: Iterable[str], write_paths: Iterable[str]) -> list[str]:
    """Confine this process: read only under ``read_paths``, write only under ``write_paths``,
    no TCP, no signals out of the sandbox. Returns the protections in force (see
    :func:`protections`); raises :class:`LandlockError` when Landlock is unavailable or fails.

    Paths that do not exist are skipped. Sets ``PR_SET_NO_NEW_PRIVS`` (required by the kernel).
    """
    abi = abi_version()
    if abi <= 0:
        raise LandlockError("Landlock is not available in this kernel")
    libc = _libc()
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    fs = handled_fs(abi)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", fs, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    buffer = ctypes.create_string_buffer(attr[:size], size)
    ruleset = int(
        syscall(ctypes.c_long(_CREATE_RULESET), buffer, ctypes.c_size_t(size), ctypes.c_uint(0))
    )
    if ruleset < 0:
        raise LandlockError(
            ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}"
        )
    try:
        for path in write_paths:
            _allow(syscall, ruleset, path, fs & WRITE_ALL | READ)
        for path in read_paths:
            _allow(syscall, ruleset, path, READ)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint(0)) != 0:
            errno = ctypes.get_errno()
            raise LandlockError(errno, f"landlock_restrict_self: {os.strerror(errno)}")
    finally:
        os.close(ruleset)
    return protections(abi)


def _allow(syscall: Any, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # missing (or unreachable) paths grant nothing
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS  # the kernel refuses directory rights on a file
        rule = struct.pack("=Qi", rights, fd)
        buffer = ctypes.create_string_buffer(rule, len(rule))
        done = syscall(
            ctypes.c_long(_ADD_RULE),
            ctypes.c_int(ruleset),
            ctypes.c_int(_RULE_PATH_BENEATH),
            buffer,
            ctypes.c_uint(0),
        )
        if done != 0:
            errno = ctypes.get_errno()
            raise LandlockError(errno, f"landlock_add_rule({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)
