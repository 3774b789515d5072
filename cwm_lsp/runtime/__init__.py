"""Local CWM runtime: config, tokenizer, weights (with int8/int4 quantization), model, KV
cache and generation, in plain PyTorch with optional native kernels."""

from __future__ import annotations

from cwm_lsp.runtime.config import ConfigError, CwmConfig
from cwm_lsp.runtime.loader import DEMO_MODEL_LABEL, LoadedModel, ModelLoadError, load_model
from cwm_lsp.runtime.tokenizer import SpecialToken, Tokenizer

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
