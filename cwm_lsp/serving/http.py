"""The HTTP side of ``cwm-lsp model serve``: an OpenAI/vLLM-compatible completions API on the
standard library's threading HTTP server.

Endpoints: ``POST /v1/completions`` (prompt as text or token ids, streaming with server-sent
events), ``GET /v1/models``, ``GET /health``, and vLLM's ``POST /tokenize`` / ``/detokenize``.
One model serves every client: requests take FIFO turns; at most ``max_queue`` wait, more get
429. A client that disconnects (while waiting, or mid-stream) gives its turn up at once. With a
token, every endpoint except ``/health`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import json
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cwm_lsp.serving.engine import CompletionEngine, CompletionRequest, RequestError, Usage

MAX_BODY_BYTES = 8 * 1024 * 1024
_POLL_SECONDS = 0.2


class QueueFull(Exception):
    pass


class ClientGone(Exception):
    pass


class TurnQueue:
    """First-come, first-served turns on the model; the head of the line holds the turn."""

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._line: collections.deque[object] = collections.deque()
        self._cond = threading.Condition()

    def counts(self) -> tuple[int, int]:
        """(running, waiting)."""
        with self._cond:
            running = 1 if self._line else 0
            return running, len(self._line) - running

    @contextlib.contextmanager
    def turn(self, gone: Callable[[], bool]) -> Iterator[None]:
        ticket = object()
        with self._cond:
            if len(self._line) > self.max_waiting:
                raise QueueFull
            self._line.append(ticket)
            try:
                while self._line[0] is not ticket:
                    self._cond.wait(_POLL_SECONDS)
                    if self._line[0] is not ticket and gone():
                        raise ClientGone
            except BaseException:
                self._line.remove(ticket)
                self._cond.notify_all()
                raise
        try:
            yield
        finally:
            with self._cond:
                self._line.remove(ticket)
                self._cond.notify_all()


def _peer_closed(sock: socket.socket) -> bool:
    """True when the client has closed its side (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (OSError, ValueError):
        return True


class _Handler(BaseHTTPRequestHandler):
    server: CompletionHTTPServer
    protocol_version = "HTTP/1.0"
    server_version = "cwm-lsp"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    # -- plumbing -------------------------------------------------------------------------------

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
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
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError("a JSON body with Content-Length is required", 411)
        if int(length) > MAX_BODY_BYTES:
            raise RequestError(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
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

    def _tokenize(self, body: Any) -> None:
        text = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise RequestError("'prompt' must be a string")
        ids = self.server.engine.tokenize(text)
        self._json(
            200,
            {"tokens": ids, "count": len(ids), "max_model_len": self.server.engine.max_model_len},
        )

    def _detokenize(self, body: Any) -> None:
        ids = body.get("tokens") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise RequestError("'tokens' must be a list of token ids")
        self._json(200, {"prompt": self.server.engine.detokenize(ids)})

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
        except QueueFull:
            self._error(
                429,
                f"the server is busy ({self.server.queue.max_waiting} requests already wait): "
                "retry later",
                "rate_limit_error",
            )
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


class CompletionHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        engine: CompletionEngine,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        token: str | None = None,
        max_queue: int = 16,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.token = token or None
        self.queue = TurnQueue(max_queue)
        self.log = log
        self.created = int(time.time())
        super().__init__((host, port), _Handler)

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
