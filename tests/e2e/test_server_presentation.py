"""What a newcomer sees: capped hover tables, plain-text hovers, which model made the values,
Verify only for model predictions, and the call a model invented (real server over stdio)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import pytest_lsp
from inventing_model import INVENTING, write_inventing_model
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from server_support import (
    RUN,
    SERVER,
    apply_edit,
    code_actions,
    execute,
    hints,
    hover,
    labels,
    open_file,
    run_action,
    shown_messages,
    start,
    titled,
    wait_for,
    with_refresh_counter,
)

from cwm_lsp.backends.registry import demo_model_path

LONG_LOOP = """\
# prophecy: count_up(30, 2)
def count_up(n, step):
    \"\"\"Add step n times.\"\"\"
    total = 0
    for i in range(n):
        total += step
    return total
"""

NO_EXAMPLE = """\
def scale(values, factor):
    out = []
    for value in values:
        out.append(value * factor)
    return out
"""


def watch_status(client: LanguageClient) -> list[dict[str, Any]]:
    """Collect the server's ``cwm/status`` notifications."""
    received: list[dict[str, Any]] = []

    @client.feature("cwm/status")
    def on_status(params: Any) -> None:
        received.append(params if isinstance(params, dict) else params._asdict())

    return received


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path: Path):
    lsp_client.statuses = watch_status(lsp_client)  # type: ignore[attr-defined]
    await start(lsp_client, "visual-studio-code", RUN, tmp_path)
    yield
    await lsp_client.shutdown_session()


def line_of(source: str, text: str) -> int:
    return next(number for number, line in enumerate(source.splitlines()) if text in line)


async def test_a_long_hover_is_capped_with_a_summary_row_and_a_show_all_command(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LONG_LOOP)
    assert (await execute(client, "cwm.predict", uri, 1))["status"] == "done"
    body = line_of(LONG_LOOP, "total += step")
    text = await hover(client, uri, body)
    assert text is not None
    assert "line ran 30 times" in text
    assert "| iteration | `total` |" in text  # the name once, in the header
    assert "| call" not in text and "| run" not in text  # constant columns left out
    assert "| *30 runs* | *first 2, last 60, min 2, max 60* |" in text
    link = re.search(r"\(command:cwm\.showAllRuns\?([^)]*)\)", text)
    assert link is not None, text
    arguments = json.loads(unquote(link.group(1)))
    assert arguments == [uri, body]
    expanded = await execute(client, "cwm.showAllRuns", *arguments)
    assert expanded["status"] == "expanded" and expanded["runs"] == 30
    assert expanded["table"].splitlines()[-1].split() == ["30", "60"]
    everything = await hover(client, uri, body)
    assert everything is not None and "| 30 | 60 |" in everything and "Showing" not in everything
    # The hint tooltip uses the same table.
    [tooltip] = [hint.tooltip for hint in await hints(client, uri) if hint.position.line == body]
    assert isinstance(tooltip, types.MarkupContent) and "*30 runs*" in tooltip.value
    # No hint on the docstring.
    assert line_of(LONG_LOOP, "Add step") not in labels(await hints(client, uri))


async def test_the_status_names_the_source_and_verify_is_not_offered_for_a_run(
    client: LanguageClient, tmp_path: Path
) -> None:
    statuses: list[dict[str, Any]] = client.statuses  # type: ignore[attr-defined]
    await wait_for(lambda: statuses, what="a cwm/status notification")
    assert statuses[-1]["short"] == "sandboxed run" and statuses[-1]["observed"] is True
    uri = open_file(client, tmp_path / "loop.py", LONG_LOOP)
    assert (await execute(client, "cwm.predict", uri, 1))["status"] == "done"
    titles = [action.title for action in await code_actions(client, uri, 3)]
    assert not [title for title in titles if title.startswith("Prophecy: verify")], titles
    # The values are observed: no "this is the demo model" notification.
    assert not [m for m in shown_messages(client) if "demo model" in m]


@pytest_lsp.fixture(config=SERVER)
async def plain_client(lsp_client: LanguageClient, tmp_path: Path):
    capabilities = copy.deepcopy(client_capabilities("neovim"))
    assert capabilities.text_document is not None
    capabilities.text_document.hover = types.HoverClientCapabilities(
        content_format=[types.MarkupKind.PlainText]
    )
    with_refresh_counter(lsp_client)
    lsp_client.set_configuration({"cwm": RUN})
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=capabilities, root_uri=tmp_path.as_uri())
    )
    yield
    await lsp_client.shutdown_session()


async def test_clients_that_want_plain_text_get_aligned_columns(
    plain_client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(plain_client, tmp_path / "loop.py", LONG_LOOP)
    assert (await execute(plain_client, "cwm.predict", uri, 1))["status"] == "done"
    result = await plain_client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line_of(LONG_LOOP, "total += step"), character=8),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    assert result.contents.kind == types.MarkupKind.PlainText
    text = result.contents.value
    assert "|" not in text and "**" not in text and "`" not in text
    lines = text.splitlines()
    assert lines[0] == "Prophecy (observed): line ran 30 times"
    assert lines[2].split() == ["iteration", "total"]
    assert "30 runs" in text and "cwm.showAllRuns" in text


needs_demo = pytest.mark.skipif(demo_model_path() is None, reason="the demo model is not installed")

EXAMPLE = """\
# prophecy: f(2, 4)
def f(a, b):
    y = a
    for i in range(b):
        y += y * i
    return y
"""


@pytest_lsp.fixture(config=SERVER)
async def demo_client(lsp_client: LanguageClient, tmp_path: Path):
    lsp_client.statuses = watch_status(lsp_client)  # type: ignore[attr-defined]
    settings = {"backend": "auto", "allowExecution": True, "maxFrames": 200}
    await start(lsp_client, "visual-studio-code", settings, tmp_path)
    yield
    await lsp_client.shutdown_session()


@needs_demo
async def test_the_demo_model_is_named_in_the_status_and_once_in_a_notification(
    demo_client: LanguageClient, tmp_path: Path
) -> None:
    client = demo_client
    statuses: list[dict[str, Any]] = client.statuses  # type: ignore[attr-defined]
    await wait_for(lambda: statuses, what="a cwm/status notification")
    assert statuses[-1]["short"] == "demo model, not CWM" and statuses[-1]["isDemoModel"]
    assert "cwm.modelPath" in statuses[-1]["hint"]
    uri = open_file(client, tmp_path / "f.py", EXAMPLE)
    assert (await execute(client, "cwm.predict", uri, 1))["status"] == "done"
    warnings = [m for m in shown_messages(client) if "demo model (not CWM)" in m]
    assert len(warnings) == 1 and "cwm.modelPath" in warnings[0], shown_messages(client)
    assert (await execute(client, "cwm.predict", uri, 1, "f(3, 2)"))["status"] == "done"
    assert len([m for m in shown_messages(client) if "demo model (not CWM)" in m]) == 1
    # A model's prediction can be verified (the run backend's could not).
    titles = [a.title for a in await code_actions(client, uri, 2)]
    assert [t for t in titles if t.startswith("Prophecy: verify")], titles


@pytest.fixture(scope="module")
def inventing_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inventing_model(tmp_path_factory.mktemp("inventing-model"))


@pytest_lsp.fixture(config=SERVER)
async def model_client(lsp_client: LanguageClient, tmp_path: Path, inventing_model: Path):
    lsp_client.statuses = watch_status(lsp_client)  # type: ignore[attr-defined]
    settings = {"backend": "native", "modelPath": str(inventing_model), "maxFrames": 50}
    await start(lsp_client, "visual-studio-code", settings, tmp_path)
    yield
    await lsp_client.shutdown_session()


async def test_the_invented_call_is_shown_and_can_be_kept_as_an_example(
    model_client: LanguageClient, tmp_path: Path, inventing_model: Path
) -> None:
    client = model_client
    statuses: list[dict[str, Any]] = client.statuses  # type: ignore[attr-defined]
    await wait_for(lambda: statuses, what="a cwm/status notification")
    assert statuses[-1]["short"] == inventing_model.name and not statuses[-1]["isDemoModel"]

    uri = open_file(client, tmp_path / "double.py", INVENTING)
    action = titled(await code_actions(client, uri, 1), "Prophecy: predict with invented inputs")
    assert (await run_action(client, action))["status"] == "done"
    found = labels(await hints(client, uri))
    assert found[0] == "invented call: double(21)", found
    assert found[2] == "⮐ ≈ 42", found
    text = await hover(client, uri, 1)
    assert text is not None and "Invented call: `double(21)`" in text, text
    keep = titled(await code_actions(client, uri, 1), "Prophecy: keep the invented call")
    assert keep.edit is not None and keep.edit.changes is not None
    updated = apply_edit(INVENTING, keep.edit.changes[uri][0])
    assert updated == "# prophecy: double(21)\n" + INVENTING
    # Not the demo model: named once, without the demo warning.
    assert [m for m in shown_messages(client) if "values predicted by" in m], shown_messages(client)
    assert not [m for m in shown_messages(client) if "demo model" in m]


BROKEN_ELSEWHERE = """\
# prophecy: double(4)
def double(x):
    y = x * 2
    return y


def broken(values):
    return [v for v in values if v >
"""


async def test_a_syntax_error_is_a_diagnostic_and_other_functions_still_predict(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "broken.py", BROKEN_ELSEWHERE)
    diagnostics = await wait_for(lambda: client.diagnostics.get(uri), what="diagnostics")
    (error,) = diagnostics
    assert error.severity == types.DiagnosticSeverity.Error and error.source == "cwm-lsp"
    assert error.range.start.line == line_of(BROKEN_ELSEWHERE, "return [v for v")
    assert error.message.startswith("syntax error:")
    titles = [action.title for action in await code_actions(client, uri, 2)]
    assert "Prophecy: predict double(4)" in titles, titles
    action = titled(await code_actions(client, uri, 2), "Prophecy: predict double(4)")
    assert (await run_action(client, action))["status"] == "done"
    assert labels(await hints(client, uri))[3] == "⮐ 8"
    said = [m for m in shown_messages(client) if "does not parse" in m]
    assert said and "left out line(s) 7-8" in said[0], shown_messages(client)
    # The error stays in the problems list beside the prediction's own diagnostics.
    assert any(
        d.severity == types.DiagnosticSeverity.Error for d in client.diagnostics.get(uri, [])
    )
