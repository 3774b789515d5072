"""One module per editor feature; :func:`register_all` wires them into a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cwm_lsp.server.app import CwmServer


def register_all(server: CwmServer) -> None:
    from cwm_lsp.server.features.code_actions import CodeActions
    from cwm_lsp.server.features.commands import Commands
    from cwm_lsp.server.features.configuration import Configuration
    from cwm_lsp.server.features.diagnostics import Diagnostics
    from cwm_lsp.server.features.documents import Documents
    from cwm_lsp.server.features.hover import Hover
    from cwm_lsp.server.features.inlay_hints import InlayHints
    from cwm_lsp.server.features.status import Status

    status = Status(server)
    features = (
        Configuration(server, on_settings=status.settings_changed),
        Documents(server),
        Commands(server),
        CodeActions(server),
        InlayHints(server),
        Hover(server),
        Diagnostics(server),
        status,  # after Diagnostics: it follows the moments diagnostics are published
    )
    for feature in features:
        feature.register()
