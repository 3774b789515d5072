"""The runtime's hot operations: hybrid attention over the KV cache and quantized linears.

Each has a pure PyTorch reference here. The dispatching functions take ``native``, the kernels
module the caller chose once (a model decides when it is built, from :func:`native_kernels`):
when it is given and the tensors live on the CPU, the native version runs instead, behind the
same signature. ``CWM_LSP_NATIVE=0`` makes :func:`native_kernels` None (the PyTorch path).
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

import torch
import torch.nn.functional as F


@functools.cache
def _native_module() -> ModuleType | None:
    try:
        return importlib.import_module("cwm_lsp.runtime.native")
    except Exception:  # not written yet, not built, or broken: the PyTorch path still works
        return None


def native_kernels() -> ModuleType | None:
    """The native kernels module when it should be used now, else None."""
    if os.environ.get("CWM_LSP_NATIVE") == "0":
        return None
    native = _native_module()
    if native is None:
        return None
    try:
        return native if native.available() else None
    except Exception:
        return None


def slot_positions(end: int, capacity: int, slots: int) -> torch.Tensor:
    """Absolute position held by each of the first ``slots`` cache slots when positions up to
    ``end`` (inclusive) have been written to slot ``p % capacity``; negative: never written."""
    slot = torch.arange(slots)
    return end - torch.remainder(end - slot, capacity)


def attention_reference(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    start_pos: int,
    window: int | None,
) -> torch.Tensor:
    """Pure PyTorch attention: ``q`` [T, H, D] at positions start_pos.., caches [n_kv, C, D]."""
    length, n_heads, head_dim = q.shape
    n_kv, capacity, _ = k_cache.shape
    end = start_pos + length - 1
    slots = min(capacity, end + 1)  # slots past `end` in a young cache were never written
    key_pos = slot_positions(end, capacity, slots).to(q.device)
    query_pos = torch.arange(start_pos, end + 1, device=q.device)
    visible = (key_pos[None, :] <= query_pos[:, None]) & (key_pos[None, :] >= 0)
    if window is not None:
        visible &= key_pos[None, :] > query_pos[:, None] - window
    keys = k_cache[:, :slots].to(q.dtype)
    values = v_cache[:, :slots].to(q.dtype)
    out = F.scaled_dot_product_attention(
        q.transpose(0, 1).unsqueeze(0),
        keys.unsqueeze(0),
        values.unsqueeze(0),
        attn_mask=visible,
        scale=head_dim**-0.5,
        enable_gqa=n_heads != n_kv,
    )
    return out.squeeze(0).transpose(0, 1)


def attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    start_pos: int,
    window: int | None,
    *,
    native: ModuleType | None,
) -> torch.Tensor:
    if native is not None and q.device.type == "cpu":
        result: torch.Tensor = native.attention(q, k_cache, v_cache, start_pos, window)
        return result
    return attention_reference(q, k_cache, v_cache, start_pos, window)


def int8_linear_reference(
    x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor
) -> torch.Tensor:
    """``x`` [M, K] @ (qweight [N, K] int8 * scales [N, 1]).T -> [M, N]."""
    if x.device.type == "cpu":
        return torch.ops.aten._weight_int8pack_mm(x.contiguous(), qweight, scales)
    return F.linear(x, qweight.to(x.dtype)) * scales.to(x.dtype)


def int8_linear(
    x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, *, native: ModuleType | None
) -> torch.Tensor:
    if native is not None and x.device.type == "cpu":
        result: torch.Tensor = native.int8_linear(x, qweight, scales)
        return result
    return int8_linear_reference(x, qweight, scales)


def unpack_int4(qweight: torch.Tensor) -> torch.Tensor:
    """uint8 [N, K // 2] (low nibble = even k) -> uint8 [N, K] of values 0..15."""
    low = qweight & 0x0F
    high = qweight >> 4
    return torch.stack((low, high), dim=-1).reshape(qweight.shape[0], -1)


def dequantize_int4(
    qweight: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, group_size: int
) -> torch.Tensor:
    dtype = torch.float32 if scales.dtype == torch.float16 else scales.dtype
    q = unpack_int4(qweight).to(dtype)
    n, k = q.shape
    grouped = q.view(n, k // group_size, group_size) - zeros.to(dtype).unsqueeze(-1)
    return (grouped * scales.to(dtype).unsqueeze(-1)).view(n, k)


def int4_linear_reference(
    x: torch.Tensor,
    qweight: torch.Tensor,
    scales: torch.Tensor,
    zeros: torch.Tensor,
    group_size: int,
) -> torch.Tensor:
    """``x`` [M, K] @ dequantized int4 weight [N, K].T -> [M, N]."""
    return F.linear(x, dequantize_int4(qweight, scales, zeros, group_size).to(x.dtype))


def int4_linear(
    x: torch.Tensor,
    qweight: torch.Tensor,
    scales: torch.Tensor,
    zeros: torch.Tensor,
    group_size: int,
    *,
    native: ModuleType | None,
) -> torch.Tensor:
    if native is not None and x.device.type == "cpu":
        result: torch.Tensor = native.int4_linear(x, qweight, scales, zeros, group_size)
        return result
    return int4_linear_reference(x, qweight, scales, zeros, group_size)
