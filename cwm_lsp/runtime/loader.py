"""``load_model``: a checkpoint directory in, a ready-to-run model handle out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from cwm_lsp.runtime import awq, gguf_loader, quant, weights
from cwm_lsp.runtime.assemble import assemble
from cwm_lsp.runtime.checkpoint_files import Quantization, WeightsError, read_quantization
from cwm_lsp.runtime.config import DEMO_MODEL_LABEL, ConfigError, CwmConfig
from cwm_lsp.runtime.generate import Sampling, Session
from cwm_lsp.runtime.gguf_loader import GGUFInfo
from cwm_lsp.runtime.kvcache import DEFAULT_MAX_CHUNK, DEFAULT_ROLLBACK
from cwm_lsp.runtime.model import Transformer
from cwm_lsp.runtime.tokenizer import Tokenizer, TokenizerError, load_tokenizer


class ModelLoadError(ValueError):
    """The checkpoint cannot be loaded; the message names the file and the problem."""


class LoadedModel:
    """A loaded checkpoint: ``.config``, ``.tokenizer`` (None when it ships none), ``.logits``,
    ``.generate``; ``.new_session()`` for prefix-reusing, step-by-step use. ``.gguf_info`` says
    what the GGUF reader found and decided (None for other formats)."""

    def __init__(
        self,
        path: Path,
        config: CwmConfig,
        transformer: Transformer,
        tokenizer: Tokenizer | None,
        quantization: Quantization,
        *,
        gguf_info: GGUFInfo | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.quantization = quantization
        self.gguf_info = gguf_info

    @property
    def name(self) -> str:
        if self.config.is_demo_model:
            return DEMO_MODEL_LABEL
        return self.config.name or self.path.name

    @property
    def device(self) -> torch.device:
        return self.transformer.device

    def new_session(
        self,
        *,
        max_chunk: int = DEFAULT_MAX_CHUNK,
        rollback: int = DEFAULT_ROLLBACK,
        cache_dtype: torch.dtype = torch.float32,
    ) -> Session:
        """A KV cache of its own; see :class:`cwm_lsp.runtime.generate.Session`."""
        return Session(
            self.transformer, max_chunk=max_chunk, rollback=rollback, cache_dtype=cache_dtype
        )

    def logits(self, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Logits [T, vocab] float32 for every position of ``ids``, from a fresh state."""
        return self.new_session().prefill(_as_list(ids), all_logits=True)

    def generate(
        self,
        ids: Sequence[int] | torch.Tensor,
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        stop_ids: Iterable[int] = (),
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Iterator[int]:
        """Yield new token ids (a stop id is yielded, then generation ends)."""
        return self.new_session().generate(
            _as_list(ids),
            max_new_tokens=max_new_tokens,
            sampling=Sampling(temperature=temperature, top_p=top_p, seed=seed),
            stop_ids=stop_ids,
        )

    def weight_bytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.transformer.buffers())


def _as_list(ids: Sequence[int] | torch.Tensor) -> list[int]:
    if isinstance(ids, torch.Tensor):
        return [int(i) for i in ids.reshape(-1).tolist()]
    return [int(i) for i in ids]


def load_model(
    path: str | Path,
    *,
    quantize: str | None = None,
    device: str = "cpu",
    group_size: int = quant.DEFAULT_GROUP_SIZE,
    dtype: torch.dtype | None = None,
) -> LoadedModel:
    """Load a safetensors checkpoint directory (CWM or Llama-named CWM), an AutoAWQ checkpoint
    directory or a ``.gguf`` file.

    ``quantize``: None/"none" keeps float weights, "int8"/"int4" quantizes linears while loading.
    A pre-quantized checkpoint loads as stored. ``dtype`` converts float weights (default: keep
    the checkpoint's). Raises :class:`ModelLoadError` with a message meant for the user.
    """
    directory = Path(path).expanduser()
    if directory.suffix.lower() == ".gguf" and directory.is_file():
        return load_gguf(directory, quantize=quantize, device=device, dtype=dtype)
    if directory.is_dir() and awq.is_awq_checkpoint(directory):
        return _load_awq(directory, quantize=quantize, device=device, dtype=dtype)
    if not directory.exists():
        raise ModelLoadError(f"{directory}: no such model directory")
    if not directory.is_dir():
        raise ModelLoadError(
            f"{directory}: expected a checkpoint directory (config.json + safetensors)"
        )
    method = _method(quantize)
    try:
        config = CwmConfig.from_file(directory)
        stored = read_quantization(directory)
        if stored.method is not None:
            if method is not None and method != stored.method:
                raise ModelLoadError(
                    f"{directory}: holds {stored.label} weights; it cannot be loaded as {method} "
                    "(quantize the original checkpoint instead)"
                )
            quantization, apply = stored, Quantization()
        else:
            quantization = apply = Quantization(method, group_size)
        parts = weights.read_parts(directory, config, apply, device=device, dtype=dtype)
        transformer = assemble(config, parts, apply, device)
        tokenizer = load_tokenizer(directory)
    except (ConfigError, WeightsError, TokenizerError) as err:
        raise ModelLoadError(str(err)) from err
    except (RuntimeError, json.JSONDecodeError) as err:  # torch device errors and the like
        raise ModelLoadError(f"{directory}: cannot load ({err})") from err
    return LoadedModel(directory, config, transformer, tokenizer, quantization)


def _method(quantize: str | None) -> str | None:
    method = None if quantize in (None, "none") else quantize
    if method is not None and method not in quant.METHODS:
        raise ModelLoadError(f"unknown quantization {quantize!r} (expected none, int8 or int4)")
    return method


def _load_awq(
    directory: Path, *, quantize: str | None, device: str, dtype: torch.dtype | None
) -> LoadedModel:
    """An AutoAWQ checkpoint: ``dtype`` dequantizes the 4-bit weights to that float type;
    otherwise they load as our int4 (group size from the checkpoint)."""
    try:
        group = awq.check_settings(directory, quantize)
    except awq.AWQError as err:
        raise ModelLoadError(str(err)) from err
    try:
        config = CwmConfig.from_file(directory)
        parts = awq.read_parts(directory, config, device=device, dtype=dtype)
        transformer = assemble(config, parts, Quantization(), device)
        tokenizer = load_tokenizer(directory)
    except (ConfigError, WeightsError, awq.AWQError, TokenizerError) as err:
        raise ModelLoadError(f"{directory}: {err}") from err
    except RuntimeError as err:
        raise ModelLoadError(f"{directory}: cannot load ({err})") from err
    quantization = Quantization() if dtype is not None else Quantization("int4", group)
    return LoadedModel(directory, config, transformer, tokenizer, quantization)


def load_gguf(
    path: str | Path,
    *,
    quantize: str | None = None,
    device: str = "cpu",
    group_size: int = quant.DEFAULT_GROUP_SIZE,
    dtype: torch.dtype | None = None,
    cwm_config: str | Path | dict[str, Any] | None = None,
) -> LoadedModel:
    """:func:`load_model` for a ``.gguf`` file, with ``cwm_config`` (a CWM ``config.json`` path
    or dict) for the attention layout and RoPE a GGUF may lack (see
    :mod:`cwm_lsp.runtime.gguf_loader`)."""
    path = Path(path).expanduser()
    method = _method(quantize)
    try:
        read = gguf_loader.read_gguf(
            path,
            quantize=method,
            device=device,
            group_size=group_size,
            dtype=dtype,
            cwm_config=cwm_config,
        )
    except gguf_loader.GGUFError as err:
        raise ModelLoadError(str(err)) from err
    try:
        transformer = assemble(read.config, read.parts, read.applied, device)
    except (ValueError, RuntimeError) as err:
        raise ModelLoadError(f"{path}: cannot load ({err})") from err
    return LoadedModel(
        path, read.config, transformer, read.tokenizer, read.quantization, gguf_info=read.info
    )
