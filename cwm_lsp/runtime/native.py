"""Dispatch to the compiled CPU kernels in ``cwm_lsp._native`` (built from native/).

Same signatures as the PyTorch reference ops in :mod:`cwm_lsp.runtime.ops`, which calls these
when :func:`available` is true. Tensors are handed to C++ without copies (DLPack) once they are
CPU, C-contiguous and of the expected dtype; anything else is converted here (small tensors) or
rejected with a ``ValueError`` (KV caches, which are too large to copy per call).

Environment:
    ``CWM_LSP_NATIVE=0``           the kernels are not used (``available()`` is false).
    ``CWM_LSP_KERNEL_PATH=NAME``   force a kernel path: auto, scalar, avx2, avx512, avx512-bf16,
                                   avx512-vnni.

    ``CWM_LSP_BF16_QUERY=split``   avx512-bf16 attention keeps float32-accurate scores (query
                                   split into bf16 hi + lo, twice the Q.K^T work) instead of
                                   rounding the query to bf16 (the default).
    ``CWM_LSP_EXACT_ACTIVATIONS=1`` int8/int4 matmuls keep float32 activations instead of
                                   quantizing them to int8 (slower; see below).

Paths: ``avx512-bf16`` (auto-selected where the CPU has AVX512_BF16) runs attention over bf16
K/V with bf16 dot products (query and softmax weights rounded to bf16, see
native/src/isa_avx512_bf16.cpp) and is ``avx512`` otherwise.

Quantized matmuls (int8 and int4 weights) on the avx2 and avx512 paths quantize each row of x to
int8 in blocks of 32, as llama.cpp's Q8_0 does, and take exact integer dot products
(native/src/qdot_impl.h): VNNI ``vpdpbusd`` where the CPU has it (``auto``, ``avx512-bf16``,
``avx512-vnni``), ``vpmaddubsw`` on ``avx2`` and forced ``avx512``. Shapes they do not cover
(columns not a multiple of 64/128, odd group sizes) and the scalar path keep float32
activations, as does :func:`set_exact_activations`.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import re
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

PATHS = ("auto", "scalar", "avx2", "avx512", "avx512-bf16", "avx512-vnni")

_module: ModuleType | None = None
_import_error: str | None = None
_path_error: str | None = None

try:
    _module = importlib.import_module("cwm_lsp._native")
except Exception as exc:  # not built, built for another Python, or a broken build
    _import_error = f"{type(exc).__name__}: {exc}"

if _module is not None and os.environ.get("CWM_LSP_BF16_QUERY", "").strip().lower() == "split":
    _module.set_round_query(False)

if _module is not None and os.environ.get("CWM_LSP_EXACT_ACTIVATIONS", "").strip() in ("1", "true"):
    _module.set_exact_activations(True)

if _module is not None and os.environ.get("CWM_LSP_KERNEL_PATH"):
    try:
        _module.set_path(os.environ["CWM_LSP_KERNEL_PATH"].strip().lower())
    except ValueError as exc:
        _path_error = f"CWM_LSP_KERNEL_PATH ignored: {exc}"


def built() -> bool:
    """Whether the compiled extension could be imported (regardless of CWM_LSP_NATIVE)."""
    return _module is not None


def available() -> bool:
    """Whether the native kernels are built and enabled."""
    return _module is not None and os.environ.get("CWM_LSP_NATIVE") != "0"


def _build_record() -> ModuleType | None:
    try:
        return importlib.import_module("cwm_lsp._native_build")
    except ImportError:
        return None


_TELLING = re.compile(
    r"error:|not able to compile|Could NOT find|not found|No such file", re.IGNORECASE
)


def unavailable_reason() -> str | None:
    """Why :func:`available` is false, in one line; None when it is true."""
    if os.environ.get("CWM_LSP_NATIVE") == "0":
        return "disabled by CWM_LSP_NATIVE=0"
    if _module is not None:
        return None
    record = _build_record()
    if record is None:
        return f"extension not built (no build record; import said {_import_error})"
    if not record.BUILT:
        lines = [line.strip() for line in str(record.LOG).splitlines() if line.strip()]
        reason = "extension build failed at install time: " + (lines[0] if lines else "no log")
        telling = [line for line in lines[1:] if _TELLING.search(line)]
        return f"{reason} ({telling[0]})" if telling else reason
    return f"extension built but cannot be imported: {_import_error}"


def build_log() -> str:
    """The install-time build log tail, or an empty string when there is none."""
    record = _build_record()
    return "" if record is None else str(record.LOG)


def path_warning() -> str | None:
    """A problem with CWM_LSP_KERNEL_PATH, if any."""
    return _path_error


def _require() -> ModuleType:
    if _module is None:
        raise RuntimeError(f"native kernels unavailable: {unavailable_reason()}")
    return _module


def cpu_features() -> dict[str, bool]:
    return dict(_require().cpu_features())


def supported_paths() -> list[str]:
    return list(_require().supported_paths())


def set_path(name: str) -> None:
    """Force a kernel path (``auto`` restores the best one for this CPU)."""
    _require().set_path(name)


def get_path() -> str:
    return str(_require().get_path())


def set_round_query(on: bool) -> None:
    """avx512-bf16 attention over bf16 K/V: round the query to bf16 (``True``, the default) or
    split it into bf16 high and low parts for float32-accurate scores (``False``)."""
    _require().set_round_query(bool(on))


def round_query() -> bool:
    return bool(_require().get_round_query())


def set_exact_activations(on: bool) -> None:
    """int8/int4 matmuls: float32 activations (``True``) or int8 activations in blocks of 32
    (``False``, the default: llama.cpp's Q8_0 rounding, about 0.4% of a block's largest value)."""
    _require().set_exact_activations(bool(on))


def exact_activations() -> bool:
    return bool(_require().get_exact_activations())


@contextlib.contextmanager
def activations(*, exact: bool) -> Iterator[None]:
    """Runs the block with float32 (``exact=True``) or int8 activations, then restores the
    previous setting; does nothing when the extension is not built."""
    if _module is None:
        yield
        return
    before = exact_activations()
    set_exact_activations(exact)
    try:
        yield
    finally:
        set_exact_activations(before)


def decoder_type() -> Any | None:
    """The compiled whole-forward decoder class (native/src/decoder.cpp); None when the
    installed extension was built before it existed."""
    return getattr(_require(), "Decoder", None)


def set_num_threads(n: int) -> None:
    _require().set_num_threads(n)


def active_paths() -> dict[str, str]:
    """Which implementation each operation uses right now, e.g. {"attention": "native avx512"}."""
    if not available():
        why = "CWM_LSP_NATIVE=0" if _module is not None else "native kernels not built"
        ops = ("attention", "int8_linear", "int4_linear", "float_linear", "forward_step")
        return {op: f"pytorch ({why})" for op in ops}
    path = get_path()
    attention = path
    if path == "avx512-vnni":
        attention = "avx512"
    elif path == "avx512-bf16":
        query = "rounded to bf16" if round_query() else "split hi+lo"
        attention = f"avx512-bf16 (bf16 K/V, head_dim % 32 == 0; query {query}), avx512 otherwise"
    matmul = "avx512" if path.startswith("avx512") else path
    dots = str(_require().q8_dot_products())
    if dots and not exact_activations():
        matmul += f" (int8 activations in blocks of 32, {dots} dot products)"
    elif dots:
        matmul += " (float32 activations: CWM_LSP_EXACT_ACTIVATIONS)"
    step = (
        "native decoder, one call per step (float32/bf16/int8/int4 weights; PyTorch ops otherwise)"
        if decoder_type() is not None
        else "PyTorch ops around the kernels (the extension predates the decoder: rebuild it)"
    )
    return {
        "attention": f"native {attention}",
        "int8_linear": f"native {matmul}",
        "int4_linear": f"native {matmul}",
        "float_linear": f"native {'avx512' if path.startswith('avx512') else path} (in the decoder)",
        "forward_step": step,
    }


def _float_input(t: torch.Tensor, name: str) -> torch.Tensor:
    import torch

    if t.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU tensor, got {t.device}")
    return t.detach().to(torch.float32).contiguous()


def _kv(t: torch.Tensor, name: str) -> torch.Tensor:
    import torch

    if t.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU tensor, got {t.device}")
    if t.dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"{name} must be float32 or bfloat16, got {t.dtype}")
    if t.dim() != 3:
        raise ValueError(f"{name} must be [n_kv_heads, capacity, head_dim], got {tuple(t.shape)}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous (it is too large to copy per call)")
    return t.detach()


def attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    start_pos: int,
    window: int | None,
) -> torch.Tensor:
    """Causal GQA attention of ``q`` [T, H, D] (positions start_pos..) over ring-buffer caches
    [n_kv, C, D] (position p at slot p % C), optionally limited to a sliding ``window``."""
    import torch

    module = _require()
    if q.dim() != 3:
        raise ValueError(f"q must be [T, n_heads, head_dim], got {tuple(q.shape)}")
    if window is not None and window <= 0:
        raise ValueError(f"window must be positive or None, got {window}")
    qf = _float_input(q, "q")
    k = _kv(k_cache, "k_cache")
    v = _kv(v_cache, "v_cache")
    if v.dtype != k.dtype:
        raise ValueError("k_cache and v_cache must have the same dtype")
    out = torch.empty_like(qf)
    module.attention(qf, k, v, out, int(start_pos), 0 if window is None else int(window))
    return out if q.dtype == torch.float32 else out.to(q.dtype)


def _matmul_input(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    if x.dim() < 1:
        raise ValueError("x must have at least one dimension")
    lead = tuple(x.shape[:-1])
    rows = math.prod(lead)  # not reshape(-1, K): that cannot infer -1 when K is 0
    return _float_input(x, "x").reshape(rows, x.shape[-1]), lead


def _weight(t: torch.Tensor, name: str, dtype: torch.dtype) -> torch.Tensor:
    if t.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU tensor, got {t.device}")
    if t.dtype != dtype:
        raise ValueError(f"{name} must be {dtype}, got {t.dtype}")
    return t.detach().contiguous()


def int8_linear(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``x`` [..., K] @ (qweight int8 [N, K] * scales [N]).T -> [..., N] float32."""
    import torch

    module = _require()
    x2, lead = _matmul_input(x)
    w = _weight(qweight, "qweight", torch.int8)
    s = _float_input(scales.reshape(-1), "scales")
    out = torch.empty((x2.shape[0], w.shape[0]), dtype=torch.float32)
    module.int8_linear(x2, w, s, out)
    return out.reshape(*lead, w.shape[0])


def int4_linear(
    x: torch.Tensor,
    qweight: torch.Tensor,
    scales: torch.Tensor,
    zeros: torch.Tensor,
    group_size: int,
) -> torch.Tensor:
    """``x`` [..., K] @ dequantized int4 weight [N, K].T -> [..., N] float32, where
    w[n, k] = scales[n, k // G] * (nibble(n, k) - zeros[n, k // G]); scales float32 or float16."""
    import torch

    module = _require()
    x2, lead = _matmul_input(x)
    w = _weight(qweight, "qweight", torch.uint8)
    z = _weight(zeros, "zeros", torch.uint8)
    if scales.dtype == torch.float16:  # read as they are (GGUF Q4_0's own scales)
        s = _weight(scales, "scales", torch.float16)
    else:
        s = _float_input(scales, "scales")
    out = torch.empty((x2.shape[0], w.shape[0]), dtype=torch.float32)
    module.int4_linear(x2, w, s, z, int(group_size), out)
    return out.reshape(*lead, w.shape[0])


def float_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x`` [..., K] @ ``weight`` [N, K].T -> [..., N] float32, for a float32 or bfloat16
    weight (widened exactly; float32 arithmetic)."""
    import torch

    module = _require()
    x2, lead = _matmul_input(x)
    if weight.device.type != "cpu":
        raise ValueError(f"weight must be a CPU tensor, got {weight.device}")
    if weight.dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"weight must be float32 or bfloat16, got {weight.dtype}")
    w = weight.detach().contiguous()
    out = torch.empty((x2.shape[0], w.shape[0]), dtype=torch.float32)
    module.float_linear(x2, w, out)
    return out.reshape(*lead, w.shape[0])
