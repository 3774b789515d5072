"""``cwm-lsp model serve``: our runtime behind an OpenAI/vLLM-compatible completions API."""

from __future__ import annotations

from cwm_lsp.completions_api.engine import CompletionEngine, RequestError
from cwm_lsp.completions_api.http import CompletionHTTPServer

__all__ = ["CompletionEngine", "CompletionHTTPServer", "RequestError"]
