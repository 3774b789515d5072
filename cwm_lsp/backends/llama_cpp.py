"""The ``llama-cpp`` backend: predict traces with llama.cpp (``llama-cpp-python``, the ``[llama]``
extra) on a ``.gguf`` file, e.g. one written by ``cwm-lsp model convert``.

Prompts are raw token ids built with the tokenizer stored in the GGUF (CWM's special tokens are
exact ids; user text is never parsed for special tokens). Generation goes frame by frame,
stopping each frame at ``<|frame_sep|>``; the llama context is kept between frames and between
predictions, so only new tokens are evaluated (a prompt sharing a prefix with the previous one
reuses its KV state). Greedy by default; ``temperature`` samples with the request's seed.

llama.cpp has no CWM architecture: a GGUF runs as ``llama`` with every layer global. That equals
CWM exactly only while prompt + trace fit in CWM's sliding window (8192 tokens); past it the
result carries a warning in ``problems`` (our ``native`` backend and vLLM apply the window).

As in the native backend, each frame's line is kept on the function's control flow unless
``follow_flow=False`` (:mod:`cwm_lsp.backends.line_constraint`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cwm_lsp.backends.assembly import GeneratedTrace
from cwm_lsp.backends.base import (
    BackendError,
    CancelToken,
    FrameCallback,
    Origin,
    PredictionCancelled,
    PredictionRequest,
    PredictionResult,
    Provenance,
)
from cwm_lsp.backends.decoding import TraceDecoder, TraceIds, step_over_depth
from cwm_lsp.backends.line_constraint import flow_constraint
from cwm_lsp.backends.options import DEFAULT_MAX_FRAMES
from cwm_lsp.budget import Deadline, TokenBudget
from cwm_lsp.runtime.tokenizer import Tokenizer, TokenizerError

DEFAULT_MAX_CONTEXT = 16_384
CWM_WINDOW = 8192


def _require_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as err:
        raise BackendError(
            "the llama-cpp backend needs llama-cpp-python: pip install 'cwm-lsp[llama]' "
            "(or use --backend native, which also reads .gguf files)"
        ) from err
    return llama_cpp


@dataclass(frozen=True)
class GGUFSummary:
    """What the backend needs from the GGUF metadata, read without loading tensors."""

    name: str
    context_length: int
    window: int | None  # CWM's sliding window when the model has sliding layers
    file_type: str


def read_summary(path: Path) -> GGUFSummary:
    from gguf import GGUFReader

    from cwm_lsp.runtime.gguf_loader import GGUFInfo, GGUFMetadata, attention_layout

    try:
        meta = GGUFMetadata(GGUFReader(str(path)), path)
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise BackendError(f"{path}: not a readable GGUF file ({err})") from err
    layers = int(meta.arch_key("block_count", 0))
    kinds, window = attention_layout(meta, layers, None, GGUFInfo())
    sliding = window if "sliding_attention" in kinds else None
    types: dict[str, int] = {}
    for tensor in meta.reader.tensors:
        if len(tensor.shape) > 1:
            name = tensor.tensor_type.name
            types[name] = types.get(name, 0) + 1
    return GGUFSummary(
        name=str(meta.get("general.name") or path.stem),
        context_length=int(meta.arch_key("context_length", 4096)),
        window=sliding,
        file_type=max(types, key=lambda k: types[k]) if types else "unknown",
    )


class LlamaCppSession:
    """A llama.cpp context plus the tokens it holds; evaluates only what is new."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int | None = None) -> None:
        llama_cpp = _require_llama_cpp()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=512,
                n_ubatch=512,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as err:
            raise BackendError(f"llama.cpp cannot load {path}: {err}") from err
        self.n_ctx = n_ctx
        self.n_vocab = int(self.llm.n_vocab())
        self.tokens: list[int] = []
        self.reused_tokens = 0

    def _last_logits(self) -> np.ndarray:
        pointer = self.llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        """Make the context hold ``ids``; logits after the last one."""
        if not ids:
            raise ValueError("cannot prefill an empty prompt")
        if len(ids) > self.n_ctx:
            raise BackendError(
                f"the prompt has {len(ids)} tokens; the llama.cpp context holds {self.n_ctx}"
            )
        keep = 0
        for a, b in zip(self.tokens, ids[: len(ids) - 1], strict=False):
            if a != b:
                break
            keep += 1
        self.reused_tokens = keep
        self.llm.n_tokens = keep
        self.tokens = list(ids[:keep])
        self.llm.eval(list(ids[keep:]))
        self.tokens = list(ids)
        return self._last_logits()

    def step(self, token: int) -> np.ndarray:
        self.llm.eval([token])
        self.tokens.append(token)
        return self._last_logits()


class _Sampler:
    def __init__(self, temperature: float, seed: int | None) -> None:
        self.temperature = temperature
        self.rng = np.random.default_rng(seed)

    def __call__(self, logits: np.ndarray, allowed: Sequence[int] | None = None) -> int:
        if allowed is not None:
            keep = np.asarray(allowed, dtype=np.int64)
            if self.temperature <= 0:
                return int(keep[np.argmax(logits[keep])])
            masked = np.full_like(logits, -np.inf)
            masked[keep] = logits[keep]
            logits = masked
        if self.temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / self.temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        return int(self.rng.choice(len(probs), p=probs))


class LlamaCppPredictor:
    name = "llama-cpp"

    def __init__(
        self,
        model: str | Path,
        *,
        max_frames: int = DEFAULT_MAX_FRAMES,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        follow_flow: bool = True,
    ) -> None:
        self.path = Path(model).expanduser()
        if not self.path.is_file():
            raise BackendError(
                f"model not found: {self.path} (the llama-cpp backend takes a .gguf file)"
            )
        _require_llama_cpp()
        from cwm_lsp.runtime.gguf_loader import GGUFError, gguf_tokenizer

        self.summary = read_summary(self.path)
        try:
            tokenizer = gguf_tokenizer(self.path)
        except GGUFError as err:
            raise BackendError(str(err)) from err
        if tokenizer is None:
            raise BackendError(f"{self.path} has no tokenizer metadata (tokenizer.ggml.*)")
        self.tokenizer: Tokenizer = tokenizer
        self.max_frames = max_frames
        self.n_ctx = n_ctx or min(self.summary.context_length, DEFAULT_MAX_CONTEXT)
        self.n_threads = n_threads
        self.follow_flow = follow_flow
        self._session: LlamaCppSession | None = None
        self._lock = threading.Lock()

    def provenance(self) -> Provenance:
        return Provenance(
            origin=Origin.PREDICTED,
            backend=self.name,
            model=self.summary.name,
            quantization=self.summary.file_type,
        )

    def load(self) -> None:
        """Load the model now (otherwise the first prediction does)."""
        with self._lock:
            self.session()

    def session(self) -> LlamaCppSession:
        if self._session is None:
            self._session = LlamaCppSession(self.path, n_ctx=self.n_ctx, n_threads=self.n_threads)
        return self._session

    def predict(
        self,
        request: PredictionRequest,
        *,
        on_frame: FrameCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PredictionResult:
        with self._lock:
            return self._predict(request, on_frame, cancel)

    def _predict(
        self,
        request: PredictionRequest,
        on_frame: FrameCallback | None,
        cancel: CancelToken | None,
    ) -> PredictionResult:
        started = time.monotonic()
        deadline = Deadline(request.prediction_timeout, started)  # loading the model counts
        if cancel is not None and cancel.cancelled:
            raise PredictionCancelled("cancelled before generation started")
        session = self.session()
        tokenizer = self.tokenizer
        prompt = tokenizer.encode_prompt(request.context)
        if len(prompt) >= session.n_ctx:
            raise BackendError(
                f"the prompt has {len(prompt)} tokens; the llama.cpp context holds {session.n_ctx}"
            )
        budget = TokenBudget.for_prompt(len(prompt), session.n_ctx - len(prompt))
        try:
            ids = TraceIds.from_special(tokenizer.special_id)
        except TokenizerError as err:
            raise BackendError(f"the tokenizer lacks CWM's trace tokens: {err}") from err
        generator = TraceDecoder(
            session,
            ids,
            _Sampler(request.temperature, request.seed),
            greedy=request.temperature <= 0,
            max_frames=min(request.max_frames, self.max_frames),
            max_frame_tokens=budget.frame,
            max_tokens=min(budget.trace, session.n_ctx - len(prompt)),
            step_over_depth=step_over_depth(request.step_over, request.harness),
            cancel=cancel,
            constraint=flow_constraint(request.context, tokenizer) if self.follow_flow else None,
            deadline=deadline,
        )
        trace = GeneratedTrace(
            on_frame,
            started,
            context="the llama.cpp context",
            trace_context=request.context,
            deadline=deadline,
            budget=budget,
        )
        frames = generator.frames(prompt)
        for frame_tokens in frames:
            if trace.feed(tokenizer.decode(frame_tokens.ids)):
                frames.close()  # predicted never to end: the trace says why
                break
        warnings = []
        outcome = generator.outcome
        total = len(prompt) + outcome.tokens_generated
        window = self.summary.window
        if window is not None and total > window:
            warnings.append(
                f"prompt + trace are {total} tokens, more than CWM's {window}-token sliding "
                "window: llama.cpp attends to all of them in every layer, so this prediction may "
                "differ from CWM's (use --backend native or a vLLM server for long traces)"
            )
        return trace.result(
            provenance=self.provenance(),
            stopped_by=outcome.stopped_by,
            finished=outcome.finished,
            tokens_generated=outcome.tokens_generated,
            warnings=warnings,
        )


def llama_cpp_logits(
    path: str | Path, ids: Sequence[int], *, n_threads: int | None = None
) -> np.ndarray:
    """Logits [T, vocab] llama.cpp computes for every position of ``ids`` (fresh context)."""
    llama_cpp = _require_llama_cpp()
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=max(len(ids), 32),
        n_batch=max(len(ids), 32),
        n_ubatch=max(len(ids), 32),
        n_threads=n_threads,
        n_threads_batch=n_threads,
        logits_all=True,
        verbose=False,
    )
    llm.eval(list(ids))
    return np.array(llm.scores[: len(ids)], dtype=np.float32)
