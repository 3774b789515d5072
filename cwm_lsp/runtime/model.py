"""The CWM transformer: embeddings, pre-norm blocks with GQA attention (each layer with its own
window), RoPE with llama3 scaling, SwiGLU MLP, final norm and output head.

Activations are float32. Linear layers are whatever :mod:`cwm_lsp.runtime.quant` built (a
float weight in its storage dtype, int8 or int4), so one model class serves every precision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import ModuleType

import torch
from torch import nn

from cwm_lsp.runtime import native_step, ops
from cwm_lsp.runtime.config import CwmConfig
from cwm_lsp.runtime.kvcache import KVCache, LayerCache, TorchStorage
from cwm_lsp.runtime.native_decoder import NativeDecoder


def rope_inverse_frequencies(config: CwmConfig) -> torch.Tensor:
    """Inverse frequencies, computed exactly as transformers does (float32)."""
    rope, dim = config.rope, config.head_dim
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float) / dim
    inv_freq = 1.0 / (rope.theta**exponents)
    if rope.rope_type != "llama3":
        return inv_freq
    old_context = rope.original_max_position_embeddings
    low_wavelen = old_context / rope.low_freq_factor
    high_wavelen = old_context / rope.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq)
    smooth = (old_context / wavelen - rope.low_freq_factor) / (
        rope.high_freq_factor - rope.low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


class Rotary(nn.Module):
    inv_freq: torch.Tensor

    def __init__(self, config: CwmConfig) -> None:
        super().__init__()
        self.register_buffer("inv_freq", rope_inverse_frequencies(config), persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of shape [T, 1, head_dim] for ``positions`` [T]."""
        freqs = positions[:, None].float() * self.inv_freq[None, :]
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + rotate_half(x) * sin


class RMSNorm(nn.Module):
    weight: torch.Tensor

    def __init__(self, weight: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.register_buffer("weight", weight.float())
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Attention(nn.Module):
    def __init__(
        self,
        config: CwmConfig,
        layer: int,
        parts: Mapping[str, nn.Module],
        native: ModuleType | None,
    ) -> None:
        super().__init__()
        self.native = native
        self.q_proj, self.k_proj = parts["q_proj"], parts["k_proj"]
        self.v_proj, self.o_proj = parts["v_proj"], parts["o_proj"]
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.window = config.window(layer)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        start_pos: int,
        cache: LayerCache,
    ) -> torch.Tensor:
        length = x.shape[0]
        q = self.q_proj(x).view(length, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(length, self.n_kv, self.head_dim)
        v = self.v_proj(x).view(length, self.n_kv, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        cache.write(start_pos, k, v)
        out = ops.attention(q, cache.keys, cache.values, start_pos, self.window, native=self.native)
        return self.o_proj(out.reshape(length, self.n_heads * self.head_dim))


class FeedForward(nn.Module):
    def __init__(self, parts: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = (
            parts["gate_proj"],
            parts["up_proj"],
            parts["down_proj"],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(
        self,
        config: CwmConfig,
        layer: int,
        parts: Mapping[str, nn.Module],
        norms: Mapping[str, torch.Tensor],
        native: ModuleType | None,
    ) -> None:
        super().__init__()
        eps = config.rms_norm_eps
        self.input_layernorm = RMSNorm(norms["input_layernorm"], eps)
        self.self_attn = Attention(config, layer, parts, native)
        self.post_attention_layernorm = RMSNorm(norms["post_attention_layernorm"], eps)
        self.mlp = FeedForward(parts)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        start_pos: int,
        cache: LayerCache,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, start_pos, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    """Built from loaded parts: ``embed`` [vocab, hidden], per-layer linear modules and norm
    weights, the final norm weight and the head module (see :mod:`cwm_lsp.runtime.assemble`).
    ``native``: the kernels module attention and the native decoder use (None: PyTorch only),
    decided once by whoever builds the model."""

    embed: torch.Tensor

    def __init__(
        self,
        config: CwmConfig,
        *,
        embed: torch.Tensor,
        layers: list[tuple[dict[str, nn.Module], dict[str, torch.Tensor]]],
        norm: torch.Tensor,
        head: nn.Module,
        native: ModuleType | None,
    ) -> None:
        super().__init__()
        self.config = config
        self.native = native
        self.register_buffer("embed", embed)
        self.layers = nn.ModuleList(
            Block(config, index, parts, norms, native)
            for index, (parts, norms) in enumerate(layers)
        )
        self.norm = RMSNorm(norm, config.rms_norm_eps)
        self.lm_head = head
        self.rotary = Rotary(config)
        self._decoder: NativeDecoder | str | None = None  # built on first use
        # False: every chunk takes the per-operation path (benchmarks compare the two).
        self.use_native_decoder = True

    def native_decoder(self) -> NativeDecoder | None:
        """The whole forward pass in one native call, when the kernels are enabled and every
        weight is in a format the decoder runs (see :mod:`cwm_lsp.runtime.native_step`)."""
        if not self.use_native_decoder or self.embed.device.type != "cpu":
            return None
        if self.native is None:
            return None
        if self._decoder is None:
            self._decoder = native_step.build(self)
        return self._decoder if isinstance(self._decoder, NativeDecoder) else None

    def native_decoder_problem(self) -> str | None:
        """Why :meth:`native_decoder` is None (None when it is not)."""
        if self.native is None:
            return "native kernels unavailable"
        if not self.use_native_decoder:
            return "turned off (use_native_decoder)"
        return None if self.native_decoder() is not None else str(self._decoder)

    def run(
        self, ids: Sequence[int], start_pos: int, cache: KVCache, *, all_logits: bool = False
    ) -> torch.Tensor:
        """:meth:`forward` for token ids given as a list (what a generation step has)."""
        decoder = self.native_decoder()
        if decoder is not None and decoder.takes(len(ids)):
            return decoder.run(ids, start_pos, cache, all_logits=all_logits)
        tokens = torch.tensor(list(ids), dtype=torch.long, device=self.device)
        return self._forward_ops(tokens, start_pos, cache, all_logits=all_logits)

    @property
    def device(self) -> torch.device:
        return self.embed.device

    def cache_storage(self, dtype: torch.dtype | None) -> TorchStorage:
        """Where a session's KV cache lives: torch tensors of ``dtype`` (default float32)."""
        return TorchStorage(dtype, self.device)

    def inference(self) -> torch.inference_mode:
        return torch.inference_mode()

    def forward(
        self, tokens: torch.Tensor, start_pos: int, cache: KVCache, *, all_logits: bool = False
    ) -> torch.Tensor:
        """Run ``tokens`` [T] at positions start_pos..; logits [T, vocab] (or [1, vocab] for the
        last token unless ``all_logits``), float32."""
        decoder = self.native_decoder()
        if decoder is not None and tokens.device.type == "cpu" and decoder.takes(len(tokens)):
            return decoder.run(tokens.tolist(), start_pos, cache, all_logits=all_logits)
        return self._forward_ops(tokens, start_pos, cache, all_logits=all_logits)

    def _forward_ops(
        self, tokens: torch.Tensor, start_pos: int, cache: KVCache, *, all_logits: bool
    ) -> torch.Tensor:
        """The per-operation path (PyTorch, with native attention and quantized matmuls)."""
        length = tokens.shape[0]
        cache.prepare(start_pos, length)
        positions = torch.arange(start_pos, start_pos + length, device=self.device)
        cos, sin = self.rotary(positions)
        x = self.embed[tokens].float()
        for block, layer_cache in zip(self.layers, cache.layers, strict=True):
            x = block(x, cos, sin, start_pos, layer_cache)
        cache.advance(start_pos + length)
        if not all_logits:
            x = x[-1:]
        return self.lm_head(self.norm(x)).float()
