"""The small base class every feature module builds on."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from cwm_lsp.server.app import CwmServer


def _plain(method: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function calling ``method``: pygls marks handlers with attributes, which bound
    methods cannot take. ``*args`` keeps command arguments unconverted."""
    if inspect.iscoroutinefunction(method):

        async def call_async(*args: Any) -> Any:
            return await method(*args)

        call_async.__name__ = method.__name__
        return call_async

    def call(*args: Any) -> Any:
        return method(*args)

    call.__name__ = method.__name__
    return call


class Feature:
    """One editor feature: registers its LSP handlers on the server in :meth:`register`."""

    def __init__(self, server: CwmServer) -> None:
        self.server = server

    def register(self) -> None:
        raise NotImplementedError

    def on(self, method: str, handler: Callable[..., Any], options: Any = None) -> None:
        """Handle the LSP ``method`` (a request or notification) with ``handler``."""
        self.server.feature(method, options)(_plain(handler))

    def command(self, name: str, handler: Callable[..., Any]) -> None:
        """Handle ``workspace/executeCommand`` for ``name`` with ``handler(*arguments)``."""
        self.server.command(name)(_plain(handler))


def prefers_plain_text(server: CwmServer) -> bool:
    """Whether the client asked for plain-text hovers (its first content format), e.g. Neovim
    before 0.10, whose hover window shows Markdown tables as raw pipes."""
    try:
        capabilities = server.client_capabilities
    except AttributeError:
        return False
    document = capabilities.text_document if capabilities else None
    hover = document.hover if document else None
    formats = hover.content_format if hover else None
    return formats is not None and len(formats) > 0 and formats[0] == types.MarkupKind.PlainText
