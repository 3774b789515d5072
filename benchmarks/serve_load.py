"""``cwm-lsp model serve`` under 64 concurrent clients: every request must be answered 200 or
429 (never a reset connection), and admitted requests' latency is printed beside one client's.

Starts the real server (the demo model by default) on 127.0.0.1, then per run:

- baseline: one client sends completions back to back for ``--single-seconds``;
- load: ``--clients`` threads send completions for ``--seconds``; a client answered 429 waits
  ``--backoff`` seconds (a well-behaved client honours Retry-After; a shorter wait keeps more
  pressure on the server) and tries again.

Prints, per run and as the median of the runs, the answers by status, connection errors by
kind (resets included), p50/p95 latency of admitted (200) requests under load beside the
single-client p50/p95, and the machine load. Exits 1 when any request was not answered with
200 or 429. Usage::

    python benchmarks/serve_load.py [--clients 64] [--seconds 30] [--runs 3] [--model PATH]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BODY = json.dumps(
    {"prompt": "def add(a, b):\n    return a + b\n", "max_tokens": 8, "temperature": 0}
)


@dataclass
class Tally:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    admitted: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int | None, error: str | None, seconds: float) -> None:
        with self.lock:
            if error is not None:
                self.errors[error] += 1
                return
            assert status is not None
            self.statuses[status] += 1
            if status == 200:
                self.admitted.append(seconds)

    @property
    def unexpected(self) -> int:
        other = sum(n for status, n in self.statuses.items() if status not in (200, 429))
        return other + sum(self.errors.values())


def start_server(
    model: str, max_queue: int | None, stack: str, uvicorn_path: str | None
) -> tuple[subprocess.Popen[str], int]:
    if stack == "asgi":
        args = [sys.executable, str(REPO / "benchmarks" / "asgi_serve.py"), model]
        if uvicorn_path:
            args += ["--uvicorn-path", uvicorn_path]
    else:
        args = [sys.executable, "-m", "cwm_lsp", "model", "serve", model, "--port", "0"]
    if max_queue is not None:
        args += ["--max-queue", str(max_queue)]
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving" not in line:
        process.kill()
        raise SystemExit(f"the {stack} server did not start: {line!r}")
    port = int(line.split(" at ", 1)[1].split("/v1", 1)[0].rsplit(":", 1)[1])
    return process, port


def one_request(port: int) -> tuple[int | None, str | None, float, float]:
    """(status, error kind, seconds, Retry-After seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(
            "POST", "/v1/completions", body=BODY, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        retry = float(response.getheader("Retry-After") or 0)
        return response.status, None, time.perf_counter() - started, retry
    except ConnectionResetError:
        return None, "reset", time.perf_counter() - started, 0.0
    except (TimeoutError, OSError, http.client.HTTPException) as err:
        return None, type(err).__name__, time.perf_counter() - started, 0.0
    finally:
        connection.close()


def single_client(port: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(latencies) < 3:
        status, error, elapsed, _ = one_request(port)
        if status != 200:
            raise SystemExit(f"single client: status {status}, error {error}")
        latencies.append(elapsed)
    return latencies


def load(port: int, clients: int, seconds: float, backoff: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    start = threading.Barrier(clients)

    def client() -> None:
        start.wait()
        while time.monotonic() < deadline:
            status, error, elapsed, _ = one_request(port)
            tally.record(status, error, elapsed)
            if status != 200:
                time.sleep(backoff)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def code_lines(*paths: Path) -> int:
    return sum(
        1
        for path in paths
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    )


def measure(args: argparse.Namespace, stack: str) -> tuple[dict[str, float], int]:
    """The median row over ``args.runs`` runs against one server stack, and the number of
    requests not answered 200 or 429."""
    process, port = start_server(args.model, args.max_queue, stack, args.uvicorn_path)
    rows = []
    failed = 0
    try:
        one_request(port)  # warm-up
        for run in range(1, args.runs + 1):
            single = single_client(port, args.single_seconds)
            tally = load(port, args.clients, args.seconds, args.backoff)
            failed += tally.unexpected
            admitted = tally.admitted or [float("nan")]
            row = {
                "single_p50": statistics.median(single),
                "single_p95": percentile(single, 0.95),
                "load_p50": statistics.median(admitted),
                "load_p95": percentile(admitted, 0.95),
                "ok": tally.statuses[200],
                "busy": tally.statuses[429],
                "errors": sum(tally.errors.values()),
            }
            rows.append(row)
            others = {s: n for s, n in tally.statuses.items() if s not in (200, 429)}
            print(
                f"{stack} run {run}: {args.clients} clients x {args.seconds:.0f} s: "
                f"{tally.statuses[200]} x 200, {tally.statuses[429]} x 429, "
                f"other statuses {others or 'none'}, connection errors "
                f"{dict(tally.errors) or 'none'}; admitted p50 {row['load_p50'] * 1e3:.0f} ms "
                f"p95 {row['load_p95'] * 1e3:.0f} ms; single client p50 "
                f"{row['single_p50'] * 1e3:.0f} ms p95 {row['single_p95'] * 1e3:.0f} ms "
                f"({len(single)} requests); load average {load_average()}",
                flush=True,
            )
    finally:
        process.terminate()
        process.wait(timeout=10)
    median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    print(
        f"{stack}: median of {len(rows)} run(s): admitted p95 {median['load_p95'] * 1e3:.0f} ms "
        f"under {args.clients} clients vs single-client p95 {median['single_p95'] * 1e3:.0f} ms "
        f"(ratio {median['load_p95'] / median['single_p95']:.1f}x; p50 "
        f"{median['load_p50'] * 1e3:.0f} vs {median['single_p50'] * 1e3:.0f} ms); "
        f"{median['ok']:.0f} x 200, {median['busy']:.0f} x 429, "
        f"{median['errors']:.0f} connection errors per run",
        flush=True,
    )
    return median, failed


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "model" / "weights"))
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--single-seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backoff", type=float, default=0.2)
    parser.add_argument("--max-queue", type=int, default=None)
    parser.add_argument(
        "--stack",
        choices=["stdlib", "asgi", "both"],
        default="stdlib",
        help="our standard-library server, a uvicorn ASGI app on the same engine, or both",
    )
    parser.add_argument("--uvicorn-path", default=None, help="a pip --target dir with uvicorn")
    args = parser.parse_args()

    print(f"load average before: {load_average()}", flush=True)
    stacks = ["stdlib", "asgi"] if args.stack == "both" else [args.stack]
    results = {stack: measure(args, stack) for stack in stacks}
    failed = sum(failures for _, failures in results.values())
    if len(results) == 2:
        ours, asgi = results["stdlib"][0], results["asgi"][0]
        print(
            "stdlib / asgi: single-client p50 "
            f"{ours['single_p50'] / asgi['single_p50']:.2f}x, admitted p95 under load "
            f"{ours['load_p95'] / asgi['load_p95']:.2f}x, 200s per run "
            f"{ours['ok'] / max(asgi['ok'], 1):.2f}x (time ratios below 1: ours is faster; a 200s ratio above 1: ours serves more)"
        )
        serving = REPO / "cwm_lsp" / "serving"
        print(
            f"code: our HTTP layer {code_lines(serving / 'http.py', serving / 'admission.py')} "
            f"lines (standard library only, streaming, auth, tokenizer endpoints, limits); the "
            f"ASGI comparison app {code_lines(REPO / 'benchmarks' / 'asgi_serve.py')} lines "
            "(completions and health only) plus uvicorn, h11 and click as dependencies"
        )
    print("every request answered 200 or 429" if not failed else f"{failed} requests were not")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
