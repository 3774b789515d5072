"""Provenance where the eye is: which model (or sandboxed run) produces the values.

The server tells the client in a ``cwm/status`` notification (the VS Code status bar item and
Neovim's ``status()`` show it): once the settings are known (what the next prediction will use)
and again whenever a finished prediction names a different source. The first model prediction of
a session also says it once in a notification, with a hint when it is the demo model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwm_lsp.provenance import Origin, Provenance
from cwm_lsp.server.features.base import Feature
from cwm_lsp.server.runs import RunStatus
from cwm_lsp.server.settings import Settings

STATUS_NOTIFICATION = "cwm/status"
DEMO_MODEL = "cwm-lsp demo model (not CWM)"
DEMO_SHORT = "demo model, not CWM"
DEMO_HINT = "For real predictions set cwm.modelPath to a CWM checkpoint, GGUF file or server URL."
DEMO_WARNING = (
    f"these values come from the {DEMO_MODEL}, a tiny model that gets most values wrong. "
    + DEMO_HINT
)
SANDBOX = "sandboxed runs (observed values, no model)"
SANDBOX_SHORT = "sandboxed run"
WEAK_SANDBOX_SHORT = "observed, weak sandbox"


@dataclass(frozen=True)
class ModelStatus:
    """What produces the values, in words: ``model`` for sentences, ``short`` for a status bar."""

    model: str
    short: str
    is_demo_model: bool
    observed: bool
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "short": self.short,
            "isDemoModel": self.is_demo_model,
            "observed": self.observed,
            "hint": self.hint,
        }


def status_of_provenance(provenance: Provenance) -> ModelStatus:
    """The status a finished prediction names."""
    if provenance.origin is Origin.OBSERVED:
        if provenance.weak_sandbox:
            return ModelStatus(
                provenance.describe(), WEAK_SANDBOX_SHORT, is_demo_model=False, observed=True
            )
        return ModelStatus(SANDBOX, SANDBOX_SHORT, is_demo_model=False, observed=True)
    if provenance.is_demo_model:
        return ModelStatus(
            DEMO_MODEL, DEMO_SHORT, is_demo_model=True, observed=False, hint=DEMO_HINT
        )
    described = provenance.describe().removeprefix("predicted by ")
    return ModelStatus(described, described, is_demo_model=False, observed=False)


def status_of_settings(settings: Settings) -> ModelStatus:
    """What the configured settings will use, before any prediction has named it."""
    if settings.backend == "run":
        return ModelStatus(SANDBOX, SANDBOX_SHORT, is_demo_model=False, observed=True)
    model = settings.model_path
    if not model and settings.backend in ("auto", "native"):
        return ModelStatus(
            DEMO_MODEL, DEMO_SHORT, is_demo_model=True, observed=False, hint=DEMO_HINT
        )
    if not model:
        return ModelStatus(settings.backend, settings.backend, is_demo_model=False, observed=False)
    name = model if "://" in model else Path(model).name or model
    return ModelStatus(f"model {name}", name, is_demo_model=False, observed=False)


class Status(Feature):
    def register(self) -> None:
        self._sent: ModelStatus | None = None
        self._warned = False
        # The server calls publish_diagnostics after every final change of a document's results;
        # the status follows the same moments.
        publish = self.server.publish_diagnostics

        def publish_and_report(uri: str) -> None:
            if publish is not None:
                publish(uri)
            self.results_changed(uri)

        self.server.publish_diagnostics = publish_and_report

    def settings_changed(self) -> None:
        self._send(status_of_settings(self.server.settings))

    def results_changed(self, uri: str) -> None:
        finished = [
            run
            for run in self.server.runs.in_document(uri)
            if run.status is RunStatus.DONE and run.provenance is not None and not run.stale
        ]
        if not finished:
            return
        newest = max(finished, key=lambda run: run.id)
        assert newest.provenance is not None
        status = status_of_provenance(newest.provenance)
        self._send(status)
        if not status.observed and not self._warned:
            self._warned = True
            if status.is_demo_model:
                self.server.notifier.problem(DEMO_WARNING)
            else:
                self.server.notifier.info(f"values predicted by {status.model}")

    def _send(self, status: ModelStatus) -> None:
        if status == self._sent:
            return
        self._sent = status
        self.server.protocol.notify(STATUS_NOTIFICATION, status.to_json())
