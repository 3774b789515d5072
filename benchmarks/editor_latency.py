"""Seconds from "predict" to the first hint and to the finished trace in the language server,
with the demo model (not CWM), beside the command line's time for the same prediction.

    .venv/bin/python benchmarks/editor_latency.py [--repeat 3]

Each repetition starts a fresh ``cwm-lsp serve`` over stdio (the real server, as an editor
runs it) and:

- cold: opens a file and asks ``cwm.predict`` right after ``initialized`` (the first request
  after start; the model is loading in the background meanwhile);
- warm: then predicts another function of the same file (the model is loaded).

The first hint is the first inlay-hint answer holding a predicted value (``≈``), polled every
20 ms as the hints stream in. The baseline is ``cwm-lsp predict FILE --function NAME`` (a whole
process: start, load, predict) for the cold function. Prints the median of ``--repeat`` runs
and the machine's load average (os.getloadavg). Goal (issue 18) on a 2-core machine: warm first
hint <= 0.5 s, cold first hint <= 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsp_client import quiet_client
from lsprotocol import types
from pygls.lsp.client import LanguageClient

SETTINGS = {"backend": "auto"}
SOURCE = """\
# prophecy: running_total([3, 1, 4])
def running_total(values):
    totals = []
    total = 0
    for value in values:
        total += value
        totals.append(total)
    return totals


# prophecy: count_vowels("banana")
def count_vowels(text):
    count = 0
    for ch in text:
        if ch in "aeiou":
            count += 1
    return count
"""
COLD_LINE, WARM_LINE = 1, 11  # the functions' def lines, 0-based
POLL = 0.02


def make_client(loaded: asyncio.Event) -> LanguageClient:
    def progress(params: types.ProgressParams) -> None:
        value = params.value
        message = value.get("message") if isinstance(value, dict) else None
        if isinstance(value, dict) and value.get("kind") == "end" and message == "ready":
            loaded.set()

    return quiet_client("editor-latency-benchmark", SETTINGS, progress)


async def predicted_hint_seen(client: LanguageClient, uri: str, first: int, last: int) -> None:
    document = types.TextDocumentIdentifier(uri=uri)
    span = types.Range(
        start=types.Position(line=first, character=0), end=types.Position(line=last, character=0)
    )
    while True:
        found = await client.text_document_inlay_hint_async(
            types.InlayHintParams(text_document=document, range=span)
        )
        labels = [hint.label for hint in found or [] if isinstance(hint.label, str)]
        if any("≈" in label for label in labels):
            return
        await asyncio.sleep(POLL)


async def timed_prediction(
    client: LanguageClient, uri: str, line: int, last: int
) -> tuple[float, float]:
    """(seconds to the first predicted hint, seconds to the finished command)."""
    started = time.perf_counter()
    command = asyncio.ensure_future(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="cwm.predict", arguments=[uri, line, None])
        )
    )
    await predicted_hint_seen(client, uri, line, last)
    first_hint = time.perf_counter() - started
    outcome = await command
    finished = time.perf_counter() - started
    if outcome.get("status") != "done":
        print(f"warning: the prediction ended {outcome}", file=sys.stderr)
    return first_hint, finished


async def one_session(directory: Path) -> dict[str, float]:
    loaded = asyncio.Event()
    client = make_client(loaded)
    await client.start_io(sys.executable, "-m", "cwm_lsp", "serve")
    capabilities = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
    )
    await client.initialize_async(types.InitializeParams(capabilities=capabilities))
    client.initialized(types.InitializedParams())
    initialized = time.perf_counter()
    path = directory / "editor_latency.py"
    path.write_text(SOURCE)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=SOURCE
            )
        )
    )
    cold = await timed_prediction(client, uri, COLD_LINE, WARM_LINE - 2)
    await asyncio.wait_for(loaded.wait(), 60)
    load_done = time.perf_counter() - initialized
    warm = await timed_prediction(client, uri, WARM_LINE, WARM_LINE + 8)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {
        "cold_first_hint": cold[0],
        "cold_finished": cold[1],
        "warm_first_hint": warm[0],
        "warm_finished": warm[1],
        "load_ready_after_initialized": load_done,
    }


def cli_seconds(directory: Path) -> float:
    path = directory / "editor_latency.py"
    path.write_text(SOURCE)
    command = [sys.executable, "-m", "cwm_lsp", "predict", str(path)]
    started = time.perf_counter()
    subprocess.run(
        [*command, "--function", "running_total"], capture_output=True, timeout=600, check=False
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    sessions: list[dict[str, float]] = []
    cli: list[float] = []
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for _ in range(args.repeat):
            sessions.append(asyncio.run(one_session(directory)))
            cli.append(cli_seconds(directory))
    load_after = os.getloadavg()

    def median(key: str) -> float:
        return statistics.median(session[key] for session in sessions)

    cli_median = statistics.median(cli)
    print(f"cwm-lsp editor latency, demo model (not CWM), median of {args.repeat} runs (seconds)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(f"{'measure':<38}{'seconds':>9}{'vs CLI':>9}")
    rows = [
        ("cold: first hint", median("cold_first_hint")),
        ("cold: finished trace", median("cold_finished")),
        ("warm: first hint", median("warm_first_hint")),
        ("warm: finished trace", median("warm_finished")),
        ("model ready after initialized", median("load_ready_after_initialized")),
        ("CLI: cwm-lsp predict (whole process)", cli_median),
    ]
    for label, seconds in rows:
        print(f"{label:<38}{seconds:>9.2f}{seconds / cli_median:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
