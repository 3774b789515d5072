"""The demo model's training recipe end to end on a tiny corpus: tokenizer, two steps, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from goldens import GOLDEN_FILES
from transformers import CwmForCausalLM

RECIPE = Path(__file__).resolve().parents[2] / "model" / "recipe"
TINY = [
    "hidden_size=32",
    "intermediate_size=64",
    "num_attention_heads=4",
    "num_key_value_heads=2",
    "head_dim=8",
    "sliding_window=16",
    "max_len=4096",
    "batch_tokens=4096",
    "eval_every=2",
    "log_every=1",
    "warmup_steps=1",
    "threads=1",
]


def run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RECIPE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_corpus(directory: Path) -> None:
    directory.mkdir()
    rows = []
    for path in GOLDEN_FILES:
        golden = json.loads(path.read_text())
        rows.append(
            {
                "prompt": golden["prompt_text"],
                "trace": golden["trace_text"],
                "context": golden["context"],
                "source": golden["source"],
                "call": golden["call"],
            }
        )
    (directory / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:8]))
    (directory / "heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[8:]))


def corpus_and_tokenizer(tmp_path: Path) -> Path:
    """A tiny corpus in tmp_path/corpus and a 320-rank tokenizer trained on it in tmp_path/tok."""
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    tok = run(
        "tokenizer.py",
        *("--corpus", str(corpus / "train.jsonl")),
        *("--out", str(tmp_path / "tok" / "tokenizer.model")),
        *("--ranks", "320"),
    )
    assert tok.returncode == 0, tok.stderr
    return corpus


def test_tokenizer_then_two_training_steps_then_resume(tmp_path: Path) -> None:
    corpus = corpus_and_tokenizer(tmp_path)

    out = tmp_path / "run"
    args = ["--corpus", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(out)]
    sets = [f"--set={item}" for item in TINY]
    first = run("train.py", *args, *sets, "--set=max_steps=2")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "step 2 loss" in first.stdout
    assert "8 train / 2 held-out examples" in first.stdout

    config = json.loads((out / "best" / "config.json").read_text())
    assert config["model_type"] == "cwm"
    assert config["cwm_lsp_demo_model"] is True
    assert "not CWM" in config["cwm_lsp_model_name"]
    assert config["layer_types"].count("full_attention") > 1
    assert "sliding_attention" in config["layer_types"]
    assert config["num_key_value_heads"] < config["num_attention_heads"]
    assert config["rope_parameters"]["rope_type"] == "llama3"
    assert (out / "best" / "tokenizer.model").is_file()
    model = CwmForCausalLM.from_pretrained(out / "best")
    assert model.config.vocab_size == 320 + 256

    second = run("train.py", *args, *sets, "--set=max_steps=3")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stdout and "at step 2" in second.stdout
    assert "step 3 loss" in second.stdout and "step 1 loss" not in second.stdout


def test_init_from_adopts_the_checkpoints_shape_and_compiled_training_runs(
    tmp_path: Path,
) -> None:
    corpus = corpus_and_tokenizer(tmp_path)
    base = ["--corpus", str(corpus), "--tokenizer", str(tmp_path / "tok")]
    sets = [f"--set={item}" for item in TINY]
    first = run("train.py", *base, "--out", str(tmp_path / "a"), *sets, "--set=max_steps=1")
    assert first.returncode == 0, first.stderr[-2000:]

    # only training settings: the model shape (hidden 32, head_dim 8) comes from the checkpoint
    training_only = [s for s in sets if "size" not in s and "head" not in s and "window" not in s]
    second = run(
        "train.py",
        *base,
        "--out",
        str(tmp_path / "b"),
        "--init-from",
        str(tmp_path / "a" / "best"),
        *training_only,
        "--set=max_steps=2",
        "--set=compile=true",
        timeout=400,  # torch.compile's first steps take a while on a busy CPU
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "initialized from" in second.stdout and "step 2 loss" in second.stdout
    config = json.loads((tmp_path / "b" / "best" / "config.json").read_text())
    assert (config["hidden_size"], config["head_dim"], config["sliding_window"]) == (32, 8, 16)


def test_unknown_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = run("train.py", "--out", str(tmp_path), "--set", "hiden_size=3")
    assert result.returncode != 0
    assert "unknown setting 'hiden_size'" in result.stderr
    assert "Traceback" not in result.stderr


def test_training_from_a_pack_leaves_held_out_examples_out_and_saves_bfloat16(
    tmp_path: Path,
) -> None:
    corpus = corpus_and_tokenizer(tmp_path)
    train_rows = (corpus / "train.jsonl").read_text().splitlines(keepends=True)
    # a held-out file that repeats one training example: the pack must leave it out
    (tmp_path / "exclude.jsonl").write_text(train_rows[3])
    packed = tmp_path / "packed"
    pack = run(
        "pack.py",
        *("--out", str(packed), "--tokenizer", str(tmp_path / "tok")),
        *("--train", str(corpus / "train.jsonl"), "--train", str(corpus / "train.jsonl")),
        *("--exclude", str(tmp_path / "exclude.jsonl")),
        *("--max-len", "4096"),
    )
    assert pack.returncode == 0, pack.stderr[-2000:]
    assert "packed 7 examples" in pack.stdout and "1 held-out examples left out" in pack.stdout
    (packed / "heldout.jsonl").write_text((corpus / "heldout.jsonl").read_text())

    out = tmp_path / "run"
    sets = [f"--set={item}" for item in TINY]
    trained = run(
        "train.py",
        *("--corpus", str(packed), "--tokenizer", str(tmp_path / "tok"), "--out", str(out)),
        *sets,
        "--set=max_steps=2",
        "--set=save_dtype=bfloat16",
        "--set=sort_pool=4",
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "7 train / 2 held-out examples" in trained.stdout
    assert "step 2 loss" in trained.stdout
    assert json.loads((out / "best" / "config.json").read_text())["dtype"] == "bfloat16"
    model = CwmForCausalLM.from_pretrained(out / "best")
    assert next(model.parameters()).dtype == torch.bfloat16


def test_unknown_save_dtype_is_a_clear_error(tmp_path: Path) -> None:
    result = run("train.py", "--out", str(tmp_path), "--set", "save_dtype=int3")
    assert result.returncode != 0
    assert "save_dtype must be float32, bfloat16 or float16, not 'int3'" in result.stderr
    assert "Traceback" not in result.stderr
