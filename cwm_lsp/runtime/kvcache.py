"""Per-layer key/value cache for hybrid (global + sliding-window) attention.

Layout (shared with the native kernels): each layer holds K and V of shape
[n_kv_heads, capacity, head_dim]; the entry of absolute position p lives at slot p % capacity.
Global layers grow without bound. Sliding layers grow up to ``window + max_chunk + rollback``:
``max_chunk`` lets a whole prefill chunk be written before it attends, and ``rollback`` keeps
that many already-evicted positions so :meth:`KVCache.truncate` can step back (prefix reuse).
Tensors grow by reallocation; while a layer holds fewer slots than its limit no position has
wrapped, so ``p % capacity`` stays valid across growth.

The arrays are torch tensors (:class:`TorchStorage`, the PyTorch model and the native decoder
behind it) or numpy arrays (:class:`NumpyStorage`, the torch-free native path); the ring
arithmetic is the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cwm_lsp.runtime.config import CwmConfig

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_CHUNK = 256
DEFAULT_ROLLBACK = 1024
_MIN_SLOTS = 64


class CacheError(RuntimeError):
    """A cache operation is impossible (e.g. truncating past what a sliding ring still holds)."""


class CacheStorage(Protocol):
    """Allocates a cache's arrays and tells the native decoder where they are."""

    @property
    def bfloat16(self) -> bool: ...

    @property
    def value_bytes(self) -> int: ...

    def zeros(self, shape: tuple[int, int, int]) -> Any: ...

    def address(self, array: Any) -> int:
        """Where ``array``'s data starts; a ``ValueError`` when the native decoder cannot
        write it in place (not CPU, not contiguous)."""
        ...


class TorchStorage:
    """float32 or bfloat16 torch tensors on ``device``."""

    def __init__(
        self, dtype: torch.dtype | None = None, device: torch.device | str = "cpu"
    ) -> None:
        import torch

        self.dtype = torch.float32 if dtype is None else dtype
        self.device = device
        self.bfloat16 = self.dtype == torch.bfloat16
        self.value_bytes = torch.empty((), dtype=self.dtype).element_size()

    def zeros(self, shape: tuple[int, int, int]) -> torch.Tensor:
        import torch

        return torch.zeros(shape, dtype=self.dtype, device=self.device)

    def address(self, array: torch.Tensor) -> int:
        import torch

        if array.dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(
                f"cache tensors must all be float32 or all bfloat16, got {array.dtype}"
            )
        if array.device.type != "cpu" or not array.is_contiguous():
            raise ValueError("cache tensors must be contiguous CPU tensors")
        return int(array.data_ptr())


class NumpyStorage:
    """float32 numpy arrays (numpy has no bfloat16)."""

    bfloat16 = False
    value_bytes = 4

    def zeros(self, shape: tuple[int, int, int]) -> Any:
        import numpy

        return numpy.zeros(shape, dtype=numpy.float32)

    def address(self, array: Any) -> int:
        if not array.flags.c_contiguous:
            raise ValueError("cache arrays must be contiguous")
        return int(array.ctypes.data)


@dataclass
class LayerCache:
    keys: Any  # [n_kv, capacity, head_dim], allocated by `storage`
    values: Any
    window: int | None
    limit: int | None  # most slots this layer ever needs; None: grows with the sequence
    storage: CacheStorage

    @property
    def capacity(self) -> int:
        return int(self.keys.shape[1])

    def ensure(self, end: int) -> bool:
        """Make room for positions < ``end``; whether the tensors were reallocated."""
        target = end if self.limit is None else min(end, self.limit)
        if target <= self.capacity:
            return False
        grown = max(target, 2 * self.capacity)
        if self.limit is not None:
            grown = min(grown, self.limit)
        for name in ("keys", "values"):
            old = getattr(self, name)
            new = self.storage.zeros((old.shape[0], grown, old.shape[2]))
            new[:, : old.shape[1]] = old  # no position has wrapped while below the limit
            setattr(self, name, new)
        return True

    def write(self, start_pos: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Store ``keys``/``values`` [T, n_kv, head_dim] of positions start_pos.. (the PyTorch
        model's per-operation path; the native decoder writes the arrays itself)."""
        import torch

        length = keys.shape[0]
        if length > self.capacity:
            raise CacheError(f"a chunk of {length} tokens does not fit a ring of {self.capacity}")
        slots = torch.arange(start_pos, start_pos + length, device=keys.device) % self.capacity
        self.keys.index_copy_(1, slots, keys.transpose(0, 1).to(self.keys.dtype))
        self.values.index_copy_(1, slots, values.transpose(0, 1).to(self.values.dtype))


@dataclass(frozen=True)
class CacheAddresses:
    """Where each layer's K and V live, for the native decoder (valid until the cache grows)."""

    keys: list[int]
    values: list[int]
    capacities: list[int]
    bfloat16: bool


class KVCache:
    def __init__(
        self,
        config: CwmConfig,
        *,
        max_chunk: int = DEFAULT_MAX_CHUNK,
        rollback: int = DEFAULT_ROLLBACK,
        dtype: torch.dtype | None = None,
        device: torch.device | str = "cpu",
        storage: CacheStorage | None = None,
    ) -> None:
        """Arrays from ``storage``; without one, torch tensors of ``dtype`` (default float32)
        on ``device``."""
        self.storage = TorchStorage(dtype, device) if storage is None else storage
        self.max_chunk = max_chunk
        self.rollback = rollback
        self.length = 0  # positions [0, length) are in the cache
        self.high_water = 0  # positions ever written: rings may hold stale ones above length
        self.layers: list[LayerCache] = []
        self._addresses: CacheAddresses | None = None
        for index in range(config.num_hidden_layers):
            window = config.window(index)
            limit = None if window is None else window + max_chunk + rollback
            slots = _MIN_SLOTS if limit is None else min(_MIN_SLOTS, limit)
            shape = (config.num_key_value_heads, slots, config.head_dim)
            self.layers.append(
                LayerCache(
                    keys=self.storage.zeros(shape),
                    values=self.storage.zeros(shape),
                    window=window,
                    limit=limit,
                    storage=self.storage,
                )
            )

    def prepare(self, start_pos: int, length: int) -> None:
        """Check a chunk of ``length`` tokens at ``start_pos`` can be written, and make room."""
        if start_pos != self.length:
            raise CacheError(
                f"chunk starts at {start_pos} but the cache holds {self.length} tokens"
            )
        if length > self.max_chunk:
            raise CacheError(f"chunk of {length} tokens exceeds max_chunk={self.max_chunk}")
        for layer in self.layers:
            if layer.ensure(start_pos + length):
                self._addresses = None

    def addresses(self) -> CacheAddresses:
        """Every layer's K/V addresses and capacity; a ``ValueError`` when the arrays are not
        where the native decoder can write them (see :meth:`CacheStorage.address`)."""
        if self._addresses is None:
            self._addresses = CacheAddresses(
                keys=[self.storage.address(layer.keys) for layer in self.layers],
                values=[self.storage.address(layer.values) for layer in self.layers],
                capacities=[layer.capacity for layer in self.layers],
                bfloat16=self.storage.bfloat16,
            )
        return self._addresses

    def advance(self, end: int) -> None:
        self.length = end
        self.high_water = max(self.high_water, end)

    def earliest_truncation(self) -> int:
        """The smallest position :meth:`truncate` accepts now."""
        earliest = 0
        for layer in self.layers:
            overwritten = self.high_water - layer.capacity  # positions below this are gone
            if layer.window is not None and overwritten > 0:
                # the next query at `pos` needs keys (pos - window, pos)
                earliest = max(earliest, overwritten + layer.window - 1)
        return min(earliest, self.length)

    def can_truncate(self, pos: int) -> bool:
        return pos == 0 or self.earliest_truncation() <= pos <= self.length

    def truncate(self, pos: int) -> None:
        """Forget every position >= ``pos`` (0 always works: an empty cache)."""
        if pos > self.length or pos < 0:
            raise CacheError(f"cannot truncate to {pos}: the cache holds {self.length} tokens")
        if pos == 0:
            self.length = self.high_water = 0
            return
        earliest = self.earliest_truncation()
        if pos < earliest:
            raise CacheError(
                f"cannot truncate to {pos}: sliding-window layers have already overwritten "
                f"positions it needs (earliest possible: {earliest}; a larger rollback margin "
                f"than {self.rollback} keeps more)"
            )
        self.length = pos

    def bytes_per_token(self) -> int:
        """Bytes one more token adds while every layer is still growing."""
        return sum(
            2 * layer.keys.shape[0] * layer.keys.shape[2] * self.storage.value_bytes
            for layer in self.layers
        )

    def nbytes(self) -> int:
        """Bytes allocated now."""
        return sum(
            2
            * layer.keys.shape[0]
            * layer.capacity
            * layer.keys.shape[2]
            * self.storage.value_bytes
            for layer in self.layers
        )


def cache_bytes(
    config: CwmConfig,
    tokens: int,
    *,
    bytes_per_value: int = 2,
    max_chunk: int = DEFAULT_MAX_CHUNK,
    rollback: int = DEFAULT_ROLLBACK,
) -> int:
    """Memory a full cache of ``tokens`` positions takes (sliding layers capped)."""
    per_slot = 2 * config.num_key_value_heads * config.head_dim * bytes_per_value
    total = 0
    for index in range(config.num_hidden_layers):
        window = config.window(index)
        slots = tokens if window is None else min(tokens, window + max_chunk + rollback)
        total += slots * per_slot
    return total
