"""The seccomp program decides as intended: run through a small classic-BPF interpreter here
(its effect in the kernel is tested in tests/e2e/test_sandbox_limits.py and
tests/e2e/test_sandbox_attacks.py)."""

from __future__ import annotations

import struct

import pytest

from cwm_lsp.execution.seccomp import filter_program

X86_64 = 0xC000003E
AARCH64 = 0xC00000B7
I386 = 0x40000003
ALLOW = 0x7FFF0000
PID = 4242


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]


def verdict(program: bytes, arch: int, nr: int, *args: int) -> int | str:
    """What the filter returns for one system call: ALLOW or the errno it answers."""
    data = struct.pack("iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = decode(program)
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            acc = struct.unpack_from("I", data, k)[0]
        elif code == 0x06:
            return "allow" if k == ALLOW else k & 0xFFFF
        else:
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        pc += 1


@pytest.fixture
def x86() -> bytes:
    program = filter_program("x86_64", PID)
    assert program is not None
    return program


def test_unknown_machines_get_no_filter() -> None:
    assert filter_program("sparc64") is None


def test_every_jump_lands_inside_the_program() -> None:
    for machine in ("x86_64", "aarch64"):
        program = filter_program(machine, PID, deny_symlinks=True)
        assert program is not None
        insns = decode(program)
        for index, (code, jt, jf, _) in enumerate(insns):
            if code & 0x07 == 0x05:  # BPF_JMP class
                assert index + 1 + max(jt, jf) < len(insns)
        assert insns[-1][0] == 0x06  # ends with a return


def test_threads_are_allowed_and_processes_refused(x86: bytes) -> None:
    assert verdict(x86, X86_64, 56, 0x003D0F00) == "allow"  # clone for a thread (CLONE_THREAD)
    assert verdict(x86, X86_64, 56, 0x01200011) == 11  # clone as fork does it: EAGAIN
    assert verdict(x86, X86_64, 57) == 11  # fork
    assert verdict(x86, X86_64, 435) == 38  # clone3: ENOSYS, glibc falls back to clone
    assert verdict(x86, X86_64, 59) == 1  # execve
    assert verdict(x86, X86_64, 322) == 1  # execveat


def test_signals_reach_only_this_process(x86: bytes) -> None:
    assert verdict(x86, X86_64, 62, PID, 9) == "allow"  # kill(self)
    assert verdict(x86, X86_64, 62, 1, 9) == 1  # kill(parent or anyone else)
    assert verdict(x86, X86_64, 62, 0xFFFFFFFF, 9) == 1  # kill(-1): everyone
    assert verdict(x86, X86_64, 62, 0, 9) == 1  # kill(0): the process group
    assert verdict(x86, X86_64, 234, PID, 77, 10) == "allow"  # tgkill to its own thread
    assert verdict(x86, X86_64, 234, 1, 1, 9) == 1
    assert verdict(x86, X86_64, 200, PID, 9) == 1  # tkill names no process: refused


def test_only_unix_sockets(x86: bytes) -> None:
    assert verdict(x86, X86_64, 41, 1, 1) == "allow"  # AF_UNIX
    assert verdict(x86, X86_64, 41, 2, 1) == 13  # AF_INET: EACCES
    assert verdict(x86, X86_64, 41, 10, 2) == 13  # AF_INET6
    assert verdict(x86, X86_64, 41, 16, 3) == 13  # AF_NETLINK
    assert verdict(x86, X86_64, 53, 1, 1) == "allow"  # socketpair(AF_UNIX)


def test_the_kernels_other_doors_are_shut(x86: bytes) -> None:
    # ptrace, process_vm_readv/writev, keyctl, userfaultfd, mount, unshare, setns,
    # open_by_handle_at, link, linkat, io_uring_setup, bpf
    for nr in (101, 310, 311, 250, 323, 165, 272, 308, 304, 86, 265, 425, 321):
        assert verdict(x86, X86_64, nr) == 1, nr
    assert verdict(x86, X86_64, 135, 0xFFFFFFFF) == "allow"  # personality query
    assert verdict(x86, X86_64, 135, 0x0040000) == 1  # personality(ADDR_NO_RANDOMIZE)


def test_other_abis_are_refused(x86: bytes) -> None:
    assert verdict(x86, I386, 11) == 38  # execve through int 0x80
    assert verdict(x86, X86_64, 0x40000000 + 59) == 38  # x32 execve


def test_symlinks_refused_only_in_the_weak_mode(x86: bytes) -> None:
    assert verdict(x86, X86_64, 88) == "allow"  # Landlock decides where links may go
    weak = filter_program("x86_64", PID, deny_symlinks=True)
    assert weak is not None
    assert verdict(weak, X86_64, 88) == 1
    assert verdict(weak, X86_64, 266) == 1


def test_aarch64_numbers() -> None:
    program = filter_program("aarch64", PID)
    assert program is not None
    assert verdict(program, AARCH64, 220, 0x003D0F00) == "allow"
    assert verdict(program, AARCH64, 221) == 1  # execve
    assert verdict(program, AARCH64, 129, 1, 9) == 1  # kill
    assert verdict(program, AARCH64, 198, 2, 1) == 13  # socket(AF_INET)
    assert verdict(program, X86_64, 59) == 38  # another architecture's calls


def test_a_fork_servers_filter_lets_it_fork_and_nothing_more() -> None:
    server = filter_program("x86_64", PID, allow_fork=True)
    assert server is not None
    assert verdict(server, X86_64, 57) == "allow"  # fork
    assert verdict(server, X86_64, 56, 0x01200011) == "allow"  # clone as fork does it
    assert verdict(server, X86_64, 435) == 38  # clone3 still answered ENOSYS
    assert verdict(server, X86_64, 59) == 1  # execve
    assert verdict(server, X86_64, 62, 1, 9) == 1  # kill another process
    assert verdict(server, X86_64, 41, 2, 1) == 13  # socket(AF_INET)


def test_no_unix_socket_of_the_host_is_reached(x86: bytes) -> None:
    assert verdict(x86, X86_64, 42, 3, 0x7FFF0000) == 1  # connect
    assert verdict(x86, X86_64, 46, 3, 0x7FFF0000) == 1  # sendmsg
    assert verdict(x86, X86_64, 307, 3, 0x7FFF0000) == 1  # sendmmsg
    assert verdict(x86, X86_64, 44, 3, 0x1000, 5, 0, 0) == "allow"  # send: no address
    assert verdict(x86, X86_64, 44, 3, 0x1000, 5, 0, 0x7FFF0000, 16) == 1  # sendto an address
    assert verdict(x86, X86_64, 44, 3, 0x1000, 5, 0, 0x7FFF << 32, 16) == 1  # high word only


def test_truncate_by_path_is_refused(x86: bytes) -> None:
    assert verdict(x86, X86_64, 76, 0x1000, 0) == 1  # truncate(path): Landlock ABI < 3 misses it
    assert verdict(x86, X86_64, 77, 3, 0) == "allow"  # ftruncate of a file opened for writing
