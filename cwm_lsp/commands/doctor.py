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
    """Which sandbox ``--backend run`` would use, and what a real run of it has in force."""
    sandbox = importlib.import_module("cwm_lsp.execution.sandbox")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        rows = [("bwrap", "not installed")]
    elif sandbox.bubblewrap_works():
        rows = [("bwrap", f"{bwrap}: works")]
    else:
        rows = [("bwrap", f"{bwrap}: cannot create its namespaces here")]
    abi = sandbox.landlock_abi()
    rows.append(("landlock", f"ABI {abi}" if abi else "not available in this kernel"))
    seccomp = "x86-64/aarch64 filter" if sandbox.seccomp_works() else "no filter for this machine"
    rows.append(("seccomp", seccomp))
    try:
        chosen = sandbox.choose_sandbox("auto")
    except sandbox.TracerError as exc:
        rows.append(("sandbox", f"NONE usable: {exc}"))
        return rows
    weak = (
        " (WEAK: values labelled 'observed, weak sandbox')"
        if chosen in sandbox.WEAK_SANDBOXES
        else ""
    )
    rows.append(("sandbox", f"{chosen} for --backend run{weak}"))
    probe = "def main():  # << START_OF_TRACE\n    return 1\n"
    try:
        recording = sandbox.record_call(probe, sandbox=chosen)
    except Exception as exc:
        rows.append(("  in force", f"the probe run failed: {exc}"))
        return rows
    in_force = [*_namespace_protections(chosen), *recording.protections]
    for item in in_force:
        rows.append(("  in force", item))
    if not any(item.startswith("landlock") for item in in_force):
        reach = (
            "what this user can, except the /etc secrets bubblewrap hides"
            if chosen == sandbox.BUBBLEWRAP
            else "every file this user can (as root: every file)"
        )
        rows.append(("  missing", f"Landlock: the code can read {reach}"))
    if chosen in sandbox.WEAK_SANDBOXES:
        rows.append(("  missing", "kernel file walls: writes are stopped by an audit hook only"))
    return rows


def _namespace_protections(chosen: str) -> list[str]:
    if chosen != "bubblewrap":
        return []
    return [
        "bubblewrap: read-only /, private /tmp, writable scratch only",
        "bubblewrap: user nobody in its own user namespace, own PID, network, IPC and UTS "
        "namespaces, new session, secrets in /etc hidden",
    ]


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
    return [
        ("demo model", f"{path}: {DEMO_MODEL_NOTE} ({listing})"),
        ("  runs", _demo_model_runtime(Path(path))),
    ]


def _demo_model_runtime(path: Path) -> str:
    """Whether the native backend runs the demo model torch-free here, and why not."""
    try:
        from cwm_lsp.runtime.config import CwmConfig
        from cwm_lsp.runtime.native_model import load_native_model

        loaded = load_native_model(
            path, CwmConfig.from_file(path), widen_embeddings=True, threads=lambda: 1
        )
    except Exception as exc:  # a diagnostic must not fail
        return f"unknown ({type(exc).__name__}: {exc})"
    if isinstance(loaded, str):
        return f"on the PyTorch model ({loaded})"
    return "torch-free: the native decoder reads the weights directly (no PyTorch import)"


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
