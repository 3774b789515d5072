"""A seccomp filter that stops the child from creating processes (threads stay allowed).

The audit hook refuses the Python ways of starting processes, but code can go around it
(ctypes, ``_posixsubprocess``), and RLIMIT_NPROC does not apply to root. This filter makes the
kernel refuse ``fork``/``vfork`` and any ``clone`` without ``CLONE_THREAD`` (``EAGAIN``), and
answers ``clone3`` with ``ENOSYS`` so that glibc falls back to ``clone`` for threads. It is
installed with ``PR_SET_NO_NEW_PRIVS`` and cannot be removed. x86-64 and aarch64 only; elsewhere
:func:`block_process_creation` returns False and the other layers remain.
"""

from __future__ import annotations

import ctypes
import platform
import struct

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_EAGAIN = 11
_ENOSYS = 38
_CLONE_THREAD = 0x00010000

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# machine -> (AUDIT_ARCH, fork, vfork, clone, clone3); None where the syscall does not exist
_ARCHES: dict[str, tuple[int, int | None, int | None, int, int]] = {
    "x86_64": (0xC000003E, 57, 58, 56, 435),
    "aarch64": (0xC00000B7, None, None, 220, 435),
}


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def filter_program(machine: str) -> bytes | None:
    """The BPF program (``struct sock_filter`` array) for ``machine``, or None if unsupported."""
    if machine not in _ARCHES:
        return None
    arch, fork, vfork, clone, clone3 = _ARCHES[machine]
    deny = _RET_ERRNO | _EAGAIN
    nosys = _RET_ERRNO | _ENOSYS
    forks = [nr for nr in (fork, vfork) if nr is not None]
    # layout: 0 ld arch; 1 jeq arch; 2 ret allow (other ABI); 3 ld nr; [x32 check]; forks...;
    # clone3; clone; ret allow; ret deny; ret nosys; ld flags; jset thread; ret deny; ret allow
    body: list[tuple[int, int, int, int]] = []
    body.append((_LD_W_ABS, 0, 0, 4))  # seccomp_data.arch
    body.append((_JEQ_K, 1, 0, arch))
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    body.append((_LD_W_ABS, 0, 0, 0))  # seccomp_data.nr
    checks: list[tuple[str, int, int]] = []  # (target, opcode, value)
    if machine == "x86_64":
        checks.append(("deny", _JGE_K, 0x40000000))  # x32 ABI syscalls
    checks += [("deny", _JEQ_K, nr) for nr in forks]
    checks.append(("nosys", _JEQ_K, clone3))
    checks.append(("clone", _JEQ_K, clone))
    first_check = len(body)
    allow_at = first_check + len(checks)
    deny_at, nosys_at, clone_at = allow_at + 1, allow_at + 2, allow_at + 3
    targets = {"deny": deny_at, "nosys": nosys_at, "clone": clone_at}
    for index, (target, opcode, value) in enumerate(checks):
        position = first_check + index
        body.append((opcode, targets[target] - position - 1, 0, value))
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    body.append((_RET_K, 0, 0, deny))
    body.append((_RET_K, 0, 0, nosys))
    body.append((_LD_W_ABS, 0, 0, 16))  # low 32 bits of args[0] (clone flags), little endian
    body.append((_JSET_K, 1, 0, _CLONE_THREAD))
    body.append((_RET_K, 0, 0, deny))
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(_insn(*insn) for insn in body)


def block_process_creation() -> bool:
    """Install the filter in this process; True when the kernel accepted it."""
    program = filter_program(platform.machine())
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
