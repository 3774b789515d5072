"""Choosing and building a predictor backend by name.

Backends are imported only when asked for, so ``cwm-lsp --help`` and the language server start
fast and a backend whose dependencies are missing fails with a message instead of a crash.

Names: ``run`` (observe: execute in a sandbox; needs ``allow_execution``), ``native`` (our
PyTorch/C++ runtime on a checkpoint directory), ``llama-cpp`` (a ``.gguf`` file), ``openai``
(an OpenAI-compatible completions server URL), and ``auto``, which picks from the model path:
an ``http(s)://`` URL -> ``openai``, a ``.gguf`` file -> ``llama-cpp``, any other path ->
``native``; with no model configured, the demo model shipped under ``model/weights/`` (labelled
as not CWM) via ``native``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwm_lsp.backends.base import BackendError, Predictor

BACKEND_NAMES = ("auto", "native", "llama-cpp", "openai", "run")
DEFAULT_MAX_FRAMES = 10_000

# name -> (module, predictor class). The class is built with the options its __init__ accepts.
_BACKENDS: dict[str, tuple[str, str]] = {
    "run": ("cwm_lsp.backends.run", "RunPredictor"),
    "native": ("cwm_lsp.backends.native", "NativePredictor"),
    "llama-cpp": ("cwm_lsp.backends.llama_cpp", "LlamaCppPredictor"),
    "openai": ("cwm_lsp.backends.openai", "OpenAIPredictor"),
}

# third-party modules a backend may need, and the package that provides each
_PIP_NAMES = {"llama_cpp": "llama-cpp-python", "httpx": "httpx", "requests": "requests"}

_RUN_NEEDS_CONSENT = (
    "the run backend executes your code; it is used only when you opt in "
    "(CLI: --backend run; editor: setting cwm.allowExecution = true)"
)
_NO_MODEL = (
    "no model is configured and the demo model is not installed (model/weights/ is missing): "
    "pass --model PATH_OR_URL (a CWM checkpoint directory, a .gguf file or a server URL), "
    "or use --backend run to observe a sandboxed run instead"
)


@dataclass(frozen=True)
class BackendOptions:
    """Everything a backend may be configured with; each backend takes what applies to it."""

    model: str | None = None
    quantize: str | None = None
    device: str = "cpu"
    allow_execution: bool = False
    max_frames: int = DEFAULT_MAX_FRAMES
    timeout: float | None = None
    follow_flow: bool = True  # native, llama-cpp: keep predicted lines on the control flow


def repository_root() -> Path:
    return Path(__file__).resolve().parents[2]


def demo_model_path() -> Path | None:
    """The shipped demo model's directory, or ``None`` when it is not installed."""
    path = repository_root() / "model" / "weights"
    if path.is_dir() and any(path.iterdir()):
        return path
    return None


def resolve_backend_name(name: str, model: str | None) -> tuple[str, str | None]:
    """The concrete backend and model path that ``name`` (maybe ``auto``) stands for."""
    if name not in BACKEND_NAMES:
        raise BackendError(f"unknown backend {name!r}: use one of {', '.join(BACKEND_NAMES)}")
    if name != "auto":
        return name, model
    if model:
        if model.startswith(("http://", "https://")):
            return "openai", model
        if model.lower().endswith(".gguf"):
            return "llama-cpp", model
        return "native", model
    demo = demo_model_path()
    if demo is None:
        raise BackendError(_NO_MODEL)
    return "native", str(demo)


def get_predictor(
    name: str,
    *,
    model: str | None = None,
    quantize: str | None = None,
    device: str = "cpu",
    allow_execution: bool = False,
    max_frames: int = DEFAULT_MAX_FRAMES,
    timeout: float | None = None,
    follow_flow: bool = True,
) -> Predictor:
    """Build the predictor ``name`` names; raises :class:`BackendError` with a clear message."""
    backend, model_path = resolve_backend_name(name, model)
    if backend == "run" and not allow_execution:
        raise BackendError(_RUN_NEEDS_CONSENT)
    if backend in ("native", "llama-cpp", "openai") and not model_path:
        if backend == "native" and (demo := demo_model_path()) is not None:
            model_path = str(demo)
        else:
            raise BackendError(f"the {backend} backend needs --model PATH_OR_URL")
    if backend in ("native", "llama-cpp") and model_path and not Path(model_path).exists():
        raise BackendError(f"model not found: {model_path}")
    options = BackendOptions(
        model=model_path,
        quantize=None if quantize == "none" else quantize,
        device=device,
        allow_execution=allow_execution,
        max_frames=max_frames,
        timeout=timeout,
        follow_flow=follow_flow,
    )
    predictor_class = _load(backend)
    try:
        if backend == "run":
            return _construct_run(predictor_class, options)
        return _construct(predictor_class, options)
    except BackendError:
        raise
    except (OSError, ValueError, RuntimeError, ImportError, TypeError) as exc:
        raise BackendError(f"the {backend} backend could not start: {exc}") from exc


def _load(backend: str) -> type[Any]:
    module_name, class_name = _BACKENDS[backend]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or "a module"
        hint = ""
        if missing.split(".")[0] in _PIP_NAMES:
            hint = f" (pip install {_PIP_NAMES[missing.split('.')[0]]})"
        raise BackendError(
            f"backend {backend} is not available in this build: module {missing} is missing{hint}"
        ) from exc
    predictor_class = getattr(module, class_name, None)
    if predictor_class is None:
        raise BackendError(
            f"backend {backend} is not available in this build: {module_name} has no {class_name}"
        )
    return predictor_class


def _construct_run(predictor_class: type[Any], options: BackendOptions) -> Predictor:
    from cwm_lsp.tracer.limits import SandboxLimits

    limits = SandboxLimits(max_frames=options.max_frames)
    if options.timeout is not None:
        if options.timeout <= 0:
            raise BackendError("--timeout must be a positive number of seconds")
        limits = dataclasses.replace(limits, wall_seconds=options.timeout)
    return predictor_class(limits)


def _construct(predictor_class: type[Any], options: BackendOptions) -> Predictor:
    """Call the class with ``options=`` if it takes that, else with the options it names."""
    parameters = inspect.signature(predictor_class).parameters
    if "options" in parameters:
        return predictor_class(options=options)
    offered = {
        "model": options.model,
        "model_path": options.model,
        "quantize": options.quantize,
        "device": options.device,
        "allow_execution": options.allow_execution,
        "max_frames": options.max_frames,
        "timeout": options.timeout,
        "follow_flow": options.follow_flow,
    }
    kwargs = {k: v for k, v in offered.items() if k in parameters and v is not None}
    return predictor_class(**kwargs)
