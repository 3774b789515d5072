"""Local CWM runtime: config, tokenizer, weights (with int8/int4 quantization), model, KV
cache and generation, in plain PyTorch with optional native kernels.

Importing the package does not import torch (about 3 s): the loader's names resolve on first
use, so a torch-free path (:mod:`cwm_lsp.runtime.native_model`) and the parts of cwm-lsp that
only read configs and tokenizers start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cwm_lsp.runtime.config import DEMO_MODEL_LABEL, ConfigError, CwmConfig
from cwm_lsp.runtime.tokenizer import SpecialToken, Tokenizer

if TYPE_CHECKING:
    from cwm_lsp.runtime.loader import LoadedModel, ModelLoadError, load_model

_LOADER_NAMES = ("LoadedModel", "ModelLoadError", "load_model")

__all__ = [
    "DEMO_MODEL_LABEL",
    "ConfigError",
    "CwmConfig",
    "LoadedModel",
    "ModelLoadError",
    "SpecialToken",
    "Tokenizer",
    "load_model",
]


def __getattr__(name: str) -> Any:
    if name in _LOADER_NAMES:
        from cwm_lsp.runtime import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
