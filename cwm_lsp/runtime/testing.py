"""Random small CWM checkpoints for tests and benchmarks (needs ``transformers``).

The checkpoints are written by transformers' own ``CwmForCausalLM.save_pretrained``, so they are
real Hugging Face checkpoints, and come with a byte-level tiktoken ``tokenizer.model`` (256 ranks,
CWM's special tokens after them) so the whole trace path can run on them.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import torch

from cwm_lsp.runtime.tokenizer import NUM_SPECIAL_SLOTS

FULL, SLIDING = "full_attention", "sliding_attention"
BYTE_VOCAB = 256 + NUM_SPECIAL_SLOTS  # byte ranks + CWM's special slots


def tiny_config(**overrides: Any) -> Any:
    """A transformers ``CwmConfig``: 4 layers [full, sliding, sliding, full], GQA 6:1, window 8."""
    from transformers import CwmConfig

    values: dict[str, Any] = {
        "vocab_size": BYTE_VOCAB,
        "hidden_size": 96,
        "intermediate_size": 192,
        "num_hidden_layers": 4,
        "num_attention_heads": 6,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "sliding_window": 8,
        "layer_types": [FULL, SLIDING, SLIDING, FULL],
        "max_position_embeddings": 4096,
        "bos_token_id": 256,
        "eos_token_id": [257],
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 10_000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
        },
    }
    values.update(overrides)
    return CwmConfig(**values)


def random_model(config: Any, *, seed: int = 0, scale: float = 2.0) -> Any:
    """A ``CwmForCausalLM`` with random weights large enough to give peaked logits."""
    from transformers import CwmForCausalLM

    torch.manual_seed(seed)
    model = CwmForCausalLM(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.normal_(0.0, scale / param.shape[-1] ** 0.5)
    return model


def write_checkpoint(
    directory: str | Path,
    config: Any = None,
    *,
    seed: int = 0,
    max_shard_size: str | None = None,
    dtype: torch.dtype = torch.float32,
    tokenizer: bool = True,
    scale: float = 2.0,
) -> Any:
    """Save a random model (returned, in float32) and, optionally, the byte tokenizer."""
    directory = Path(directory)
    model = random_model(config if config is not None else tiny_config(), seed=seed, scale=scale)
    with torch.no_grad():  # round the float32 reference to what the file stores
        for param in model.parameters():
            param.copy_(param.to(dtype).float())
    kwargs: dict[str, Any] = {"safe_serialization": True}
    if max_shard_size is not None:
        kwargs["max_shard_size"] = max_shard_size
    copy.deepcopy(model).to(dtype).save_pretrained(str(directory), **kwargs)
    if tokenizer:
        write_byte_tokenizer(directory)
    return model


def write_byte_tokenizer(directory: str | Path) -> Path:
    """A tiktoken BPE file whose 256 ranks are the single bytes (no merges)."""
    path = Path(directory) / "tokenizer.model"
    lines = [f"{base64.b64encode(bytes([i])).decode()} {i}" for i in range(256)]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path
