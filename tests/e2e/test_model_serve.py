"""``cwm-lsp model serve`` over real HTTP on 127.0.0.1: the completions API, auth, the bounded
queue, clients that disconnect mid-stream, and prompt-length limits."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cwm_lsp.runtime import load_model
from cwm_lsp.runtime.testing import tiny_config, write_checkpoint

pytest.importorskip("transformers")

TOKEN = "s3cret-test-token"


def start_server(
    model: Path, *extra: str, token: str | None = TOKEN
) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ)
    args = [sys.executable, "-m", "cwm_lsp", "model", "serve", str(model), "--port", "0", *extra]
    if token is not None:
        env["CWM_TEST_SERVE_TOKEN"] = token
        args += ["--token-env", "CWM_TEST_SERVE_TOKEN"]
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving" not in line:
        process.kill()
        raise AssertionError(f"server did not start: {line!r}")
    url = line.split(" at ", 1)[1].split("/v1", 1)[0]
    return process, url


def stop_server(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Http:
    def __init__(self, url: str, token: str | None = TOKEN) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        connection = self.connect()
        data = None if body is None else json.dumps(body)
        connection.request(method, path, body=data, headers=self.headers())
        response = connection.getresponse()
        payload = json.loads(response.read() or b"null")
        connection.close()
        return response.status, payload

    def open_stream(self, body: Any) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        connection = self.connect()
        connection.request("POST", "/v1/completions", body=json.dumps(body), headers=self.headers())
        return connection, connection.getresponse()


def sse(response: http.client.HTTPResponse) -> Iterator[Any]:
    for raw in response:
        line = raw.decode().strip()
        if line.startswith("data: "):
            data = line[len("data: ") :]
            yield data if data == "[DONE]" else json.loads(data)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("serve-model")
    write_checkpoint(directory, tiny_config(max_position_embeddings=2048), seed=7)
    return directory


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[str]:
    process, url = start_server(model_dir, "--max-queue", "1")
    try:
        yield url
    finally:
        stop_server(process)


PROMPT = [256, *b"def f(x):\n    return x\n"]


def expected_ids(model_dir: Path, count: int) -> list[int]:
    return list(load_model(model_dir).generate(PROMPT, max_new_tokens=count))


def test_completion_from_token_ids_matches_the_runtime(server: str, model_dir: Path) -> None:
    client = Http(server)
    status, models = client.request("GET", "/v1/models")
    assert status == 200
    assert models["data"][0]["max_model_len"] == 2048
    body = {
        "model": models["data"][0]["id"],
        "prompt": PROMPT,
        "max_tokens": 12,
        "temperature": 0,
        "skip_special_tokens": False,
        "ignore_eos": True,
    }
    status, answer = client.request("POST", "/v1/completions", body)
    assert status == 200, answer
    ids = expected_ids(model_dir, 12)
    tokenizer = load_model(model_dir).tokenizer
    assert tokenizer is not None
    choice = answer["choices"][0]
    assert choice["text"] == tokenizer.decode(ids)
    assert choice["finish_reason"] == "length"
    assert answer["usage"] == {
        "prompt_tokens": len(PROMPT),
        "completion_tokens": 12,
        "total_tokens": len(PROMPT) + 12,
    }
    # The same request streamed gives the same text; stop ids end it with their stop reason.
    connection, response = client.open_stream(body | {"stream": True})
    events = list(sse(response))
    connection.close()
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == choice["text"]
    status, stopped = client.request("POST", "/v1/completions", body | {"stop_token_ids": [ids[3]]})
    first = ids.index(ids[3])
    assert stopped["choices"][0]["stop_reason"] == ids[3]
    assert stopped["choices"][0]["text"] == tokenizer.decode(ids[:first])


def test_tokenize_reads_special_token_strings_like_vllm(server: str) -> None:
    status, answer = Http(server).request("POST", "/tokenize", {"prompt": "ab<|frame_sep|>c"})
    assert status == 200
    assert answer["tokens"] == [97, 98, 256 + 100, 99]
    status, answer = Http(server).request("POST", "/detokenize", {"tokens": [97, 256 + 101]})
    assert answer["prompt"] == "a<|action_sep|>"


def test_bad_token_is_refused_with_401(server: str) -> None:
    status, answer = Http(server, token="wrong").request("GET", "/v1/models")
    assert status == 401
    assert "API key" in answer["error"]["message"]
    status, _ = Http(server, token=None).request("POST", "/v1/completions", {"prompt": [1]})
    assert status == 401
    assert Http(server, token=None).request("GET", "/health")[0] == 200


def test_oversized_prompt_and_bad_requests_get_400(server: str) -> None:
    client = Http(server)
    status, answer = client.request("POST", "/v1/completions", {"prompt": [65] * 2100})
    assert status == 400
    assert "maximum context length is 2048" in answer["error"]["message"]
    status, answer = client.request(
        "POST", "/v1/completions", {"prompt": [65] * 2000, "max_tokens": 100}
    )
    assert status == 400
    for bad in (
        {"prompt": []},
        {"prompt": [1, "x"]},
        {"prompt": [99999]},
        {"prompt": [1], "max_tokens": 0},
    ):
        status, answer = client.request("POST", "/v1/completions", bad)
        assert status == 400, bad
        assert answer["error"]["message"]
    assert client.request("POST", "/v1/chat/completions", {})[0] == 404


def _wait_for(client: Http, running: int, waiting: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, health = client.request("GET", "/health")
        if (health["running"], health["waiting"]) == (running, waiting):
            return
        time.sleep(0.05)
    raise AssertionError(f"server never reached running={running} waiting={waiting}: {health}")


def test_queue_full_gives_429_and_a_disconnect_frees_the_model(
    server: str, model_dir: Path
) -> None:
    client = Http(server)
    long_body = {
        "prompt": PROMPT,
        "max_tokens": 1900,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
    }
    busy, busy_response = client.open_stream(long_body)
    first = next(sse(busy_response))  # the long request holds the model now
    assert first["choices"][0]["finish_reason"] is None
    results: dict[str, Any] = {}

    def waiting_request() -> None:
        results["waiting"] = client.request(
            "POST",
            "/v1/completions",
            {
                "prompt": PROMPT,
                "max_tokens": 5,
                "temperature": 0,
                "ignore_eos": True,
                "skip_special_tokens": False,
            },
        )

    waiter = threading.Thread(target=waiting_request)
    waiter.start()
    _wait_for(client, running=1, waiting=1)
    status, answer = client.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 5})
    assert status == 429
    assert "busy" in answer["error"]["message"]
    busy_response.close()  # disconnect mid-stream: the server stops generating for it
    busy.close()
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    status, answer = results["waiting"]
    assert status == 200
    tokenizer = load_model(model_dir).tokenizer
    assert tokenizer is not None
    assert answer["choices"][0]["text"] == tokenizer.decode(expected_ids(model_dir, 5))
    _wait_for(client, running=0, waiting=0)


def test_concurrent_clients_get_their_own_answers(server: str, model_dir: Path) -> None:
    client = Http(server)
    prompts = [[256, *f"x = {i}\n".encode()] for i in range(2)]
    model = load_model(model_dir)
    assert model.tokenizer is not None
    expected = [model.tokenizer.decode(list(model.generate(p, max_new_tokens=6))) for p in prompts]
    answers: dict[int, Any] = {}

    def ask(index: int) -> None:
        body = {
            "prompt": prompts[index],
            "max_tokens": 6,
            "temperature": 0,
            "ignore_eos": True,
            "skip_special_tokens": False,
        }
        answers[index] = client.request("POST", "/v1/completions", body)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for index in range(2):
        status, answer = answers[index]
        assert status == 200
        assert answer["choices"][0]["text"] == expected[index]


def test_serve_refuses_an_unset_token_variable(model_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CWM_TEST_UNSET_VAR"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cwm_lsp",
            "model",
            "serve",
            str(model_dir),
            "--token-env",
            "CWM_TEST_UNSET_VAR",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CWM_TEST_UNSET_VAR" in result.stderr
    assert "Traceback" not in result.stderr
