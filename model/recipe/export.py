"""Copy a training run's best checkpoint into ``model/weights`` (the shipped demo model).

    python model/recipe/export.py --run model/work/run2 --out model/weights

Ships ``config.json`` (with ``"cwm_lsp_demo_model": true`` and its "not CWM" name),
``generation_config.json``, ``model.safetensors``, ``tokenizer.model`` and ``training.json``
(the step and held-out loss of the exported checkpoint, and the training configuration).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

SHIPPED = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.model")
MAX_BYTES = 30 * 1024 * 1024


def export(run: Path, out: Path, *, which: str = "best") -> int:
    source = run / which
    missing = [name for name in SHIPPED if not (source / name).is_file()]
    if missing:
        print(f"error: {source} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    config = json.loads((source / "config.json").read_text())
    if not config.get("cwm_lsp_demo_model"):
        print(f"error: {source}/config.json is not marked as the demo model", file=sys.stderr)
        return 2
    size = sum((source / name).stat().st_size for name in SHIPPED)
    if size > MAX_BYTES:
        print(f"error: {size / 2**20:.1f} MiB is over the 30 MiB budget", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copy(source / name, out / name)
    training: dict[str, object] = {}
    state_file = source / "train_state.json"
    if state_file.is_file():
        training["checkpoint"] = json.loads(state_file.read_text())
    ckpt = run / "ckpt.pt"
    if ckpt.is_file():
        training["config"] = torch.load(ckpt, weights_only=False, map_location="cpu")["config"]
    (out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    print(f"exported {source} to {out} ({size / 2**20:.1f} MiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("model/work/run"))
    parser.add_argument("--out", type=Path, default=Path("model/weights"))
    parser.add_argument("--which", choices=("best", "last"), default="best")
    args = parser.parse_args(argv)
    return export(args.run, args.out, which=args.which)


if __name__ == "__main__":
    raise SystemExit(main())
