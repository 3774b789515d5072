"""The ``cwm`` settings section, parsed into a typed object.

Clients send settings as loose JSON (``workspace/configuration``, ``initializationOptions`` or
``workspace/didChangeConfiguration``). :func:`parse_settings` never raises: a value of the wrong
type or out of range is replaced by its default and described in a warning for the user.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from cwm_lsp.backends.options import (
    BACKEND_NAMES,
    DEFAULT_MAX_FRAMES,
    QUANTIZATIONS,
    SANDBOXES,
    BackendOptions,
)

PREDICT_ON = ("demand", "save")
EDITOR_PREDICTION_TIMEOUT = 30.0  # seconds: an editor waits less than a CI job (CLI: 60)


@dataclass(frozen=True)
class Settings:
    backend: str = "auto"
    model_path: str | None = None
    quantize: str = "none"
    device: str = "cpu"
    allow_execution: bool = False  # nothing the user wrote is executed unless this is true
    max_frames: int = DEFAULT_MAX_FRAMES
    temperature: float = 0.0
    predict_on: str = "demand"
    step_into: bool = True
    hint_width: int = 60
    timeout: float = 10.0  # wall-clock limit of one sandboxed run, seconds
    follow_control_flow: bool = True  # native backend: keep predicted lines on the flow
    python_path: str | None = None  # sandboxed runs: the interpreter (None: discover)
    sandbox: str = "auto"  # sandboxed runs: which sandbox
    prediction_timeout: float = EDITOR_PREDICTION_TIMEOUT  # model backends, seconds; 0: none
    editor_python_path: str | None = None  # sent by the client: its selected interpreter

    def options(self, backend: str | None = None) -> BackendOptions:
        """The backend options these settings describe (for ``backend`` instead of the
        configured one: verifying runs the ``run`` backend).

        Settings apply to several backends at once, so those the chosen backend has no use for
        (the sandbox's timeout for a model, the sampling temperature for a run) are not passed
        on; a setting changed from its default that the backend cannot honour is reported by
        ``BackendOptions.unsupported``.
        """
        chosen = backend or self.backend
        every = BackendOptions(
            backend=chosen,
            model=self.model_path,
            quantize=self.quantize,
            device=None if self.device == "cpu" else self.device,
            allow_execution=self.allow_execution,
            max_frames=self.max_frames,
            prediction_timeout=self.prediction_timeout or None,
            temperature=self.temperature,
            step_over=not self.step_into,
            follow_flow=None if self.follow_control_flow else False,
            run_timeout=self.timeout,
            python=self.python_path,
            editor_python=self.editor_python_path,
            sandbox=self.sandbox,
        )
        if chosen == "run":
            return every.for_run(allow_execution=self.allow_execution)
        return every.for_prediction()


# JSON name -> (field name, converter that raises ValueError with the expectation)
Converter = Callable[[Any], Any]


def _choice(options: tuple[str, ...]) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, str) and value in options:
            return value
        raise ValueError("one of " + ", ".join(repr(option) for option in options))

    return convert


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("true or false")


def _int_range(low: int, high: int) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"a whole number from {low} to {high}")
        if value != int(value) or not low <= value <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return int(value)

    return convert


def _float_range(low: float, high: float) -> Converter:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"a number from {low:g} to {high:g}")
        number = float(value)
        if math.isnan(number) or not low <= number <= high:
            raise ValueError(f"a number from {low:g} to {high:g}")
        return number

    return convert


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise ValueError("a path or URL (text)")


def _text(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError("non-empty text")


def _quantize(value: Any) -> str:
    if value is None:
        return "none"
    return str(_choice(QUANTIZATIONS)(value))


_FIELDS: dict[str, tuple[str, Converter]] = {
    "backend": ("backend", _choice(BACKEND_NAMES)),
    "modelPath": ("model_path", _optional_text),
    "quantize": ("quantize", _quantize),
    "device": ("device", _text),
    "allowExecution": ("allow_execution", _bool),
    "maxFrames": ("max_frames", _int_range(1, 1_000_000)),
    "predictionTimeout": ("prediction_timeout", _float_range(0.0, 3600.0)),
    "temperature": ("temperature", _float_range(0.0, 2.0)),
    "predictOn": ("predict_on", _choice(PREDICT_ON)),
    "stepInto": ("step_into", _bool),
    "hintWidth": ("hint_width", _int_range(8, 1000)),
    "timeout": ("timeout", _float_range(0.1, 3600.0)),
    "followControlFlow": ("follow_control_flow", _bool),
    "pythonPath": ("python_path", _optional_text),
    "editorPythonPath": ("editor_python_path", _optional_text),
    "sandbox": ("sandbox", _choice(SANDBOXES)),
}

SETTING_NAMES = tuple(_FIELDS)


def parse_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Typed settings from the ``cwm`` section (or a whole settings object holding ``cwm``).

    Returns the settings and one warning per ignored value.
    """
    if raw is None:
        return Settings(), []
    if not isinstance(raw, Mapping):
        return Settings(), [f"cwm settings must be an object, got {_shown(raw)}; using defaults"]
    nested = raw.get("cwm")
    section: Mapping[str, Any] = nested if isinstance(nested, Mapping) else raw
    values: dict[str, Any] = {}
    warnings: list[str] = []
    defaults = Settings()
    for json_name, value in section.items():
        if json_name not in _FIELDS:
            continue  # other sections' keys or settings of a newer client: not ours to judge
        field_name, convert = _FIELDS[json_name]
        try:
            values[field_name] = convert(value)
        except ValueError as expected:
            default = getattr(defaults, field_name)
            warnings.append(
                f"cwm.{json_name} must be {expected}, got {_shown(value)}; using {default!r}"
            )
    return Settings(**values), warnings


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """The JSON form of ``settings`` (the inverse of :func:`parse_settings`)."""
    names = {field_name: json_name for json_name, (field_name, _) in _FIELDS.items()}
    return {names[f.name]: getattr(settings, f.name) for f in fields(settings)}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
