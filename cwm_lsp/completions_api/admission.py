"""Who gets served by ``cwm-lsp model serve``, and how the rest are turned away politely.

Three bounds, each answered with a status and ``Retry-After`` instead of a reset connection:

- connections: at most ``max_connections`` are handled at once; more get 503 from one
  :class:`OverloadRejecter` thread, which also drains what they sent before closing (closing a
  socket with unread data makes the kernel send a reset, and the client loses the answer);
- the model: completions take first-come, first-served turns (:class:`TurnQueue`); at most
  ``max_waiting`` wait, more get 429;
- the tokenizer endpoints: at most a few run at once (:class:`Slots`); more get 429.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator

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


class Slots:
    """At most ``size`` holders at once; :meth:`take` never waits (raises QueueFull)."""

    def __init__(self, size: int) -> None:
        self._free = threading.BoundedSemaphore(size)

    @contextlib.contextmanager
    def take(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            raise QueueFull
        try:
            yield
        finally:
            self._free.release()


class ConnectionCount:
    """Connections being handled, bounded by ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


def linger_close(sock: socket.socket, *, seconds: float = 1.0, max_bytes: int = 1 << 20) -> None:
    """Close after the answer has been sent: stop writing, read what the client still sends
    (bounded), then close, so the kernel does not reset a connection with unread data."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + seconds
    drained = 0
    with contextlib.suppress(OSError):
        while drained < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                break
            drained += len(data)
    sock.close()


class OverloadRejecter:
    """One thread that answers connections over the limit with a fixed response, drains them
    for up to ``linger`` seconds and closes them; at most ``max_held`` at once (beyond that, a
    flood of connections is closed at once)."""

    def __init__(self, response: bytes, *, linger: float = 2.0, max_held: int = 512) -> None:
        self._response = response
        self._linger = linger
        self._max_held = max_held
        self._incoming: queue.SimpleQueue[socket.socket | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cwm-serve-reject", daemon=True)
        self._thread.start()
        self.rejected = 0

    def reject(self, sock: socket.socket) -> None:
        self.rejected += 1
        self._incoming.put(sock)

    def stop(self) -> None:
        self._incoming.put(None)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        deadlines: dict[socket.socket, float] = {}

        def drop(sock: socket.socket) -> None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(sock)
            deadlines.pop(sock, None)
            with contextlib.suppress(OSError):
                sock.close()

        while True:
            try:
                sock = self._incoming.get(timeout=_POLL_SECONDS if deadlines else None)
            except queue.Empty:
                sock = None
            else:
                if sock is None:
                    break
                self._answer(sock, selector, deadlines, drop)
            while True:  # take every socket already waiting before polling
                try:
                    more = self._incoming.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    return
                self._answer(more, selector, deadlines, drop)
            if deadlines:
                for key, _ in selector.select(timeout=0.05):
                    held = key.fileobj
                    assert isinstance(held, socket.socket)
                    try:
                        if not held.recv(65536):
                            drop(held)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        drop(held)
                now = time.monotonic()
                for held in [s for s, deadline in deadlines.items() if deadline <= now]:
                    drop(held)

    def _answer(
        self,
        sock: socket.socket,
        selector: selectors.BaseSelector,
        deadlines: dict[socket.socket, float],
        drop: Callable[[socket.socket], None],
    ) -> None:
        try:
            sock.setblocking(False)
            sock.send(self._response)  # a few hundred bytes into an empty send buffer
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            drop(sock)
            return
        if len(deadlines) >= self._max_held:
            drop(sock)
            return
        selector.register(sock, selectors.EVENT_READ)
        deadlines[sock] = time.monotonic() + self._linger
