"""The PyTorch transformer's forward pass as one native call per chunk of tokens.

:func:`build` registers a :class:`~cwm_lsp.runtime.model.Transformer`'s weights with the native
decoder (:mod:`cwm_lsp.runtime.native_decoder`) when every linear layer is in a format it
runs: float32 or bfloat16 weights, the runtime's int8 and int4 layouts (GGUF Q4_0 and Q8_0 load
into these). A decode step then costs one Python-to-C++ call instead of ~15 PyTorch operations
per layer. The matmuls and attention are the same kernels the per-operation path uses, so the
results agree with it to float32 rounding (float weights: the per-operation path rounds the
activations of a bfloat16 linear to bfloat16, the decoder keeps them float32).

Anything else (another device, another weight format, ``CWM_LSP_NATIVE=0``) keeps the
per-operation path in model.py, which stays the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cwm_lsp.cpu_share import prediction_threads
from cwm_lsp.runtime import quant
from cwm_lsp.runtime.checkpoint_files import LINEAR_NAMES
from cwm_lsp.runtime.native_decoder import (
    DecoderWeights,
    FloatWeight,
    Int4Weight,
    Int8Weight,
    LinearWeight,
    NativeDecoder,
    create_decoder,
    narrowed,
)

if TYPE_CHECKING:
    from cwm_lsp.runtime.model import Transformer


# Longest chunk the decoder takes when the model stores bf16 weights and the CPU has AVX512_BF16:
# longer prefill chunks go to the per-operation path, whose PyTorch bf16 GEMM is faster there
# (it rounds activations to bf16; measured 1.7x on a 768-hidden model's 256-token chunk). Up to
# this length the decoder's matmuls stream the weights (drafted-token verification).
BF16_GEMM_CHUNK = 24


def _float_weight(weight: torch.Tensor) -> Any:
    """The weight as the decoder reads it (see :func:`native_decoder.narrowed`): float32 goes
    through the same numpy rule as a checkpoint read torch-free; bfloat16 stays as it is."""
    weight = weight.detach().contiguous()
    return narrowed(weight.numpy()) if weight.dtype == torch.float32 else weight


def _linear_weight(module: nn.Module) -> LinearWeight | str:
    """One linear layer as the decoder takes it; the reason when its format is not supported."""
    if isinstance(module, quant.FloatLinear):
        if module.weight.dtype not in (torch.float32, torch.bfloat16):
            return f"{module.weight.dtype} weights"
        return FloatWeight(_float_weight(module.weight))
    if isinstance(module, quant.Int8Linear):
        return Int8Weight(module.qweight.contiguous(), module.scales.contiguous())
    if isinstance(module, quant.Int4Linear):
        return Int4Weight(
            module.qweight.contiguous(),
            module.scales.contiguous(),
            module.zeros.contiguous(),
            module.group_size,
        )
    return f"linear layer of type {type(module).__name__}"


def _new_logits(rows: int, vocab: int) -> tuple[torch.Tensor, int]:
    logits = torch.empty((rows, vocab), dtype=torch.float32)
    return logits, logits.data_ptr()


def _float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().float().contiguous()


def build(model: Transformer) -> NativeDecoder | str:
    """The model registered with the native decoder, or why it cannot be."""
    native = model.native  # decided when the model was built
    if native is None:
        return "native kernels unavailable"
    decoder_type = native.decoder_type()
    if decoder_type is None:
        return "the installed native extension predates the decoder (rebuild it)"
    if model.device.type != "cpu":
        return f"model on {model.device}"
    from cwm_lsp.runtime.model import Block

    embed = model.embed.detach()
    if embed.dtype not in (torch.float32, torch.bfloat16, torch.float16):  # GGUF: float16
        return f"{embed.dtype} embeddings"
    layer_norms = []
    linears: list[list[LinearWeight]] = []
    for index, block in enumerate(model.layers):
        assert isinstance(block, Block)
        layer_norms.append(
            (
                _float32(block.input_layernorm.weight),
                _float32(block.post_attention_layernorm.weight),
            )
        )
        attention, mlp = block.self_attn, block.mlp
        modules = {
            "q_proj": attention.q_proj,
            "k_proj": attention.k_proj,
            "v_proj": attention.v_proj,
            "o_proj": attention.o_proj,
            "gate_proj": mlp.gate_proj,
            "up_proj": mlp.up_proj,
            "down_proj": mlp.down_proj,
        }
        layer: list[LinearWeight] = []
        for name in LINEAR_NAMES:
            linear = _linear_weight(modules[name])
            if isinstance(linear, str):
                return f"layer {index} {name}: {linear}"
            layer.append(linear)
        linears.append(layer)
    head = _linear_weight(model.lm_head)
    if isinstance(head, str):
        return f"lm_head: {head}"
    weights = DecoderWeights(
        inv_freq=_float32(model.rotary.inv_freq),
        embed=embed.contiguous(),
        final_norm=_float32(model.norm.weight),
        layer_norms=layer_norms,
        linears=linears,
        head=head,
        vocab=int(getattr(model.lm_head, "out_features", 0)),
    )
    stores_bf16 = any(
        isinstance(module, quant.FloatLinear) and module.weight.dtype == torch.bfloat16
        for module in model.modules()
    )
    fast_bf16_gemm = native.cpu_features().get("avx512_bf16", False)
    return create_decoder(
        decoder_type,
        model.config,
        weights,
        new_logits=_new_logits,
        threads=_threads,
        max_chunk=BF16_GEMM_CHUNK if stores_bf16 and fast_bf16_gemm else None,
    )


def _threads() -> int:
    """torch's thread count, less one per sandboxed run executing beside the prediction."""
    return prediction_threads(torch.get_num_threads())
