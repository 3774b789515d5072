"""Drop every Linux capability of this process (stdlib only, through ``ctypes``).

A language server started as root would otherwise hand root's powers to the code it traces:
raising its own resource limits back, reading any file, signalling any process. After
:func:`drop_all` the process keeps its user id but no capability, in every set (effective,
permitted, inheritable, ambient, bounding), so ordinary permission checks apply to it.
"""

from __future__ import annotations

import ctypes
import struct

_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_VERSION_3 = 0x20080522
_LAST_CAP = 63


def drop_all() -> bool:
    """Drop all capabilities; True when the process holds none afterwards."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    prctl = libc.prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = (ctypes.c_int, *(ctypes.c_ulong,) * 4)
    for cap in range(_LAST_CAP + 1):
        if prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL
            break  # past the last capability this kernel knows
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = ctypes.create_string_buffer(struct.pack("Ii", _VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(bytes(24), 24)  # two (effective, permitted, inheritable)
    libc.capset(header, data)
    return holds_none()


def holds_none() -> bool:
    """Whether this process's effective, permitted and bounding sets are all empty."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
    except OSError:
        return False
    wanted = ("CapEff", "CapPrm", "CapBnd")
    return all(int(fields.get(name, "1").strip(), 16) == 0 for name in wanted)
