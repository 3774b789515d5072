"""Train the cwm-lsp demo model (a small CWM-architecture model, NOT CWM) on CPU or a GPU.

nanoGPT-style: the configuration is the dataclass below, any field can be overridden on the
command line (``--set max_steps=2000``), training resumes from ``OUT/ckpt.pt`` when it exists,
and the best model by held-out loss is kept in Hugging Face layout under ``OUT/best``.

    python model/recipe/train.py --corpus model/work/corpus \\
        --tokenizer model/work/tokenizer --out model/work/run1

The model is transformers' ``CwmForCausalLM`` (the numerical reference the runtime matches):
hybrid sliding-window/global attention, grouped-query attention, llama3 RoPE. Each example is
``prompt + trace`` (the trace format of ``cwm-trace-format.md``); the loss covers the trace
tokens only. Batches hold examples of similar length, right-padded; padding sits after every
real token, so causal attention never lets a real token see it, and its labels are ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tokenizer import encode_text
from transformers import CwmConfig, CwmForCausalLM

from cwm_lsp.runtime.tokenizer import Tokenizer, load_tokenizer
from cwm_lsp.trace import tokens

MODEL_NAME = "cwm-lsp demo model (not CWM)"
IGNORE = -100


@dataclass
class TrainConfig:
    # model (CWM architecture, scaled down)
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 6
    num_attention_heads: int = 8
    num_key_value_heads: int = 2
    head_dim: int = 24
    sliding_window: int = 128
    layer_types: list[str] = field(
        default_factory=lambda: ["full", "sliding", "sliding", "full", "sliding", "full"]
    )
    rope_theta: float = 10_000.0
    rope_factor: float = 8.0
    rope_original_max_positions: int = 1024
    max_position_embeddings: int = 8192
    # data
    max_len: int = 512
    curriculum_len: int = 320
    curriculum_fraction: float = 0.3  # of the schedule, on examples <= curriculum_len tokens
    batch_tokens: int = 3072  # padded tokens per optimizer step
    sort_pool: int = 512  # examples sorted by length together before they are cut into batches
    heldout_eval_examples: int = 100
    # optimization: a cosine schedule over max_steps, or over time_budget_min minutes of
    # training when that is set (the machine is shared, so steps per minute vary a lot)
    max_steps: int = 100_000
    time_budget_min: float = 0.0
    learning_rate: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 60
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    bf16: bool = True
    threads: int = 2
    device: str = "cpu"  # or "cuda" on a lent GPU machine
    # the dtype of the weights in OUT/best and OUT/last (bfloat16 halves them; training
    # itself keeps float32 master weights)
    save_dtype: str = "float32"
    # torch.compile the training forward/backward: ~1.2x tokens/s on 2 CPU threads once the
    # first few (slow, compiling) steps are done; evaluation stays eager
    compile: bool = False
    seed: int = 1234
    # bookkeeping
    log_every: int = 10
    eval_every: int = 150
    checkpoint_every_s: float = 240.0


def hf_config(cfg: TrainConfig, tokenizer: Tokenizer) -> CwmConfig:
    kind = {"full": "full_attention", "sliding": "sliding_attention"}
    config = CwmConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        head_dim=cfg.head_dim,
        sliding_window=cfg.sliding_window,
        layer_types=[kind[t] for t in cfg.layer_types],
        max_position_embeddings=cfg.max_position_embeddings,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": cfg.rope_theta,
            "factor": cfg.rope_factor,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": cfg.rope_original_max_positions,
        },
        bos_token_id=tokenizer.special_id(tokens.BEGIN_OF_TEXT),
        eos_token_id=[
            tokenizer.special_id(tokens.END_OF_TEXT),
            tokenizer.special_id("<|eom_id|>"),
            tokenizer.special_id("<|eot_id|>"),
        ],
        pad_token_id=tokenizer.special_id("<|pad|>"),
        tie_word_embeddings=False,
    )
    config.cwm_lsp_demo_model = True
    config.cwm_lsp_model_name = MODEL_NAME
    return config


def adopt_architecture(cfg: TrainConfig, checkpoint_dir: Path) -> TrainConfig:
    """The model-shape fields of ``cfg`` replaced by those of a saved checkpoint's config.json,
    so ``--init-from`` continues any checkpoint without restating its shape."""
    saved = json.loads((checkpoint_dir / "config.json").read_text())
    kind = {"full_attention": "full", "sliding_attention": "sliding"}
    shape = {
        name: saved[name]
        for name in (
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "sliding_window",
        )
    }
    return dataclasses.replace(cfg, **shape, layer_types=[kind[t] for t in saved["layer_types"]])


# --- data -------------------------------------------------------------------------------------


@dataclass
class Example:
    ids: list[int]
    trace_start: int  # index of the first trace token (loss starts there)


def load_examples(path: Path, tokenizer: Tokenizer, max_len: int) -> list[Example]:
    """Tokenized examples of at most max_len tokens (cached beside the corpus file); a
    ``.pack.xz`` file (pack.py) holds them already tokenized."""
    if path.name.endswith(".pack.xz"):
        from pack import read_pack

        return [Example(ids, start) for ids, start in read_pack(path, max_len)]
    stat = path.stat()
    key = f"{stat.st_size}-{stat.st_mtime_ns}-{tokenizer.path.stat().st_mtime_ns}"
    cache = path.with_suffix(".tokens.pt")
    if cache.exists():
        cached = torch.load(cache, weights_only=False)
        if cached.get("key") == key and cached.get("max_len", 0) >= max_len:
            return [Example(i, s) for i, s in cached["examples"] if len(i) <= max_len]
    examples = _tokenize(path, tokenizer, max_len)
    # a read-only corpus directory only costs the tokenizing time next run
    with contextlib.suppress(OSError):
        pairs = [(e.ids, e.trace_start) for e in examples]
        torch.save({"key": key, "max_len": max_len, "examples": pairs}, cache)
    return examples


def _tokenize(path: Path, tokenizer: Tokenizer, max_len: int) -> list[Example]:
    examples = []
    with path.open() as f:
        for line in f:
            record = json.loads(line)
            prompt = encode_text(tokenizer, record["prompt"])
            trace = encode_text(tokenizer, record["trace"])
            if len(prompt) + len(trace) <= max_len:
                examples.append(Example(prompt + trace, len(prompt)))
    return examples


def make_batches(
    examples: list[Example], batch_tokens: int, rng: random.Random, sort_pool: int = 512
) -> list[list[Example]]:
    """Shuffle, then group examples of similar length into batches of about batch_tokens."""
    order = examples[:]
    rng.shuffle(order)
    batches: list[list[Example]] = []
    for start in range(0, len(order), sort_pool):
        pool = sorted(order[start : start + sort_pool], key=lambda e: len(e.ids))
        batch: list[Example] = []
        for example in pool:
            if batch and len(example.ids) * (len(batch) + 1) > batch_tokens:
                batches.append(batch)
                batch = []
            batch.append(example)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


def collate(batch: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(batch):
        ids[row, : len(example.ids)] = torch.tensor(example.ids)
        labels[row, example.trace_start : len(example.ids)] = torch.tensor(
            example.ids[example.trace_start :]
        )
    return ids, labels


class BatchStream:
    """Endless batches; examples longer than the current length limit are left out."""

    def __init__(self, examples: list[Example], cfg: TrainConfig, seed: int) -> None:
        self.examples = examples
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.queue: list[list[Example]] = []
        self.limit = 0

    def next(self, progress: float) -> list[Example]:
        short = progress < self.cfg.curriculum_fraction
        limit = self.cfg.curriculum_len if short else self.cfg.max_len
        if limit != self.limit or not self.queue:
            self.limit = limit
            usable = [e for e in self.examples if len(e.ids) <= limit] or self.examples
            self.queue = make_batches(usable, self.cfg.batch_tokens, self.rng, self.cfg.sort_pool)
        return self.queue.pop()


# --- training ---------------------------------------------------------------------------------


def schedule_progress(cfg: TrainConfig, step: int, train_seconds: float) -> float:
    """How far through the schedule training is, 0..1 (by time when a time budget is set)."""
    if cfg.time_budget_min > 0:
        return min(1.0, train_seconds / (cfg.time_budget_min * 60))
    return min(1.0, step / cfg.max_steps)


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups,
        lr=cfg.learning_rate,
        betas=(0.9, 0.95),
        eps=1e-8,
        fused=cfg.device.startswith("cuda"),
    )


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def batch_loss(
    model: torch.nn.Module, batch: list[Example], pad_id: int, bf16: bool
) -> tuple[torch.Tensor, int]:
    device = model_device(model)
    ids, labels = (t.to(device, non_blocking=True) for t in collate(batch, pad_id))
    with torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=ids, labels=labels)
    return out.loss, int((labels != IGNORE).sum())


@torch.no_grad()
def heldout_metrics(
    model: CwmForCausalLM, examples: list[Example], pad_id: int, bf16: bool
) -> dict[str, float]:
    """Teacher-forced loss and next-token accuracy on the trace part of held-out examples."""
    model.eval()
    device = model_device(model)
    total_loss = 0.0
    total_tokens = 0
    correct = 0
    for start in range(0, len(examples), 16):
        ids, labels = (t.to(device) for t in collate(examples[start : start + 16], pad_id))
        with torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids).logits.float()
        pred = logits[:, :-1].argmax(-1)
        target = labels[:, 1:]
        mask = target != IGNORE
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1][mask], target[mask], reduction="sum"
        )
        total_loss += float(loss)
        total_tokens += int(mask.sum())
        correct += int((pred[mask] == target[mask]).sum())
    model.train()
    return {"loss": total_loss / max(1, total_tokens), "token_acc": correct / max(1, total_tokens)}


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def save_pretrained(
    model: CwmForCausalLM, tokenizer_dir: Path, out: Path, dtype: str = "float32"
) -> None:
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if dtype == "float32" and model_device(model).type == "cpu":
        model.save_pretrained(tmp)
    else:
        copy.deepcopy(model).to("cpu", getattr(torch, dtype)).save_pretrained(tmp)
    shutil.copy(tokenizer_dir / "tokenizer.model", tmp / "tokenizer.model")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def train(
    cfg: TrainConfig, corpus: Path, tokenizer_dir: Path, out: Path, init_from: Path | None = None
) -> dict[str, float]:
    if cfg.save_dtype not in ("float32", "bfloat16", "float16"):
        raise SystemExit(
            f"error: save_dtype must be float32, bfloat16 or float16, not {cfg.save_dtype!r}"
        )
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer is None:
        raise SystemExit(f"error: no tokenizer.model in {tokenizer_dir}")
    pad_id = tokenizer.special_id("<|pad|>")
    packed = corpus / "train.pack.xz"
    train_file = packed if packed.exists() else corpus / "train.jsonl"
    train_examples = load_examples(train_file, tokenizer, cfg.max_len)
    heldout = load_examples(corpus / "heldout.jsonl", tokenizer, cfg.max_len)
    heldout = heldout[: cfg.heldout_eval_examples]
    if not train_examples:
        raise SystemExit(f"error: no training example of at most {cfg.max_len} tokens")
    print(f"{len(train_examples)} train / {len(heldout)} held-out examples", flush=True)

    model = CwmForCausalLM(hf_config(cfg, tokenizer)).to(cfg.device)
    model.train()
    optimizer = make_optimizer(model, cfg)
    step, best, train_seconds = 0, float("inf"), 0.0
    ckpt_path = out / "ckpt.pt"
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False, map_location=cfg.device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, best = state["step"], state["best"]
        train_seconds = state.get("train_seconds", 0.0)
        print(f"resumed from {ckpt_path} at step {step}", flush=True)
    elif init_from is not None:
        start = CwmForCausalLM.from_pretrained(init_from)
        try:
            model.load_state_dict(start.state_dict())  # copies onto model's device
        except RuntimeError as err:
            raise SystemExit(
                f"error: {init_from} does not match this configuration: {err}"
            ) from None
        print(f"initialized from {init_from}", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params / 1e6:.2f}M parameters", flush=True)
    stream = BatchStream(train_examples, cfg, cfg.seed + step)
    forward = torch.compile(model, dynamic=True) if cfg.compile else model
    last_save = time.time()
    tokens_seen, started = 0, time.time()
    metrics: dict[str, float] = {}

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "best": best,
                "train_seconds": train_seconds,
                "config": dataclasses.asdict(cfg),
            },
        )

    progress = schedule_progress(cfg, step, train_seconds)
    while progress < 1.0:
        step_started = time.time()
        lr = learning_rate(cfg, step, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = stream.next(progress)
        loss, _ = batch_loss(forward, batch, pad_id, cfg.bf16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        train_seconds += time.time() - step_started
        progress = schedule_progress(cfg, step, train_seconds)
        tokens_seen += sum(len(e.ids) for e in batch)
        if step % cfg.log_every == 0 or step == 1:
            rate = tokens_seen / max(1e-9, time.time() - started)
            print(
                f"step {step} loss {loss.item():.4f} lr {lr:.2e} {rate:.0f} tok/s "
                f"progress {progress:.3f}",
                flush=True,
            )
        if heldout and (step % cfg.eval_every == 0 or progress >= 1.0):
            metrics = heldout_metrics(model, heldout, pad_id, cfg.bf16)
            print(f"eval step {step} {json.dumps(metrics)}", flush=True)
            if metrics["loss"] < best:
                best = metrics["loss"]
                save_pretrained(model, tokenizer_dir, out / "best", cfg.save_dtype)
                (out / "best" / "train_state.json").write_text(
                    json.dumps({"step": step, **metrics}) + "\n"
                )
        if time.time() - last_save > cfg.checkpoint_every_s or progress >= 1.0:
            checkpoint()
            last_save = time.time()
    save_pretrained(model, tokenizer_dir, out / "last", cfg.save_dtype)
    return {"step": float(step), "loss": float(loss.item()), **metrics}


def parse_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    for item in items:
        key, _, text = item.partition("=")
        if key not in fields:
            raise SystemExit(f"error: unknown setting {key!r} (see TrainConfig in train.py)")
        current = getattr(cfg, key)
        value: Any
        if isinstance(current, bool):
            value = text.lower() in ("1", "true", "yes")
        elif isinstance(current, list):
            value = text.split(",")
        else:
            value = type(current)(text)
        setattr(cfg, key, value)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("model/work/corpus"))
    parser.add_argument("--tokenizer", type=Path, default=Path("model/work/tokenizer"))
    parser.add_argument("--out", type=Path, default=Path("model/work/run"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--init-from", type=Path, help="start from these weights (an OUT/best directory)"
    )
    args = parser.parse_args(argv)
    cfg = parse_overrides(TrainConfig(), args.set)
    if args.init_from is not None:
        cfg = adopt_architecture(cfg, args.init_from)
    result = train(cfg, args.corpus, args.tokenizer, args.out, args.init_from)
    print(f"done {json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
