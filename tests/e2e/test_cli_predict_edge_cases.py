"""``cwm-lsp predict --backend run`` on awkward modules, run as a real subprocess: every case ends
with a clear message and the right exit code, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def predict(module: Path, *args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "predict", str(module), "--backend", "run", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    stdout, stderr = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert "Traceback" not in stderr, stderr
    return done.returncode, without_interpreter(stdout), stderr


def without_interpreter(stdout: str) -> str:
    """The output with the header's "; Python: PATH (why)" left out (checked on its own)."""
    header, newline, rest = stdout.partition("\n")
    named = re.match(r"^(# .*); Python: .+ \([^()]*\)\)$", header)
    if named is None:
        return stdout
    return named.group(1) + ")" + newline + rest


def test_the_header_names_the_interpreter_that_ran(tmp_path: Path) -> None:
    module = write(tmp_path / "one.py", "def one():\n    return 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "predict", str(module), "--backend", "run",
         "--call", "one()", "--python", sys.executable],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    header = done.stdout.splitlines()[0]
    assert header.endswith(f"; Python: {sys.executable} (--python / cwm.pythonPath))"), header


def write(path: Path, text: str, *, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def test_a_module_whose_top_level_raises_says_so(tmp_path: Path) -> None:
    module = write(
        tmp_path / "raises.py",
        'import os\nraise RuntimeError("boom")\n# prophecy: f(1)\ndef f(x):\n    return x\n',
    )
    code, stdout, stderr = predict(module)
    message = "the module's top level (line 2) raised RuntimeError: boom, so the call never ran"
    assert code == 1
    assert stderr.strip() == f"cwm-lsp predict: {message}"
    assert stdout.endswith(f"# {message}\n")
    code, stdout, _ = predict(module, "--format", "json")
    assert code == 1 and json.loads(stdout)["limit"] == message


def test_a_module_whose_top_level_sleeps_hits_the_time_limit_before_the_call(
    tmp_path: Path,
) -> None:
    module = write(
        tmp_path / "sleeps.py",
        "import time\ntime.sleep(60)\n# prophecy: f(1)\ndef f(x):\n    return x\n",
    )
    code, _, stderr = predict(module, "--timeout", "1")
    assert code == 1
    assert "time limit (1 s) exceeded while running the module's top level" in stderr


def test_printed_output_is_shown_and_main_blocks_do_not_run(tmp_path: Path) -> None:
    module = write(
        tmp_path / "prints.py",
        'print("loading")\n# prophecy: f(2)\ndef f(x):\n    print("in f", x)\n    return x\n\n'
        'if __name__ == "__main__":\n    print("MAIN")\n    raise SystemExit(3)\n',
    )
    code, stdout, _ = predict(module)
    assert code == 0
    assert stdout.endswith("# ⮐ 2\n# printed:\n#   loading\n#   in f 2\n")
    assert "MAIN" not in stdout


def test_sibling_modules_are_importable(tmp_path: Path) -> None:
    write(tmp_path / "helpers_mod.py", "def tenfold(v):\n    return v * 10\n")
    module = write(
        tmp_path / "uses.py",
        "from helpers_mod import tenfold\n\n# prophecy: f(3)\ndef f(x):\n    return tenfold(x)\n",
    )
    code, stdout, stderr = predict(module)
    assert code == 0, stderr
    assert "    return tenfold(x)  # ⮐ 30\n" in stdout


def test_crlf_tabs_and_a_stateful_doctest_session(tmp_path: Path) -> None:
    module = write(
        tmp_path / "counter.py",
        "class Counter:\n"
        "\tdef __init__(self, start):\n"
        "\t\tself.value = start\n"
        "\n"
        "\tdef bump(self):\n"
        '\t\t"""\n'
        "\t\t>>> c = Counter(5)\n"
        "\t\t>>> c.bump()\n"
        "\t\t6\n"
        "\t\t>>> c.bump()\n"
        "\t\t7\n"
        '\t\t"""\n'
        "\t\tnew = self.value + 1\n"
        "\t\tself.value = new\n"
        "\t\treturn new\n",
        newline="\r\n",
    )
    code, stdout, stderr = predict(module, "--line", "10")
    assert code == 0, stderr
    assert stdout.startswith(
        "# Counter.bump: c.bump() after c = Counter(5); c.bump() (observed in a sandboxed run)\n"
    )
    assert "\t\tnew = self.value + 1  # new = 6 → 7\n" in stdout
    assert stdout.endswith("# ⮐ 7\n")


def test_generators_lambdas_and_undefined_callees(tmp_path: Path) -> None:
    module = write(
        tmp_path / "shapes.py",
        "def squares(n):\n    for i in range(n):\n        yield i * i\n\n"
        "double = lambda v: v * 2\n",
    )
    code, stdout, stderr = predict(module, "--call", "squares(3)")
    assert code == 0, stderr
    assert "tracing list(squares(3)) so that its body runs" in stderr
    assert "        yield i * i  # ⮐ 0 → 1 → 4\n" in stdout and stdout.endswith("# ⮐ [0, 1, 4]\n")
    code, stdout, _ = predict(module, "--call", "double(4)")
    assert (code, stdout) == (0, "# double(4) (observed in a sandboxed run)\n"
                              "double = lambda v: v * 2  # ⮐ 8\n# ⮐ 8\n")  # fmt: skip
    lambda_only = write(tmp_path / "only.py", "cube = lambda v: (\n    v ** 3\n)\n")
    code, stdout, _ = predict(lambda_only, "--call", "cube(2)")
    assert (code, stdout) == (0, "# cube(2) (observed in a sandboxed run)\n"
                              "cube = lambda v: (  # ⮐ 8\n    v ** 3\n)\n# ⮐ 8\n")  # fmt: skip
    code, stdout, stderr = predict(module, "--call", "tripple(4)")
    assert (code, stdout) == (2, "")
    assert "'tripple', which the file does not define (functions in this file: squares)" in stderr


def test_deep_recursion_reports_the_limit(tmp_path: Path) -> None:
    module = write(
        tmp_path / "deep.py", "# prophecy: down(0)\ndef down(n):\n    return down(n + 1)\n"
    )
    code, stdout, stderr = predict(module)
    assert code == 1
    assert stdout.endswith(
        "# trace incomplete: recursion limit (1000) reached: the trace stops here\n"
    )
    assert "recursion limit" in stderr
