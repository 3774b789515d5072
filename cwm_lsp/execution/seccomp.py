"""A seccomp filter: the kernel refuses the system calls a traced function has no business making.

The audit hook only sees the Python ways of doing things; ``ctypes`` and C extensions go around
it. This filter is enforced by the kernel, installed with ``PR_SET_NO_NEW_PRIVS`` and cannot be
removed. It refuses:

- process creation: ``fork``/``vfork`` and any ``clone`` without ``CLONE_THREAD`` (``EAGAIN``;
  threads stay allowed), ``clone3`` (``ENOSYS``, so glibc falls back to ``clone`` for threads),
  ``execve``/``execveat``;
- reaching other processes: ``ptrace``, ``process_vm_readv/writev``, ``kill``/``tgkill``/
  ``rt_sigqueueinfo`` to any pid but this process's own, ``tkill``, pidfds, ``kcmp``;
- the network: ``socket``/``socketpair`` of any family but ``AF_UNIX``; ``connect``,
  ``sendmsg``/``sendmmsg`` and ``sendto`` with an address, so that no Unix socket of the host
  (a container runtime's, the session bus, an agent) is reached: a socket pair still works;
  ``io_uring`` (its operations would not pass through this filter);
- the kernel's other doors: ``mount`` and the new mount API, ``unshare``, ``setns``, ``chroot``,
  ``pivot_root``, ``keyctl``/``add_key``/``request_key``, ``userfaultfd``, ``bpf``,
  ``perf_event_open``, ``open_by_handle_at``, module loading, ``kexec``, ``reboot``, swap,
  ``acct``, ``quotactl``, ``personality`` changes;
- ``truncate`` by path (Landlock before ABI 3 does not cover it; ``ftruncate`` of a file opened
  for writing stays allowed);
- hard links (``link``/``linkat``), and in the weak (audit-hook only) mode symbolic links too:
  without Landlock nothing else stops a link from aiming outside the scratch directory;
- every system call of another ABI (x32, and i386 through ``int 0x80`` on x86-64).

x86-64 and aarch64 only; elsewhere :func:`install` returns False and the other layers remain.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from dataclasses import dataclass

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_EPERM = 1
_EAGAIN = 11
_ENOSYS = 38
_EACCES = 13
_CLONE_THREAD = 0x00010000
_AF_UNIX = 1
_PERSONALITY_QUERY = 0xFFFFFFFF

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

_ARG0_LOW = 16  # offset of the low 32 bits of args[0] in seccomp_data (little endian)


@dataclass(frozen=True)
class _Arch:
    audit_arch: int
    calls: dict[str, int]  # name -> number, for the calls this filter looks at


_COMMON_NEW = {
    "clone3": 435, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442,
}  # fmt: skip
_ARCHES: dict[str, _Arch] = {
    "x86_64": _Arch(
        0xC000003E,
        {
            "fork": 57, "vfork": 58, "clone": 56, "execve": 59, "execveat": 322,
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
            "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
            "rt_tgsigqueueinfo": 297, "socket": 41, "socketpair": 53,
            "connect": 42, "sendto": 44, "sendmsg": 46, "sendmmsg": 307, "truncate": 76,
            "link": 86, "linkat": 265, "symlink": 88, "symlinkat": 266,
            "personality": 135, "keyctl": 250, "add_key": 248, "request_key": 249,
            "userfaultfd": 323, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
            "unshare": 272, "setns": 308, "open_by_handle_at": 304, "name_to_handle_at": 303,
            "bpf": 321, "perf_event_open": 298, "kexec_load": 246, "kexec_file_load": 320,
            "init_module": 175, "finit_module": 313, "delete_module": 176, "reboot": 169,
            "swapon": 167, "swapoff": 168, "acct": 163, "quotactl": 179, "iopl": 172,
            "ioperm": 173, **_COMMON_NEW,
        },
    ),
    "aarch64": _Arch(
        0xC00000B7,
        {
            "clone": 220, "execve": 221, "execveat": 281,
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
            "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
            "rt_tgsigqueueinfo": 240, "socket": 198, "socketpair": 199,
            "connect": 203, "sendto": 206, "sendmsg": 211, "sendmmsg": 269, "truncate": 45,
            "linkat": 37, "symlinkat": 36,
            "personality": 92, "keyctl": 219, "add_key": 217, "request_key": 218,
            "userfaultfd": 282, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
            "unshare": 97, "setns": 268, "open_by_handle_at": 265, "name_to_handle_at": 264,
            "bpf": 280, "perf_event_open": 241, "kexec_load": 104, "kexec_file_load": 294,
            "init_module": 105, "finit_module": 273, "delete_module": 106, "reboot": 142,
            "swapon": 224, "swapoff": 225, "acct": 89, "quotactl": 60, **_COMMON_NEW,
        },
    ),
}  # fmt: skip

DENIED = (
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "tkill",
    "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "link", "linkat", "keyctl", "add_key", "request_key", "userfaultfd",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_by_handle_at",
    "name_to_handle_at", "bpf", "perf_event_open", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "iopl", "ioperm", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "connect", "sendmsg", "sendmmsg", "truncate",
)  # fmt: skip
FORKS = ("fork", "vfork")
OWN_PID_ONLY = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")  # args[0] is a pid
UNIX_ONLY = ("socket", "socketpair")  # args[0] is the address family
SYMLINKS = ("symlink", "symlinkat")


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


class _Program:
    """BPF with named jump targets: ``jump(op, value, label)`` jumps there when true."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int) -> None:
        self.code.append((code, 0, 0, k))

    def jump(self, code: int, k: int, if_true: str, if_false: str | None = None) -> None:
        self.code.append((code, if_true, 0 if if_false is None else if_false, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def ret(self, value: int) -> None:
        self.op(_RET_K, value)

    def test(self, code: int, k: int, when_true: int, when_false: int) -> None:
        """Return ``when_true`` if the accumulator passes the test, else ``when_false``."""
        self.code.append((code, 0, 1, k))
        self.ret(when_true)
        self.ret(when_false)

    def assemble(self) -> bytes:
        out = []
        for index, (code, jt, jf, k) in enumerate(self.code):
            offsets = [self.labels[t] - index - 1 if isinstance(t, str) else t for t in (jt, jf)]
            if any(not 0 <= offset <= 255 for offset in offsets):
                raise ValueError("seccomp program: jump out of range")
            out.append(_insn(code, offsets[0], offsets[1], k))
        return b"".join(out)


def filter_program(
    machine: str, pid: int = 0, *, deny_symlinks: bool = False, allow_fork: bool = False
) -> bytes | None:
    """The BPF program (``struct sock_filter`` array) for ``machine``, or None if unsupported.

    ``pid``: the process the filter is installed in (the only one it may signal).
    ``allow_fork``: for a fork server, whose forked children each add the full filter."""
    arch = _ARCHES.get(machine)
    if arch is None:
        return None
    calls = arch.calls
    program = _Program()
    program.op(_LD_W_ABS, 4)  # seccomp_data.arch
    program.jump(_JEQ_K, arch.audit_arch, "native", "nosys")
    program.label("native")
    program.op(_LD_W_ABS, 0)  # seccomp_data.nr
    if machine == "x86_64":
        program.jump(_JGE_K, 0x40000000, "nosys")  # x32 ABI
    denied = list(DENIED) + (list(SYMLINKS) if deny_symlinks else [])
    for name in denied:
        if name in calls:
            program.jump(_JEQ_K, calls[name], "eperm")
    if not allow_fork:
        for name in FORKS:
            if name in calls:
                program.jump(_JEQ_K, calls[name], "eagain")
        program.jump(_JEQ_K, calls["clone"], "clone")
    program.jump(_JEQ_K, calls["clone3"], "nosys")
    for name in OWN_PID_ONLY:
        program.jump(_JEQ_K, calls[name], "own_pid")
    for name in UNIX_ONLY:
        program.jump(_JEQ_K, calls[name], "unix_only")
    program.jump(_JEQ_K, calls["personality"], "personality")
    program.jump(_JEQ_K, calls["sendto"], "sendto")
    program.label("allow")
    program.ret(_RET_ALLOW)
    program.label("eperm")
    program.ret(_RET_ERRNO | _EPERM)
    program.label("eagain")
    program.ret(_RET_ERRNO | _EAGAIN)
    program.label("nosys")
    program.ret(_RET_ERRNO | _ENOSYS)
    program.label("clone")
    program.op(_LD_W_ABS, _ARG0_LOW)  # clone flags
    program.test(_JSET_K, _CLONE_THREAD, _RET_ALLOW, _RET_ERRNO | _EAGAIN)
    program.label("own_pid")
    program.op(_LD_W_ABS, _ARG0_LOW)  # pid_t is 32 bits: the low word is the whole pid
    program.test(_JEQ_K, pid & 0xFFFFFFFF, _RET_ALLOW, _RET_ERRNO | _EPERM)
    program.label("unix_only")
    program.op(_LD_W_ABS, _ARG0_LOW)
    program.test(_JEQ_K, _AF_UNIX, _RET_ALLOW, _RET_ERRNO | _EACCES)
    program.label("sendto")
    program.op(_LD_W_ABS, _ARG0_LOW + 4 * 8)  # dest_addr (args[4]): NULL is a plain send
    program.jump(_JEQ_K, 0, "sendto_high", "eperm_late")
    program.label("sendto_high")
    program.op(_LD_W_ABS, _ARG0_LOW + 4 * 8 + 4)
    program.test(_JEQ_K, 0, _RET_ALLOW, _RET_ERRNO | _EPERM)
    program.label("eperm_late")
    program.ret(_RET_ERRNO | _EPERM)
    program.label("personality")
    program.op(_LD_W_ABS, _ARG0_LOW)
    program.test(_JEQ_K, _PERSONALITY_QUERY, _RET_ALLOW, _RET_ERRNO | _EPERM)
    return program.assemble()


def install(*, deny_symlinks: bool = False, allow_fork: bool = False) -> bool:
    """Install the filter in this process; True when the kernel accepted it. Filters stack:
    one installed later can only refuse more."""
    program = filter_program(
        platform.machine(), os.getpid(), deny_symlinks=deny_symlinks, allow_fork=allow_fork
    )
    if program is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    count = len(program) // 8
    buffer = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    fprog = SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
    prctl = libc.prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = (ctypes.c_int, *(ctypes.c_ulong,) * 4)
    if prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    accepted = prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) == 0
    del buffer  # the kernel copied the program
    return bool(accepted)


def block_process_creation() -> bool:
    """Former name of :func:`install` (the filter does more than that now)."""
    return install()
