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


def trace_model_config(**overrides: Any) -> Any:
    """A small config a trace can be taught to in a few seconds (window 32, two layer kinds)."""
    values: dict[str, Any] = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "sliding_window": 32,
        "layer_types": [FULL, SLIDING],
    }
    values.update(overrides)
    return tiny_config(**values)


def write_taught_traces(
    directory: str | Path,
    context: str,
    traces: list[list[Any]],
    *,
    finished: bool = True,
    **training: Any,
) -> Path:
    """Teach a small model the ``traces`` (lists of trace frames) of ``context``'s prompt and
    save it with the byte tokenizer in ``directory`` (``training``: :func:`write_trace_model`'s
    options). ``finished``: each trace ends with ``<|end_of_text|>``."""
    from cwm_lsp.runtime.tokenizer import load_tokenizer

    write_byte_tokenizer(directory)
    tokenizer = load_tokenizer(directory)
    assert tokenizer is not None
    prompt = tokenizer.encode_prompt(context)
    sequences = [prompt + tokenizer.encode_frames(frames, finished=finished) for frames in traces]
    write_trace_model(directory, sequences, prompt_length=len(prompt), **training)
    return Path(directory)


def write_trace_model(
    directory: str | Path,
    sequences: list[list[int]],
    *,
    prompt_length: int = 0,
    weights: list[int] | None = None,
    config: Any = None,
    steps: int = 400,
    target_loss: float = 1e-2,
    seed: int = 0,
    extra_config: dict[str, Any] | None = None,
) -> Any:
    """Teach a small model to reproduce ``sequences`` (token ids of the byte tokenizer) and save
    it with the byte tokenizer. ``weights`` repeats sequences (to make one continuation win where
    two share a prefix); the first ``prompt_length`` tokens are context, not learned. Returns the trained transformers model."""
    import json

    torch.manual_seed(seed)
    from transformers import CwmForCausalLM

    model = CwmForCausalLM(config if config is not None else trace_model_config())
    batch = [
        seq
        for seq, w in zip(sequences, weights or [1] * len(sequences), strict=True)
        for _ in range(w)
    ]
    length = max(len(seq) for seq in batch)
    ids = torch.zeros(len(batch), length, dtype=torch.long)
    labels = torch.full((len(batch), length), -100, dtype=torch.long)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq)
        labels[row, prompt_length : len(seq)] = torch.tensor(seq[prompt_length:])
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.0)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead (and fight other jobs)
    try:
        for _ in range(steps):
            loss = model(input_ids=ids, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if loss.item() < target_loss:
                break
    finally:
        torch.set_num_threads(threads)
    model.eval()
    directory = Path(directory)
    model.save_pretrained(str(directory), safe_serialization=True)
    write_byte_tokenizer(directory)
    if extra_config:
        path = directory / "config.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | extra_config, indent=2))
    return model


def write_random_safetensors(
    directory: str | Path, config: Any, *, shard_bytes: int, seed: int = 0
) -> list[Path]:
    """A random float32 checkpoint written directly (no transformers model in memory), split
    into shards of about ``shard_bytes``; for memory and speed measurements."""
    import json

    from safetensors.torch import save_file

    from cwm_lsp.runtime.checkpoint_files import INDEX_FILE
    from cwm_lsp.runtime.config import CwmConfig
    from cwm_lsp.runtime.weights import expected_shapes

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    raw = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    (directory / "config.json").write_text(json.dumps(raw, indent=2))
    shapes = expected_shapes(CwmConfig.from_dict(raw))
    generator = torch.Generator().manual_seed(seed)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, shape in shapes.items():
        tensor = torch.randn(shape, generator=generator) / shape[-1] ** 0.5
        if "norm" in name:
            tensor = torch.ones(shape)
        if size and size + tensor.numel() * 4 > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += tensor.numel() * 4
    paths, weight_map = [], {}
    for number, tensors in enumerate(shards, 1):
        path = directory / f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_file(tensors, str(path), metadata={"format": "pt"})
        paths.append(path)
        weight_map.update({name: path.name for name in tensors})
    index = {"metadata": {}, "weight_map": weight_map}
    (directory / INDEX_FILE).write_text(json.dumps(index, indent=2))
    return paths
