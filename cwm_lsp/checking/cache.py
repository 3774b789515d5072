"""Predictions cached on disk by a hash of everything that determines them.

The key covers the whole trace context (the module source, so the function and everything it
calls, plus the harness with the call and doctest setup), the source of sibling modules the file
imports, the backend and model identity (path, file sizes and times, provenance), the settings
(frame limit, timeout, quantization, device) and the cwm-lsp version. A re-run therefore
predicts only the examples whose inputs changed. Entries are JSON files written atomically, so
parallel jobs and interrupted runs never leave a half-written entry.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from cwm_lsp import __version__
from cwm_lsp.backends.base import PredictionResult
from cwm_lsp.backends.options import BackendOptions
from cwm_lsp.provenance import Provenance
from cwm_lsp.trace.frames import Frame

CACHE_FORMAT = 1
DEFAULT_DIRECTORY = ".cwm-lsp-cache"
ENVIRONMENT_VARIABLE = "CWM_LSP_CACHE_DIR"


def default_cache_directory() -> Path:
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(configured).expanduser() if configured else Path.cwd() / DEFAULT_DIRECTORY


def backend_identity(options: BackendOptions, provenance: Provenance) -> dict[str, Any]:
    """What identifies a trace made with ``options`` (resolved): every option, the model files'
    fingerprint (a retrained model is not served stale results), the provenance, and for runs
    the Python version (line events differ across versions)."""
    options = options.for_cache()
    data: dict[str, Any] = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    model = options.model
    if model and "://" not in model:
        data["model"] = str(Path(model).expanduser().resolve())
    data["model_files"] = model_fingerprint(model)
    data["provenance"] = provenance.to_json()
    if options.is_run:
        data["python_version"] = platform.python_version()
    return data


def model_fingerprint(model: str | None) -> list[Any]:
    """Identity of a model path or URL: the files' names, sizes and modification times."""
    if not model:
        return []
    path = Path(model).expanduser()
    if path.is_dir():
        entries = sorted(child for child in path.iterdir() if child.is_file())
        return [[child.name, *_stat(child)] for child in entries]
    if path.is_file():
        return [[path.name, *_stat(path)]]
    return [model]  # a server URL


def _stat(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


@functools.lru_cache(maxsize=64)  # one file's examples ask for the same answer
def imported_siblings(source: str, directory: Path) -> list[list[str]]:
    """``[name, sha256]`` of sibling modules the source imports (they can change the run)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level <= 1:
            if node.module:
                names.add(node.module.split(".")[0])
            elif node.level == 1:
                names.update(alias.name for alias in node.names)
    found: list[list[str]] = []
    for name in sorted(names):
        for candidate in (directory / f"{name}.py", directory / name / "__init__.py"):
            if candidate.is_file():
                digest = hashlib.sha256(candidate.read_bytes()).hexdigest()
                found.append([candidate.relative_to(directory).as_posix(), digest])
    return found


def cache_key(material: dict[str, Any]) -> str:
    payload = {"format": CACHE_FORMAT, "version": __version__, **material}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PredictionCache:
    """On-disk cache of prediction results; ``directory=None`` disables it."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> PredictionResult | None:
        if self.directory is None:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return result_from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable entries are simply predicted again

    def put(self, key: str, result: PredictionResult) -> None:
        if self.directory is None:
            return
        path = self._path(key)
        try:
            self._prepare()
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(result_to_json(result), stream, ensure_ascii=False)
            os.replace(temporary, path)
        except OSError:
            pass  # a read-only or full disk only costs the cache

    def _prepare(self) -> None:
        assert self.directory is not None
        if self.directory.is_dir():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # Keep the cache out of version control and backups without asking the user to.
        (self.directory / ".gitignore").write_text("# created by cwm-lsp\n*\n", encoding="utf-8")
        (self.directory / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n"
            "# This file is a cache directory tag created by cwm-lsp trace-check.\n",
            encoding="utf-8",
        )


def result_to_json(result: PredictionResult) -> dict[str, Any]:
    provenance = result.provenance
    return {
        "frames": [frame.to_json() for frame in result.frames],
        "trace_text": result.trace_text,
        "provenance": provenance.to_json(),
        "interpreter": result.interpreter,
        "finished": result.finished,
        "problems": list(result.problems),
        "stdout": result.stdout,
        "stderr": result.stderr,
        "limit": result.limit,
        "stop": result.stop,
        "tokens_generated": result.tokens_generated,
        "seconds": result.seconds,
    }


def result_from_json(data: dict[str, Any]) -> PredictionResult:
    provenance = Provenance.from_json(data["provenance"])
    return PredictionResult(
        frames=[Frame.from_json(frame) for frame in data["frames"]],
        trace_text=data["trace_text"],
        provenance=provenance,
        finished=bool(data["finished"]),
        problems=list(data.get("problems") or []),
        stdout=data.get("stdout") or "",
        stderr=data.get("stderr") or "",
        limit=data.get("limit"),
        stop=data.get("stop"),
        tokens_generated=int(data.get("tokens_generated") or 0),
        interpreter=data.get("interpreter"),
        seconds=float(data.get("seconds") or 0.0),
    )
