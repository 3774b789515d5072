"""``workspace/executeCommand``: cwm.predict, cwm.verify, cwm.clear, cwm.showIteration.

Arguments are positional JSON values; lines are 0-based (LSP positions):

- ``cwm.predict [uri, line, call?, invent?]``: predict the function enclosing ``line`` for
  ``call`` (the first example call when omitted; invented inputs when ``invent`` is true or there
  is no example call and the backend is a model). The result is ``{"status": ..., "frames": n}``.
- ``cwm.verify [uri, line, call?]``: predict, run the same call in the sandbox and report where
  they differ (needs ``cwm.allowExecution``).
- ``cwm.clear [uri?]``: forget results (of one document, or all).
- ``cwm.showIteration [uri, line, iteration|null]``: pin the hints of the function to one pass
  (0-based) of the loop holding ``line``; ``null`` unpins.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from cwm_lsp.compare import Divergence, first_divergence
from cwm_lsp.entry import EntryError, FunctionInfo
from cwm_lsp.parseable import trim_to_parseable
from cwm_lsp.prediction import NoExampleCall, Target, select_target
from cwm_lsp.server.features.base import Feature
from cwm_lsp.server.jobs import PredictionSpec
from cwm_lsp.server.runs import FunctionRun, Mismatch, RunStatus
from cwm_lsp.server.view import enclosing_loop, loop_iterations

PREDICT = "cwm.predict"
VERIFY = "cwm.verify"
CLEAR = "cwm.clear"
SHOW_ITERATION = "cwm.showIteration"

NEEDS_CONSENT = (
    "verifying runs your code in a sandbox; it is off until you set cwm.allowExecution to true"
)


class CommandError(ValueError):
    """Bad command arguments; the message is shown to the user."""


def _argument(
    args: tuple[Any, ...], index: int, kind: type, name: str, *, optional: bool = False
) -> Any:
    if index >= len(args) or args[index] is None:
        if optional:
            return None
        raise CommandError(f"missing argument {index + 1} ({name})")
    value = args[index]
    if kind is int and isinstance(value, bool):
        raise CommandError(f"argument {index + 1} ({name}) must be a number")
    if not isinstance(value, kind):
        raise CommandError(f"argument {index + 1} ({name}) must be {kind.__name__}, got {value!r}")
    return value


class Commands(Feature):
    def register(self) -> None:
        self.command(PREDICT, self.predict)
        self.command(VERIFY, self.verify)
        self.command(CLEAR, self.clear)
        self.command(SHOW_ITERATION, self.show_iteration)
        self.on(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, self.cancel_progress)
        self.on(types.SHUTDOWN, self.shutdown)

    async def shutdown(self, params: None) -> None:
        """Stop running predictions before pygls answers their pending requests."""
        await self.server.jobs.stop_all()

    def cancel_progress(self, params: types.WorkDoneProgressCancelParams) -> None:
        """The user pressed cancel on a prediction's progress."""
        self.server.jobs.cancel_progress(params.token)

    # ------------------------------------------------------------------ helpers

    def _target(self, args: tuple[Any, ...]) -> tuple[str, str, Target]:
        """The document, its source and what to trace, from ``[uri, line, call?, invent?]``.

        Without a call the example on the cursor's line is traced, else the first one doctest
        would run; with no usable example a model backend invents the inputs."""
        uri = _argument(args, 0, str, "document URI")
        line = _argument(args, 1, int, "line")
        call = _argument(args, 2, str, "call", optional=True)
        invent = bool(_argument(args, 3, bool, "invent inputs", optional=True))
        source = self.server.document_source(uri)
        if source is None:
            raise CommandError(f"cannot read {uri}")
        trimmed = trim_to_parseable(source)  # a syntax error elsewhere need not stop this one
        if trimmed is not None:
            if any(first <= line + 1 <= last for first, last in trimmed.left_out):
                problem = trimmed.problem  # the cursor is in the part that does not parse
                raise CommandError(
                    f"syntax error at line {problem.line}, column {problem.column + 1}: "
                    f"{problem.message}"
                )
            source = trimmed.source
        try:
            try:
                target = select_target(source, line=line + 1, call=call, invent=invent)
            except NoExampleCall:
                target = select_target(source, line=line + 1, invent=True)
        except EntryError as error:
            raise CommandError(str(error)) from None
        if trimmed is not None:
            self.server.notifier.problem(
                f"the file does not parse ({trimmed.describe()}): predicting without those lines"
            )
        return uri, source, target

    def _fail(self, error: Exception) -> dict[str, Any]:
        self.server.notifier.problem(str(error))
        return {"status": "failed", "message": str(error)}

    def _needs_call(self, fn: FunctionInfo, backend: str) -> str:
        return (
            f"{fn.qualname} has no example call and the {backend} backend cannot invent inputs: "
            f"add one above the def, e.g. `# prophecy: {fn.template}`"
        )

    # ------------------------------------------------------------------ commands

    async def predict(self, *args: Any) -> dict[str, Any]:
        await self.server.wait_for_settings()
        try:
            uri, source, target = self._target(args)
        except CommandError as error:
            return self._fail(error)
        fn = target.function
        assert fn is not None
        if target.invented and self.server.settings.backend == "run":
            return self._fail(CommandError(self._needs_call(fn, "run")))
        spec = PredictionSpec(uri, source, target)
        outcome = await self.server.jobs.predict(spec, request_id=self.server.protocol.msg_id)
        return outcome.to_json()

    async def verify(self, *args: Any) -> dict[str, Any]:
        server = self.server
        await server.wait_for_settings()
        if not server.settings.allow_execution:
            server.notifier.problem(NEEDS_CONSENT, error=True)
            return {"status": "refused", "message": NEEDS_CONSENT}
        try:
            uri, source, target = self._target(args)
        except CommandError as error:
            return self._fail(error)
        fn, call = target.function, target.call
        assert fn is not None
        if call is None:
            return self._fail(CommandError(self._needs_call(fn, "run")))
        spec = PredictionSpec(uri, source, target)
        request_id = server.protocol.msg_id
        run = server.runs.get(uri, fn.qualname)
        if not _usable(run, call):
            outcome = await server.jobs.predict(spec, request_id=request_id)
            if outcome.status not in ("done", "cached"):
                return outcome.to_json()
            run = server.runs.get(uri, fn.qualname)
        if run is None or not _usable(run, call):
            return {"status": "stale", "message": "the function changed while verifying"}
        observed_spec = PredictionSpec(uri, source, target, backend="run")
        observed = await server.jobs.predict(observed_spec, request_id=request_id, shown=False)
        if observed.result is None or observed.status not in ("done", "cached"):
            return observed.to_json()
        if not server.runs.is_current(run) or run.stale:
            return {"status": "stale", "message": "the function changed while verifying"}
        divergence = first_divergence(run.frames, observed.result.frames, run.context)
        run.mismatch = None if divergence is None else _mismatch(divergence)
        server.results_changed(uri)
        if run.mismatch is None:
            server.notifier.info(
                f"{fn.qualname}: the prediction matches the sandboxed run of {call}"
            )
            return {"status": "match"}
        message = run.mismatch.message
        server.notifier.info(
            f"{fn.qualname}: the prediction differs from the sandboxed run: {message}"
        )
        return {
            "status": "mismatch",
            "line": run.report_line(run.mismatch.line),
            "message": message,
        }

    def clear(self, *args: Any) -> dict[str, Any]:
        uri = args[0] if args and isinstance(args[0], str) else None
        removed = self.server.runs.clear(uri)
        for run in removed:
            self.server.jobs.cancel_run(run)
        for changed in {run.uri for run in removed} | ({uri} if uri else set()):
            self.server.results_changed(changed)
        return {"status": "cleared", "runs": len(removed)}

    def show_iteration(self, *args: Any) -> dict[str, Any]:
        try:
            uri = _argument(args, 0, str, "document URI")
            line = _argument(args, 1, int, "line")
            iteration = _argument(args, 2, int, "iteration", optional=True)
        except CommandError as error:
            return self._fail(error)
        run = self.server.runs.at_line(uri, line)
        if run is None or not run.showable or run.view is None:
            return self._fail(
                CommandError(f"no results on line {line + 1}: predict the function first")
            )
        context_line = run.context_line(line)
        header = enclosing_loop(run.view, context_line) if context_line is not None else None
        if header is None:
            return self._fail(CommandError(f"line {line + 1} is not in a loop that ran"))
        passes = loop_iterations(run.view, header)
        if iteration is None or not passes:
            run.focus = None
        else:
            iteration = max(0, min(iteration, len(passes) - 1))
            run.focus = (header, iteration)
        self.server.refresher.request()
        return {"iteration": iteration if run.focus else None, "of": len(passes)}


def _mismatch(divergence: Divergence) -> Mismatch:
    """The server keeps 0-based context lines; divergences count lines from 1."""
    line = None if divergence.line is None else divergence.line - 1
    return Mismatch(line, divergence.message)


def _usable(run: FunctionRun | None, call: str) -> bool:
    return (
        run is not None
        and run.status is RunStatus.DONE
        and not run.stale
        and run.call == call
        and bool(run.frames)
    )
