"""The transformer's forward pass as one native call per chunk of tokens.

:func:`build` registers a :class:`~cwm_lsp.runtime.model.Transformer`'s weights with
``cwm_lsp._native.Decoder`` (native/src/decoder.cpp) when every linear layer is in a format it
runs: float32 or bfloat16 weights, the runtime's int8 and int4 layouts (GGUF Q4_0 and Q8_0 load
into these). A decode step then costs one Python-to-C++ call instead of ~15 PyTorch operations
per layer. The matmuls and attention are the same kernels the per-operation path uses, so the
results agree with it to float32 rounding (float weights: the per-operation path rounds the
activations of a bfloat16 linear to bfloat16, the decoder keeps them float32).

Anything else (another device, another weight format, ``CWM_LSP_NATIVE=0``) keeps the
per-operation path in model.py, which stays the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cwm_lsp.runtime import ops, quant
from cwm_lsp.runtime.kvcache import KVCache

if TYPE_CHECKING:
    from cwm_lsp.runtime.model import Transformer

LINEARS_PER_LAYER = 7  # the decoder's slot order: model.LINEAR_NAMES


# Longest chunk the decoder takes when the model stores bf16 weights and the CPU has AVX512_BF16:
# longer prefill chunks go to the per-operation path, whose PyTorch bf16 GEMM is faster there
# (it rounds activations to bf16; measured 1.7x on a 768-hidden model's 256-token chunk). Up to
# this length the decoder's matmuls stream the weights (drafted-token verification).
BF16_GEMM_CHUNK = 24


class NativeDecoder:
    """A transformer's weights registered with the native decoder; ``max_chunk``: the longest
    chunk it should run (None: any)."""

    def __init__(self, decoder: Any, vocab: int, max_chunk: int | None = None) -> None:
        self._decoder = decoder
        self.vocab = vocab
        self.max_chunk = max_chunk

    def takes(self, length: int) -> bool:
        return self.max_chunk is None or length <= self.max_chunk

    def run(
        self, ids: Sequence[int], start_pos: int, cache: KVCache, *, all_logits: bool
    ) -> torch.Tensor:
        """Logits [T, vocab] (or [1, vocab] for the last token unless ``all_logits``) of ``ids``
        at positions start_pos..; writes their keys and values to ``cache``."""
        length = len(ids)
        cache.prepare(start_pos, length)
        where = cache.addresses()
        logits = torch.empty((length if all_logits else 1, self.vocab), dtype=torch.float32)
        self._decoder.forward(
            ids,
            start_pos,
            where.keys,
            where.values,
            where.capacities,
            where.bfloat16,
            logits.data_ptr(),
            all_logits,
            torch.get_num_threads(),
        )
        cache.advance(start_pos + length)
        return logits


def holds_bfloat16_values(weight: torch.Tensor) -> bool:
    """Whether a float32 tensor only holds values bfloat16 represents exactly (a bf16 checkpoint
    widened to float32, as the native backend does for the demo model)."""
    if weight.dtype != torch.float32 or weight.numel() == 0:
        return False
    return not bool((weight.detach().contiguous().view(torch.int32) & 0xFFFF).any())


def _float_weight(weight: torch.Tensor) -> torch.Tensor:
    """The weight as the decoder reads it: widened bf16 values go back to bf16, which is exact
    and halves the memory traffic of a decode step (float32 arithmetic either way)."""
    weight = weight.detach().contiguous()
    return weight.to(torch.bfloat16) if holds_bfloat16_values(weight) else weight


def _register_linear(decoder: Any, slot: int, module: nn.Module) -> str | None:
    """Hands one linear layer to the decoder; the reason when its format is not supported."""
    if isinstance(module, quant.FloatLinear):
        if module.weight.dtype not in (torch.float32, torch.bfloat16):
            return f"{module.weight.dtype} weights"
        decoder.set_float(slot, _float_weight(module.weight))
    elif isinstance(module, quant.Int8Linear):
        decoder.set_int8(slot, module.qweight.contiguous(), module.scales.contiguous())
    elif isinstance(module, quant.Int4Linear):
        decoder.set_int4(
            slot,
            module.qweight.contiguous(),
            module.scales.contiguous(),
            module.zeros.contiguous(),
            module.group_size,
        )
    else:
        return f"linear layer of type {type(module).__name__}"
    return None


def build(model: Transformer) -> NativeDecoder | str:
    """The model registered with the native decoder, or why it cannot be."""
    native = ops.native_kernels()
    if native is None:
        return "native kernels unavailable"
    decoder_type = native.decoder_type()
    if decoder_type is None:
        return "the installed native extension predates the decoder (rebuild it)"
    if model.device.type != "cpu":
        return f"model on {model.device}"
    from cwm_lsp.runtime.model import LINEAR_NAMES, Block

    config = model.config
    embed = model.embed.detach()
    if embed.dtype not in (torch.float32, torch.bfloat16):
        return f"{embed.dtype} embeddings"
    head = model.lm_head
    vocab = int(getattr(head, "out_features", 0))
    try:
        decoder = decoder_type(
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads,
            config.num_key_value_heads,
            config.head_dim,
            config.intermediate_size,
            vocab,
            config.rms_norm_eps,
            model.rotary.inv_freq.detach().float().contiguous(),
            [config.window(index) or 0 for index in range(config.num_hidden_layers)],
            embed.contiguous(),
            model.norm.weight.detach().float().contiguous(),
        )
        for index, block in enumerate(model.layers):
            assert isinstance(block, Block)
            decoder.set_norms(
                index,
                block.input_layernorm.weight.detach().float().contiguous(),
                block.post_attention_layernorm.weight.detach().float().contiguous(),
            )
            attention, mlp = block.self_attn, block.mlp
            parts = {
                "q_proj": attention.q_proj,
                "k_proj": attention.k_proj,
                "v_proj": attention.v_proj,
                "o_proj": attention.o_proj,
                "gate_proj": mlp.gate_proj,
                "up_proj": mlp.up_proj,
                "down_proj": mlp.down_proj,
            }
            for offset, name in enumerate(LINEAR_NAMES):
                reason = _register_linear(decoder, index * LINEARS_PER_LAYER + offset, parts[name])
                if reason is not None:
                    return f"layer {index} {name}: {reason}"
        reason = _register_linear(decoder, config.num_hidden_layers * LINEARS_PER_LAYER, head)
        if reason is not None:
            return f"lm_head: {reason}"
    except ValueError as exc:  # a shape the decoder does not take
        return str(exc)
    missing = decoder.missing()
    if missing:
        return f"incomplete model: {missing[0]}"
    stores_bf16 = any(
        isinstance(module, quant.FloatLinear) and module.weight.dtype == torch.bfloat16
        for module in model.modules()
    )
    fast_bf16_gemm = native.cpu_features().get("avx512_bf16", False)
    return NativeDecoder(
        decoder, vocab, BF16_GEMM_CHUNK if stores_bf16 and fast_bf16_gemm else None
    )
