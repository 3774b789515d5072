"""``model serve`` against hostile clients, over real sockets on 127.0.0.1: every case from
issue 19 is answered with a status and a JSON error (never silence, a reset or a traceback), and
the server answers /health afterwards. The server runs the demo model (not CWM) in this process
with short timeouts and small limits, so that the timeouts and the overload answer are reached
quickly; a hypothesis fuzzer sends random requests for a fixed budget."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwm_lsp.completions_api import CompletionEngine, CompletionHTTPServer
from cwm_lsp.completions_api.http import Limits
from cwm_lsp.runtime import load_model

DEMO_MODEL = Path(__file__).resolve().parents[2] / "model" / "weights"
TOKEN = "hostile-test-token"
LIMITS = Limits(
    max_queue=2, max_connections=16, header_seconds=1.0, body_seconds=1.0, write_seconds=5.0
)


@pytest.fixture(scope="module")
def engine() -> CompletionEngine:
    return CompletionEngine(load_model(DEMO_MODEL))


def serve(engine: CompletionEngine, token: str | None) -> Iterator[CompletionHTTPServer]:
    server = CompletionHTTPServer(engine, "127.0.0.1", 0, token=token, limits=LIMITS)
    thread = server.start_background()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def server(engine: CompletionEngine) -> Iterator[CompletionHTTPServer]:
    yield from serve(engine, TOKEN)


@pytest.fixture(scope="module")
def open_server(engine: CompletionEngine) -> Iterator[CompletionHTTPServer]:
    yield from serve(engine, None)


def exchange(server: CompletionHTTPServer, raw: bytes, timeout: float = 20.0) -> bytes:
    """Send ``raw`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(server.server_address[:2], timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def post(path: str, body: bytes, *, token: str | None = TOKEN, length: str | None = None) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    return head.encode("latin-1") + body


def answer(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    is_json = headers.get("content-type") == "application/json"
    return status, headers, json.loads(body) if is_json else body


def healthy(server: CompletionHTTPServer) -> bool:
    status, _, payload = answer(exchange(server, b"GET /health HTTP/1.0\r\n\r\n", timeout=10))
    return status == 200 and payload["status"] == "ok"


def test_tokenize_is_linear_in_special_tokens(server: CompletionHTTPServer) -> None:
    text = "<|end_of_text|>x" * 20_000
    started = time.monotonic()
    status, _, payload = answer(
        exchange(server, post("/tokenize", json.dumps({"prompt": text}).encode()))
    )
    elapsed = time.monotonic() - started
    assert status == 200
    assert payload["count"] == 40_000
    assert len(set(payload["tokens"][0::2])) == 1  # every other id is end_of_text
    assert elapsed < 10, f"{elapsed:.1f} s (it was quadratic: N = 20000 did not finish in 120 s)"


def test_tokenizer_endpoints_need_the_token(server: CompletionHTTPServer) -> None:
    for path, body in (("/tokenize", {"prompt": "x"}), ("/detokenize", {"tokens": [1]})):
        status, _, payload = answer(
            exchange(server, post(path, json.dumps(body).encode(), token=None))
        )
        assert status == 401
        assert payload["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("path", "body", "length", "status", "says"),
    [
        (
            "/v1/completions",
            b'{"prompt": "x", "temperature": NaN}',
            None,
            400,
            "NaN is not a JSON number",
        ),
        ("/v1/completions", b'{"prompt": "x", "temperature": Infinity}', None, 400, "Infinity"),
        ("/v1/completions", b'{"prompt": "x", "temperature": 1e400}', None, 400, "finite"),
        ("/v1/completions", b'{"prompt": "x", "top_p": 0}', None, 400, "'top_p'"),
        (
            "/v1/completions",
            json.dumps({"prompt": "x", "seed": 2**100}).encode(),
            None,
            400,
            "'seed'",
        ),
        ("/v1/completions", b'{"prompt": "x", "seed": -1}', None, 400, "'seed'"),
        ("/v1/completions", b'{"prompt": [1000000000]}', None, 400, "outside the vocabulary"),
        ("/v1/completions", b'{"prompt": "x", "stop_token_ids": [-3]}', None, 400, "outside"),
        (
            "/v1/completions",
            b'{"prompt": "x", "max_tokens": 100000000000}',
            None,
            400,
            "context length",
        ),
        ("/v1/completions", b'{"prompt": "x", "stream_options": 5}', None, 400, "'stream_options'"),
        ("/v1/completions", b"[" * 100_000 + b"]" * 100_000, None, 400, "nested too deeply"),
        ("/v1/completions", b'{"prompt": 1' + b"0" * 5000 + b"}", None, 400, "not valid JSON"),
        ("/detokenize", b'{"tokens": [1000000000]}', None, 400, "outside the vocabulary"),
        ("/detokenize", b'{"tokens": [true]}', None, 400, "list of token ids"),
        ("/tokenize", b'{"prompt": 5}', None, 400, "'prompt' must be a string"),
        ("/tokenize", b'{"prompt": "x"}', "\u00b2", 411, "Content-Length"),
        ("/tokenize", b'{"prompt": "x"}', "-1", 411, "Content-Length"),
        ("/tokenize", b'{"prompt": "x"}', "99999999999", 411, "Content-Length"),
        ("/tokenize", b'{"prompt": "x"}', "9000000", 413, "larger than"),
        ("/tokenize", b'{"prompt": "x"}', "200", 408, "did not arrive in time"),
    ],
)
def test_bad_requests_get_a_json_error(
    server: CompletionHTTPServer, path: str, body: bytes, length: str | None, status: int, says: str
) -> None:
    raw = post(path, body, length=length)
    if length == "\u00b2":
        raw = raw.replace("\u00b2".encode("latin-1"), "\u00b2".encode())  # UTF-8 on the wire
    got, headers, payload = answer(exchange(server, raw))
    assert (got, says in payload["error"]["message"]) == (status, True), payload
    assert headers["content-type"] == "application/json"
    assert healthy(server)


def test_chunked_and_doubled_lengths_are_refused(server: CompletionHTTPServer) -> None:
    chunked = (
        b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    doubled = post("/tokenize", b'{"prompt": "x"}').replace(
        b"Content-Length", b"Content-Length: 3\r\nContent-Length", 1
    )
    for raw in (chunked, doubled):
        status, _, payload = answer(exchange(server, raw))
        assert status == 411, payload


def test_slow_drip_clients_are_dropped_at_the_header_deadline(server: CompletionHTTPServer) -> None:
    drips = [socket.create_connection(server.server_address[:2], timeout=10) for _ in range(12)]
    try:
        for _ in range(3):  # one byte per client every 0.5 s: never a whole head
            for sock in drips:
                sock.sendall(b"G")
            time.sleep(0.5)
        answers = [sock.makefile("rb").read() for sock in drips]
    finally:
        for sock in drips:
            sock.close()
    assert all(a.startswith(b"HTTP/1.0 408 ") for a in answers), answers[:2]
    deadline = time.monotonic() + 5
    while server.connections.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.connections.active == 0
    assert healthy(server)


def test_fifty_simultaneous_clients_get_answers_not_resets(server: CompletionHTTPServer) -> None:
    body = json.dumps({"prompt": "def f(x):\n", "max_tokens": 4, "temperature": 0}).encode()
    statuses: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def client() -> None:
        barrier.wait()
        try:
            status, headers, _ = answer(exchange(server, post("/v1/completions", body)))
            if status in (429, 503):
                assert headers["retry-after"] == "1"
            with lock:
                statuses.append(status)
        except OSError as err:
            with lock:
                errors.append(repr(err))

    threads = [threading.Thread(target=client) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert set(statuses) <= {200, 429, 503} and len(statuses) == 50
    assert statuses.count(200) >= 1
    assert healthy(server)


def test_connections_over_the_limit_get_503_with_retry_after(server: CompletionHTTPServer) -> None:
    held = [socket.create_connection(server.server_address[:2], timeout=10) for _ in range(16)]
    try:
        deadline = time.monotonic() + 5
        while server.connections.active < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, headers, payload = answer(exchange(server, post("/tokenize", b'{"prompt": "x"}')))
    finally:
        for sock in held:
            sock.close()
    assert status == 503
    assert headers["retry-after"] == "1"
    assert "too many open connections" in payload["error"]["message"]
    time.sleep(LIMITS.header_seconds)
    assert healthy(server)


_PATHS = [
    "/v1/completions",
    "/tokenize",
    "/detokenize",
    "/v1/models",
    "/health",
    "/x",
    "/v1/chat/completions",
]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "prompt": st.one_of(st.text(max_size=30), st.lists(st.integers(), max_size=5), _JSON),
        "tokens": st.one_of(st.lists(st.integers(), max_size=5), _JSON),
        "max_tokens": st.one_of(st.integers(-5, 6), st.text(max_size=3), st.floats()),
        "temperature": _JSON,
        "top_p": _JSON,
        "seed": st.one_of(st.integers(), _JSON),
        "stop": _JSON,
        "stop_token_ids": _JSON,
        "stream": _JSON,
        "stream_options": _JSON,
        "n": _JSON,
    },
)


def _body(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, allow_nan=True).encode()


_REQUESTS = st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "BREW", "G E T"]),
    st.sampled_from(_PATHS),
    st.one_of(_FIELDS.map(_body), st.binary(max_size=64)),
    st.one_of(st.none(), st.sampled_from(["0", "3", "\u00b2", "abc", "", "-1", "1e3"])),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=_REQUESTS)
def test_fuzzed_requests_are_all_answered(
    open_server: CompletionHTTPServer, request: tuple[str, str, bytes, str | None]
) -> None:
    method, path, body, length = request
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    raw = exchange(open_server, head.encode("utf-8") + body)
    assert raw.startswith(b"HTTP/1.0 "), raw[:80]
    status, headers, payload = answer(raw)
    assert status in {200, 400, 401, 404, 408, 411, 413, 429, 501}, (status, payload)
    assert headers["content-type"] in ("application/json", "text/event-stream")
    if status != 200:
        assert payload["error"]["message"]


def test_still_alive_after_the_fuzzer(open_server: CompletionHTTPServer) -> None:
    assert healthy(open_server)
    status, _, payload = answer(
        exchange(
            open_server, post("/v1/completions", b'{"prompt": "x = ", "max_tokens": 2}', token=None)
        )
    )
    assert status == 200 and payload["usage"]["completion_tokens"] >= 1


@pytest.mark.timeout(60)
def test_the_load_benchmark_runs_the_real_command_without_resets() -> None:
    """benchmarks/serve_load.py against ``cwm-lsp model serve`` (a subprocess), briefly."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"
    brief = ["--clients", "24", "--seconds", "3", "--runs", "1", "--single-seconds", "1"]
    done = subprocess.run(
        [sys.executable, str(script), *brief, "--max-queue", "2"],
        capture_output=True,
        text=True,
        timeout=55,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "connection errors none" in done.stdout
    assert "x 429" in done.stdout and "every request answered 200 or 429" in done.stdout
