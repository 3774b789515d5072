"""The ``openai`` backend: predict traces with an OpenAI-compatible completions server, such as
vLLM serving CWM (``vllm serve facebook/cwm``) or ``cwm-lsp model serve``.

Prompts go out as token ids (``POST /v1/completions`` with ``prompt: [ids]``), so CWM's special
tokens are exact and user source that happens to contain ``<|frame_sep|>`` stays plain text.
Token ids come from a local tokenizer when one is configured (``tokenizer=`` or the
``CWM_LSP_TOKENIZER`` environment variable: a checkpoint directory, ``tokenizer.model``,
``tokenizer.json`` or ``.gguf``), else from the server's vLLM-style ``/tokenize`` endpoint (text
is cut before each special-token name so the server never reads one inside it; special ids come
from tokenizing the token strings alone). Generated text comes back as text
(``skip_special_tokens: false``) and is cut into frames at ``<|frame_sep|>`` as it streams.

The trace streams in one request; it is cut client-side when the entry scope returns or the frame
limit is reached (closing the stream makes vLLM abort the request). Stepping over a call, or
resuming after a dropped connection, sends a new request whose prompt is the context plus the
frames so far. Errors: 429, 5xx and connection failures are retried with exponential backoff
(bounded; ``Retry-After`` honoured up to a cap); 401/403 and other 4xx fail at once with the
server's message. The API key comes from ``CWM_LSP_API_KEY`` or ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from cwm_lsp.backends.assembly import GeneratedTrace, limit_message
from cwm_lsp.backends.base import (
    BackendError,
    CancelToken,
    FrameCallback,
    PredictionCancelled,
    PredictionRequest,
    PredictionResult,
)
from cwm_lsp.backends.decoding import CallDepth, step_over_depth
from cwm_lsp.backends.options import DEFAULT_MAX_FRAMES
from cwm_lsp.budget import Deadline
from cwm_lsp.provenance import Origin, Provenance
from cwm_lsp.trace import tokens as trace_tokens

API_KEY_ENVS = ("CWM_LSP_API_KEY", "OPENAI_API_KEY")
TOKENIZER_ENV = "CWM_LSP_TOKENIZER"
MODEL_NAME_ENV = "CWM_LSP_OPENAI_MODEL"
DEFAULT_TIMEOUT = 120.0  # seconds to connect, and between streamed chunks
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_SPECIAL_RE = re.compile(r"<\|[A-Za-z_][A-Za-z0-9_]*\|>")


class _Tokens(Protocol):
    def encode_plain(self, text: str) -> list[int]: ...
    def special_id(self, text: str) -> int: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries per request (and per resumed segment)
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_retry_after)
            except ValueError:
                pass
        return min(self.base_delay * 2**attempt, self.max_delay)


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Client:
    """Minimal JSON/SSE client over http.client with auth, timeouts and cancellation."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(f"not a server URL: {url!r} (expected http(s)://HOST[:PORT])")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        base = parts.path.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        self.base = base
        self.url = url
        self.api_key = api_key
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def open(
        self, method: str, path: str, body: Any = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request; returns the open response (2xx) or raises."""
        headers = {"Accept": "application/json, text/event-stream"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        connection = self._connection()
        try:
            connection.request(method, self.base + path, body=data, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as err:
            connection.close()
            raise _Retryable(f"cannot reach {self.url}: {err}") from err
        if 200 <= response.status < 300:
            return connection, response
        message = _error_message(response)
        retry_after = response.getheader("Retry-After")
        connection.close()
        if response.status in _RETRY_STATUSES:
            raise _Retryable(f"{self.url} answered {response.status}: {message}", retry_after)
        if response.status in (401, 403):
            raise BackendError(
                f"{self.url} refused the request ({response.status}: {message}); set the API key "
                f"in {API_KEY_ENVS[0]} (or {API_KEY_ENVS[1]})"
            )
        raise BackendError(f"{self.url}{path} answered {response.status}: {message}")

    def json(self, method: str, path: str, body: Any = None) -> Any:
        connection, response = self.open(method, path, body)
        try:
            return json.loads(response.read())
        except (OSError, ValueError, http.client.HTTPException) as err:
            raise _Retryable(f"bad answer from {self.url}{path}: {err}") from err
        finally:
            connection.close()


def _error_message(response: http.client.HTTPResponse) -> str:
    try:
        raw = response.read(64 * 1024)
        payload = json.loads(raw)
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    except (OSError, ValueError, http.client.HTTPException):
        return response.reason or "no details"


def _with_retries(
    policy: RetryPolicy, cancel: CancelToken | None, action: Callable[[], Any]
) -> Any:
    last: _Retryable | None = None
    for attempt in range(policy.attempts):
        if cancel is not None and cancel.cancelled:
            raise PredictionCancelled("prediction cancelled")
        try:
            return action()
        except _Retryable as err:
            last = err
            if attempt + 1 < policy.attempts:
                _sleep(policy.delay(attempt, err.retry_after), cancel)
    raise BackendError(f"{last} (gave up after {policy.attempts} tries)")


def _sleep(seconds: float, cancel: CancelToken | None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cancel is not None and cancel.cancelled:
            raise PredictionCancelled("prediction cancelled")
        time.sleep(min(0.05, max(end - time.monotonic(), 0)))


class _LocalTokens:
    def __init__(self, source: str) -> None:
        from cwm_lsp.runtime.tokenizer import TokenizerError, load_tokenizer

        path = Path(source).expanduser()
        try:
            if path.suffix.lower() == ".gguf":
                from cwm_lsp.runtime.gguf_loader import GGUFError, gguf_tokenizer

                try:
                    tokenizer = gguf_tokenizer(path)
                except GGUFError as err:
                    raise BackendError(str(err)) from err
            else:
                tokenizer = load_tokenizer(path if path.is_dir() else path.parent)
        except TokenizerError as err:
            raise BackendError(f"cannot load the tokenizer {path}: {err}") from err
        if tokenizer is None:
            raise BackendError(
                f"no tokenizer at {path} (expected tokenizer.model, tokenizer.json or a .gguf)"
            )
        self.tokenizer = tokenizer

    def encode_plain(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def special_id(self, text: str) -> int:
        return self.tokenizer.special_id(text)


class _RemoteTokens:
    """The server's /tokenize: plain pieces are cut before any special-token name."""

    def __init__(self, client: _Client, model: str, policy: RetryPolicy) -> None:
        self.client, self.model, self.policy = client, model, policy
        self._special: dict[str, int] = {}

    def _tokenize(self, text: str) -> list[int]:
        body = {"model": self.model, "prompt": text, "add_special_tokens": False}
        answer = _with_retries(
            self.policy, None, lambda: self.client.json("POST", "/tokenize", body)
        )
        ids = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(ids, list):
            raise BackendError(f"{self.client.url}/tokenize gave no token list")
        return [int(i) for i in ids]

    def encode_plain(self, text: str) -> list[int]:
        pieces, last = [], 0
        for match in _SPECIAL_RE.finditer(text):
            pieces.append(text[last : match.start() + 2])  # cut after "<|": a pre-token boundary
            last = match.start() + 2
        pieces.append(text[last:])
        ids: list[int] = []
        for piece in pieces:
            if piece:
                ids.extend(self._tokenize(piece))
        return ids

    def special_id(self, text: str) -> int:
        if text not in self._special:
            ids = self._tokenize(text)
            if len(ids) != 1:
                raise BackendError(
                    f"the server's tokenizer has no special token {text} (is it serving CWM?)"
                )
            self._special[text] = ids[0]
        return self._special[text]


def _split_specials(text: str, names: Sequence[str]) -> Iterator[tuple[bool, str]]:
    """(is_special, piece) for ``text``: known special-token strings and the text between."""
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    last = 0
    for match in pattern.finditer(text):
        if match.start() > last:
            yield False, text[last : match.start()]
        yield True, match.group()
        last = match.end()
    if last < len(text):
        yield False, text[last:]


class OpenAIPredictor:
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        timeout: float | None = None,
        max_frames: int = DEFAULT_MAX_FRAMES,
        tokenizer: str | None = None,
        api_key: str | None = None,
        model_name: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise BackendError("--timeout must be a positive number of seconds")
        key = api_key or next((os.environ[e] for e in API_KEY_ENVS if os.environ.get(e)), None)
        self.client = _Client(model, key, timeout or DEFAULT_TIMEOUT)
        self.max_frames = max_frames
        self.retry = retry or RetryPolicy()
        self._tokenizer_source = tokenizer or os.environ.get(TOKENIZER_ENV) or None
        self._model_name = model_name or os.environ.get(MODEL_NAME_ENV) or None
        self._max_model_len: int | None = None
        self._tokens: _Tokens | None = None
        self._lock = threading.Lock()

    # -- setup -----------------------------------------------------------------------------------

    def _connect(self, cancel: CancelToken | None) -> _Tokens:
        if self._tokens is not None:
            return self._tokens
        answer = _with_retries(self.retry, cancel, lambda: self.client.json("GET", "/v1/models"))
        cards = answer.get("data") if isinstance(answer, dict) else None
        if not cards:
            raise BackendError(f"{self.client.url}/v1/models lists no model")
        card = next((c for c in cards if c.get("id") == self._model_name), cards[0])
        if self._model_name is None:
            self._model_name = str(card.get("id"))
        length = card.get("max_model_len")
        self._max_model_len = int(length) if isinstance(length, int) else None
        if self._tokenizer_source:
            self._tokens = _LocalTokens(self._tokenizer_source)
        else:
            self._tokens = _RemoteTokens(self.client, self._model_name or "", self.retry)
        return self._tokens

    def provenance(self) -> Provenance:
        return Provenance(
            origin=Origin.PREDICTED,
            backend=self.name,
            model=self._model_name or self.client.url,
        )

    # -- prediction ------------------------------------------------------------------------------

    def predict(
        self,
        request: PredictionRequest,
        *,
        on_frame: FrameCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PredictionResult:
        with self._lock:
            return _Run(self, request, on_frame, cancel).run()

    def _encode(self, tokens: _Tokens, parts: Sequence[tuple[bool, str]]) -> list[int]:
        ids: list[int] = []
        for special, piece in parts:
            ids.extend([tokens.special_id(piece)] if special else tokens.encode_plain(piece))
        return ids


class _Run:
    """One prediction: stream segments until the trace ends, cutting frames as they arrive."""

    def __init__(
        self,
        owner: OpenAIPredictor,
        request: PredictionRequest,
        on_frame: FrameCallback | None,
        cancel: CancelToken | None,
    ) -> None:
        self.owner, self.request, self.cancel = owner, request, cancel
        started = time.monotonic()
        self.deadline = Deadline(request.prediction_timeout, started)
        self.trace = GeneratedTrace(
            on_frame,
            started,
            context="the server's context",
            trace_context=request.context,
            deadline=self.deadline,
        )
        self.stopped_by: str | None = None
        self.finished = False
        self.limit: str | None = None
        self.tokens_generated = 0
        self.calls = CallDepth(step_over_depth(request.step_over, request.harness))
        self.max_frames = min(request.max_frames, owner.max_frames)

    def run(self) -> PredictionResult:
        tokens = self.owner._connect(self.cancel)
        names = [*list(trace_tokens.TRACE_TOKENS), "<|eot_id|>", "<|eom_id|>"]
        prompt = self.owner._encode(
            tokens,
            [
                (True, trace_tokens.BEGIN_OF_TEXT),
                (True, trace_tokens.TRACE_CONTEXT_START),
                (False, self.request.context),
                (True, trace_tokens.FRAME_SEP),
            ],
        )
        force: str | None = None
        resumes = 0
        while True:
            history = "".join(self.trace.pieces) + (force or "")
            ids = prompt + self.owner._encode(tokens, list(_split_specials(history, names)))
            outcome = self._segment(ids, force)
            force = None
            if outcome == "resume":
                resumes += 1
                if resumes >= self.owner.retry.attempts:
                    raise BackendError(f"{self.owner.client.url}: the stream broke off repeatedly")
                _sleep(self.owner.retry.delay(resumes - 1, None), self.cancel)
                continue
            if outcome == "step_over":
                force = trace_tokens.RETURN_SEP
                continue
            break
        return self.trace.result(
            provenance=self.owner.provenance(),
            stopped_by=self.stopped_by,
            finished=self.finished,
            tokens_generated=self.tokens_generated,
            limit=self.limit,
        )

    def _segment(self, ids: list[int], forced: str | None) -> str:
        """Stream one completion; returns "done", "step_over" or "resume"."""
        room = None
        if self.owner._max_model_len is not None:
            room = self.owner._max_model_len - len(ids)
            if room <= 0:
                self.limit = "stopped: the server's context length was reached"
                return "done"
        body = {
            "model": self.owner._model_name,
            "prompt": ids,
            "max_tokens": room if room is not None else 16_384,
            "temperature": self.request.temperature,
            "stream": True,
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
        }
        if self.request.seed is not None:
            body["seed"] = self.request.seed
        connection, response = _with_retries(
            self.owner.retry,
            self.cancel,
            lambda: self.owner.client.open("POST", "/v1/completions", body),
        )
        stop_watch = threading.Event()
        watcher = threading.Thread(
            target=self._watch_cancel, args=(connection, stop_watch), daemon=True
        )
        watcher.start()
        pending = forced or ""
        try:
            for event in _sse_events(response):
                choice = (event.get("choices") or [{}])[0]
                pending += choice.get("text") or ""
                self.tokens_generated += 1 if choice.get("text") else 0
                while trace_tokens.FRAME_SEP in pending:
                    cut = pending.index(trace_tokens.FRAME_SEP) + len(trace_tokens.FRAME_SEP)
                    frame_text, pending = pending[:cut], pending[cut:]
                    verdict = self._frame(frame_text)
                    if verdict is not None:
                        return verdict
                reason = choice.get("finish_reason")
                if reason is not None:
                    if trace_tokens.END_OF_TEXT in pending or (
                        reason == "stop" and choice.get("stop_reason") is None
                    ):
                        self.finished = True
                    elif reason == "length":
                        self.limit = "stopped: the server's token limit was reached"
                        self.stopped_by = "max_tokens"
                    else:
                        self.limit = f"the model stopped the trace ({choice.get('stop_reason')})"
                    return "done"
            if self.cancel is not None and self.cancel.cancelled:
                raise PredictionCancelled("prediction cancelled")
            if self._out_of_time():
                return "done"
            return "resume"  # the stream ended without a finish reason
        except (OSError, http.client.HTTPException, ValueError):
            if self.cancel is not None and self.cancel.cancelled:
                raise PredictionCancelled("prediction cancelled") from None
            if self._out_of_time():
                return "done"
            return "resume"
        finally:
            stop_watch.set()
            connection.close()

    def _watch_cancel(self, connection: http.client.HTTPConnection, done: threading.Event) -> None:
        while not done.wait(0.05):
            if (self.cancel is not None and self.cancel.cancelled) or self.deadline.expired:
                sock = connection.sock
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return

    def _frame(self, frame_text: str) -> str | None:
        """Take one complete frame; returns a segment verdict when the stream must stop."""
        if self.trace.feed(frame_text):
            return "done"  # predicted never to end: the trace says why
        step_over, returned = self.calls.after(_event_of(frame_text))
        if returned:
            self.finished = True
            return "done"
        if step_over:
            return "step_over"
        if len(self.trace.pieces) >= self.max_frames:
            self.limit = limit_message("max_frames", len(self.trace.pieces), self.trace.context)
            self.stopped_by = "max_frames"
            return "done"
        if self.cancel is not None and self.cancel.cancelled:
            raise PredictionCancelled("prediction cancelled")
        if self._out_of_time():
            return "done"
        return None

    def _out_of_time(self) -> bool:
        """Whether the wall-clock budget ran out (the stream is then closed by the watcher)."""
        if self.deadline.expired:
            self.stopped_by = "timeout"
            return True
        return False


def _sse_events(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    """JSON payloads of a server-sent event stream, until ``[DONE]``."""
    data: list[str] = []
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line or not data:
            continue
        payload = "\n".join(data)
        data = []
        if payload == "[DONE]":
            return
        event = json.loads(payload)
        if isinstance(event, dict) and "error" in event:
            raise ValueError(f"server error mid-stream: {event['error']}")
        if isinstance(event, dict):
            yield event


def _event_of(frame_text: str) -> str:
    if frame_text.startswith(trace_tokens.CALL_SEP):
        return "call"
    if frame_text.startswith(trace_tokens.RETURN_SEP):
        return "return"
    return "other"
