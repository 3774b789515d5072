"""Finished predictions, reused when the same function is asked about again unchanged.

The key holds everything that changes what a prediction says: the whole trace context (the
function's source, the code it calls and the example call), the call, and the backend settings.
Only finished, uncancelled results are stored.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from cwm_lsp.backends.base import PredictionResult


@dataclass(frozen=True)
class ResultKey:
    context_digest: str
    call: str | None
    settings: Hashable  # the backend options: whatever changes what a prediction says

    @classmethod
    def of(cls, context: str, call: str | None, settings: Hashable) -> ResultKey:
        digest = hashlib.sha256(context.encode("utf-8")).hexdigest()
        return cls(digest, call, settings)


class ResultCache:
    """A small thread-safe LRU map from :class:`ResultKey` to :class:`PredictionResult`."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._items: OrderedDict[ResultKey, PredictionResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ResultKey) -> PredictionResult | None:
        with self._lock:
            result = self._items.get(key)
            if result is not None:
                self._items.move_to_end(key)
            return result

    def put(self, key: ResultKey, result: PredictionResult) -> None:
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
