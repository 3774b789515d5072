"""Average two checkpoints of the same shape, weight by weight (WiSE-FT-style interpolation).

    python model/recipe/interpolate.py --base model/weights --tuned model/work/run10/best \\
        --alpha 0.5 --out model/work/soup

``alpha`` is the fine-tuned checkpoint's share: 0 gives ``base``, 1 gives ``tuned``. The other
files (config, tokenizer) are copied from ``tuned``; the weights are saved in ``tuned``'s dtype.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"


def interpolate(base: Path, tuned: Path, alpha: float, out: Path) -> None:
    first, second = load_file(base / WEIGHTS), load_file(tuned / WEIGHTS)
    if first.keys() != second.keys():
        raise SystemExit("error: the checkpoints have different weights")
    mixed = {
        name: ((1 - alpha) * first[name].float() + alpha * second[name].float()).to(
            second[name].dtype
        )
        for name in second
    }
    out.mkdir(parents=True, exist_ok=True)
    for path in tuned.iterdir():
        if path.is_file() and path.name != WEIGHTS:
            shutil.copy(path, out / path.name)
    save_file(mixed, out / WEIGHTS, metadata={"format": "pt"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--tuned", type=Path, required=True)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit("error: --alpha must be between 0 and 1")
    interpolate(args.base, args.tuned, args.alpha, args.out)
    print(f"wrote {args.out} ({args.alpha:g} of {args.tuned}, the rest {args.base})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
