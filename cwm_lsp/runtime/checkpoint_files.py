"""Safetensors checkpoint files on disk: the shard list, each shard's header (checked against
the file size), and the quantization a pre-quantized checkpoint records. Imports no torch: the
torch-free native path reads checkpoints with these too."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

INDEX_FILE = "model.safetensors.index.json"
QUANT_FILE = "cwm_lsp_quantization.json"
DEFAULT_GROUP_SIZE = 128

# The linear layers and norms of a decoder layer, by their checkpoint names (HF naming).
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
NORM_NAMES = ("input_layernorm", "post_attention_layernorm")

# Base names of the parts (a tensor is BASE.weight, or BASE.qweight/scales/zeros).
EMBEDDING = "model.embed_tokens"
FINAL_NORM = "model.norm"
HEAD = "lm_head"
# Optional: a RoPE inverse-frequency table that replaces the one computed from the config.
ROTARY = "model.rotary_emb"
ATTENTION_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj")


def linear_part(layer: int, name: str) -> str:
    """The base name of linear ``name`` (one of LINEAR_NAMES) in layer ``layer``."""
    group = "self_attn" if name in ATTENTION_LINEARS else "mlp"
    return f"model.layers.{layer}.{group}.{name}"


def norm_part(layer: int, name: str) -> str:
    """The base name of norm ``name`` (one of NORM_NAMES) in layer ``layer``."""
    return f"model.layers.{layer}.{name}"


class WeightsError(ValueError):
    """A checkpoint file is missing, corrupt, or does not match config.json."""


@dataclass(frozen=True)
class Quantization:
    method: str | None = None  # None, "int8" or "int4"
    group_size: int = DEFAULT_GROUP_SIZE

    @property
    def label(self) -> str:
        if self.method == "int4":
            return f"int4 (group {self.group_size})"
        return self.method or "none"


@dataclass
class ShardInfo:
    path: Path
    tensors: dict[str, tuple[str, list[int]]] = field(default_factory=dict)  # name -> dtype, shape
    # name -> (start, end) byte offsets in the file (safetensors' data_offsets plus the header)
    extents: dict[str, tuple[int, int]] = field(default_factory=dict)


def checkpoint_shards(directory: Path) -> list[ShardInfo]:
    """The checkpoint's safetensors files, headers checked against the file sizes."""
    index = directory / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise WeightsError(f"{index}: not a safetensors index ({err})") from err
        names = sorted(set(weight_map.values()))
        missing = [name for name in names if not (directory / name).is_file()]
        if missing:
            raise WeightsError(f"{index}: missing shard file(s): {', '.join(missing)}")
        shards = [read_header(directory / name) for name in names]
        for tensor, name in weight_map.items():
            shard = next(s for s in shards if s.path.name == name)
            if tensor not in shard.tensors:
                raise WeightsError(
                    f"{shard.path}: tensor {tensor} listed in {INDEX_FILE} is missing"
                )
        return shards
    single = directory / "model.safetensors"
    if single.is_file():
        return [read_header(single)]
    found = sorted(directory.glob("*.safetensors"))
    if found:
        return [read_header(path) for path in found]
    raise WeightsError(
        f"{directory}: no model.safetensors or {INDEX_FILE} (a safetensors checkpoint directory)"
    )


def read_header(path: Path) -> ShardInfo:
    """Parse a safetensors header and check the data it describes is all in the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise WeightsError(f"{path}: truncated (only {size} bytes)")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > size - 8 or header_len > 100_000_000:
                raise WeightsError(f"{path}: corrupt or truncated safetensors header")
            header = json.loads(handle.read(header_len))
    except OSError as err:
        raise WeightsError(f"{path}: cannot read ({err})") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path}: corrupt safetensors header ({err})") from err
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: corrupt safetensors header")
    info = ShardInfo(path)
    data_end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError) as err:
            raise WeightsError(f"{path}: corrupt header entry for {name}") from err
        info.tensors[name] = (str(dtype), list(shape))
        info.extents[name] = (8 + header_len + int(begin), 8 + header_len + int(end))
        data_end = max(data_end, int(end))
    if 8 + header_len + data_end > size:
        raise WeightsError(
            f"{path}: truncated: the header describes {8 + header_len + data_end} bytes "
            f"but the file has {size}"
        )
    return info


def read_quantization(directory: Path) -> Quantization:
    path = directory / QUANT_FILE
    if not path.is_file():
        return Quantization()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Quantization(raw["method"], int(raw.get("group_size", DEFAULT_GROUP_SIZE)))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"{path}: unreadable quantization description ({err})") from err
