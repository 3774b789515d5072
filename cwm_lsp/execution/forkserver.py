"""The sandboxed fork server: ``python -m cwm_lsp.execution.forkserver``.

Runs a module's top level once, then records one example call per request in a fresh child
forked from that state, so that a file's examples share one sandbox start and one import of
the module and its package, while each example still runs in its own process with its own
limits (time, memory, CPU, frames, output). The idea is the fork server CWM's code-execution
library runs inside bubblewrap; the code here is this project's own.

Protocol (stdin, one JSON object per line; replies on the signed result channel of
:mod:`cwm_lsp.execution.child`):

- the first line: the setup (like a child's request, plus ``module_text`` and
  ``module_lines``: the shared top level of the file's contexts);
- then one line per example: ``{"context": ..., "limits": {...}}``. The forked child sends
  ``frame`` messages and its ``end`` message as a single run's child does; then the server sends
  ``{"t": "exit", "status": N}`` once the child is gone. EOF on stdin ends the server.

The program's stdout/stderr are the server's (fds 1 and 2): the parent reads what arrives
between a request and its ``exit`` as that example's output. The kernel protections that
cannot be undone (seccomp, Landlock, dropped capabilities) are applied in each forked child
only, as the server must keep the right to fork; the server runs the top level under the
resource limits and the audit-hook policy (and bubblewrap's namespaces when in force).
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import json
import os
import random
import resource
import shutil
import sys
import types
from typing import Any, NoReturn

from cwm_lsp.execution import child as child_module
from cwm_lsp.execution.limits import SandboxLimits
from cwm_lsp.execution.recorder import (
    CONTEXT_FILENAME,
    Entry,
    NoRunnableEntry,
    Recorder,
    RecordOutcome,
    context_lines,
    decorated_def_lines,
    find_entry,
)

_READ_CHUNK = 1 << 16


class _Requests:
    """Reads request lines from a descriptor moved out of the program's way."""

    def __init__(self, fd: int) -> None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        ceiling = min(soft if soft != resource.RLIM_INFINITY else 1 << 16, 1 << 16)
        self.fd = fd
        if ceiling > 64:
            self.fd = fcntl.fcntl(
                fd, fcntl.F_DUPFD_CLOEXEC, random.randrange(ceiling // 2, ceiling - 8)
            )
            os.close(fd)
        self.pending = b""

    def next(self) -> dict[str, Any] | None:
        while b"\n" not in self.pending:
            chunk = os.read(self.fd, _READ_CHUNK)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        request: dict[str, Any] = json.loads(line)
        return request


class ForkServer:
    def __init__(self, setup: dict[str, Any], requests: _Requests) -> None:
        self.child = child_module.Child({**setup, "context": setup["module_text"]})
        self.module_text: str = setup["module_text"]
        self.module_lines: int = int(setup["module_lines"])
        self.requests = requests
        self.forking = False
        self.module: types.ModuleType | None = None
        self.module_failure: RecordOutcome | None = None
        self.scratch_entries: set[str] = set()
        self.module_def_lines: dict[int, int] | None = None
        self.module_failure_text = ""

    def serve(self) -> NoReturn:
        child = self.child
        child.channel.send({"t": "started"})
        first = self.requests.next()
        if first is None:
            os._exit(0)
        child.add_import_root()
        child.apply_limits()
        # the module's top level runs here: confined like an example, but free to fork
        failure = child.protect(for_forks=True)
        if failure is not None:
            child.finish(
                error=f"sandbox failure ({child.sandbox}): {failure}; the code was not run"
            )
        child.install_policy(allow_fork=lambda: self.forking)
        self._define_module(first)
        self.scratch_entries = set(os.listdir(child.scratch))
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        # what the top level printed is not any example's output (as under pytest's doctest)
        child.channel.send({"t": "ready"})
        request: dict[str, Any] | None = first
        while request is not None:
            status = self._run_example(request)
            self._clean_scratch()
            child.channel.send({"t": "exit", "status": status})
            request = self.requests.next()
        os._exit(0)

    def _define_module(self, first: dict[str, Any]) -> None:
        try:
            recorder = self._recorder(first["context"])
        except NoRunnableEntry:
            return  # the example's own child reports it
        child_module._forget_own_modules()
        self.module_failure = recorder.define_module(self.module_text)
        self.module_failure_text = recorder.failure_text
        self.module = recorder.module

    def _parsed(self, context: str) -> tuple[Entry, dict[int, int]]:
        """The entry and decorated-def lines of ``context``, parsing only its harness (the top
        level is parsed once per server)."""
        if self.module_def_lines is None:
            self.module_def_lines = decorated_def_lines(
                ast.parse(self.module_text, CONTEXT_FILENAME)
            )
        lines = context_lines(context)
        harness = "\n" * self.module_lines + "".join(lines[self.module_lines :])
        entry = find_entry(harness)
        return entry, {**self.module_def_lines, **decorated_def_lines(ast.parse(harness))}

    def _recorder(self, context: str) -> Recorder:
        parsed = None
        if context.startswith(self.module_text):
            try:
                parsed = self._parsed(context)
            except SyntaxError:
                parsed = None  # the full parse below reports it
        return self.child.recorder(context, parsed)

    def _run_example(self, request: dict[str, Any]) -> int:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self.forking = True
        try:
            pid = os.fork()
        finally:
            self.forking = False
        if pid == 0:
            os.close(self.requests.fd)
            self._example_child(request)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _example_child(self, request: dict[str, Any]) -> NoReturn:
        child = self.child
        child.context = request["context"]
        child.limits = SandboxLimits.from_json(request["limits"])
        child.apply_limits()
        failure = child.protect()
        if failure is not None:
            child.finish(
                error=f"sandbox failure ({child.sandbox}): {failure}; the code was not run"
            )
        try:
            recorder = self._recorder(child.context)
        except NoRunnableEntry as exc:
            child.finish(error=str(exc))
        outcome = self.module_failure
        if outcome is not None:
            print(self.module_failure_text, end="", file=sys.stderr)  # each example shows it
        elif self.module is not None:
            outcome = recorder.define_entry(self.module, self.module_lines)
        if outcome is not None:
            child.finish(finished=outcome.finished, uncaught=outcome.uncaught, limit=outcome.limit)
        child.record(recorder.call_entry)

    def _clean_scratch(self) -> None:
        """Remove what the example left in the scratch directory (not the top level's files)."""
        scratch = self.child.scratch
        for name in set(os.listdir(scratch)) - self.scratch_entries:
            path = os.path.join(scratch, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def main() -> NoReturn:
    requests = _Requests(os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the process
    setup = requests.next()
    if setup is None:
        os._exit(2)
    ForkServer(setup, requests).serve()


if __name__ == "__main__":
    main()
