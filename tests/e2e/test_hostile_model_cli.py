"""``cwm-lsp model info|quantize|convert`` on malformed checkpoints, as real subprocesses: one
line saying what is wrong and exit code 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = {
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "a 5,000-digit number": '{"model_type": "cwm", "hidden_size": ' + "9" * 5000 + "}",
    "zero attention heads": (
        '{"model_type": "cwm", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 0}'
    ),
    "an infinite layer count": '{"model_type": "cwm", "hidden_size": 8, "num_hidden_layers": 1e400}',
}
EXPECTED = {
    "nested 100,000 deep": "nested too deeply to read",
    "a 5,000-digit number": "malformed (ValueError: Exceeds the limit",
    "zero attention heads": "malformed (ZeroDivisionError",
    "an infinite layer count": "malformed (OverflowError",
}


def cwm_lsp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cwm_lsp", *args],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=cwd,
    )


@pytest.mark.parametrize("case", sorted(CONFIGS))
@pytest.mark.timeout(60)
def test_model_info_reports_a_malformed_config_in_one_line(tmp_path: Path, case: str) -> None:
    (tmp_path / "config.json").write_text(CONFIGS[case])
    done = cwm_lsp("model", "info", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"cannot describe {tmp_path}: ")
    assert EXPECTED[case] in done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.timeout(60)
def test_quantize_and_convert_report_a_deeply_nested_config(tmp_path: Path) -> None:
    source = tmp_path / "ckpt"
    source.mkdir()
    (source / "config.json").write_text(CONFIGS["nested 100,000 deep"])
    quantized = cwm_lsp("model", "quantize", str(source), "out", "--quantize", "int8", cwd=tmp_path)
    converted = cwm_lsp("model", "convert", str(source), "out.gguf", cwd=tmp_path)
    for done, verb in ((quantized, "quantize"), (converted, "convert")):
        assert done.returncode == 1
        assert (
            done.stderr
            == f"cannot {verb} {source}: a file (config.json?) is nested too deeply to read\n"
        )
