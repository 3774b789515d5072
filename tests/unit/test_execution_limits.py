"""Sandbox limit settings and the messages users see."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cwm_lsp.execution.audit import _inside
from cwm_lsp.execution.limits import (
    SandboxLimits,
    cpu_limit_message,
    format_bytes,
    frame_limit_message,
    memory_limit_message,
    time_limit_message,
)


def test_default_limits() -> None:
    limits = SandboxLimits()
    assert limits.wall_seconds == 10
    assert limits.memory_bytes == 1024**3
    assert limits.max_frames == 10_000
    assert limits.cpu_limit() == 10


def test_cpu_limit_follows_wall_clock_unless_set() -> None:
    assert SandboxLimits(wall_seconds=1.5).cpu_limit() == 2
    assert SandboxLimits(wall_seconds=10, cpu_seconds=3).cpu_limit() == 3


def test_limits_round_trip_through_json() -> None:
    limits = SandboxLimits(wall_seconds=2, memory_bytes=256 * 1024**2, repr_chars=50)
    assert SandboxLimits.from_json(limits.to_json()) == limits


def test_messages_are_plain_and_carry_the_limit() -> None:
    assert time_limit_message(10) == "time limit (10 s) exceeded"
    assert time_limit_message(1.5) == "time limit (1.5 s) exceeded"
    assert cpu_limit_message(2) == "CPU time limit (2 s) exceeded"
    assert memory_limit_message(1024**3) == "memory limit (1 GiB) exceeded"
    assert memory_limit_message(512 * 1024**2) == "memory limit (512 MiB) exceeded"
    assert frame_limit_message(10_000) == "frame limit (10000) reached"
    assert format_bytes(100) == "100 bytes"


def test_scratch_containment_check(tmp_path: object) -> None:
    root = "/srv/scratch"
    assert _inside("/srv/scratch/a.txt", root)
    assert _inside("/srv/scratch", root)
    assert not _inside("/srv/scratch-other/a.txt", root)
    assert not _inside("/srv/scratch/../escape.txt", root)
    assert _inside("/dev/null", root)
    assert _inside(3, root)  # an open file descriptor


def test_bubblewrap_shows_cwm_lsps_own_interpreter_when_it_lives_under_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cwm_lsp.execution import sandbox

    own = sandbox._own_interpreter_dirs()
    assert os.path.dirname(sys.executable) in own and sys.prefix in own
    venv_bin = tmp_path / "venv" / "bin"  # tmp_path is under /tmp, as a CI checkout may be
    venv_bin.mkdir(parents=True)
    monkeypatch.setattr(sandbox, "_own_interpreter_dirs", lambda: (str(venv_bin),))
    command = sandbox._child_command(sandbox.BUBBLEWRAP, str(tmp_path / "scratch"), [])
    binds = [command[i + 1] for i, arg in enumerate(command) if arg == "--ro-bind"]
    assert any(str(venv_bin) == b or str(venv_bin).startswith(b + "/") for b in binds), binds
