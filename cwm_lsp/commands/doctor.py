"""``cwm-lsp doctor``: report the environment, the kernel paths in use, the sandbox and the model.

Every check is small and independent: a missing or broken part is reported on its line and the
other checks still run. Exit code 0, or 1 when PyTorch (needed by every model backend) is missing.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

Check = Callable[[], list[tuple[str, str]]]
DEMO_MODEL_NOTE = "the cwm-lsp demo model (not CWM)"


def _python() -> list[tuple[str, str]]:
    return [
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", platform.platform()),
    ]


def _torch() -> list[tuple[str, str]]:
    try:
        import torch
    except ImportError as exc:
        return [("torch", f"MISSING ({exc}) - model backends will not work")]
    return [("torch", f"{torch.__version__}, {torch.get_num_threads()} threads")]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu() -> list[tuple[str, str]]:
    flags = _cpu_flags()
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16")
    present = [f for f in wanted if f in flags] if flags else ["(flags unknown)"]
    return [
        ("cpu", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
        ("cpu features", ", ".join(present) or "none of avx2/avx512"),
    ]


def _kernels() -> list[tuple[str, str]]:
    from cwm_lsp.runtime import native

    rows: list[tuple[str, str]] = []
    if native.built():
        rows.append(
            (
                "native extension",
                f"built; paths this CPU runs: {', '.join(native.supported_paths())}",
            )
        )
    else:
        rows.append(("native extension", f"NOT available: {native.unavailable_reason()}"))
        if native.build_log():
            rows.append(
                ("", "full build log: python -c 'import cwm_lsp._native_build as b; print(b.LOG)'")
            )
    if native.built() and not native.available():
        rows.append(("native kernels", f"not used: {native.unavailable_reason()}"))
    warning = native.path_warning()
    if warning:
        rows.append(("kernel path", warning))
    for op, path in native.active_paths().items():
        rows.append((f"  {op}", path))
    return rows


def _sandbox() -> list[tuple[str, str]]:
    bwrap = shutil.which("bwrap")
    rows = [
        ("bwrap", bwrap or "not installed (the run backend falls back to the audit-hook sandbox)")
    ]
    try:
        sandbox = importlib.import_module("cwm_lsp.tracer.sandbox")
        rows.append(("sandbox", f"{sandbox.choose_sandbox('auto')} (for --backend run)"))
    except Exception as exc:
        rows.append(("sandbox", f"unknown ({type(exc).__name__}: {exc})"))
    return rows


def _model() -> list[tuple[str, str]]:
    try:
        registry = importlib.import_module("cwm_lsp.backends.registry")
        path = registry.demo_model_path()
    except Exception as exc:
        return [("demo model", f"unknown ({type(exc).__name__}: {exc})")]
    if path is None:
        return [("demo model", "not installed (model/weights/ missing); pass --model")]
    files = sorted(p.name for p in Path(path).iterdir())
    listing = f"{len(files)} files: {', '.join(files[:6])}"
    return [("demo model", f"{path}: {DEMO_MODEL_NOTE} ({listing})")]


def _optional_packages() -> list[tuple[str, str]]:
    rows = []
    for dist in ("pygls", "transformers", "gguf", "llama-cpp-python", "nanobind"):
        try:
            rows.append((f"  {dist}", importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((f"  {dist}", "not installed"))
    return [("packages", ""), *rows]


CHECKS: tuple[Check, ...] = (_python, _torch, _cpu, _kernels, _sandbox, _model, _optional_packages)


def collect() -> list[tuple[str, str]]:
    """All report rows; a check that fails contributes one line saying so."""
    rows: list[tuple[str, str]] = []
    for check in CHECKS:
        try:
            rows.extend(check())
        except Exception as exc:
            rows.append((check.__name__.strip("_"), f"check failed: {type(exc).__name__}: {exc}"))
    return rows


def run(args: argparse.Namespace) -> int:
    rows = collect()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}".rstrip())
    torch_missing = any(name == "torch" and value.startswith("MISSING") for name, value in rows)
    return 1 if torch_missing else 0
