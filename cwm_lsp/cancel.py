"""Cooperative cancellation, a leaf every layer may use (runtime, execution, backends, server).

The caller keeps a :class:`CancelToken` and cancels it; the worker polls ``cancelled`` (anything
:class:`Cancellable`) and stops, raising :class:`PredictionCancelled` where a result was asked for.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Cancellable(Protocol):
    @property
    def cancelled(self) -> bool: ...


class CancelToken:
    """Cooperative cancellation shared between the caller and a running worker."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class PredictionCancelled(Exception):
    """Raised by a backend when its :class:`CancelToken` was cancelled."""
