"""The ``native`` backend: predict traces with our own runtime (:mod:`cwm_lsp.runtime`).

The checkpoint's config is read when the predictor is built (so a bad path fails at once); the
weights load on first use and stay loaded for the predictor's lifetime (the language server
keeps one). One prediction runs at a time per predictor; its KV cache is kept between
predictions so an unchanged prompt prefix is not recomputed.

A float checkpoint (the demo model) runs torch-free when it can
(:mod:`cwm_lsp.runtime.native_model`): the same native decoder and arithmetic without the ~3 s
of importing PyTorch, which is most of a cold start. Other checkpoints, or ``torch_free=False``,
load the PyTorch model.

By default each predicted frame's source line is kept on the function's control flow
(:mod:`cwm_lsp.backends.line_constraint`): a line frame names a line that can run next, a return
names the line the scope is on. The values stay the model's own. ``follow_flow=False`` (CLI
``--free-decoding``, setting ``followControlFlow``) lets the model write any line.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
from cwm_lsp.cpu_share import prediction_threads
from cwm_lsp.runtime import DEMO_MODEL_LABEL, ConfigError, CwmConfig
from cwm_lsp.runtime.checkpoint_files import WeightsError, read_quantization
from cwm_lsp.runtime.generate import Sampler, Sampling, Session
from cwm_lsp.runtime.native_model import LoadedNativeModel, load_native_model
from cwm_lsp.runtime.tokenizer import Tokenizer, TokenizerError

if TYPE_CHECKING:
    from cwm_lsp.runtime import LoadedModel

# A model this small (the demo model: hidden size 256) decodes fastest on one thread: its
# matrices are too small to share, and on a busy machine a second thread that is descheduled
# stalls every parallel region (measured here, load 10 on 2 cores: 770 tokens in 3.7-15 s on one
# thread, 22-97 s on two).
SINGLE_THREAD_HIDDEN_SIZE = 512

# Greedy predictions draft up to this many tokens from earlier frames (prompt lookup) and verify
# them in one forward pass: the same trace with fewer passes over the weights.
DEFAULT_LOOKAHEAD = 16


def _describe_checkpoint(path: Path) -> tuple[CwmConfig, str | None]:
    """The model's config and the quantization its files already carry (None: float weights).

    A ``.gguf`` file carries both in its metadata; a checkpoint directory in ``config.json``
    and ``cwm_lsp_quantization.json``.
    """
    if path.suffix == ".gguf":
        from cwm_lsp.runtime.gguf_loader import gguf_config

        return gguf_config(path), "gguf"
    stored = read_quantization(path)
    return CwmConfig.from_file(path), stored.label if stored.method else None


class NativePredictor:
    name = "native"

    def __init__(
        self,
        model: str | Path,
        *,
        quantize: str | None = None,
        device: str = "cpu",
        max_frames: int = DEFAULT_MAX_FRAMES,
        lookahead: int = DEFAULT_LOOKAHEAD,
        follow_flow: bool = True,
        budgets: bool = True,
        torch_free: bool = True,
    ) -> None:
        self.path = Path(model).expanduser()
        self.quantize = None if quantize in (None, "none") else quantize
        self.device = device
        self.max_frames = max_frames
        self.lookahead = lookahead
        self.follow_flow = follow_flow
        # False: no time budget, no repetition check, tokens up to the context (benchmarks
        # compare with this: how predictions ran before budgets)
        self.budgets = budgets
        self.torch_free = torch_free
        self.torch_free_reason: str | None = None  # why the PyTorch model was loaded instead
        try:
            self.config, stored_label = _describe_checkpoint(self.path)
        except (ConfigError, WeightsError, ValueError) as err:
            raise BackendError(f"cannot use model {self.path}: {err}") from err
        self._quantization_label = stored_label or self.quantize or "none"
        self._lock = threading.Lock()
        self._model: LoadedModel | LoadedNativeModel | None = None
        self._session: Session | None = None

    @property
    def model_name(self) -> str:
        if self.config.is_demo_model:
            return DEMO_MODEL_LABEL
        return self.config.name or self.path.name

    def provenance(self) -> Provenance:
        return Provenance(
            origin=Origin.PREDICTED,
            backend=self.name,
            model=self.model_name,
            quantization=self._quantization_label,
            is_demo_model=self.config.is_demo_model,
        )

    @property
    def reused_prompt_tokens(self) -> int:
        """Prompt tokens the last prediction took from the KV cache instead of recomputing."""
        return self._session.reused_tokens if self._session is not None else 0

    def load(self) -> LoadedModel | LoadedNativeModel:
        """Load the weights now (otherwise the first prediction does)."""
        with self._lock:
            return self._loaded()

    def _loaded(self) -> LoadedModel | LoadedNativeModel:
        if self._model is None:
            model = self._load_torch_free() or self._load_torch()
            if model.tokenizer is None:
                raise BackendError(
                    f"{self.path} has no tokenizer (tokenizer.model or tokenizer.json): "
                    "copy the tokenizer files of the original checkpoint next to config.json"
                )
            session = model.new_session()
            self._model, self._session = model, session
            with self._threads():
                self._warm_up(model.tokenizer, session)
        return self._model

    @property
    def _upcast(self) -> bool:
        # The demo model ships bf16 weights (half the download); at its size float32
        # arithmetic is both faster on CPUs and closer to the reference.
        return self.config.is_demo_model and self.quantize is None

    def _load_torch_free(self) -> LoadedNativeModel | None:
        if not self.torch_free:
            self.torch_free_reason = "turned off"
            return None
        if self.quantize is not None or self.device != "cpu":
            self.torch_free_reason = f"quantize={self.quantize}, device={self.device}"
            return None
        loaded = load_native_model(
            self.path, self.config, widen_embeddings=self._upcast, threads=self._decoder_threads
        )
        if isinstance(loaded, str):
            self.torch_free_reason = loaded
            return None
        self.torch_free_reason = None
        return loaded

    def _load_torch(self) -> LoadedModel:
        import torch

        from cwm_lsp.runtime import ModelLoadError, load_model

        try:
            return load_model(
                self.path,
                quantize=self.quantize,
                device=self.device,
                dtype=torch.float32 if self._upcast else None,
            )
        except ModelLoadError as err:
            raise BackendError(f"cannot load model: {err}") from err

    def _decoder_threads(self) -> int:
        """Threads per forward pass of the torch-free model (see SINGLE_THREAD_HIDDEN_SIZE):
        every usable core less one per sandboxed run executing beside it (cpu_share)."""
        if self.config.hidden_size <= SINGLE_THREAD_HIDDEN_SIZE:
            return 1
        return prediction_threads()

    @staticmethod
    def _warm_up(tokenizer: Tokenizer, session: Session) -> None:
        """One forward pass, so that what the runtime builds on first use (the native decoder,
        its buffers) is built with the load, not in the user's first prediction."""
        try:
            ids = TraceIds.from_special(tokenizer.special_id)
        except TokenizerError:
            return  # the prediction reports it
        session.prefill([ids.frame_sep, ids.frame_sep])
        session.reset()

    def predict(
        self,
        request: PredictionRequest,
        *,
        on_frame: FrameCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PredictionResult:
        with self._lock:
            return self._predict(request, on_frame, cancel)

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """One torch thread for a small PyTorch model (see SINGLE_THREAD_HIDDEN_SIZE); the
        torch-free model asks :meth:`_decoder_threads` instead."""
        if self.config.hidden_size > SINGLE_THREAD_HIDDEN_SIZE or isinstance(
            self._model, LoadedNativeModel
        ):
            yield
            return
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _predict(
        self,
        request: PredictionRequest,
        on_frame: FrameCallback | None,
        cancel: CancelToken | None,
    ) -> PredictionResult:
        started = time.monotonic()
        # loading the model counts: the user waits for it too
        deadline = Deadline(request.prediction_timeout if self.budgets else None, started)
        model = self._loaded()
        with self._threads():
            return self._generate(request, model, started, deadline, on_frame, cancel)

    def _generate(
        self,
        request: PredictionRequest,
        model: LoadedModel | LoadedNativeModel,
        started: float,
        deadline: Deadline,
        on_frame: FrameCallback | None,
        cancel: CancelToken | None,
    ) -> PredictionResult:
        tokenizer, session = model.tokenizer, self._session
        assert tokenizer is not None and session is not None
        if cancel is not None and cancel.cancelled:
            raise PredictionCancelled("cancelled before generation started")
        prompt = tokenizer.encode_prompt(request.context)
        if len(prompt) >= self.config.max_position_embeddings:
            raise BackendError(
                f"the prompt has {len(prompt)} tokens; the model handles at most "
                f"{self.config.max_position_embeddings}"
            )
        try:
            ids = TraceIds.from_special(tokenizer.special_id)
        except TokenizerError as err:
            raise BackendError(f"the tokenizer lacks CWM's trace tokens: {err}") from err
        room = self.config.max_position_embeddings - len(prompt) - 1
        budget = (
            TokenBudget.for_prompt(len(prompt), room) if self.budgets else TokenBudget.room(room)
        )
        generator = TraceDecoder(
            session,
            ids,
            Sampler(Sampling(temperature=request.temperature, seed=request.seed)),
            greedy=request.temperature <= 0,
            max_frames=min(request.max_frames, self.max_frames),
            max_frame_tokens=budget.frame,
            max_tokens=budget.trace,
            step_over_depth=step_over_depth(request.step_over, request.harness),
            cancel=cancel,
            deadline=deadline,
            lookahead=self.lookahead,
            constraint=flow_constraint(request.context, tokenizer) if self.follow_flow else None,
        )
        trace = GeneratedTrace(
            on_frame,
            started,
            context="the model's context",
            trace_context=request.context,
            deadline=deadline,
            budget=budget,
            watch_repetition=self.budgets,
        )
        frames = generator.frames(prompt)
        for frame_tokens in frames:
            if trace.feed(tokenizer.decode(frame_tokens.ids)):
                frames.close()  # predicted never to end: the trace says why
                break
        outcome = generator.outcome
        return trace.result(
            provenance=self.provenance(),
            stopped_by=outcome.stopped_by,
            finished=outcome.finished,
            tokens_generated=outcome.tokens_generated,
        )
