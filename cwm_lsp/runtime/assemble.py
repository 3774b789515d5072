"""One assembly for every checkpoint format: tensors under Hugging Face names in, a
:class:`~cwm_lsp.runtime.model.Transformer` out.

Each reader (safetensors in :mod:`~cwm_lsp.runtime.weights`, AutoAWQ in
:mod:`~cwm_lsp.runtime.awq`, GGUF in :mod:`~cwm_lsp.runtime.gguf_loader`) yields :data:`Parts`:
a base name (``model.embed_tokens``, ``model.layers.3.self_attn.q_proj``, ``lm_head`` ...)
mapped to its stored tensors by suffix (``weight``, or ``qweight``/``scales``[/``zeros``] as
:func:`cwm_lsp.runtime.quant.linear_from_tensors` takes), already converted to what the model
runs. Only the output head may be missing; :func:`assemble` then ties it to the embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from cwm_lsp.runtime import ops, quant
from cwm_lsp.runtime.checkpoint_files import (
    EMBEDDING,
    FINAL_NORM,
    HEAD,
    LINEAR_NAMES,
    NORM_NAMES,
    ROTARY,
    Quantization,
    linear_part,
    norm_part,
)
from cwm_lsp.runtime.config import CwmConfig
from cwm_lsp.runtime.model import Transformer

Parts = dict[str, dict[str, torch.Tensor]]


def head_method(method: str) -> str:
    """How the output head is quantized when the other linears use ``method``: it is the most
    sensitive matrix, so int4 runs keep it at int8."""
    return "int8" if method == "int4" else method


def assemble(
    config: CwmConfig,
    parts: Parts,
    quantization: Quantization,
    device: torch.device | str,
) -> Transformer:
    """The model of ``parts`` (consumed) on ``device``.

    ``quantization`` is what the reader applied to float linears; a head tied to the embedding
    (no ``lm_head`` part) gets the same (int4 as int8), or stays the embedding itself. Whether
    the native kernels run is decided here, once (``CWM_LSP_NATIVE=0`` is read now).
    """
    native = ops.native_kernels() if torch.device(device).type == "cpu" else None

    def on_device(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {suffix: tensor.to(device) for suffix, tensor in tensors.items()}

    def linear(base: str) -> nn.Module:
        return quant.linear_from_tensors(on_device(parts.pop(base)), native=native)

    embed = parts.pop(EMBEDDING)["weight"].to(device)
    if HEAD in parts:
        head = linear(HEAD)
    elif quantization.method:
        method = head_method(quantization.method)
        tied = quant.quantized_tensors(method, embed, quantization.group_size)
        head = quant.linear_from_tensors(on_device(tied), native=native)
    else:
        head = quant.FloatLinear(embed)
    layers = []
    for index in range(config.num_hidden_layers):
        linears = {name: linear(linear_part(index, name)) for name in LINEAR_NAMES}
        norms = {
            name: parts.pop(norm_part(index, name))["weight"].to(device) for name in NORM_NAMES
        }
        layers.append((linears, norms))
    norm = parts.pop(FINAL_NORM)["weight"].to(device)
    transformer = Transformer(
        config, embed=embed, layers=layers, norm=norm, head=head, native=native
    )
    rotary = parts.pop(ROTARY, None)
    if rotary is not None:
        transformer.rotary.inv_freq = rotary["inv_freq"]
    return transformer.eval()
