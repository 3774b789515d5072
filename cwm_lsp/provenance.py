"""Where a trace came from (predicted by a model or observed in a run), a leaf every layer may use.

:meth:`Provenance.to_json` / :meth:`Provenance.from_json` are its one encoding (check cache,
``predict --json``).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any


class Origin(str, enum.Enum):
    PREDICTED = "predicted"
    OBSERVED = "observed"


@dataclass(frozen=True)
class Provenance:
    """Where a trace came from; shown in tooltips, CLI output and reports."""

    origin: Origin
    backend: str
    model: str | None = None  # model name, e.g. "CWM 32B" or "cwm-lsp demo model (not CWM)"
    quantization: str | None = None
    is_demo_model: bool = False
    weak_sandbox: bool = False  # observed under the audit-hook-only sandbox (no kernel walls)

    def describe(self) -> str:
        if self.origin is Origin.OBSERVED:
            if self.weak_sandbox:
                return "observed, weak sandbox (audit hook only)"
            return "observed in a sandboxed run"
        parts = [f"predicted by {self.model or self.backend}"]
        if self.quantization and self.quantization != "none":
            parts.append(f"({self.quantization})")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "origin": self.origin.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Provenance:
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        return cls(**{**values, "origin": Origin(data["origin"])})
