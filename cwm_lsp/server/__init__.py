"""The cwm-lsp language server (pygls): ``cwm-lsp serve``."""

# cwm_lsp.trace must finish importing before cwm_lsp.backends.base (the trace package's
# renderer imports the backend interface): importing it first keeps that order whatever
# module of the server is imported first.
import cwm_lsp.trace  # noqa: F401
