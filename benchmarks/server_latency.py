"""Inlay-hint and hover latency of ``cwm-lsp serve`` while a prediction runs.

Starts the real server over stdio, predicts one small function (its results are what the
requests return), then measures inlay-hint and hover requests twice in the same run:

- baseline: nothing else running;
- loaded: while a long prediction streams frames (a sandboxed endless loop, run backend).

Prints median and p95 latency for both and their ratio. Usage::

    python benchmarks/server_latency.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsp_client import quiet_client
from lsprotocol import types
from pygls.lsp.client import LanguageClient

SETTINGS = {"backend": "run", "allowExecution": True, "timeout": 600, "maxFrames": 1_000_000}
SOURCE = """\
# prophecy: f(2, 4)
def f(a, b):
    y = a
    for i in range(b):
        y += y * i
    return y


# prophecy: spin(0)
def spin(k):
    while True:
        k += 1
"""
LOOP_BODY_LINE = 4
SPIN_DEF_LINE = 9


def make_client() -> LanguageClient:
    return quiet_client("server-latency-benchmark", SETTINGS)


async def timed_requests(
    client: LanguageClient, uri: str, count: int
) -> tuple[list[float], list[float]]:
    whole = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=100, character=0)
    )
    document = types.TextDocumentIdentifier(uri=uri)
    hints: list[float] = []
    hovers: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        found = await client.text_document_inlay_hint_async(
            types.InlayHintParams(text_document=document, range=whole)
        )
        hints.append(time.perf_counter() - started)
        assert found, "the finished prediction's hints should be there"
        started = time.perf_counter()
        await client.text_document_hover_async(
            types.HoverParams(
                text_document=document, position=types.Position(line=LOOP_BODY_LINE, character=8)
            )
        )
        hovers.append(time.perf_counter() - started)
    return hints, hovers


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


async def main(count: int) -> int:
    client = make_client()
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
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.py"
        path.write_text(SOURCE)
        uri = path.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=SOURCE
                )
            )
        )
        done = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="cwm.predict", arguments=[uri, 1, None])
        )
        assert done["status"] == "done", done
        await timed_requests(client, uri, 10)  # warm up
        baseline = await timed_requests(client, uri, count)

        request_id = "benchmark-spin"
        spinning = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(
                    command="cwm.predict", arguments=[uri, SPIN_DEF_LINE, None]
                ),
                msg_id=request_id,
            )
        )
        await asyncio.sleep(2.0)  # let the run start streaming frames
        loaded = await timed_requests(client, uri, count)
        running = not spinning.done()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        with contextlib.suppress(Exception):  # the cancelled request answers with an error
            await asyncio.wait_for(spinning, 10)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    print(f"cwm-lsp server latency, {count} requests each (milliseconds)")
    print(f"{'request':<12}{'condition':<22}{'median':>10}{'p95':>10}")
    for name, index in (("inlayHint", 0), ("hover", 1)):
        base_median, base_p95 = summary(baseline[index])
        load_median, load_p95 = summary(loaded[index])
        print(f"{name:<12}{'idle (baseline)':<22}{base_median:>10.2f}{base_p95:>10.2f}")
        print(f"{name:<12}{'prediction running':<22}{load_median:>10.2f}{load_p95:>10.2f}")
        print(
            f"{name:<12}{'ratio':<22}{load_median / base_median:>10.2f}{load_p95 / base_p95:>10.2f}"
        )
    if not running:
        print("warning: the long prediction ended before the loaded measurements finished")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    arguments = parser.parse_args()
    raise SystemExit(asyncio.run(main(arguments.requests)))
