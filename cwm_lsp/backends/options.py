"""The one frozen object that configures a predictor backend.

CLI flags, editor settings and trace-check all become a :class:`BackendOptions`; the registry
builds a predictor from it, the language server keeps one predictor per distinct options value
and trace-check's cache identity is derived from it. An option the chosen backend cannot honour
is reported by :meth:`BackendOptions.unsupported` (an error on the command line, a warning in
the editor), never dropped silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

BACKEND_NAMES = ("auto", "native", "llama-cpp", "openai", "run")
MODEL_BACKENDS = ("native", "llama-cpp", "openai")
QUANTIZATIONS = ("none", "int8", "int4")
SANDBOXES = ("auto", "bubblewrap", "landlock", "audit-hook")
DEFAULT_MAX_FRAMES = 10_000
DEFAULT_PREDICTION_TIMEOUT = 60.0  # seconds: CLI and trace-check (the editor's default is 30)

_QUANTIZED_ELSEWHERE = {
    "llama-cpp": "uses the GGUF file's own quantization",
    "openai": "uses whatever the server loaded",
}
_DECODED_ELSEWHERE = {
    "openai": "decodes on the server's side",
    "run": "decodes nothing (it runs the code)",
}


@dataclass(frozen=True)
class Unsupported:
    """One option the chosen backend cannot honour."""

    option: str  # the BackendOptions field
    message: str


@dataclass(frozen=True)
class BackendOptions:
    """How to predict: which backend, which model, and every knob a backend may take.

    ``None`` means "the backend's own default"; a value set explicitly that the backend cannot
    honour is listed by :meth:`unsupported`.
    """

    backend: str = "auto"
    model: str | None = None  # checkpoint directory, .gguf file or server URL
    quantize: str | None = None  # native: "int8" / "int4" weight-only quantization when loading
    device: str | None = None  # native: torch device ("cpu" when None)
    allow_execution: bool = False  # the run backend executes user code only when this is true
    max_frames: int = DEFAULT_MAX_FRAMES
    prediction_timeout: float | None = None  # model backends: wall-clock budget, s (None: none)
    temperature: float = 0.0  # model backends: 0 is greedy
    seed: int | None = None  # model backends: sampling seed
    step_over: bool = False  # model backends: predict callees' results without their lines
    follow_flow: bool | None = None  # native, llama-cpp: flow-constrained decoding (default on)
    run_timeout: float | None = None  # run: the sandboxed run's wall-clock limit, seconds
    python: str | None = None  # run: the interpreter that runs the code (None: discover)
    editor_python: str | None = None  # run: the editor's selected one (after project venvs)
    sandbox: str = "auto"  # run: which sandbox

    def __post_init__(self) -> None:
        if self.quantize == "none":
            object.__setattr__(self, "quantize", None)

    # ------------------------------------------------------------------ resolution

    def resolved(self) -> BackendOptions:
        """These options with ``auto`` replaced by the concrete backend and the demo model
        filled in where no model is named; raises ``BackendError`` when that is impossible."""
        from cwm_lsp.backends.registry import resolve_backend_name

        backend, model = resolve_backend_name(self.backend, self.model)
        return dataclasses.replace(self, backend=backend, model=model)

    @property
    def is_run(self) -> bool:
        return self.backend == "run"

    def unsupported(self) -> list[Unsupported]:
        """Options set here that the (resolved) backend cannot honour."""
        backend = self.backend
        found: list[Unsupported] = []

        def refuse(option: str, message: str) -> None:
            found.append(Unsupported(option, message))

        if self.quantize is not None and backend not in ("native", "auto"):
            refuse(
                "quantize",
                f"--quantize applies to the native backend (our runtime); the {backend} backend "
                + _QUANTIZED_ELSEWHERE.get(backend, "runs no model"),
            )
        if self.device not in (None, "cpu") and backend not in ("native", "auto"):
            refuse("device", f"--device applies to the native backend, not to {backend}")
        if self.follow_flow is False and backend in ("openai", "run"):
            refuse(
                "follow_flow",
                "--free-decoding applies to the native and llama-cpp backends; the "
                f"{backend} backend " + _DECODED_ELSEWHERE[backend],
            )
        if self.prediction_timeout is not None and self.prediction_timeout <= 0:
            refuse("prediction_timeout", "--prediction-timeout must be a positive number")
        if backend == "run":
            if self.prediction_timeout is not None:
                refuse(
                    "prediction_timeout",
                    "--prediction-timeout limits a model's prediction; a sandboxed run has its "
                    "own limit (--timeout)",
                )
            if self.temperature != 0.0:
                refuse("temperature", "--temperature applies to model backends, not to a run")
            if self.seed is not None:
                refuse("seed", "--seed applies to model backends, not to a run")
            if self.step_over:
                refuse("step_over", "--step-over applies to model backends: a run executes callees")
        else:
            if self.run_timeout is not None:
                refuse(
                    "run_timeout",
                    f"--timeout limits a sandboxed run (--backend run, or trace-check --verify); "
                    f"the {backend} backend runs nothing",
                )
            if self.python is not None:
                refuse(
                    "python",
                    f"--python selects the interpreter of a sandboxed run; the {backend} backend "
                    "runs nothing",
                )
            if self.sandbox != "auto":
                refuse("sandbox", f"--sandbox applies to sandboxed runs, not to {backend}")
        return found

    def predictor_key(self) -> BackendOptions:
        """The options that select a predictor instance (a model load): the per-request ones
        (temperature, seed, step over, the time budget) set back to their defaults."""
        return dataclasses.replace(
            self, temperature=0.0, seed=None, step_over=False, prediction_timeout=None
        )

    def without(self, options: list[str]) -> BackendOptions:
        """These options with the named fields back at their defaults."""
        defaults = BackendOptions()
        return dataclasses.replace(self, **{name: getattr(defaults, name) for name in options})

    def for_run(self, *, allow_execution: bool = True) -> BackendOptions:
        """The options of the sandboxed run that verifies a prediction made with these (or, with
        ``allow_execution`` from the user's settings, that runs instead of predicting)."""
        return BackendOptions(
            backend="run",
            allow_execution=allow_execution,
            max_frames=self.max_frames,
            run_timeout=self.run_timeout,
            python=self.python,
            editor_python=self.editor_python,
            sandbox=self.sandbox,
        )

    def for_prediction(self) -> BackendOptions:
        """These options without the run-only ones (trace-check --verify gives them to the run)."""
        return dataclasses.replace(
            self, run_timeout=None, python=None, editor_python=None, sandbox="auto"
        )

    def for_cache(self) -> BackendOptions:
        """These options without the time budget: a trace that finished within one budget is
        the same trace under any other (one the budget stopped is never stored)."""
        return dataclasses.replace(self, prediction_timeout=None)
