"""The language server's read loop (``cwm_lsp.server.transport``) beside pygls' own, on the same
server in the same run: round-trip latency of hover requests and the time to take in a burst of
large notifications.

Two ``cwm-lsp`` server processes are started: ``cwm-lsp serve`` (ours) and the same server
started with pygls' ``start_io`` (the baseline). Each gets the same raw JSON-RPC traffic over
stdio; the burst is of ``$/`` notifications no feature handles, so that it measures reading,
parsing and dispatching only. Prints medians of ``--runs`` runs, the ratios, and the machine load. Usage::

    python benchmarks/lsp_transport.py [--requests 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

PYGLS_LOOP = "from cwm_lsp.server.app import create_server; create_server().start_io()"
SOURCE = "def f(x):\n    y = x + 1\n    return y\n"


class Server:
    def __init__(self, command: list[str], root: Path) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: BinaryIO = self.process.stdin
        self.stdout: BinaryIO = self.process.stdout
        self.next_id = 0
        self.uri = (root / "f.py").as_uri()
        self.call("initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}})
        self.notify("initialized", {})
        document = {"uri": self.uri, "languageId": "python", "version": 1, "text": SOURCE}
        self.notify("textDocument/didOpen", {"textDocument": document})

    def write(self, message: Any) -> None:
        body = json.dumps(message).encode()
        self.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.write({"jsonrpc": "2.0", "method": method, "params": params})

    def read(self) -> dict[str, Any]:
        length = 0
        while (line := self.stdout.readline()) != b"\r\n":
            if not line:
                raise SystemExit("the server closed its output")
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        message: dict[str, Any] = json.loads(self.stdout.read(length))
        return message

    def call(self, method: str, params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.write({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = self.read()
            if "method" in message and "id" in message:  # a request from the server
                self.write({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif message.get("id") == self.next_id:
                return message

    def hover(self) -> float:
        started = time.perf_counter()
        position = {"line": 1, "character": 4}
        self.call("textDocument/hover", {"textDocument": {"uri": self.uri}, "position": position})
        return time.perf_counter() - started

    def burst(self, count: int, size: int) -> float:
        """Seconds from sending ``count`` notifications of ``size`` bytes that no feature
        handles (so only reading, parsing and dispatching count) to the answer of a request
        sent after them."""
        text = "x" * size
        started = time.perf_counter()
        for _ in range(count):
            self.notify("$/cwmBenchmark", {"text": text})
        self.hover()
        return time.perf_counter() - started

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burst", type=int, default=50, help="notifications per burst")
    parser.add_argument("--burst-bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "f.py").write_text(SOURCE)
        servers = {
            "ours": Server([sys.executable, "-m", "cwm_lsp", "serve"], root),
            "pygls": Server([sys.executable, "-c", PYGLS_LOOP], root),
        }
        try:
            for name, server in servers.items():
                for _ in range(20):
                    server.hover()  # warm-up
                results[name] = {"p50": [], "p95": [], "burst": []}
            for _ in range(args.runs):
                for name, server in servers.items():  # interleaved: both see the same load
                    latencies = [server.hover() for _ in range(args.requests)]
                    results[name]["p50"].append(statistics.median(latencies))
                    results[name]["p95"].append(percentile(latencies, 0.95))
                    results[name]["burst"].append(server.burst(args.burst, args.burst_bytes))
        finally:
            for server in servers.values():
                server.close()
    median = {
        name: {key: statistics.median(values) for key, values in figures.items()}
        for name, figures in results.items()
    }
    megabytes = args.burst * args.burst_bytes / 1e6
    for name, figures in median.items():
        print(
            f"{name:5}: hover p50 {figures['p50'] * 1e3:.2f} ms, p95 {figures['p95'] * 1e3:.2f} "
            f"ms; {args.burst} notifications x {args.burst_bytes / 1e6:.1f} MB read in "
            f"{figures['burst']:.2f} s ({megabytes / figures['burst']:.0f} MB/s)"
        )
    ours, base = median["ours"], median["pygls"]
    print(
        f"ours / pygls (median of {args.runs} runs): hover p50 {ours['p50'] / base['p50']:.2f}x, "
        f"p95 {ours['p95'] / base['p95']:.2f}x, burst {ours['burst'] / base['burst']:.2f}x "
        f"(below 1: ours is faster); load average after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
