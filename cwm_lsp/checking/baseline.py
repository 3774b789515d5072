"""Known failures, so CI fails only on new ones.

A failure is identified by file (relative to the repository root), function, call expression
and rule: not by line number, so edits elsewhere in the file do not invalidate the baseline.
The file is JSON with its entries sorted, so rewriting an unchanged baseline changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cwm_lsp.checking.discovery import CheckUsageError

BASELINE_FORMAT = 1


@dataclass(frozen=True, order=True)
class BaselineKey:
    file: str
    function: str
    call: str
    rule: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "function": self.function, "call": self.call, "rule": self.rule}


def load_baseline(path: Path) -> set[BaselineKey]:
    """The known failures in ``path``; raises :class:`CheckUsageError` when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckUsageError(
            f"baseline file not found: {path} (create it with --update-baseline)"
        ) from None
    except OSError as exc:
        raise CheckUsageError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        entries = data["known_failures"]
        return {
            BaselineKey(
                str(item["file"]), str(item["function"]), str(item["call"]), str(item["rule"])
            )
            for item in entries
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckUsageError(
            f"baseline {path} is not a trace-check baseline ({exc.__class__.__name__}: {exc}); "
            "rewrite it with --update-baseline"
        ) from None


def baseline_text(keys: Iterable[BaselineKey]) -> str:
    entries = [key.to_json() for key in sorted(set(keys))]
    document = {"format": BASELINE_FORMAT, "tool": "cwm-lsp trace-check", "known_failures": entries}
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_baseline(path: Path, keys: Iterable[BaselineKey]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(baseline_text(keys), encoding="utf-8")
    except OSError as exc:
        raise CheckUsageError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
