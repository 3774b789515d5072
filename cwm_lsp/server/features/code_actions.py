"""Code actions on a function (anywhere inside it), all titled ``Prophecy: …``."""

from __future__ import annotations

from lsprotocol import types

from cwm_lsp.entry import EntryError, FunctionInfo, find_function
from cwm_lsp.parseable import trim_to_parseable
from cwm_lsp.server.doctest_edit import doctest_insertion, doctest_output
from cwm_lsp.server.features.base import Feature
from cwm_lsp.server.features.commands import PREDICT, SHOW_ITERATION, VERIFY
from cwm_lsp.server.labels import cut
from cwm_lsp.server.runs import FunctionRun, RunStatus
from cwm_lsp.server.view import enclosing_loop, loop_iterations

KIND = types.CodeActionKind.Empty
TITLE_WIDTH = 60


class CodeActions(Feature):
    def register(self) -> None:
        options = types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.Empty])
        self.on(types.TEXT_DOCUMENT_CODE_ACTION, self.code_actions, options)

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        server = self.server
        await server.wait_for_settings()  # which actions apply depends on the settings
        uri = params.text_document.uri
        line = params.range.start.line
        source = server.document_source(uri)
        if source is None:
            return None
        trimmed = trim_to_parseable(source)
        if trimmed is not None:
            source = trimmed.source  # a syntax error elsewhere: the rest can still be predicted
        try:
            fn = find_function(source, line=line + 1)
        except EntryError:
            return None  # not in a function, or in the part that does not parse
        def_line = fn.def_line - 1
        actions: list[types.CodeAction] = []
        calls = [e for e in fn.examples if not e.error]
        for example in calls:
            actions.append(
                _command(
                    f"Prophecy: predict {cut(example.expression, TITLE_WIDTH)}",
                    PREDICT,
                    [uri, def_line, example.expression],
                )
            )
        if server.settings.backend != "run":
            actions.append(
                _command(
                    "Prophecy: predict with invented inputs", PREDICT, [uri, def_line, None, True]
                )
            )
        actions.append(self._add_example(uri, fn))
        run = server.runs.get(uri, fn.qualname)
        if doctest := self._doctest(uri, source, fn, run):
            actions.append(doctest)
        if keep := self._keep_invented(uri, fn, run):
            actions.append(keep)
        # Verifying compares a model's prediction with a run: a run compared with itself says
        # nothing.
        predicted = run is None or run.provenance is None or not run.observed
        if (
            server.settings.allow_execution
            and calls
            and server.settings.backend != "run"
            and predicted
        ):
            call = run.call if run is not None and run.call else calls[0].expression
            actions.append(
                _command(
                    f"Prophecy: verify with a real run ({cut(call, TITLE_WIDTH)})",
                    VERIFY,
                    [uri, def_line, call],
                )
            )
        actions.extend(self._iteration_actions(uri, line))
        return actions

    @staticmethod
    def _add_example(uri: str, fn: FunctionInfo) -> types.CodeAction:
        text = f"{fn.indent}# prophecy: {fn.template}\n"
        return _insertion("Prophecy: add an example call", uri, fn.first_line - 1, 0, text)

    @staticmethod
    def _keep_invented(
        uri: str, fn: FunctionInfo, run: FunctionRun | None
    ) -> types.CodeAction | None:
        invented = run.invented if run is not None and not run.stale else None
        if invented is None or invented.call is None:
            return None
        text = f"{fn.indent}# prophecy: {invented.call}\n"
        title = "Prophecy: keep the invented call as an example"
        return _insertion(title, uri, fn.first_line - 1, 0, text)

    @staticmethod
    def _doctest(
        uri: str, source: str, fn: FunctionInfo, run: FunctionRun | None
    ) -> types.CodeAction | None:
        if (
            run is None
            or run.stale
            or run.status is not RunStatus.DONE
            or run.view is None
            or not run.call
        ):
            return None
        if any(e.kind == "doctest" and e.expression == run.call for e in fn.examples):
            return None
        view = run.view
        raised = view.uncaught.description if view.uncaught else None
        if raised is None and view.returned is None:
            return None
        insertion = doctest_insertion(source, fn, run.call, doctest_output(view.returned, raised))
        if insertion is None:
            return None
        return _insertion(
            "Prophecy: insert result as doctest",
            uri,
            insertion.line,
            insertion.character,
            insertion.text,
        )

    def _iteration_actions(self, uri: str, line: int) -> list[types.CodeAction]:
        run = self.server.runs.at_line(uri, line)
        if run is None or not run.showable or run.view is None:
            return []
        context_line = run.context_line(line)
        header = enclosing_loop(run.view, context_line) if context_line is not None else None
        if header is None:
            return []
        passes = loop_iterations(run.view, header)
        if len(passes) < 2:
            return []
        current = run.focus[1] if run.focus is not None and run.focus[0] == header else None
        actions: list[types.CodeAction] = []
        following = 0 if current is None else current + 1
        if following < len(passes):
            actions.append(
                _command(
                    f"Prophecy: next iteration ({following + 1} of {len(passes)})",
                    SHOW_ITERATION,
                    [uri, line, following],
                )
            )
        if current is not None and current > 0:
            actions.append(
                _command(
                    f"Prophecy: previous iteration ({current} of {len(passes)})",
                    SHOW_ITERATION,
                    [uri, line, current - 1],
                )
            )
        if current is not None:
            actions.append(
                _command("Prophecy: show all iterations", SHOW_ITERATION, [uri, line, None])
            )
        return actions


def _command(title: str, command: str, arguments: list[object]) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=KIND,
        command=types.Command(title=title, command=command, arguments=arguments),
    )


def _insertion(title: str, uri: str, line: int, character: int, text: str) -> types.CodeAction:
    """An action that inserts ``text`` at (``line``, ``character``), both 0-based."""
    position = types.Position(line=line, character=character)
    edit = types.TextEdit(range=types.Range(start=position, end=position), new_text=text)
    return types.CodeAction(title=title, kind=KIND, edit=types.WorkspaceEdit(changes={uri: [edit]}))
