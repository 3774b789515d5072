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
from pathlib import Path
from typing import Any

from cwm_lsp.backends.base import BackendError, Predictor
from cwm_lsp.backends.options import BACKEND_NAMES, BackendOptions

__all__ = ["BACKEND_NAMES", "BackendOptions", "build_predictor", "resolve_backend_name"]

# name -> (module, predictor class)
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


def build_predictor(options: BackendOptions) -> Predictor:
    """The predictor ``options`` describe; raises :class:`BackendError` with a clear message,
    also for an option the backend cannot honour (see :meth:`BackendOptions.unsupported`)."""
    options = options.resolved()
    backend, model_path = options.backend, options.model
    if backend == "run" and not options.allow_execution:
        raise BackendError(_RUN_NEEDS_CONSENT)
    unsupported = options.unsupported()
    if unsupported:
        raise BackendError("; ".join(item.message for item in unsupported))
    if options.max_frames < 1:
        raise BackendError("--max-frames must be at least 1")
    if backend in ("native", "llama-cpp", "openai") and not model_path:
        if backend == "native" and (demo := demo_model_path()) is not None:
            model_path = str(demo)
        else:
            raise BackendError(f"the {backend} backend needs --model PATH_OR_URL")
    if backend in ("native", "llama-cpp") and model_path and not Path(model_path).exists():
        raise BackendError(f"model not found: {model_path}")
    predictor_class = _load(backend)
    try:
        return _construct(predictor_class, backend, model_path, options)
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


def _construct(
    predictor_class: type[Any], backend: str, model: str | None, options: BackendOptions
) -> Predictor:
    """Each backend takes exactly the options that apply to it (the rest were refused)."""
    follow_flow = options.follow_flow is not False
    if backend == "run":
        from cwm_lsp.execution.limits import SandboxLimits

        limits = SandboxLimits(max_frames=options.max_frames)
        if options.run_timeout is not None:
            if options.run_timeout <= 0:
                raise BackendError("--timeout must be a positive number of seconds")
            limits = dataclasses.replace(limits, wall_seconds=options.run_timeout)
        predictor: Predictor = predictor_class(
            limits,
            sandbox=options.sandbox,
            python=options.python,
            editor_python=options.editor_python,
        )
    elif backend == "native":
        predictor = predictor_class(
            model,
            quantize=options.quantize,
            device=options.device or "cpu",
            max_frames=options.max_frames,
            follow_flow=follow_flow,
        )
    elif backend == "llama-cpp":
        predictor = predictor_class(model, max_frames=options.max_frames, follow_flow=follow_flow)
    else:
        predictor = predictor_class(model, max_frames=options.max_frames)
    return predictor
