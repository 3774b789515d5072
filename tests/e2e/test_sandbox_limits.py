"""Hostile or runaway programs end quickly with a clear message, touching nothing outside.

Every test runs under every sandbox kind (bubblewrap and Landlock where they work, and the weak
audit-hook mode), and checks that no process of the run is left behind.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from goldens import harness

from cwm_lsp.execution import (
    AUDIT_HOOK,
    BUBBLEWRAP,
    LANDLOCK,
    SandboxLimits,
    TraceRecording,
    bubblewrap_works,
    record_call,
)
from cwm_lsp.execution.sandbox import landlock_abi
from cwm_lsp.trace import tokens
from cwm_lsp.trace.frames import Event

SANDBOXES = [
    pytest.param(
        BUBBLEWRAP,
        marks=pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap unavailable here"),
    ),
    pytest.param(
        LANDLOCK,
        marks=pytest.mark.skipif(not landlock_abi(), reason="no Landlock in this kernel"),
    ),
    AUDIT_HOOK,
]
QUICK = SandboxLimits(wall_seconds=2.5)


def live_descendants() -> list[psutil.Process]:
    alive = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    yield
    assert live_descendants() == []


def run(source: str, sandbox: str, limits: SandboxLimits = QUICK) -> TraceRecording:
    return record_call(harness(source), sandbox=sandbox, limits=limits)


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_endless_loop_stops_at_the_frame_limit(sandbox: str) -> None:
    limits = SandboxLimits(wall_seconds=10, max_frames=2000)
    recording = run("def f():\n    n = 0\n    while True:\n        n += 1\n", sandbox, limits)
    assert recording.limit == "frame limit (2000) reached"
    assert len(recording.frames) == 2000
    assert not recording.finished
    assert not recording.trace_text.endswith(tokens.END_OF_TEXT)


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_untraced_endless_work_hits_the_time_limit_keeping_frames(sandbox: str) -> None:
    source = "import time\ndef f():\n    x = 1\n    print('waiting')\n    time.sleep(60)\n"
    recording = run(source, sandbox)
    assert recording.limit == "time limit (2.5 s) exceeded"
    assert not recording.finished
    # the trace up to the kill is kept: main call and line, f call and its three lines
    assert [f.event for f in recording.frames] == [
        Event.CALL, Event.LINE, Event.CALL, Event.LINE, Event.LINE, Event.LINE,
    ]  # fmt: skip
    assert recording.frames[-1].locals == {"x": ".."}
    assert recording.frames[-1].line == "    time.sleep(60)\n"
    assert recording.stdout == "waiting\n"  # printed before the kill, not lost in a buffer


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_cpu_bound_builtin_loop_hits_the_cpu_limit(sandbox: str) -> None:
    limits = SandboxLimits(wall_seconds=20, cpu_seconds=1)
    recording = run("def f():\n    return sum(range(10**12))\n", sandbox, limits)
    assert recording.limit == "CPU time limit (1 s) exceeded"
    assert not recording.finished
    assert len(recording.frames) == 4


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_memory_bomb_hits_the_memory_limit(sandbox: str) -> None:
    limits = SandboxLimits(wall_seconds=10, memory_bytes=512 * 1024**2)
    source = "def f():\n    blocks = []\n    blocks.append(bytearray(2 * 1024**3))\n"
    recording = run(source, sandbox, limits)
    assert recording.limit == "memory limit (512 MiB) exceeded"
    assert recording.uncaught == "MemoryError"


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_fork_bomb_is_refused(sandbox: str) -> None:
    source = "import os\ndef f():\n    while True:\n        os.fork()\n"
    recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
    assert recording.limit is not None
    assert recording.limit.startswith("process limit")
    assert recording.uncaught is not None
    assert recording.uncaught.startswith("PermissionError")


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_fork_around_the_audit_hook_is_refused_by_the_kernel(sandbox: str) -> None:
    source = (
        "import ctypes\n"
        "def f():\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    pid = libc.fork()\n"
        "    if pid == 0:\n"
        "        libc._exit(0)\n"
        "    return pid, ctypes.get_errno()\n"
    )
    recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
    if not recording.seccomp:
        pytest.skip("no seccomp filter for this machine")
    assert recording.frames[-1].arg == "(-1, 11)"  # EAGAIN


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_threads_still_work(sandbox: str) -> None:
    source = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def f():\n"
        "    with ThreadPoolExecutor(4) as pool:\n"
        "        return sum(pool.map(abs, [-1, -2, 3]))\n"
    )
    recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
    assert recording.frames[-1].arg == "6"


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_subprocess_is_refused(sandbox: str) -> None:
    source = "import subprocess\ndef f():\n    return subprocess.run(['true']).returncode\n"
    recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
    assert recording.limit is not None
    assert recording.limit.startswith("process limit")


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_writing_outside_the_scratch_directory_fails(sandbox: str, tmp_path: Path) -> None:
    targets = [
        tmp_path / "escaped.txt",
        Path(__file__).resolve().parent / f"escaped-{uuid.uuid4().hex}.txt",
    ]
    lines = "".join(f"    try_write({str(t)!r})\n" for t in targets)
    source = (
        "def try_write(path):\n"
        "    try:\n"
        "        with open(path, 'w') as handle:\n"
        "            handle.write('escaped')\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n"
        f"def f():\n{lines}    return 'done'\n"
    )
    try:
        recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
        assert recording.finished
        for target in targets:
            assert not target.exists()
        if sandbox == AUDIT_HOOK:
            assert recording.violations
    finally:
        for target in targets:
            target.unlink(missing_ok=True)


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_scratch_directory_is_writable_and_removed(sandbox: str) -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    with open('notes.txt', 'w') as handle:\n"
        "        handle.write('kept')\n"
        "    with open('notes.txt') as handle:\n"
        "        return handle.read(), os.getcwd()\n"
    )
    recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
    assert recording.finished
    value = recording.frames[-1].arg
    assert value is not None and value.startswith("('kept', ")
    scratch = value.split("'")[3]
    assert "cwm-lsp-run-" in scratch
    assert not Path(scratch).exists()


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_reading_stdin_gets_end_of_file(sandbox: str) -> None:
    recording = run("import sys\ndef f():\n    return sys.stdin.read()\n", sandbox)
    assert recording.finished
    assert recording.frames[-1].arg == "''"
    recording = run("def f():\n    return input()\n", sandbox)
    assert recording.uncaught == "EOFError: EOF when reading a line"


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_printing_100_mb_is_capped(sandbox: str) -> None:
    limits = SandboxLimits(wall_seconds=20, output_bytes=10_000)
    source = "def f():\n    print('x' * 100_000_000)\n    return 'printed'\n"
    recording = run(source, sandbox, limits)
    assert recording.finished
    assert recording.frames[-1].arg == "'printed'"
    assert recording.stdout_truncated
    assert recording.stdout.startswith("x" * 10_000 + "\n[output truncated: ")
    assert len(recording.stdout) < 20_000


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_network_connections_do_not_leave_the_sandbox(sandbox: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        source = (
            "import socket\n"
            "def f():\n"
            f"    connection = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    return 'connected'\n"
        )
        recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
        assert recording.uncaught is not None
        assert recording.uncaught.startswith(("ConnectionRefusedError", "PermissionError"))
        with pytest.raises(BlockingIOError):
            listener.accept()


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_long_reprs_are_cut_and_marked(sandbox: str) -> None:
    limits = SandboxLimits(wall_seconds=10, repr_chars=100)
    recording = run("def f():\n    return 'a' * 5000\n", sandbox, limits)
    value = recording.frames[-1].arg
    assert value == "'" + "a" * 99 + "...<cut 4902 chars>"


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_sibling_modules_of_the_source_file_are_importable(sandbox: str, tmp_path: Path) -> None:
    (tmp_path / "helper_mod.py").write_text("def helper(x):\n    return x + 1\n")
    source = (
        "import os\n"
        "from helper_mod import helper\n"
        "def f():\n"
        "    return helper(1), os.path.basename(__file__)\n"
    )
    recording = record_call(harness(source), sandbox=sandbox, source_path=str(tmp_path / "mine.py"))
    assert recording.frames[-1].arg == "(2, 'mine.py')"


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_unix_socket_files_cannot_be_reached(sandbox: str, tmp_path: Path) -> None:
    path = tmp_path / "daemon.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        listener.setblocking(False)
        source = (
            "import socket\n"
            "def f():\n"
            "    client = socket.socket(socket.AF_UNIX)\n"
            f"    client.connect({str(path)!r})\n"
            "    return 'connected'\n"
        )
        recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
        assert recording.uncaught is not None
        assert "connected" not in (recording.frames[-1].arg or "")
        with pytest.raises(BlockingIOError):
            listener.accept()


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_asyncio_event_loop_works(sandbox: str) -> None:
    source = (
        "import asyncio\n"
        "async def answer():\n"
        "    await asyncio.sleep(0)\n"
        "    return 42\n"
        "def f():\n"
        "    return asyncio.run(answer())\n"
    )
    recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
    assert recording.finished
    assert recording.frames[-1].arg == "42"


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_sys_exit_is_reported_not_lost(sandbox: str) -> None:
    recording = run("import sys\ndef f():\n    sys.exit(3)\n", sandbox)
    assert recording.finished
    assert recording.uncaught == "SystemExit: 3"
    recording = run("import sys\nsys.exit(4)\ndef f():\n    pass\n", sandbox)
    assert not recording.finished
    assert recording.frames == []
    assert recording.uncaught == "SystemExit: 4 (while defining the module)"


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_filling_the_scratch_disk_is_stopped(sandbox: str) -> None:
    limits = SandboxLimits(wall_seconds=20, scratch_bytes=8 * 1024**2, file_bytes=1024**2)
    source = (
        "import time\n"
        "def f():\n"
        "    for i in range(1000):\n"
        "        with open(f'blob{i}', 'wb') as handle:\n"
        "            handle.write(bytes(1024**2))\n"
        "        time.sleep(0.01)\n"
    )
    recording = run(source, sandbox, limits)
    assert recording.limit == "disk limit (8 MiB) exceeded in the scratch directory"
    assert not recording.finished


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_private_tmp_is_not_writable(sandbox: str) -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    try:\n"
        "        open('/tmp/cwm-lsp-private-probe', 'w').close()\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n"
        "    return 'written'\n"
    )
    recording = run(source, sandbox, SandboxLimits(wall_seconds=10))
    assert recording.frames[-1].arg in ("'OSError'", "'PermissionError'")
    assert not Path("/tmp/cwm-lsp-private-probe").exists()
