"""The cwm-lsp language server (pygls): ``cwm-lsp serve``."""
