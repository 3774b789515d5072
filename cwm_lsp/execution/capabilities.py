"""Give up root's powers before user code runs (stdlib only, through ``ctypes``).

A language server started as root would otherwise hand root's powers to the code it traces:
raising its own resource limits back, changing the mode or owner of any root-owned file (Landlock
has no right for metadata), signalling root's processes. :func:`drop_all` keeps the user id and
drops every capability in every set (effective, permitted, inheritable, ambient, bounding).
:func:`become_nobody` (root only) also switches to user and group 65534 and keeps one
capability, ``CAP_DAC_READ_SEARCH``, so the interpreter and the project stay readable where they
sit in root's private directories; what is readable is then decided by Landlock alone.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Any

_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_PR_SET_KEEPCAPS = 8
_VERSION_3 = 0x20080522
_LAST_CAP = 63
CAP_DAC_READ_SEARCH = 2
NOBODY = 65534


def _prctl() -> Any:
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = (ctypes.c_int, *(ctypes.c_ulong,) * 4)
    return prctl


def _drop_bounding_and_ambient(prctl: Any) -> None:
    for cap in range(_LAST_CAP + 1):
        if prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL
            break  # past the last capability this kernel knows
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def _capset(keep: int) -> None:
    """Set the effective and permitted sets to the capability bits ``keep`` (< 32)."""
    header = ctypes.create_string_buffer(struct.pack("Ii", _VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(struct.pack("6I", keep, keep, 0, 0, 0, 0), 24)
    ctypes.CDLL(None, use_errno=True).capset(header, data)


def drop_all() -> bool:
    """Drop all capabilities; True when the process holds none afterwards."""
    try:
        prctl = _prctl()
    except OSError:
        return False
    _drop_bounding_and_ambient(prctl)
    _capset(0)
    return effective() == 0


def become_nobody() -> bool:
    """(root) Switch to user/group 65534 keeping only ``CAP_DAC_READ_SEARCH``; True on success."""
    try:
        prctl = _prctl()
        _drop_bounding_and_ambient(prctl)
        if prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
            return False
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        prctl(_PR_SET_KEEPCAPS, 0, 0, 0, 0)
        _capset(1 << CAP_DAC_READ_SEARCH)
    except OSError:
        return False
    return os.getuid() == NOBODY and effective() == 1 << CAP_DAC_READ_SEARCH


def effective() -> int:
    """This process's effective capability set (-1 when it cannot be read)."""
    header = ctypes.create_string_buffer(struct.pack("Ii", _VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(24)
    try:
        if ctypes.CDLL(None, use_errno=True).capget(header, data) != 0:
            return -1
    except (OSError, AttributeError):
        return -1
    words = struct.unpack("6I", data.raw)
    return words[0] | words[3] << 32
