"""Run a Python command as on a kernel without Landlock: ``python without_landlock.py ARGS...``
execs ``python ARGS...`` under a seccomp filter that answers ``landlock_create_ruleset`` with
ENOSYS, as a container's seccomp profile does. Used by tests/e2e/test_sandbox_attacks.py and
by .ci/run to exercise the sandbox where only bubblewrap (or nothing) is available."""

from __future__ import annotations

import ctypes
import os
import struct
import sys

_LANDLOCK_CREATE_RULESET = 444
_ENOSYS = 38


def hide_landlock() -> None:
    insns = [
        (0x20, 0, 0, 0),  # load the system call number
        (0x15, 0, 1, _LANDLOCK_CREATE_RULESET),
        (0x06, 0, 0, 0x00050000 | _ENOSYS),
        (0x06, 0, 0, 0x7FFF0000),
    ]
    program = b"".join(struct.pack("HBBI", *insn) for insn in insns)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HxxxxxxQ", len(insns), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(22, 2, ctypes.create_string_buffer(fprog, len(fprog)), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


if __name__ == "__main__":
    hide_landlock()
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
