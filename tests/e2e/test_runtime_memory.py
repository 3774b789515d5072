"""Loading with int8 streams shard by shard: peak memory stays near the quantized size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cwm_lsp.runtime.testing import tiny_config, write_random_safetensors

pytest.importorskip("transformers")

CHILD = """
import json, resource, sys
import torch, safetensors.torch
from cwm_lsp.runtime import load_model
from cwm_lsp.runtime import weights  # everything imported before the baseline

baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = load_model(sys.argv[1], quantize=sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
logits = model.logits([1, 2, 3])
print(json.dumps({"peak_bytes": (peak - baseline) * 1024, "weight_bytes": model.weight_bytes(),
                  "finite": bool(torch.isfinite(logits).all())}))
"""

MIB = 1 << 20


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """~150 MB of float32 weights in ~20 MB shards (10 layers, hidden 512, MLP 2048)."""
    directory = tmp_path_factory.mktemp("mem")
    config = tiny_config(
        hidden_size=512,
        intermediate_size=2048,
        num_hidden_layers=10,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=64,
        layer_types=["full_attention", "sliding_attention"] * 5,
    )
    return directory, write_random_safetensors(directory, config, shard_bytes=20 * MIB)


# int4 takes the same streaming path (and is slower to quantize), so int8 stands for both.
@pytest.mark.parametrize("method", ["int8"])
def test_peak_memory_stays_near_the_quantized_size(
    checkpoint: tuple[Path, list[Path]], method: str
) -> None:
    directory, shards = checkpoint
    checkpoint_bytes = sum(path.stat().st_size for path in shards)
    largest_shard = max(path.stat().st_size for path in shards)
    assert checkpoint_bytes > 140 * MIB and len(shards) >= 7
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory), method],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["finite"]
    quantized = report["weight_bytes"]
    assert quantized < checkpoint_bytes / 3.5
    peak = report["peak_bytes"]
    # the kept (quantized) weights + one shard being read + temporaries of one tensor
    assert peak < quantized + largest_shard + 32 * MIB, (peak / MIB, quantized / MIB)
    assert peak < 0.65 * checkpoint_bytes, (peak / MIB, checkpoint_bytes / MIB)
