"""The HTTP side of ``cwm-lsp model serve``: an OpenAI/vLLM-compatible completions API on the
standard library's threading HTTP server.

Endpoints: ``POST /v1/completions`` (prompt as text or token ids, streaming with server-sent
events), ``GET /v1/models``, ``GET /health``, and vLLM's ``POST /tokenize`` / ``/detokenize``.
One model serves every client: requests take FIFO turns; at most ``max_queue`` wait, more get
429. A client that disconnects (while waiting, or mid-stream) gives its turn up at once. With a
token, every endpoint except ``/health`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import math
import re
import select
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cwm_lsp.completions_api.admission import (
    ClientGone,
    ConnectionCount,
    OverloadRejecter,
    QueueFull,
    Slots,
    TurnQueue,
    linger_close,
)
from cwm_lsp.completions_api.engine import CompletionEngine, CompletionRequest, RequestError, Usage

MAX_BODY_BYTES = 8 * 1024 * 1024
_CONTENT_LENGTH = re.compile(r"[0-9]{1,10}")  # ASCII digits only: "²".isdigit() is True


@dataclass(frozen=True)
class Limits:
    """How much of the server one client may hold, and for how long."""

    max_queue: int = 16  # completions waiting for the model (more: 429)
    max_connections: int = 128  # connections handled at once (more: 503)
    tokenizer_slots: int = 4  # /tokenize and /detokenize running at once (more: 429)
    header_seconds: float = 10.0  # from connecting to the end of the request head (else 408)
    body_seconds: float = 30.0  # to receive the body after the head (else 408)
    write_seconds: float = 30.0  # for one write to a client that does not read (then dropped)


class _DeadlineReader(io.RawIOBase):
    """The socket's incoming bytes, failing with TimeoutError once ``deadline`` has passed:
    a client dripping one byte at a time cannot hold a connection open beyond it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client took too long to send its request")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


def _peer_closed(sock: socket.socket) -> bool:
    """True when the client has closed its side (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (OSError, ValueError):
        return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class _Handler(BaseHTTPRequestHandler):
    server: CompletionHTTPServer
    protocol_version = "HTTP/1.0"
    server_version = "cwm-lsp"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    # -- plumbing -------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)
        self._responded = False
        # What parse_request would set: an answer (408) may be due before a request line came.
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.0"

    def handle_one_request(self) -> None:
        """One request (HTTP/1.0: one per connection), its head and body read under deadlines;
        every failure is answered with a JSON error unless a response already started."""
        limits = self.server.limits
        self._reader.deadline = time.monotonic() + limits.header_seconds
        self.close_connection = True
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                return
            if len(self.raw_requestline) > 65536:
                self._error(414, "the request line is too long")
                return
            if not self.parse_request():
                return
            self._reader.deadline = time.monotonic() + limits.body_seconds
            handler = getattr(self, f"do_{self.command}", None)
            if handler is None:
                self._error(501, f"method {self.command} is not supported", "not_found_error")
                return
            handler()
        except TimeoutError:
            self._error_if_possible(408, "the request did not arrive in time", "timeout_error")
        except OSError:
            pass  # the client went away
        except Exception as err:  # a bug must cost one request, never the connection silently
            self.log_message("internal error: %s", traceback.format_exc())
            self._error_if_possible(500, f"internal error ({type(err).__name__})", "server_error")

    def send_response(self, code: int, message: str | None = None) -> None:
        self._responded = True
        self.connection.settimeout(self.server.limits.write_seconds)
        super().send_response(code, message)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's errors (bad request line, too many headers) as JSON."""
        self.close_connection = True
        self._error(code, message or explain or HTTPStatus(code).phrase)

    def _error_if_possible(self, status: int, message: str, kind: str) -> None:
        if not self._responded:
            with contextlib.suppress(OSError):
                self._error(status, message, kind)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        headers = {"Retry-After": "1"} if status == 429 else None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        self._json(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        self._error(
            401, "missing or wrong API key (Authorization: Bearer ...)", "authentication_error"
        )
        return False

    def _body(self) -> Any:
        if self.headers.get("Transfer-Encoding") is not None:
            raise RequestError("chunked bodies are not supported: send Content-Length", 411)
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) != 1 or not _CONTENT_LENGTH.fullmatch(lengths[0].strip()):
            raise RequestError("a JSON body with one decimal Content-Length is required", 411)
        length = int(lengths[0])
        if length > MAX_BODY_BYTES:
            raise RequestError(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
        raw = self.rfile.read(length)
        if len(raw) < length:
            raise RequestError(f"the body ended after {len(raw)} of {length} bytes")
        try:
            return json.loads(raw, parse_constant=_reject_constant)
        except RecursionError:
            raise RequestError("the body is nested too deeply") from None
        except ValueError as err:
            raise RequestError(f"the body is not valid JSON ({err})") from err

    # -- routes ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            running, waiting = self.server.queue.counts()
            self._json(200, {"status": "ok", "running": running, "waiting": waiting})
        elif path == "/v1/models":
            if self._authorized():
                self._json(200, {"object": "list", "data": [self.server.model_card()]})
        else:
            self._error(404, f"no route GET {path}", "not_found_error")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        routes = {
            "/v1/completions": self._completions,
            "/tokenize": self._tokenize,
            "/detokenize": self._detokenize,
        }
        route = routes.get(path)
        if route is None:
            hint = " (this server offers /v1/completions only)" if "chat" in path else ""
            self._error(404, f"no route POST {path}{hint}", "not_found_error")
            return
        if not self._authorized():
            return
        try:
            route(self._body())
        except RequestError as err:
            self._error(err.status, str(err), err.kind)
        except QueueFull:
            self._busy()

    def _busy(self) -> None:
        self._error(
            429,
            f"the server is busy ({self.server.limits.max_queue} requests already wait): "
            "retry later",
            "rate_limit_error",
        )

    def _tokenize(self, body: Any) -> None:
        text = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise RequestError("'prompt' must be a string")
        with self.server.tokenizer_slots.take():
            ids = self.server.engine.tokenize(text)
        self._json(
            200,
            {"tokens": ids, "count": len(ids), "max_model_len": self.server.engine.max_model_len},
        )

    def _detokenize(self, body: Any) -> None:
        ids = body.get("tokens") if isinstance(body, dict) else None
        with self.server.tokenizer_slots.take():
            text = self.server.engine.detokenize(ids)
        self._json(200, {"prompt": text})

    def _completions(self, body: Any) -> None:
        engine = self.server.engine
        request = engine.parse(body)
        cancelled = threading.Event()

        def gone() -> bool:
            return _peer_closed(self.connection)

        try:
            with self.server.queue.turn(gone), engine.lock:
                if request.stream:
                    self._stream(request, cancelled)
                else:
                    self._complete(request, cancelled, gone)
        except ClientGone:
            self.close_connection = True

    def _envelope(
        self, request_id: str, text: str, finish: str | None, stop: Any
    ) -> dict[str, Any]:
        return {
            "id": request_id,
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.server.engine.name,
            "choices": [
                {
                    "index": 0,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": finish,
                    "stop_reason": stop,
                }
            ],
        }

    def _complete(
        self, request: CompletionRequest, cancelled: threading.Event, gone: Callable[[], bool]
    ) -> None:
        usage = Usage()
        pieces: list[str] = []
        finish, stop = "length", None
        for count, delta in enumerate(self.server.engine.run(request, cancelled, usage)):
            pieces.append(delta.text)
            if delta.finish_reason:
                finish, stop = delta.finish_reason, delta.stop_reason
            if count % 16 == 15 and gone():
                cancelled.set()
                return
        payload = self._envelope(f"cmpl-{uuid.uuid4().hex}", "".join(pieces), finish, stop)
        payload["usage"] = usage.as_dict()
        self._json(200, payload)

    def _stream(self, request: CompletionRequest, cancelled: threading.Event) -> None:
        request_id = f"cmpl-{uuid.uuid4().hex}"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        usage = Usage()

        def send(payload: Any) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        try:
            for delta in self.server.engine.run(request, cancelled, usage):
                send(self._envelope(request_id, delta.text, delta.finish_reason, delta.stop_reason))
            if request.include_usage:
                final = self._envelope(request_id, "", None, None)
                final["choices"] = []
                final["usage"] = usage.as_dict()
                send(final)
            send("[DONE]")
        except OSError:  # the client went away mid-stream: stop generating for it
            cancelled.set()
            self.close_connection = True


def _overload_response() -> bytes:
    body = json.dumps(
        {
            "error": {
                "message": "the server has too many open connections: retry later",
                "type": "overloaded_error",
                "code": 503,
            }
        }
    ).encode()
    head = (
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class CompletionHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``limits.max_connections`` of them; the listen backlog
    holds bursts beyond that until the rejecter answers them with 503."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(
        self,
        engine: CompletionEngine,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        token: str | None = None,
        max_queue: int | None = None,
        limits: Limits | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        limits = limits or Limits()
        if max_queue is not None:
            limits = replace(limits, max_queue=max_queue)
        self.engine = engine
        self.token = token or None
        self.limits = limits
        self.queue = TurnQueue(limits.max_queue)
        self.tokenizer_slots = Slots(limits.tokenizer_slots)
        self.connections = ConnectionCount(limits.max_connections)
        self.rejecter = OverloadRejecter(_overload_response())
        self.log = log
        self.created = int(time.time())
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.enter():
            self.rejecter.reject(request)
            return
        threading.Thread(
            target=self._serve_connection, args=(request, client_address), daemon=True
        ).start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            linger_close(request)
            self.connections.leave()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.log is not None:
            self.log(f"{client_address[0]} connection failed: {traceback.format_exc()}")

    def server_close(self) -> None:
        super().server_close()
        self.rejecter.stop()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def model_card(self) -> dict[str, Any]:
        config = self.engine.model.config
        return {
            "id": self.engine.name,
            "object": "model",
            "created": self.created,
            "owned_by": "cwm-lsp",
            "max_model_len": self.engine.max_model_len,
            "sliding_window": config.sliding_window if config.is_hybrid else None,
            "quantization": self.engine.model.quantization.label,
        }

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="cwm-serve", daemon=True)
        thread.start()
        return thread
