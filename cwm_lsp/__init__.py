"""cwm-lsp: see what a Python function will do before running it.

Predictions come from Code World Model (CWM) execution-trace generation; observed traces come
from an opt-in sandboxed run. Both are expressed as CWM trace frames (:mod:`cwm_lsp.trace`).
"""

__version__ = "0.1.0"
