"""The seccomp program is well formed (its effect is tested in tests/e2e/test_sandbox_limits.py)."""

from __future__ import annotations

import struct

from cwm_lsp.tracer.seccomp import filter_program


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]


def test_unknown_machines_get_no_filter() -> None:
    assert filter_program("sparc64") is None


def test_every_jump_lands_inside_the_program() -> None:
    for machine in ("x86_64", "aarch64"):
        program = filter_program(machine)
        assert program is not None
        insns = decode(program)
        for index, (code, jt, jf, _) in enumerate(insns):
            if code & 0x07 == 0x05:  # BPF_JMP class
                assert index + 1 + max(jt, jf) < len(insns)
        assert insns[-1][0] == 0x06  # ends with a return


def test_threads_are_allowed_and_forks_denied_in_the_program() -> None:
    program = filter_program("x86_64")
    assert program is not None
    insns = decode(program)
    jset = [insn for insn in insns if insn[0] == 0x45]
    assert jset == [(0x45, 1, 0, 0x00010000)]  # CLONE_THREAD -> allow
    compared = {k for code, _, _, k in insns if code == 0x15}
    assert {56, 57, 58, 435} <= compared  # clone, fork, vfork, clone3
