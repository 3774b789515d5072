"""The language server's wire: our own read loop in place of pygls', so that a bad frame or a
bad message never leaves a client waiting.

- Framing (:mod:`cwm_lsp.server.framing`): a bad ``Content-Length`` costs only its own message;
  the reason goes to the log and to the client (``window/logMessage``), and a request whose
  JSON survived is answered with an error.
- Messages: pygls answers nothing when a request's params fail lsprotocol's validation
  (``{"line": -1}``, ``character: 2**31``), when the JSON is not a JSON-RPC 2.0 object, or
  after ``shutdown``; here each such request gets a JSON-RPC error response (InvalidParams,
  InvalidRequest). pygls 2.1.1 logs and drops them in ``io_.run_async``. We found no upstream
  report of either problem (the nearest, openlawlibrary/pygls#548, is about cryptic errors for
  badly typed command arguments), so both are handled in our layer; one to file upstream.
  (pygls#604, a character-count Content-Length, does not bite 2.1.1: it writes ASCII JSON.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
)
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from cwm_lsp.server.framing import FramedMessage, FrameParser, FramingError

logger = logging.getLogger(__name__)

STALL_SECONDS = 1.0  # no bytes for this long: report what cannot become a message

ReadChunk = Callable[[], Awaitable[bytes]]


class MessageGate:
    """Hands well-formed messages to pygls and answers the rest itself."""

    def __init__(self, server: LanguageServer) -> None:
        self.server = server
        self.protocol = server.protocol

    def framing_error(self, error: FramingError) -> None:
        request = error.request()
        text = (
            f"cwm-lsp: dropped {len(error.skipped)} bytes that were not a well-framed message "
            f"({error.reason}); reading on from the next Content-Length header"
        )
        logger.warning("%s", text)
        self._log_to_client(text)
        if request is not None and _valid_id(request.get("id")):
            self._answer_error(
                request["id"], JsonRpcInvalidRequest, f"framing error: {error.reason}"
            )

    def deliver(self, raw: Any) -> None:
        if isinstance(raw, list):  # a JSON-RPC batch: LSP has none
            self._answer_error(None, JsonRpcInvalidRequest, "batches are not supported in LSP")
            return
        if not isinstance(raw, dict):
            self._answer_error(None, JsonRpcInvalidRequest, "a message must be a JSON object")
            return
        method = raw.get("method")
        is_request = "method" in raw and "id" in raw
        request_id = raw.get("id")
        if raw.get("jsonrpc") != "2.0" or (method is not None and not isinstance(method, str)):
            if is_request or "method" not in raw:
                self._answer_error(
                    request_id if _valid_id(request_id) else None,
                    JsonRpcInvalidRequest,
                    'not a JSON-RPC 2.0 message ("jsonrpc": "2.0" and a string "method" needed)',
                )
            return
        if is_request and not _valid_id(request_id):
            self._answer_error(
                None, JsonRpcInvalidRequest, "a request id must be a number or string"
            )
            return
        if getattr(self.protocol, "_shutdown", False) and method != types.EXIT:
            if is_request:
                self._answer_error(request_id, JsonRpcInvalidRequest, "the server is shutting down")
            return
        try:
            message = self.protocol.structure_message(raw)
        except JsonRpcException as err:
            cause = err.__cause__ or err
            detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            logger.warning("invalid %s message: %s", method, detail)
            if is_request:
                self._answer_error(
                    request_id, JsonRpcInvalidParams, f"invalid params for {method}: {detail}"
                )
            return
        if is_request and getattr(message, "id", None) != request_id:
            # A notification's method sent with an id: pygls would read it as that
            # notification and answer nothing.
            self._answer_error(request_id, JsonRpcInvalidRequest, f"{method} is a notification")
            return
        self.protocol.handle_message(message)

    def _answer_error(self, request_id: Any, kind: type[JsonRpcException], message: str) -> None:
        # A plain dict: lsprotocol's converter would leave out an "id": null, which JSON-RPC
        # requires when the request's id could not be read.
        error = {"code": kind.CODE, "message": message}
        self.protocol._send_data({"jsonrpc": "2.0", "id": request_id, "error": error})

    def _log_to_client(self, text: str) -> None:
        try:
            self.protocol.notify(
                types.WINDOW_LOG_MESSAGE,
                types.LogMessageParams(type=types.MessageType.Error, message=text),
            )
        except Exception:  # the client may be gone; the log line above remains
            logger.debug("could not tell the client", exc_info=True)


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


async def read_loop(gate: MessageGate, read: ReadChunk, stop: threading.Event) -> None:
    """Read chunks until end of input, handing each event to ``gate``."""
    parser = FrameParser()
    while not stop.is_set():
        try:
            wait = STALL_SECONDS if parser.pending else None
            chunk = await asyncio.wait_for(read(), wait)
        except TimeoutError:
            events = parser.stalled()
        else:
            if not chunk:
                for event in parser.stalled():
                    _dispatch(gate, event)
                logger.info("end of input: the client closed the connection")
                return
            events = parser.feed(chunk)
        for event in events:
            _dispatch(gate, event)


def _dispatch(gate: MessageGate, event: FramedMessage | FramingError) -> None:
    if isinstance(event, FramingError):
        gate.framing_error(event)
        return
    try:
        gate.deliver(event.message)
    except Exception:  # pygls answers handler errors itself; this is for its own failures
        logger.exception("could not handle a message")
        if isinstance(event.message, dict) and _valid_id(event.message.get("id")):
            gate._answer_error(event.message["id"], JsonRpcInternalError, "could not handle it")


def _stdin_reader(stdin: BinaryIO, loop: asyncio.AbstractEventLoop) -> ReadChunk:
    """Chunks of stdin as they arrive, read by a daemon thread (stdin cannot be awaited)."""
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def pump() -> None:
        read = getattr(stdin, "read1", stdin.read)
        while True:
            try:
                chunk = read(65536)
            except (OSError, ValueError):
                chunk = b""
            loop.call_soon_threadsafe(chunks.put_nowait, chunk)
            if not chunk:
                return

    threading.Thread(target=pump, name="cwm-lsp-stdin", daemon=True).start()
    return chunks.get


def _prepare(server: LanguageServer) -> threading.Event:
    stop = threading.Event()
    server._stop_event = stop  # pygls' shutdown() sets it
    return stop


def serve_stdio(server: LanguageServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Like ``server.start_io`` with our read loop."""
    stop = _prepare(server)
    server.protocol.set_writer(StdoutWriter(stdout))

    async def main() -> None:
        gate = MessageGate(server)
        await read_loop(gate, _stdin_reader(stdin, asyncio.get_running_loop()), stop)

    try:
        asyncio.run(main())
    except BrokenPipeError:
        logger.error("the connection to the client is lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


def serve_tcp(server: LanguageServer, host: str, port: int) -> None:
    """Like ``server.start_tcp`` (one client at a time) with our read loop."""
    stop = _prepare(server)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.protocol.set_writer(writer)
        await read_loop(MessageGate(server), lambda: reader.read(65536), stop)
        server.shutdown()

    async def main() -> None:
        listener = await asyncio.start_server(connection, host, port)
        server._server = listener
        print(f"cwm-lsp: listening on {host}:{port}", file=sys.stderr, flush=True)
        async with listener:
            await listener.serve_forever()

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        asyncio.run(main())
