"""The comparison stack for ``benchmarks/serve_load.py --stack asgi``: the same engine and the
same admission rule (one generation at a time, at most ``--max-queue`` waiting, more get 429)
as a plain ASGI app under uvicorn, non-streaming ``/v1/completions`` and ``/health`` only.

Not part of the package: it exists to decide, by measurement, whether a maintained ASGI server
would serve ``model serve`` better than our standard-library one. Needs ``uvicorn`` importable
(``pip install uvicorn``, or ``--uvicorn-path DIR`` for a ``pip install --target DIR``).
Prints ``serving ... at http://127.0.0.1:PORT/v1`` like ``cwm-lsp model serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
from typing import Any

from cwm_lsp.completions_api.engine import CompletionEngine, RequestError, Usage
from cwm_lsp.runtime import load_model

Scope = dict[str, Any]


def make_app(engine: CompletionEngine, max_queue: int) -> Any:
    model_lock = threading.Lock()
    admitted = 0  # running + waiting, counted on the event loop (no lock needed)

    def generate(body: Any) -> dict[str, Any]:
        request = engine.parse(body)
        usage = Usage()
        with model_lock:
            deltas = list(engine.run(request, threading.Event(), usage))
        return {
            "object": "text_completion",
            "model": engine.name,
            "choices": [{"index": 0, "text": "".join(d.text for d in deltas)}],
            "usage": usage.as_dict(),
        }

    async def send_json(send: Any, status: int, payload: Any, extra: tuple[Any, ...] = ()) -> None:
        data = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal admitted
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await send_json(send, 200, {"status": "ok"})
            return
        if scope["path"] != "/v1/completions" or scope["method"] != "POST":
            await send_json(send, 404, {"error": {"message": "no route"}})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if admitted > max_queue:
            await send_json(send, 429, {"error": {"message": "busy"}}, ((b"retry-after", b"1"),))
            return
        admitted += 1
        try:
            body = json.loads(b"".join(chunks))
            payload = await asyncio.to_thread(generate, body)
        except (RequestError, ValueError) as err:
            await send_json(send, 400, {"error": {"message": str(err)}})
            return
        finally:
            admitted -= 1
        await send_json(send, 200, payload)

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--max-queue", type=int, default=16)
    parser.add_argument("--uvicorn-path", default=None)
    args = parser.parse_args()
    if args.uvicorn_path:
        sys.path.insert(0, args.uvicorn_path)
    import uvicorn

    engine = CompletionEngine(load_model(args.model))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        make_app(engine, args.max_queue), log_level="warning", access_log=False, backlog=2048
    )
    print(f"serving {engine.name} (asgi) at http://127.0.0.1:{port}/v1", flush=True)
    uvicorn.Server(config).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
