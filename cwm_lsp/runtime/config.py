"""Model hyper-parameters read from a checkpoint's ``config.json``.

Accepts CWM configs (``model_type: cwm``) and Llama-named ones (``Llama3ForCausalLM``/``llama``).
A Llama-named config is CWM when it carries ``layer_types``/``sliding_window``; otherwise every
layer uses full attention (plain Llama).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How the demo model names itself wherever its output appears: it is not CWM.
DEMO_MODEL_LABEL = "cwm-lsp demo model (not CWM)"

FULL = "full_attention"
SLIDING = "sliding_attention"

_CWM_TYPES = {"cwm"}
_LLAMA_TYPES = {"llama", "llama3"}
_CWM_ARCHS = {"CwmForCausalLM"}
_LLAMA_ARCHS = {"LlamaForCausalLM", "Llama3ForCausalLM"}


class ConfigError(ValueError):
    """config.json is missing, unreadable or describes a model this runtime cannot run."""


@dataclass(frozen=True)
class RopeScaling:
    """RoPE "llama3" frequency scaling (``factor`` 1 with no scaling means plain RoPE)."""

    theta: float = 1_000_000.0
    rope_type: str = "llama3"
    factor: float = 16.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclass(frozen=True)
class CwmConfig:
    vocab_size: int = 128256
    hidden_size: int = 6144
    intermediate_size: int = 21504
    num_hidden_layers: int = 64
    num_attention_heads: int = 48
    num_key_value_heads: int = 8
    head_dim: int = 128
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 131072
    tie_word_embeddings: bool = False
    sliding_window: int | None = 8192
    layer_types: tuple[str, ...] = field(default_factory=tuple)
    rope: RopeScaling = field(default_factory=RopeScaling)
    model_type: str = "cwm"
    name: str | None = None  # a human-readable model name, when config.json gives one
    is_demo_model: bool = False  # config.json has "cwm_lsp_demo_model": true

    def __post_init__(self) -> None:
        if len(self.layer_types) != self.num_hidden_layers:
            raise ConfigError(
                f"layer_types has {len(self.layer_types)} entries for {self.num_hidden_layers} layers"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError(
                f"{self.num_attention_heads} attention heads are not a multiple of "
                f"{self.num_key_value_heads} key/value heads"
            )
        if SLIDING in self.layer_types and not self.sliding_window:
            raise ConfigError("sliding_attention layers need a positive sliding_window")

    def window(self, layer: int) -> int | None:
        """The layer's attention window (None: full causal attention)."""
        return self.sliding_window if self.layer_types[layer] == SLIDING else None

    @property
    def is_hybrid(self) -> bool:
        return SLIDING in self.layer_types

    def parameter_count(self) -> int:
        h, d = self.hidden_size, self.head_dim
        attn = h * d * (2 * self.num_attention_heads + 2 * self.num_key_value_heads)
        mlp = 3 * h * self.intermediate_size
        per_layer = attn + mlp + 2 * h
        head = 0 if self.tie_word_embeddings else self.vocab_size * h
        return self.vocab_size * h + self.num_hidden_layers * per_layer + h + head

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config.json") -> CwmConfig:
        try:
            return _from_dict(raw, source)
        except ConfigError:
            raise
        except KeyError as err:
            raise ConfigError(f"{source}: missing field {err}") from err
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{source}: invalid value ({err})") from err

    @classmethod
    def from_file(cls, path: str | Path) -> CwmConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{path}: not found (a checkpoint directory needs config.json)"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read it as JSON ({err})") from err
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, source=str(path))


def _architecture(raw: dict[str, Any], source: str) -> str:
    """'cwm' or 'llama'; raises for anything else."""
    model_type = str(raw.get("model_type", "")).lower()
    archs = set(raw.get("architectures") or [])
    if model_type in _CWM_TYPES or archs & _CWM_ARCHS:
        return "cwm"
    if model_type in _LLAMA_TYPES or archs & _LLAMA_ARCHS:
        return "llama"
    shown = model_type or ", ".join(sorted(archs)) or "none given"
    raise ConfigError(
        f"{source}: unsupported architecture ({shown}); this runtime runs CWM "
        "(model_type 'cwm') and Llama-named CWM checkpoints"
    )


def _rope(raw: dict[str, Any], arch: str, source: str) -> RopeScaling:
    params = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
    default_theta = 1_000_000.0 if arch == "cwm" else 10_000.0
    theta = float(params.get("rope_theta") or raw.get("rope_theta") or default_theta)
    if not params:
        # transformers' CwmConfig fills in llama3 scaling when none is given; Llama has none.
        return RopeScaling(theta=theta) if arch == "cwm" else RopeScaling(theta, "default", 1.0)
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type == "default":
        return RopeScaling(theta=theta, rope_type="default", factor=1.0)
    if rope_type != "llama3":
        raise ConfigError(f"{source}: unsupported RoPE scaling {rope_type!r} (expected 'llama3')")
    return RopeScaling(
        theta=theta,
        rope_type="llama3",
        factor=float(params["factor"]),
        low_freq_factor=float(params["low_freq_factor"]),
        high_freq_factor=float(params["high_freq_factor"]),
        original_max_position_embeddings=int(params["original_max_position_embeddings"]),
    )


def _from_dict(raw: dict[str, Any], source: str) -> CwmConfig:
    arch = _architecture(raw, source)
    layers = int(raw["num_hidden_layers"])
    heads = int(raw["num_attention_heads"])
    hidden = int(raw["hidden_size"])
    window = raw.get("sliding_window")
    layer_types = raw.get("layer_types")
    if layer_types is None:
        if arch == "cwm" or window:
            # CWM's library default (a Llama-named config with a window is CWM too):
            # global every 4th layer, sliding otherwise
            layer_types = [FULL if i % 4 == 0 else SLIDING for i in range(layers)]
        else:
            layer_types = [FULL] * layers
    unknown = sorted(set(layer_types) - {FULL, SLIDING})
    if unknown:
        raise ConfigError(f"{source}: unknown layer types {unknown}")
    if arch == "cwm" and window is None and "sliding_window" not in raw:
        window = 8192
    head_dim = raw.get("head_dim") or hidden // heads
    name = raw.get("cwm_lsp_model_name") or raw.get("_name_or_path") or None
    return CwmConfig(
        vocab_size=int(raw["vocab_size"]),
        hidden_size=hidden,
        intermediate_size=int(raw["intermediate_size"]),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=int(raw.get("num_key_value_heads") or heads),
        head_dim=int(head_dim),
        rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)),
        max_position_embeddings=int(raw.get("max_position_embeddings", 131072)),
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        sliding_window=int(window) if window else None,
        layer_types=tuple(layer_types),
        rope=_rope(raw, arch, source),
        model_type=arch,
        name=str(name) if name else None,
        is_demo_model=bool(raw.get("cwm_lsp_demo_model", False)),
    )
