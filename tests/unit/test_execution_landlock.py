"""Landlock's rule building: which parts of a tree everyone may read, and the rights per ABI
(the rules' effect in the kernel is tested in tests/e2e/test_sandbox_attacks.py)."""

from __future__ import annotations

from pathlib import Path

from cwm_lsp.execution import landlock


def make(root: Path, name: str, mode: int, text: str = "x") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_public_subtrees_keeps_whole_public_directories_and_drops_private_files(
    tmp_path: Path,
) -> None:
    make(tmp_path, "hosts", 0o644)
    make(tmp_path, "shadow", 0o644)  # a secret by name: out even with a public mode
    make(tmp_path, "app/config.ini", 0o644)
    make(tmp_path, "app/nested/more.ini", 0o644)
    make(tmp_path, "vpn/public.conf", 0o644)
    make(tmp_path, "vpn/secret.key", 0o600)
    (tmp_path / "closed").mkdir(mode=0o700)
    make(tmp_path, "closed/inside.txt", 0o644)
    (tmp_path / "link-to-hosts").symlink_to(tmp_path / "hosts")
    (tmp_path / "link-to-key").symlink_to(tmp_path / "vpn" / "secret.key")
    found = sorted(
        Path(p).relative_to(tmp_path).as_posix() for p in landlock.public_subtrees(str(tmp_path))
    )
    assert found == ["app", "hosts", "link-to-hosts", "vpn/public.conf"]


def test_rights_grow_with_the_abi() -> None:
    assert landlock.handled_fs(0) == 0
    assert landlock.handled_fs(1) == (1 << 13) - 1
    assert landlock.handled_fs(3) & landlock.TRUNCATE
    assert not landlock.handled_fs(4) & landlock.IOCTL_DEV
    assert landlock.handled_fs(7) & landlock.IOCTL_DEV
    assert landlock.protections(0) == []
    assert len(landlock.protections(3)) == 1
    assert any("TCP" in item for item in landlock.protections(4))
    assert any("signals" in item for item in landlock.protections(6))


def test_default_read_paths_use_the_given_etc_rules() -> None:
    paths = landlock.default_read_paths(["/project"], etc=["/etc/hosts"])
    assert "/project" in paths and "/etc/hosts" in paths and "/usr" in paths
    assert not any(p.startswith("/etc/") and p != "/etc/hosts" for p in paths)
    assert "/etc/shadow" not in landlock.default_read_paths()
