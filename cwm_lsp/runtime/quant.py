"""Weight-only quantization: int8 per output channel (symmetric), int4 group-wise (asymmetric).

Layouts (consumed by the native kernels, see contracts.md):
  int8: qweight int8 [N, K], scales float32 [N];            w[n, k] = qweight[n, k] * scales[n]
  int4: qweight uint8 [N, K // 2] (low nibble = even k), scales float32 [N, K // G],
        zeros uint8 [N, K // G];                 w[n, k] = scales[n, k // G] * (q[n, k] - zeros[n, k // G])
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

from cwm_lsp.runtime import ops
from cwm_lsp.runtime.checkpoint_files import DEFAULT_GROUP_SIZE

METHODS = ("int8", "int4")


# Rows quantized at a time: bounds the float temporaries for very large matrices.
_ROW_BLOCK_ELEMENTS = 1 << 24
# int4 clipping candidates: each group keeps the range shrink with the smallest squared error.
INT4_CLIP_RATIOS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75)


def _row_blocks(weight: torch.Tensor) -> list[slice]:
    rows = max(1, _ROW_BLOCK_ELEMENTS // max(1, weight.shape[1]))
    return [slice(start, start + rows) for start in range(0, weight.shape[0], rows)]


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8 (scale = max |w| / 127)."""
    qweight = torch.empty(weight.shape, dtype=torch.int8)
    scales = torch.empty(weight.shape[0], dtype=torch.float32)
    for rows in _row_blocks(weight):
        w = weight[rows].float()
        block_scales = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-10)
        qweight[rows] = torch.round(w / block_scales[:, None]).clamp(-127, 127).to(torch.int8)
        scales[rows] = block_scales
    return qweight, scales


def int4_group_size(in_features: int, requested: int) -> int:
    """``requested`` when it divides K, else the largest even divisor of K below it."""
    if requested > 0 and in_features % requested == 0 and requested % 2 == 0:
        return requested
    for size in range(min(requested, in_features), 1, -1):
        if in_features % size == 0 and size % 2 == 0:
            return size
    raise ValueError(f"int4 needs an even input size, got {in_features}")


def _int4_groups(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes, scales and zeros for groups ``w`` [R, groups, G], choosing each group's range
    (its min/max shrunk by one of INT4_CLIP_RATIOS) to minimise the squared error."""
    low = w.amin(dim=-1).clamp(max=0.0)
    high = w.amax(dim=-1).clamp(min=0.0)
    best_error = torch.full(low.shape, float("inf"))
    best_scales = torch.ones_like(low)
    best_zeros = torch.zeros_like(low)
    for ratio in INT4_CLIP_RATIOS:
        scales = ((high - low) * ratio / 15.0).clamp(min=1e-10)
        zeros = torch.round(-low * ratio / scales).clamp(0, 15)
        q = torch.round(w / scales.unsqueeze(-1) + zeros.unsqueeze(-1)).clamp(0, 15)
        error = ((q - zeros.unsqueeze(-1)) * scales.unsqueeze(-1) - w).square().sum(dim=-1)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best_scales = torch.where(better, scales, best_scales)
        best_zeros = torch.where(better, zeros, best_zeros)
    codes = torch.round(w / best_scales.unsqueeze(-1) + best_zeros.unsqueeze(-1)).clamp(0, 15)
    return codes.to(torch.uint8), best_scales, best_zeros.to(torch.uint8)


def quantize_int4(
    weight: torch.Tensor, group_size: int = DEFAULT_GROUP_SIZE
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Group-wise asymmetric int4 with zero points, packed two per byte (low nibble = even k)."""
    n, k = weight.shape
    if k % group_size or group_size % 2:
        raise ValueError(f"group size {group_size} must be even and divide {k}")
    packed = torch.empty((n, k // 2), dtype=torch.uint8)
    scales = torch.empty((n, k // group_size), dtype=torch.float32)
    zeros = torch.empty((n, k // group_size), dtype=torch.uint8)
    for rows in _row_blocks(weight):
        w = weight[rows].float()
        codes, scales[rows], zeros[rows] = _int4_groups(w.view(w.shape[0], -1, group_size))
        codes = codes.view(w.shape[0], k)
        packed[rows] = codes[:, 0::2] | (codes[:, 1::2] << 4)
    return packed, scales, zeros


class Int8Linear(nn.Module):
    """``native``: the kernels module to run on the CPU (None: PyTorch), fixed when built."""

    qweight: torch.Tensor
    scales: torch.Tensor

    def __init__(
        self, qweight: torch.Tensor, scales: torch.Tensor, *, native: ModuleType | None
    ) -> None:
        super().__init__()
        self.native = native
        self.out_features, self.in_features = qweight.shape
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.int8_linear(x, self.qweight, self.scales, native=self.native)

    @classmethod
    def from_weight(cls, weight: torch.Tensor, *, native: ModuleType | None) -> Int8Linear:
        return cls(*quantize_int8(weight), native=native)


def _scales(scales: torch.Tensor, zeros: torch.Tensor) -> torch.Tensor:
    """float32, or float16 as given when every zero point is the same (GGUF's Q4_0): the native
    kernels then read 18 bytes per 32 weights instead of 20 and fold the zero point."""
    if scales.dtype == torch.float16 and zeros.numel() and bool((zeros == zeros.view(-1)[0]).all()):
        return scales.contiguous()
    return scales.float()


class Int4Linear(nn.Module):
    """``native``: the kernels module to run on the CPU (None: PyTorch), fixed when built."""

    qweight: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor

    def __init__(
        self,
        qweight: torch.Tensor,
        scales: torch.Tensor,
        zeros: torch.Tensor,
        *,
        native: ModuleType | None,
    ) -> None:
        super().__init__()
        self.native = native
        self.out_features = qweight.shape[0]
        self.in_features = qweight.shape[1] * 2
        self.group_size = self.in_features // scales.shape[1]
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", _scales(scales, zeros))
        self.register_buffer("zeros", zeros)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.int4_linear(
            x, self.qweight, self.scales, self.zeros, self.group_size, native=self.native
        )

    @classmethod
    def from_weight(
        cls,
        weight: torch.Tensor,
        group_size: int = DEFAULT_GROUP_SIZE,
        *,
        native: ModuleType | None,
    ) -> Int4Linear:
        size = int4_group_size(weight.shape[1], group_size)
        return cls(*quantize_int4(weight, size), native=native)


class FloatLinear(nn.Module):
    """An unquantized weight kept in its storage dtype (bf16 stays bf16 in memory)."""

    weight: torch.Tensor

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight", weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.dtype == x.dtype:
            return nn.functional.linear(x, self.weight)
        return nn.functional.linear(x.to(self.weight.dtype), self.weight).to(x.dtype)


def quantized_tensors(
    method: str, weight: torch.Tensor, group_size: int
) -> dict[str, torch.Tensor]:
    """The stored tensors (suffix -> tensor) of one quantized weight."""
    if method == "int8":
        qweight, scales = quantize_int8(weight)
        return {"qweight": qweight, "scales": scales}
    if method == "int4":
        size = int4_group_size(weight.shape[1], group_size)
        qweight, scales, zeros = quantize_int4(weight, size)
        return {"qweight": qweight, "scales": scales, "zeros": zeros}
    raise ValueError(f"unknown quantization {method!r} (expected int8 or int4)")


def linear_from_tensors(parts: dict[str, torch.Tensor], *, native: ModuleType | None) -> nn.Module:
    """A linear module from stored tensors: ``weight``, or ``qweight``/``scales``[/``zeros``];
    a quantized one runs ``native`` kernels (None: PyTorch)."""
    if "weight" in parts:
        return FloatLinear(parts["weight"])
    if "zeros" in parts:
        return Int4Linear(parts["qweight"], parts["scales"], parts["zeros"], native=native)
    return Int8Linear(parts["qweight"], parts["scales"], native=native)
