"""``load_model``: a checkpoint directory in, a ready-to-run model handle out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from cwm_lsp.runtime import quant
from cwm_lsp.runtime.checkpoint_files import Quantization, WeightsError, read_quantization
from cwm_lsp.runtime.config import DEMO_MODEL_LABEL, ConfigError, CwmConfig
from cwm_lsp.runtime.generate import Sampling, Session
from cwm_lsp.runtime.kvcache import DEFAULT_MAX_CHUNK, DEFAULT_ROLLBACK
from cwm_lsp.runtime.model import Transformer
from cwm_lsp.runtime.tokenizer import Tokenizer, TokenizerError, load_tokenizer
from cwm_lsp.runtime.weights import load_transformer


class ModelLoadError(ValueError):
    """The checkpoint cannot be loaded; the message names the file and the problem."""


class LoadedModel:
    """A loaded checkpoint: ``.config``, ``.tokenizer`` (None when it ships none), ``.logits``,
    ``.generate``; ``.new_session()`` for prefix-reusing, step-by-step use."""

    def __init__(
        self,
        path: Path,
        config: CwmConfig,
        transformer: Transformer,
        tokenizer: Tokenizer | None,
        quantization: Quantization,
    ) -> None:
        self.path = path
        self.config = config
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.quantization = quantization

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
    """Load a safetensors checkpoint directory (CWM or Llama-named CWM).

    ``quantize``: None/"none" keeps float weights, "int8"/"int4" quantizes linears while loading.
    A pre-quantized checkpoint loads as stored. ``dtype`` converts float weights (default: keep
    the checkpoint's). Raises :class:`ModelLoadError` with a message meant for the user.
    """
    directory = Path(path).expanduser()
    # -- other formats (owned by the deployments part): GGUF files and AutoAWQ checkpoints. --
    from cwm_lsp.runtime import awq, gguf_loader

    if directory.suffix.lower() == ".gguf" and directory.is_file():
        return gguf_loader.load_gguf(directory, quantize=quantize, device=device, dtype=dtype)
    if directory.is_dir() and awq.is_awq_checkpoint(directory):
        return awq.load_awq(directory, quantize=quantize, device=device, dtype=dtype)
    # -- end of other formats --
    if not directory.exists():
        raise ModelLoadError(f"{directory}: no such model directory")
    if not directory.is_dir():
        raise ModelLoadError(
            f"{directory}: expected a checkpoint directory (config.json + safetensors)"
        )
    method = None if quantize in (None, "none") else quantize
    if method is not None and method not in quant.METHODS:
        raise ModelLoadError(f"unknown quantization {quantize!r} (expected none, int8 or int4)")
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
        transformer = load_transformer(directory, config, apply, device=device, dtype=dtype)
        transformer.eval()
        tokenizer = load_tokenizer(directory)
    except (ConfigError, WeightsError, TokenizerError) as err:
        raise ModelLoadError(str(err)) from err
    except (RuntimeError, json.JSONDecodeError) as err:  # torch device errors and the like
        raise ModelLoadError(f"{directory}: cannot load ({err})") from err
    return LoadedModel(directory, config, transformer, tokenizer, quantization)
