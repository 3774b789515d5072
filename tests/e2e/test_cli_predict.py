"""``cwm-lsp predict`` run as a real subprocess, observing sandboxed runs (``--backend run``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import goldens
import pytest

from cwm_lsp.backends.registry import demo_model_path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDENS = sorted(GOLDEN_DIR.glob("*.json"))


def predict(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "predict", *map(str, args)],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def stderr_of(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode("utf-8")


def assert_usage_error(result: subprocess.CompletedProcess[bytes], *needles: str) -> None:
    message = stderr_of(result)
    assert result.returncode == 2, message
    assert result.stdout == b""
    assert "Traceback" not in message
    assert len(message.strip().splitlines()) == 1, message
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.stem)
def test_cwm_format_matches_golden_trace_byte_for_byte(path: Path, tmp_path: Path) -> None:
    golden = json.loads(path.read_text(encoding="utf-8"))
    module = tmp_path / f"{golden['name']}.py"
    module.write_text(golden["source"], encoding="utf-8")
    result = predict(module, "--call", golden["call"], "--backend", "run", "--format", "cwm")
    assert result.stdout.decode("utf-8") == golden["trace_text"]
    assert result.returncode == (1 if golden["uncaught"] else 0), stderr_of(result)


def test_readme_quick_start_prints_annotated_source() -> None:
    result = predict("examples/loops.py", "--backend", "run")
    assert result.returncode == 0, stderr_of(result)
    text = result.stdout.decode("utf-8")
    header = text.splitlines()[0]
    assert "running_total" in header and "running_total([3, 1, 4, 1, 5])" in header
    assert "observed in a sandboxed run" in header
    assert "[3, 4, 8, 9, 14]" in text
    assert "totals.append(total)" in text


def test_other_example_calls_are_listed_and_one_can_be_chosen() -> None:
    result = predict("examples/loops.py", "--function", "collatz_steps", "--backend", "run")
    assert result.returncode == 0, stderr_of(result)
    assert "collatz_steps(27) (line 15)" in stderr_of(result)
    assert "collatz_steps(6)" in result.stdout.decode("utf-8").splitlines()[0]

    chosen = predict(
        "examples/loops.py", "--call", "collatz_steps(27)", "--backend", "run", "--format", "json"
    )
    document = json.loads(chosen.stdout)
    assert document["function"] == "collatz_steps"
    assert document["frames"][-1] == {
        "event": "return",
        "line": "    return collatz_steps(27)\n",
        "arg": "111",
    }


def test_json_format_carries_provenance_frames_and_no_exception() -> None:
    result = predict("examples/strings.py", "--line", "7", "--backend", "run", "--format", "json")
    assert result.returncode == 0, stderr_of(result)
    document = json.loads(result.stdout)
    assert document["function"] == "count_letters"
    assert document["call"] == 'count_letters("strawberry", "r")'
    assert document["provenance"]["origin"] == "observed"
    assert document["provenance"]["description"] == "observed in a sandboxed run"
    assert document["finished"] is True
    assert document["raised"] is None
    assert document["frames"][0]["line"] == "def main():  # << START_OF_TRACE\n"
    assert document["frames"][-1]["arg"] == "3"
    assert document["context"].endswith('    return count_letters("strawberry", "r")\n')


def test_method_doctest_with_setup_statement() -> None:
    result = predict(
        "examples/objects.py",
        "--function",
        "Account.deposit_all",
        "--backend",
        "run",
        "--format",
        "json",
    )
    assert result.returncode == 0, stderr_of(result)
    document = json.loads(result.stdout)
    assert document["call"] == "account.deposit_all([5, 10, 20])"
    assert document["setup"] == ["account = Account(0)"]
    assert document["frames"][-1]["arg"] == "35"


def test_escaping_exception_exits_1_and_still_prints_the_trace() -> None:
    result = predict("examples/errors.py", "--function", "average", "--backend", "run")
    assert result.returncode == 1
    assert "ZeroDivisionError" in stderr_of(result)
    assert "Traceback" not in stderr_of(result)
    assert result.stdout.decode("utf-8").startswith("# average: average([])")

    as_json = predict(
        "examples/errors.py", "--function", "average", "--backend", "run", "--format", "json"
    )
    assert as_json.returncode == 1
    assert "ZeroDivisionError" in json.loads(as_json.stdout)["raised"]


def test_caught_exception_is_not_a_failure() -> None:
    result = predict("examples/errors.py", "--call", 'parse_port("80a")', "--backend", "run")
    assert result.returncode == 0, stderr_of(result)


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    assert_usage_error(predict(tmp_path / "missing.py", "--backend", "run"), "no such file")

    broken = tmp_path / "broken.py"
    broken.write_text("def f(x):\n    return (x\n", encoding="utf-8")
    assert_usage_error(predict(broken, "--backend", "run"), "syntax error at line 2")

    assert_usage_error(
        predict("examples/loops.py", "--function", "nope", "--backend", "run"),
        "no function named 'nope'",
        "running_total (line 5)",
    )
    assert_usage_error(
        predict("examples/loops.py", "--line", "2", "--backend", "run"),
        "line 2 is not inside a function",
    )
    assert_usage_error(
        predict("examples/loops.py", "--call", "x = 1", "--backend", "run"),
        "must be an expression",
    )
    assert_usage_error(
        predict("examples/loops.py", "--width", "0", "--backend", "run"),
        "--width must be at least 8",
    )
    assert_usage_error(predict(tmp_path, "--backend", "run"), "is a directory")

    coroutine = tmp_path / "aio.py"
    coroutine.write_text("# prophecy: fetch(1)\nasync def fetch(x):\n    return x\n")
    assert_usage_error(predict(coroutine, "--backend", "run"), "async functions cannot be traced")


def test_missing_example_call_says_how_to_give_one(tmp_path: Path) -> None:
    module = tmp_path / "plain.py"
    module.write_text("def area(width, height):\n    return width * height\n")
    result = predict(module, "--backend", "run")
    assert_usage_error(result, "area (line 1) has no example call")
    message = stderr_of(result)
    assert "# prophecy: area(width, height)" in message
    assert "--call" in message


def test_unavailable_backends_exit_2(tmp_path: Path) -> None:
    module = EXAMPLES / "loops.py"
    assert_usage_error(
        predict(module, "--backend", "native", "--model", tmp_path / "no-such-model"),
        "model not found",
    )
    if demo_model_path() is None:
        assert_usage_error(predict(module), "--backend run", "--model")


def _example_calls() -> list[tuple[str, int, str, str | None]]:
    from cwm_lsp.entry import list_functions

    found = []
    for path in sorted(EXAMPLES.glob("*.py")):
        for fn in list_functions(path.read_text(encoding="utf-8")):
            for example in fn.examples:
                found.append((path.name, example.line, example.expression, example.expected))
    return found


@pytest.mark.parametrize(("name", "line", "expression", "expected"), _example_calls())
def test_every_example_call_runs_and_matches_its_doctest(
    name: str, line: int, expression: str, expected: str | None
) -> None:
    result = predict(EXAMPLES / name, "--line", str(line), "--backend", "run", "--format", "json")
    document = json.loads(result.stdout)
    assert document["call"] == expression
    assert document["finished"] is True
    returned = document["frames"][-1]["arg"]
    if expected is not None:
        assert returned == expected
    if document["raised"] is None:
        assert result.returncode == 0, stderr_of(result)
    else:
        assert result.returncode == 1


def test_a_limit_stops_the_trace_and_exits_1(tmp_path: Path) -> None:
    module = tmp_path / "spin.py"
    module.write_text("# prophecy: spin(3)\ndef spin(n):\n    while True:\n        n += 1\n")
    result = predict(module, "--backend", "run", "--max-frames", "20", "--format", "cwm")
    assert result.returncode == 1
    assert (
        stderr_of(result).strip() == "cwm-lsp predict: trace incomplete: frame limit (20) reached"
    )
    trace = result.stdout.decode("utf-8")
    assert trace.count("<|frame_sep|>") == 20
    assert not trace.endswith("<|end_of_text|>")


def test_a_random_model_gives_a_labelled_partial_prediction_not_a_crash(tmp_path: Path) -> None:
    from cwm_lsp.runtime.testing import write_checkpoint

    write_checkpoint(tmp_path / "random")
    args = ("examples/loops.py", "--model", tmp_path / "random", "--max-frames", "3")
    result = predict(*args)
    message = stderr_of(result)
    assert result.returncode in (0, 1), message
    assert "Traceback" not in message
    assert len(message.splitlines()) <= 7
    header = result.stdout.decode("utf-8").splitlines()[0]
    # a trace the frame cap cut short says so in the header too
    assert header.startswith("# running_total: running_total([3, 1, 4, 1, 5]) (predicted by random")
    assert header.endswith("(predicted by random)") or "; " in header.split("random")[-1]
