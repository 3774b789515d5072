"""Settings: from ``initializationOptions``, pulled with ``workspace/configuration`` once the
client is initialized, and again on ``workspace/didChangeConfiguration``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from cwm_lsp.server.features.base import Feature
from cwm_lsp.server.settings import Settings, parse_settings

if TYPE_CHECKING:
    from cwm_lsp.server.app import CwmServer

logger = logging.getLogger(__name__)

SECTION = "cwm"


class Configuration(Feature):
    def __init__(self, server: CwmServer, on_settings: Callable[[], None] | None = None) -> None:
        super().__init__(server)
        self._on_settings = on_settings  # told whenever the settings may have changed

    def register(self) -> None:
        self.on(types.INITIALIZE, self.on_initialize)
        self.on(types.INITIALIZED, self.on_initialized)
        self.on(types.WORKSPACE_DID_CHANGE_CONFIGURATION, self.on_change)
        self._initial_warnings: list[str] = []

    def on_initialize(self, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if options is not None:
            settings, warnings = parse_settings(options)
            self.server.settings = self._resolve_model_path(settings)
            self._initial_warnings = warnings

    async def on_initialized(self, params: types.InitializedParams) -> None:
        for warning in self._initial_warnings:
            self.server.notifier.problem(warning)
        try:
            await self._pull()
        finally:
            self.server.settings_loaded()
            self._settings_known()
        await self._register_for_changes()

    async def _register_for_changes(self) -> None:
        """Ask for ``workspace/didChangeConfiguration`` where the client wants it registered
        (VS Code sends it to pull-model servers only then)."""
        workspace = self.server.client_capabilities.workspace
        change = workspace.did_change_configuration if workspace else None
        if not (change and change.dynamic_registration):
            return
        registration = types.Registration(
            id="cwm-lsp-configuration",
            method=types.WORKSPACE_DID_CHANGE_CONFIGURATION,
            register_options=types.DidChangeConfigurationRegistrationOptions(section=SECTION),
        )
        try:
            await asyncio.wait_for(
                self.server.client_register_capability_async(
                    types.RegistrationParams(registrations=[registration])
                ),
                timeout=10.0,
            )
        except Exception as error:  # settings still arrive with initialize and on request
            logger.info("client/registerCapability failed: %s", error)

    async def on_change(self, params: types.DidChangeConfigurationParams) -> None:
        pushed = params.settings
        if isinstance(pushed, dict) and isinstance(pushed.get(SECTION), dict):
            self.apply(pushed[SECTION])
            return
        await self._pull()

    async def _pull(self) -> None:
        capabilities = self.server.client_capabilities
        workspace = capabilities.workspace
        if not (workspace and workspace.configuration):
            return
        try:
            values = await asyncio.wait_for(
                self.server.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
                ),
                timeout=10.0,
            )
        except Exception as error:  # a client that fails this keeps the settings it gave
            logger.info("workspace/configuration failed: %s", error)
            return
        if values and values[0] is not None:
            self.apply(values[0])

    def apply(self, raw: Any) -> None:
        settings, warnings = parse_settings(raw)
        settings = self._resolve_model_path(settings)
        previous = self.server.settings
        self.server.notifier.forget()
        for warning in warnings:
            self.server.notifier.problem(warning)
        self.server.settings = settings
        self.server.notifier.log(f"settings: {settings}")
        self._settings_changed(previous, settings)
        self._settings_known()

    def _settings_known(self) -> None:
        if self._on_settings is not None:
            self._on_settings()

    def _resolve_model_path(self, settings: Settings) -> Settings:
        """A relative ``modelPath`` is relative to the workspace root."""
        path = settings.model_path
        if not path or "://" in path or Path(path).expanduser().is_absolute():
            return settings
        try:
            root = self.server.workspace.root_path
        except RuntimeError:  # no workspace yet
            return settings
        if not root:
            return settings
        return replace(settings, model_path=str(Path(root) / path))

    def _settings_changed(self, previous: Settings, current: Settings) -> None:
        if previous.allow_execution and not current.allow_execution:
            # Consent withdrawn: stop every sandboxed run at once.
            for job in self.server.jobs.running():
                if job.settings.backend == "run":
                    job.token.cancel()
        if previous.hint_width != current.hint_width:
            self.server.refresher.request()
