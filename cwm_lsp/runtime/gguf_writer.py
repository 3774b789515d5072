"""Write a CWM checkpoint as a GGUF file that llama.cpp loads as a plain ``llama`` model.

What goes in:
  * ``general.architecture = llama`` and the ``llama.*`` hyper-parameters llama.cpp reads;
  * CWM's per-layer attention: ``llama.attention.sliding_window`` and
    ``llama.attention.sliding_window_pattern`` (one bool per layer, true = sliding). llama.cpp
    ignores both for ``llama`` (every layer is global there); our GGUF loader applies them;
  * the llama3 RoPE scaling twice: as the ``rope_freqs.weight`` factor tensor llama.cpp uses, and
    as ``cwm.rope.*`` keys from which our loader rebuilds the exact frequencies;
  * the tokenizer as GPT-2 style byte-level BPE (``tokenizer.ggml.model = gpt2``, pre-tokenizer
    ``llama-bpe``): every token as its byte-to-unicode string, the merges recovered from the
    tiktoken ranks, CWM's special tokens as control tokens.

Q and K projection rows are reordered the way llama.cpp's converter does (llama.cpp rotates
adjacent pairs, transformers rotates the two halves of a head); the loader undoes it.

Tensors are written one at a time (header first, then each tensor as it is converted), so a
32B checkpoint converts in the memory of its largest tensor, not of the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cwm_lsp.runtime.checkpoint_files import INDEX_FILE, checkpoint_shards, read_quantization
from cwm_lsp.runtime.config import SLIDING, CwmConfig
from cwm_lsp.runtime.gguf_loader import (
    CWM_ROPE_KEYS,
    bytes_to_unicode,
    qk_rows_to_gguf,
)
from cwm_lsp.runtime.model import rope_inverse_frequencies
from cwm_lsp.runtime.tokenizer import TokenizerError, read_bpe_ranks, special_token_ids
from cwm_lsp.trace import tokens as trace_tokens

FILE_TYPES = ("f32", "f16", "q8_0", "q4_0")
_BLOCK = 32  # Q8_0 / Q4_0 block length along the input dimension


class ConvertError(ValueError):
    """The checkpoint cannot be converted; the message says why."""


@dataclass
class ConvertReport:
    path: Path
    file_type: str
    tensors: int
    bytes_written: int
    fallbacks: list[
        str
    ]  # tensors stored at a wider type than asked (row length not a multiple of 32)
    vocabulary: int
    merges: int


# -- reading the source checkpoint ------------------------------------------------------------


class _CheckpointTensors:
    """Float32 tensors of a safetensors checkpoint by Hugging Face name; dequantizes ours."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.quantized = read_quantization(directory).method is not None
        self._where: dict[str, Path] = {}
        for shard in checkpoint_shards(directory):
            for name in shard.tensors:
                self._where[name] = shard.path

    def has(self, base: str) -> bool:
        return f"{base}.weight" in self._where or f"{base}.qweight" in self._where

    def _read(self, name: str) -> torch.Tensor:
        from safetensors import safe_open

        with safe_open(str(self._where[name]), framework="pt", device="cpu") as handle:
            return handle.get_tensor(name)

    def get(self, base: str) -> torch.Tensor:
        if f"{base}.weight" in self._where:
            return self._read(f"{base}.weight").float()
        if f"{base}.qweight" not in self._where:
            raise ConvertError(f"{self.directory}: checkpoint has no tensor {base}.weight")
        qweight, scales = self._read(f"{base}.qweight"), self._read(f"{base}.scales").float()
        if f"{base}.zeros" not in self._where:
            return qweight.float() * scales[:, None]
        zeros = self._read(f"{base}.zeros").float()
        low, high = (qweight & 0x0F).float(), (qweight >> 4).float()
        q = torch.stack((low, high), dim=-1).reshape(qweight.shape[0], -1)
        group = q.shape[1] // scales.shape[1]
        expand_s = scales.repeat_interleave(group, dim=1)
        expand_z = zeros.repeat_interleave(group, dim=1)
        return expand_s * (q - expand_z)


# -- tokenizer ----------------------------------------------------------------------------------


@dataclass
class VocabularyExport:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    special: dict[str, int]


_NORMAL, _CONTROL, _UNUSED = 1, 3, 5


def _read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    try:
        return read_bpe_ranks(path)
    except TokenizerError as err:
        raise ConvertError(str(err)) from err


def _last_merge(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes] | None:
    """The final pair tiktoken's byte-pair merge joins to produce ``token``."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best, best_rank = -1, None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best_rank is None or rank < best_rank):
                best, best_rank = i, rank
        if best < 0:
            return None
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    return (parts[0], parts[1]) if len(parts) == 2 else None


def vocabulary_from_tiktoken(path: Path, vocab_size: int) -> VocabularyExport:
    ranks = _read_tiktoken_ranks(path)
    rank_count = max(ranks.values()) + 1
    by_rank = {rank: token for token, rank in ranks.items()}
    if len(by_rank) != rank_count:
        raise ConvertError(f"{path}: ranks are not 0..{rank_count - 1} without gaps")
    to_text = bytes_to_unicode()

    def text(raw: bytes) -> str:
        return "".join(to_text[b] for b in raw)

    tokens = [text(by_rank[r]) for r in range(rank_count)]
    types = [_NORMAL] * rank_count
    merges: list[tuple[int, str]] = []
    for rank in range(rank_count):
        token = by_rank[rank]
        if len(token) < 2:
            continue
        pair = _last_merge(token, ranks)
        if pair is not None:
            merges.append((rank, f"{text(pair[0])} {text(pair[1])}"))
    special = special_token_ids(rank_count)
    for name, token_id in sorted(special.items(), key=lambda item: item[1]):
        if token_id != len(tokens):
            raise ConvertError(f"{path}: special token ids are not contiguous")
        tokens.append(name)
        types.append(_CONTROL)
    _pad(tokens, types, vocab_size)
    return VocabularyExport(tokens, types, [m for _, m in sorted(merges)], special)


def vocabulary_from_tokenizer_json(path: Path, vocab_size: int) -> VocabularyExport:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        model = raw["model"]
        vocab: dict[str, int] = model["vocab"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConvertError(f"{path}: not a byte-level BPE tokenizer.json ({err})") from err
    if model.get("type") != "BPE":
        raise ConvertError(f"{path}: tokenizer model is {model.get('type')!r}, expected BPE")
    special = {t["content"]: int(t["id"]) for t in raw.get("added_tokens", [])}
    size = max([*vocab.values(), *special.values()]) + 1
    tokens = [""] * size
    types = [_UNUSED] * size
    for token, token_id in vocab.items():
        tokens[token_id], types[token_id] = token, _NORMAL
    for token, token_id in special.items():
        tokens[token_id], types[token_id] = token, _CONTROL
    for token_id, token in enumerate(tokens):
        if not token:
            tokens[token_id] = f"[PAD{token_id}]"
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    _pad(tokens, types, vocab_size)
    return VocabularyExport(tokens, types, merges, special)


def _pad(tokens: list[str], types: list[int], vocab_size: int) -> None:
    if len(tokens) > vocab_size:
        raise ConvertError(
            f"the tokenizer has {len(tokens)} tokens but the model's vocabulary is {vocab_size}"
        )
    while len(tokens) < vocab_size:
        tokens.append(f"[PAD{len(tokens)}]")
        types.append(_UNUSED)


def export_vocabulary(directory: Path, vocab_size: int) -> VocabularyExport:
    if (directory / "tokenizer.model").is_file():
        return vocabulary_from_tiktoken(directory / "tokenizer.model", vocab_size)
    if (directory / "tokenizer.json").is_file():
        return vocabulary_from_tokenizer_json(directory / "tokenizer.json", vocab_size)
    raise ConvertError(
        f"{directory}: no tokenizer.model or tokenizer.json; a GGUF needs the tokenizer"
    )


# -- tensors ------------------------------------------------------------------------------------


@dataclass
class _Planned:
    name: str
    shape: tuple[int, ...]  # torch order: [rows, cols]
    qtype: Any  # gguf.GGMLQuantizationType
    produce: Callable[[], torch.Tensor]


def _tensor_plan(
    config: CwmConfig, source: _CheckpointTensors, file_type: str
) -> tuple[list[_Planned], list[str]]:
    from gguf import GGMLQuantizationType as T

    matrix_type = {"f32": T.F32, "f16": T.F16, "q8_0": T.Q8_0, "q4_0": T.Q4_0}[file_type]
    head_type = T.Q8_0 if file_type == "q4_0" else matrix_type  # as our int4 keeps the head int8
    plan: list[_Planned] = []
    fallbacks: list[str] = []

    def matrix(name: str, base: str, shape: tuple[int, int], qtype: Any, rows: Any = None) -> None:
        if qtype in (T.Q8_0, T.Q4_0) and shape[1] % _BLOCK:
            fallbacks.append(name)
            qtype = T.F16

        def produce() -> torch.Tensor:
            weight = source.get(base)
            return weight if rows is None else weight[rows]

        plan.append(_Planned(name, shape, qtype, produce))

    def vector(name: str, base: str, size: int) -> None:
        plan.append(_Planned(name, (size,), T.F32, lambda: source.get(base)))

    h, d, inter = config.hidden_size, config.head_dim, config.intermediate_size
    n_q, n_kv = config.num_attention_heads, config.num_key_value_heads
    matrix("token_embd.weight", "model.embed_tokens", (config.vocab_size, h), matrix_type)
    if config.rope.rope_type == "llama3":
        factors = rope_base_frequencies(config) / rope_inverse_frequencies(config)
        plan.append(_Planned("rope_freqs.weight", (d // 2,), T.F32, lambda: factors))
    q_rows, k_rows = qk_rows_to_gguf(n_q, d), qk_rows_to_gguf(n_kv, d)
    for layer in range(config.num_hidden_layers):
        hf, gg = f"model.layers.{layer}", f"blk.{layer}"
        vector(f"{gg}.attn_norm.weight", f"{hf}.input_layernorm", h)
        matrix(f"{gg}.attn_q.weight", f"{hf}.self_attn.q_proj", (n_q * d, h), matrix_type, q_rows)
        matrix(f"{gg}.attn_k.weight", f"{hf}.self_attn.k_proj", (n_kv * d, h), matrix_type, k_rows)
        matrix(f"{gg}.attn_v.weight", f"{hf}.self_attn.v_proj", (n_kv * d, h), matrix_type)
        matrix(f"{gg}.attn_output.weight", f"{hf}.self_attn.o_proj", (h, n_q * d), matrix_type)
        vector(f"{gg}.ffn_norm.weight", f"{hf}.post_attention_layernorm", h)
        matrix(f"{gg}.ffn_gate.weight", f"{hf}.mlp.gate_proj", (inter, h), matrix_type)
        matrix(f"{gg}.ffn_up.weight", f"{hf}.mlp.up_proj", (inter, h), matrix_type)
        matrix(f"{gg}.ffn_down.weight", f"{hf}.mlp.down_proj", (h, inter), matrix_type)
    vector("output_norm.weight", "model.norm", h)
    if source.has("lm_head"):
        matrix("output.weight", "lm_head", (config.vocab_size, h), head_type)
    elif not config.tie_word_embeddings:
        raise ConvertError(f"{source.directory}: checkpoint has no lm_head.weight")
    return plan, fallbacks


def rope_base_frequencies(config: CwmConfig) -> torch.Tensor:
    dim = config.head_dim
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float) / dim
    return 1.0 / (config.rope.theta**exponents)


def _encode(tensor: torch.Tensor, qtype: Any) -> np.ndarray:
    from gguf import GGMLQuantizationType as T
    from gguf import quants

    array = tensor.detach().float().contiguous().numpy()
    if qtype == T.F32:
        return array.astype(np.float32)
    if qtype == T.F16:
        return array.astype(np.float16)
    return np.asarray(quants.quantize(array, qtype))


def _nbytes(shape: tuple[int, ...], qtype: Any) -> int:
    from gguf import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[qtype]
    count = 1
    for dim in shape:
        count *= dim
    return count // block * size


# -- metadata -----------------------------------------------------------------------------------


def _write_metadata(
    writer: Any, config: CwmConfig, vocab: VocabularyExport, file_type: str, name: str
) -> None:
    from gguf import GGUFValueType, LlamaFileType

    writer.add_name(name)
    writer.add_file_type(
        {
            "f32": LlamaFileType.ALL_F32,
            "f16": LlamaFileType.MOSTLY_F16,
            "q8_0": LlamaFileType.MOSTLY_Q8_0,
            "q4_0": LlamaFileType.MOSTLY_Q4_0,
        }[file_type]
    )
    writer.add_vocab_size(config.vocab_size)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(config.rope.theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    if config.sliding_window:
        writer.add_sliding_window(config.sliding_window)
    writer.add_sliding_window_pattern([kind == SLIDING for kind in config.layer_types])
    rope = config.rope
    writer.add_string(CWM_ROPE_KEYS["type"], rope.rope_type)
    if rope.rope_type == "llama3":
        writer.add_float32(CWM_ROPE_KEYS["factor"], rope.factor)
        writer.add_float32(CWM_ROPE_KEYS["low_freq_factor"], rope.low_freq_factor)
        writer.add_float32(CWM_ROPE_KEYS["high_freq_factor"], rope.high_freq_factor)
        writer.add_uint32(
            CWM_ROPE_KEYS["original_context_length"], rope.original_max_position_embeddings
        )
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    # llama.cpp requires the merges key even when a byte-level vocabulary has no merges.
    writer.add_key_value(
        "tokenizer.ggml.merges", vocab.merges, GGUFValueType.ARRAY, sub_type=GGUFValueType.STRING
    )
    special = vocab.special
    if trace_tokens.BEGIN_OF_TEXT in special:
        writer.add_bos_token_id(special[trace_tokens.BEGIN_OF_TEXT])
    if trace_tokens.END_OF_TEXT in special:
        writer.add_eos_token_id(special[trace_tokens.END_OF_TEXT])
    if "<|eot_id|>" in special:
        writer.add_eot_token_id(special["<|eot_id|>"])
    if "<|eom_id|>" in special:
        writer.add_eom_token_id(special["<|eom_id|>"])
    if "<|pad|>" in special:
        writer.add_pad_token_id(special["<|pad|>"])
    writer.add_add_bos_token(False)


def _writer_class() -> Any:
    """gguf-py's writer, able to write an empty typed array (a vocabulary without merges)."""
    from gguf import GGUFValueType, GGUFWriter

    class Writer(GGUFWriter):
        def _pack_val(self, val: Any, vtype: Any, add_vtype: bool, sub_type: Any = None) -> bytes:
            if vtype == GGUFValueType.ARRAY and sub_type is not None and len(val) == 0:
                head = self._pack("I", vtype) if add_vtype else b""
                return bytes(head + self._pack("I", sub_type) + self._pack("Q", 0))
            return bytes(super()._pack_val(val, vtype, add_vtype, sub_type))

    return Writer


def convert_checkpoint(
    src: str | Path,
    dst: str | Path,
    *,
    file_type: str = "q8_0",
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ConvertReport:
    """Write ``src`` (a CWM safetensors checkpoint directory, ours pre-quantized or not) as a
    GGUF file at ``dst``. Raises :class:`ConvertError` (or ConfigError/WeightsError)."""
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if file_type not in FILE_TYPES:
        raise ConvertError(f"unknown GGUF type {file_type!r} (expected {', '.join(FILE_TYPES)})")
    if not src.is_dir():
        raise ConvertError(f"{src}: not a checkpoint directory (config.json + safetensors)")
    config = CwmConfig.from_file(src)
    source = _CheckpointTensors(src)
    vocab = export_vocabulary(src, config.vocab_size)
    plan, fallbacks = _tensor_plan(config, source, file_type)
    label = name or config.name or src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(dst.name + ".partial")
    writer = _writer_class()(str(partial), "llama")
    try:
        _write_metadata(writer, config, vocab, file_type, label)
        for item in plan:
            writer.add_tensor_info(
                item.name,
                item.shape,
                np.dtype(np.float32),
                _nbytes(item.shape, item.qtype),
                raw_dtype=item.qtype,
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for item in plan:
            if progress is not None:
                progress(item.name)
            tensor = item.produce()
            if tuple(tensor.shape) != item.shape:
                raise ConvertError(
                    f"{src}: tensor for {item.name} has shape {tuple(tensor.shape)}, "
                    f"config.json implies {item.shape}"
                )
            writer.write_tensor_data(_encode(tensor, item.qtype))
        writer.close()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dst)
    return ConvertReport(
        path=dst,
        file_type=file_type,
        tensors=len(plan),
        bytes_written=dst.stat().st_size,
        fallbacks=fallbacks,
        vocabulary=len(vocab.tokens),
        merges=len(vocab.merges),
    )


__all__ = [
    "FILE_TYPES",
    "INDEX_FILE",
    "ConvertError",
    "ConvertReport",
    "convert_checkpoint",
    "export_vocabulary",
]
