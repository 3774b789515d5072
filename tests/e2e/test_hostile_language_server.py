"""The real ``cwm-lsp serve`` process over stdio, fed raw bytes as a broken or hostile client
would send them: each of the four framing errors from issue 19 is reported and the server goes
on answering; requests with invalid params get an LSP error; a hypothesis fuzzer sends random
JSON-RPC messages for a fixed budget and every request is answered."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

SOURCE = "# prophecy: double(2)\ndef double(x):\n    y = 2 * x\n    return y\n"
INVALID_PARAMS, INVALID_REQUEST = -32602, -32600


class RawClient:
    """Writes whatever bytes it is given; reads the server's framed messages on a thread."""

    def __init__(self, root: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cwm_lsp", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=root,
        )
        self.responses: dict[Any, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self._arrived: queue.Queue[None] = queue.Queue()
        self._lock = threading.Lock()
        self._next_id = 1000
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            length = None
            while (line := stdout.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line or length is None:
                return
            message = json.loads(stdout.read(length))
            if "method" in message and "id" in message:  # a request from the server
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [None] * len(message["params"]["items"])
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
                continue
            with self._lock:
                if "id" in message:
                    self.responses[message["id"]] = message
                else:
                    self.notifications.append(message)
            self._arrived.put(None)

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message: Any) -> None:
        body = json.dumps(message).encode()
        self.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def response(self, request_id: Any, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if request_id in self.responses:
                    return self.responses.pop(request_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise AssertionError(f"no response to request {request_id!r}")
            with contextlib.suppress(queue.Empty):
                self._arrived.get(timeout=min(remaining, 0.5))

    def request(self, method: str, params: Any, timeout: float = 15.0) -> dict[str, Any]:
        request_id = self.new_id()
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return self.response(request_id, timeout)

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawClient]:
    root = tmp_path_factory.mktemp("hostile-lsp")
    (root / "double.py").write_text(SOURCE)
    raw = RawClient(root)
    answer = raw.request(
        "initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}, 60
    )
    assert answer["result"]["serverInfo"]["name"] == "cwm-lsp"
    raw.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    uri = (root / "double.py").as_uri()
    raw.send(
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}
            },
        }
    )
    raw.uri = uri  # type: ignore[attr-defined]
    yield raw
    raw.close()


def alive(client: RawClient) -> bool:
    """A real request on the open document is answered."""
    answer = client.request(
        "textDocument/inlayHint",
        {
            "textDocument": {"uri": client.uri},  # type: ignore[attr-defined]
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 0}},
        },
    )
    return "result" in answer


def body_of(request_id: int) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "textDocument/hover", "params": {}}
    ).encode()


FRAMINGS = {
    "too short": lambda body: b"Content-Length: %d\r\n\r\n" % (len(body) - 10) + body,
    "too long": lambda body: b"Content-Length: %d\r\n\r\n" % (len(body) + 10) + body,
    "abc": lambda body: b"Content-Length: abc\r\n\r\n" + body,
    "missing": lambda body: b"Content-Type: application/json\r\n\r\n" + body,
}


@pytest.mark.parametrize("case", list(FRAMINGS))
@pytest.mark.timeout(60)
def test_a_framing_error_is_reported_and_the_server_answers_on(
    client: RawClient, case: str
) -> None:
    broken_id = client.new_id()
    logged = len(client.notifications)
    client.write(FRAMINGS[case](body_of(broken_id)))
    assert alive(client)
    # The broken request itself is answered (its JSON survived), and the client is told why.
    error = client.response(broken_id)["error"]
    assert error["code"] == INVALID_REQUEST and error["message"].startswith("framing error: ")
    log = [n for n in client.notifications[logged:] if n["method"] == "window/logMessage"]
    assert any("not a well-framed message" in n["params"]["message"] for n in log)


@pytest.mark.timeout(60)
def test_an_overstated_length_at_the_end_of_input_is_answered_after_a_pause(
    client: RawClient,
) -> None:
    broken_id = client.new_id()
    client.write(FRAMINGS["too long"](body_of(broken_id)))
    assert client.response(broken_id, timeout=10)["error"]["code"] == INVALID_REQUEST
    assert alive(client)


@pytest.mark.parametrize(
    "position",
    [
        {"line": -1, "character": -1},
        {"line": 0, "character": 2**31},
        {"line": None, "character": 0},
        {"line": 0},
    ],
)
@pytest.mark.timeout(60)
def test_invalid_positions_get_an_invalid_params_error(
    client: RawClient, position: dict[str, Any]
) -> None:
    document = {"uri": client.uri}  # type: ignore[attr-defined]
    for method, params in (
        ("textDocument/hover", {"textDocument": document, "position": position}),
        (
            "textDocument/inlayHint",
            {"textDocument": document, "range": {"start": position, "end": position}},
        ),
        (
            "textDocument/codeAction",
            {
                "textDocument": document,
                "range": {"start": position, "end": position},
                "context": {"diagnostics": []},
            },
        ),
    ):
        error = client.request(method, params)["error"]
        assert error["code"] == INVALID_PARAMS, (method, error)
        assert error["message"].startswith(f"invalid params for {method}")
    assert alive(client)


@pytest.mark.timeout(60)
def test_positions_past_the_end_of_the_document_are_answered(client: RawClient) -> None:
    document = {"uri": client.uri}  # type: ignore[attr-defined]
    far = {"line": 2**31 - 1, "character": 2**31 - 1}
    for method, params in (
        ("textDocument/hover", {"textDocument": document, "position": far}),
        ("textDocument/inlayHint", {"textDocument": document, "range": {"start": far, "end": far}}),
        (
            "textDocument/codeAction",
            {
                "textDocument": document,
                "range": {"start": far, "end": far},
                "context": {"diagnostics": []},
            },
        ),
        ("textDocument/hover", {"textDocument": {"uri": "file:///nowhere.py"}, "position": far}),
    ):
        answer = client.request(method, params)
        assert "result" in answer or "error" in answer


@pytest.mark.timeout(60)
def test_messages_that_are_not_json_rpc_requests_are_answered(client: RawClient) -> None:
    wrong_version = client.new_id()
    client.send({"jsonrpc": "1.0", "id": wrong_version, "method": "textDocument/hover"})
    assert client.response(wrong_version)["error"]["code"] == INVALID_REQUEST
    for message in ([1, 2], "hello", 7, {"jsonrpc": "2.0", "id": {"x": 1}, "method": "x"}):
        client.send(message)
        assert client.response(None)["error"]["code"] == INVALID_REQUEST
    client.write(b"Content-Length: 5\r\n\r\n{nope")
    assert alive(client)


_LSP_METHODS = [
    "textDocument/hover",
    "textDocument/inlayHint",
    "textDocument/codeAction",
    "textDocument/didChange",
    "textDocument/didSave",
    "inlayHint/resolve",
    "workspace/didChangeConfiguration",
    "$/cancelRequest",
    "cwm/unknown",
]
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
_POSITION = (
    st.fixed_dictionaries({"line": st.integers(-3, 2**32), "character": st.integers(-3, 2**32)})
    | _JSON
)


def _params(draw: st.DrawFn, uri: str) -> Any:
    document = draw(st.sampled_from([{"uri": uri}, {"uri": "file:///x.py"}, {}]))
    position = draw(_POSITION)
    return draw(
        st.sampled_from(
            [
                {"textDocument": document, "position": position},
                {"textDocument": document, "range": {"start": position, "end": draw(_POSITION)}},
                draw(_JSON),
            ]
        )
    )


@st.composite
def _messages(draw: st.DrawFn) -> tuple[bool, dict[str, Any]]:
    is_request = draw(st.booleans())
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": draw(st.sampled_from(_LSP_METHODS))}
    message["params"] = _params(draw, "file:///placeholder")
    return is_request, message


@settings(
    max_examples=300,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking would outlast the budget
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fuzzed=_messages())
@pytest.mark.timeout(60)
def test_fuzzed_json_rpc_requests_are_all_answered(
    client: RawClient, fuzzed: tuple[bool, dict[str, Any]]
) -> None:
    is_request, message = fuzzed
    text = json.dumps(message).replace("file:///placeholder", client.uri)  # type: ignore[attr-defined]
    message = json.loads(text)
    if is_request:
        message["id"] = client.new_id()
    client.send(message)
    if is_request:
        answer = client.response(message["id"])
        assert "result" in answer or "error" in answer


_CORRUPTIONS = st.sampled_from(
    [
        lambda body: b"Content-Length: %d\r\n\r\n" % max(len(body) - 7, 0) + body,
        lambda body: b"Content-Length: %d\r\n\r\n" % (len(body) + 3) + body,
        lambda body: b"Content-Length: " + "\u00b2".encode() + b"\r\n\r\n" + body,
        lambda body: b"Content-Length: 99999999999999\r\n\r\n" + body,
        lambda body: b"\r\n\r\n" + body,
        lambda body: body,
        lambda body: b"Content-Length: %d\r\nContent-Length: 2\r\n\r\n" % len(body) + body,
    ]
)


@settings(
    max_examples=200,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(corrupt=_CORRUPTIONS, junk=st.binary(max_size=40), fuzzed=_messages())
@pytest.mark.timeout(60)
def test_fuzzed_broken_frames_never_stop_the_answers(
    client: RawClient, corrupt: Any, junk: bytes, fuzzed: tuple[bool, dict[str, Any]]
) -> None:
    _, message = fuzzed
    message["id"] = client.new_id()
    client.write(junk + corrupt(json.dumps(message).encode()))
    assert alive(client)  # the next well-framed request is answered


@pytest.mark.timeout(60)
def test_alive_after_the_fuzzer(client: RawClient) -> None:
    assert alive(client)
    assert client.process.poll() is None
