"""``cwm-lsp trace-check`` as a real subprocess on the fixture tree, observing sandboxed runs.

Every test runs the CLI in a copy of ``tests/fixtures/trace_check/project``; the runs share one
cache directory (a run that predicts the same thing again is answered from it), except where
the cache itself is under test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trace_check"
SARIF_SCHEMA = FIXTURES / "sarif-2.1.0-subset.schema.json"
FAST = ("--backend", "run", "--max-frames", "200", "--jobs", "4")

# (file, function, call) -> (status, rules) for the fixture project
EXPECTED: dict[tuple[str, str, str], tuple[str, list[str]]] = {
    ("failing.py", "double", "double(4)"): ("failed", ["prophecy/doctest-mismatch"]),
    ("failing.py", "lookup", 'lookup({}, "k")'): ("failed", ["prophecy/doctest-mismatch"]),
    ("malformed.py", "scale", "scale(2,"): ("failed", ["prophecy/invalid-example"]),
    ("malformed.py", "spin", "spin(1)"): ("failed", ["prophecy/invalid-trace"]),
    ("passing.py", "add", "add(2, 3)"): ("passed", []),
    ("passing.py", "add", 'add("a", "b")'): ("passed", []),
    ("passing.py", "running_total", "running_total([3, 1, 4])"): ("passed", []),
    ("passing.py", "unique_letters", 'unique_letters("abba")'): ("passed", []),
    ("passing.py", "parse_port", 'parse_port("80a")'): ("passed", []),
    ("passing.py", "parse_port", 'parse_port("8080")'): ("passed", []),
    ("passing.py", "Counter.bump", "c.bump(1)"): ("passed", []),
    ("passing.py", "Counter.bump", "c.bump(2)"): ("passed", []),
    ("passing.py", "greet", 'greet("Ada")'): ("passed", []),
    ("pkg/broken.py", "", ""): ("failed", ["prophecy/invalid-example"]),
    ("raising.py", "average", "average([])"): ("failed", ["prophecy/uncaught-exception"]),
}
PREDICTED = sum(1 for (_, _, call) in EXPECTED if call and call != "scale(2,")


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trace-check-cache")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(FIXTURES / "project", target)
    return target


def trace_check(
    *args: str | Path, cwd: Path, cache: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CI": "true", **(env or {})}
    if cache is not None:
        environment["CWM_LSP_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "cwm_lsp", "trace-check", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=environment,
        timeout=240,
        check=False,
    )


def json_report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def outcomes(document: dict[str, Any]) -> dict[tuple[str, str, str], tuple[str, list[str]]]:
    return {
        (item["file"], item["function"], item["call"]): (
            item["status"],
            [failure["rule"] for failure in item["failures"]],
        )
        for item in document["results"]
    }


def assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr


# --------------------------------------------------------------------------- checks and formats


def test_each_example_passes_or_fails_for_the_right_reason(
    project: Path, shared_cache: Path
) -> None:
    result = trace_check(".", *FAST, "--format", "json", cwd=project, cache=shared_cache)
    assert result.returncode == 1, result.stderr
    document = json_report(result)
    assert outcomes(document) == EXPECTED
    assert document["summary"] == {
        "total": 15,
        "passed": 9,
        "failed": 6,
        "known_failures": 0,
        "skipped": 0,
        "cached": document["summary"]["cached"],
    }
    by_call = {item["call"]: item for item in document["results"]}
    double = by_call["double(4)"]
    assert double["expected"] == "9" and double["predicted"] == "returns 8"
    assert double["failures"][0]["message"] == "double(4): expected 9, predicted 8"
    lookup = by_call['lookup({}, "k")']["failures"][0]["message"]
    assert (
        lookup == """lookup({}, "k"): expected ValueError: missing, but it raises KeyError: 'k'"""
    )
    average = by_call["average([])"]["failures"][0]
    assert average["line"] == 4
    assert "ZeroDivisionError: division by zero (raised at line 7)" in average["message"]
    assert "frame limit" in by_call["spin(1)"]["failures"][0]["message"]
    broken = by_call[""]["failures"][0]
    assert broken["line"] == 6 and "syntax error" in broken["message"]


def test_text_report_shows_excerpts_and_a_summary_line(project: Path, shared_cache: Path) -> None:
    result = trace_check("passing.py", "raising.py", *FAST, cwd=project, cache=shared_cache)
    assert result.returncode == 1, result.stderr
    text = result.stdout
    assert "raising.py:4::average average([])  [prophecy/uncaught-exception]" in text
    assert "  > 4 | # prophecy: average([])" in text
    assert "    5 | def average(values):" in text
    assert text.rstrip().splitlines()[-1].startswith("=")
    assert " 9 passed, 1 failed" in text.rstrip().splitlines()[-1]
    assert result.stderr == ""  # no progress bar outside a terminal


def test_passing_examples_exit_zero(project: Path, shared_cache: Path) -> None:
    result = trace_check("passing.py", *FAST, cwd=project, cache=shared_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 9 passed, 0 failed" in result.stdout


def test_junit_report_has_one_testcase_per_example(project: Path, shared_cache: Path) -> None:
    output = project / "report.xml"
    result = trace_check(
        ".", *FAST, "--format", "junit", "--output", output, cwd=project, cache=shared_cache
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "9 passed, 6 failed" in result.stderr
    root = ET.parse(output).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("15", "6", "0")
    cases = suite.findall("testcase")
    assert len(cases) == 15
    by_name = {case.get("name"): case for case in cases}
    double = by_name["double: double(4) (line 6)"]
    assert double.get("classname") == "failing"
    failure = double.find("failure")
    assert failure is not None
    assert failure.get("type") == "prophecy/doctest-mismatch"
    assert failure.get("message") == "double(4): expected 9, predicted 8"
    assert "expected:  9" in (failure.text or "") and "predicted: 8" in (failure.text or "")
    broken = by_name["pkg/broken.py (line 6)"]
    assert broken.get("classname") == "pkg.broken"
    assert by_name["add: add(2, 3) (line 7)"].find("failure") is None
    assert sum(1 for case in cases if case.find("failure") is not None) == 6


def test_sarif_report_is_valid_and_has_one_result_per_failure(
    project: Path, shared_cache: Path
) -> None:
    result = trace_check(".", *FAST, "--format", "sarif", cwd=project, cache=shared_cache)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
    run = document["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    located = sorted(
        (
            item["ruleId"],
            item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            item["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for item in run["results"]
    )
    assert located == [
        ("prophecy/doctest-mismatch", "failing.py", 6),
        ("prophecy/doctest-mismatch", "failing.py", 15),
        ("prophecy/invalid-example", "malformed.py", 4),
        ("prophecy/invalid-example", "pkg/broken.py", 6),
        ("prophecy/invalid-trace", "malformed.py", 9),
        ("prophecy/uncaught-exception", "raising.py", 4),
    ]
    for item in run["results"]:
        assert rules[item["ruleIndex"]] == item["ruleId"]
        assert item["message"]["text"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"


def test_github_annotations_escape_properties_and_data(project: Path, shared_cache: Path) -> None:
    result = trace_check("failing.py", *FAST, "--format", "github", cwd=project, cache=shared_cache)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "::error file=failing.py,line=6,title=prophecy/doctest-mismatch%3A double%3A double(4)"
        "::double(4): expected 9, predicted 8"
    )
    assert lines[1].startswith(
        "::error file=failing.py,line=15,title=prophecy/doctest-mismatch%3A lookup%3A "
        'lookup({}%2C "k")::'
    )
    assert lines[-1] == "cwm-lsp trace-check: 0 passed, 2 failed"


# --------------------------------------------------------------------------- cache


def test_second_run_is_answered_from_the_cache_and_edits_invalidate_it(
    project: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "fresh-cache"
    args = (".", *FAST, "--format", "json")
    first = json_report(trace_check(*args, cwd=project, cache=cache))
    assert first["summary"]["cached"] == 0
    assert (cache / "CACHEDIR.TAG").is_file() and (cache / ".gitignore").is_file()

    second = json_report(trace_check(*args, cwd=project, cache=cache))
    assert outcomes(second) == EXPECTED
    assert second["summary"]["cached"] == PREDICTED
    assert all(item["cached"] for item in second["results"] if item["predicted"] is not None)

    raising = project / "raising.py"
    raising.write_text(raising.read_text().replace("/ len(values)", "/ max(len(values), 1)"))
    third = json_report(trace_check(*args, cwd=project, cache=cache))
    fresh = [item["call"] for item in third["results"] if item["predicted"] and not item["cached"]]
    assert fresh == ["average([])"]
    assert third["summary"]["passed"] == 10

    no_cache = json_report(trace_check(*args, "--no-cache", cwd=project, cache=cache))
    assert no_cache["summary"]["cached"] == 0


# --------------------------------------------------------------------------- baseline


def test_baseline_accepts_known_failures_and_reports_only_new_ones(
    project: Path, shared_cache: Path
) -> None:
    baseline = project / "trace-check-baseline.json"
    update = trace_check(
        ".", *FAST, "--baseline", baseline, "--update-baseline", cwd=project, cache=shared_cache
    )
    assert update.returncode == 0, update.stdout + update.stderr
    written = baseline.read_text(encoding="utf-8")
    entries = json.loads(written)["known_failures"]
    assert len(entries) == 6
    assert entries == sorted(
        entries, key=lambda e: (e["file"], e["function"], e["call"], e["rule"])
    )
    assert {"file": "raising.py", "function": "average", "call": "average([])",
            "rule": "prophecy/uncaught-exception"} in entries  # fmt: skip
    assert all("line" not in entry for entry in entries)

    accepted = trace_check(".", *FAST, "--baseline", baseline, cwd=project, cache=shared_cache)
    assert accepted.returncode == 0, accepted.stdout
    assert "0 failed, 6 known failures (baseline)" in accepted.stdout

    # Lines added above a known failure do not make it new; a new failing example does.
    raising = project / "raising.py"
    raising.write_text(
        '"""Moved down."""\n\n\n# prophecy: ratio(1, 0)\ndef ratio(a, b):\n    return a / b\n\n'
        + raising.read_text(),
        encoding="utf-8",
    )
    result = trace_check(
        ".", *FAST, "--baseline", baseline, "--format", "json", cwd=project, cache=shared_cache
    )
    assert result.returncode == 1
    document = json_report(result)
    new = [
        (item["call"], failure["rule"])
        for item in document["results"]
        for failure in item["failures"]
        if not failure["baselined"]
    ]
    assert new == [("ratio(1, 0)", "prophecy/uncaught-exception")]
    assert document["summary"]["known_failures"] == 6

    # Fixing a known failure is reported, and --update-baseline drops it (stable output).
    failing = project / "failing.py"
    failing.write_text(failing.read_text().replace("    9\n", "    8\n"), encoding="utf-8")
    fixed = json_report(
        trace_check(
            ".", *FAST, "--baseline", baseline, "--format", "json", cwd=project, cache=shared_cache
        )
    )
    assert [entry["call"] for entry in fixed["fixed_baseline_entries"]] == ["double(4)"]
    again = trace_check(
        ".", *FAST, "--baseline", baseline, "--update-baseline", cwd=project, cache=shared_cache
    )
    assert again.returncode == 0
    calls = [entry["call"] for entry in json.loads(baseline.read_text())["known_failures"]]
    assert "double(4)" not in calls and "ratio(1, 0)" in calls
    before = baseline.read_bytes()
    trace_check(
        ".", *FAST, "--baseline", baseline, "--update-baseline", cwd=project, cache=shared_cache
    )
    assert baseline.read_bytes() == before


# --------------------------------------------------------------------------- discovery


def test_gitignored_virtualenv_and_vendor_directories_are_skipped(
    tmp_path: Path, shared_cache: Path
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "project", tree / "src")
    failing = (FIXTURES / "project" / "raising.py").read_text(encoding="utf-8")
    for hidden in ("build/gen.py", "venv/lib/tool.py", "node_modules/x/y.py", "src/skip_me.py"):
        path = tree / hidden
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(failing, encoding="utf-8")
    (tree / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    (tree / ".gitignore").write_text("build/\n*.xml\n", encoding="utf-8")
    (tree / "src" / ".gitignore").write_text("skip_*.py\n", encoding="utf-8")

    def checked_files() -> set[str]:
        result = trace_check(".", *FAST, "--format", "json", cwd=tree, cache=shared_cache)
        return {item["file"] for item in json_report(result)["results"]}

    expected = {
        "src/failing.py",
        "src/malformed.py",
        "src/passing.py",
        "src/pkg/broken.py",
        "src/raising.py",
    }
    assert checked_files() == expected  # .gitignore read without git

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    assert checked_files() == expected  # the same through git check-ignore

    named = trace_check("build/gen.py", *FAST, "--format", "json", cwd=tree, cache=shared_cache)
    assert [item["file"] for item in json_report(named)["results"]] == ["build/gen.py"]


def test_a_tree_without_examples_passes_with_a_note(project: Path) -> None:
    result = trace_check("pkg/plain.py", "--backend", "run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "note: no example calls (# prophecy: or >>>) found under pkg/plain.py" in result.stdout
    assert " 0 passed, 0 failed" in result.stdout


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("missing_dir",), "no such file or directory: missing_dir"),
        ((".", "--verify"), "--verify compares a model's predictions with sandboxed runs"),
        ((".", "--update-baseline"), "--update-baseline needs --baseline FILE"),
        ((".", "--baseline", "nope.json"), "baseline file not found: nope.json"),
        ((".", "--jobs", "0"), "--jobs must be at least 1"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    project: Path, args: tuple[str, ...], needle: str
) -> None:
    result = trace_check(*args, "--backend", "run", cwd=project)
    assert_usage_error(result, needle)
    assert len(result.stderr.strip().splitlines()) == 1


def test_unusable_baseline_and_missing_model_exit_2(project: Path) -> None:
    bad = project / "bad-baseline.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    result = trace_check(".", "--backend", "run", "--baseline", bad, cwd=project)
    assert_usage_error(result, "is not a trace-check baseline")

    missing = trace_check(".", "--backend", "native", "--model", project / "no-model", cwd=project)
    assert_usage_error(missing, "model not found")


# --------------------------------------------------------------------------- progress


def test_progress_bar_only_on_a_terminal_outside_ci(project: Path, shared_cache: Path) -> None:
    import pty

    environment = {
        key: value for key, value in os.environ.items() if key not in ("CI", "GITHUB_ACTIONS")
    }
    environment["CWM_LSP_CACHE_DIR"] = str(shared_cache)

    def stderr_on_terminal(extra: dict[str, str]) -> str:
        try:
            controller, terminal = pty.openpty()
        except OSError as exc:
            pytest.skip(f"no pseudo-terminals here: {exc}")
        try:
            done = subprocess.run(
                [sys.executable, "-m", "cwm_lsp", "trace-check", "passing.py", *FAST],
                stdout=subprocess.PIPE,
                stderr=terminal,
                cwd=project,
                env={**environment, **extra},
                timeout=240,
                check=False,
            )
            os.close(terminal)
            terminal = -1
            chunks = []
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the terminal is closed and drained
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            if terminal != -1:
                os.close(terminal)
            os.close(controller)
        assert done.returncode == 0
        return b"".join(chunks).decode("utf-8", "replace")

    shown = stderr_on_terminal({})
    assert "trace-check [" in shown and "9/9 examples" in shown
    assert stderr_on_terminal({"CI": "true"}) == ""
