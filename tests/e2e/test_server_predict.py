"""Predict -> inlay hints, hover, diagnostics and edits, over stdio with the run backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from server_support import (
    CLIENTS,
    RUN,
    SERVER,
    code_actions,
    edit,
    execute,
    hints,
    hover,
    labels,
    open_file,
    progress_ends,
    run_action,
    start,
    titled,
    wait_for,
    wait_for_hints,
)

LOOP = """\
# prophecy: f(2, 4)
def f(a, b):
    y = a
    for i in range(b):
        y += y * i
    return y
"""

RAISES = """\
# prophecy: ratio([0, 0])
def ratio(values):
    total = sum(values)
    first = values[0]
    return first / total
"""


@pytest_lsp.fixture(config=SERVER, params=CLIENTS)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Path):
    await start(lsp_client, request.param, RUN, tmp_path)
    lsp_client.client_name = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def test_predict_shows_observed_hints_hover_and_progress(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    action = titled(await code_actions(client, uri, 4), "Prophecy: predict f(2, 4)")
    assert action.command is not None
    assert action.command.command == "cwm.predict"
    assert list(action.command.arguments or []) == [uri, 1, "f(2, 4)"]

    result = await run_action(client, action)
    assert result["status"] == "done"

    found = labels(await hints(client, uri))
    assert found[2] == "y = 2"
    assert found[3] == "i = 0 → 1 → 2 → 3"
    assert found[4] == "y = 2 → 4 → 12 → 48"
    assert found[5] == "⮐ 48"
    assert all("≈" not in label for label in found.values())  # observed, not predicted

    hint = next(h for h in await hints(client, uri) if h.position.line == 4)
    assert hint.position.character == len("        y += y * i")
    assert isinstance(hint.tooltip, types.MarkupContent)
    assert "observed in a sandboxed run" in hint.tooltip.value
    assert "f(2, 4)" in hint.tooltip.value

    text = await hover(client, uri, 4)
    assert text is not None
    assert "| iteration | `y` |" in text
    assert "| 4 | 48 |" in text
    assert "`f(2, 4)`" in text and "observed in a sandboxed run" in text

    ends = await wait_for(lambda: progress_ends(client), what="progress end")
    assert ends[-1].message == "done"
    begins = [
        r
        for reports in client.progress_reports.values()
        for r in reports
        if isinstance(r, types.WorkDoneProgressBegin)
    ]
    assert begins and begins[0].title == "Running f…" and begins[0].cancellable

    if client.client_name == "neovim":  # type: ignore[attr-defined]
        await wait_for(lambda: client.refresh_count > 0, what="inlay hint refresh")  # type: ignore[attr-defined]
    else:  # VS Code 1.65 does not support workspace/inlayHint/refresh: none may be sent
        assert client.refresh_count == 0  # type: ignore[attr-defined]


async def test_hints_land_on_python_lines_in_a_file_with_form_feeds(
    client: LanguageClient, tmp_path: Path
) -> None:
    # A form feed (a page break between functions) and U+2028 inside a comment do not end a
    # line for Python, nor for LSP positions: str.splitlines would count them as line breaks.
    header = "def g(n):\n    # a\u2028b\n    return n\n\x0c\n"
    uri = open_file(client, tmp_path / "paged.py", header + LOOP)
    assert (await execute(client, "cwm.predict", uri, 6))["status"] == "done"
    found = labels(await hints(client, uri))
    assert found[6] == "y = 2"
    assert found[7] == "i = 0 → 1 → 2 → 3"
    assert found[8] == "y = 2 → 4 → 12 → 48"
    assert found[9] == "⮐ 48"
    hint = next(h for h in await hints(client, uri) if h.position.line == 8)
    assert hint.position.character == len("        y += y * i")


async def test_a_generator_call_runs_the_body_as_list_of_the_call(
    client: LanguageClient, tmp_path: Path
) -> None:
    # The call alone only builds the generator: the server traces list(CALL), as the CLI does.
    # Reading ``list`` elsewhere in the module does not stop that (rebinding it would).
    source = (
        "# prophecy: squares(3)\n"
        "def squares(n):\n"
        "    for i in range(n):\n"
        "        yield i * i\n"
        "\n"
        "def total(n):\n"
        "    return sum(list(squares(n)))\n"
    )
    uri = open_file(client, tmp_path / "gen.py", source)
    result = await execute(client, "cwm.predict", uri, 1)
    assert result["status"] == "done", result
    found = labels(await hints(client, uri))
    assert found[2] == "i = 0 → 1 → 2"
    assert "0 → 1 → 4" in found[3]
    text = await hover(client, uri, 3)
    assert text is not None and "`list(squares(3))`" in text


async def test_second_prediction_comes_from_the_cache(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    assert (await execute(client, "cwm.predict", uri, 3, None))["status"] == "done"
    assert (await execute(client, "cwm.predict", uri, 3, "f(2, 4)"))["status"] == "cached"
    assert labels(await hints(client, uri))[5] == "⮐ 48"
    assert (await execute(client, "cwm.clear", uri)) == {"status": "cleared", "runs": 1}
    assert labels(await hints(client, uri)) == {}


async def test_uncaught_exception_is_a_warning_on_the_raising_line(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "ratio.py", RAISES)
    assert (await execute(client, "cwm.predict", uri, 2))["status"] == "done"
    diagnostics = await wait_for(lambda: client.diagnostics.get(uri), what="diagnostics")
    assert len(diagnostics) == 1
    warning = diagnostics[0]
    assert warning.severity == types.DiagnosticSeverity.Warning
    assert warning.source == "cwm-lsp"
    assert warning.range.start.line == 4
    assert "ZeroDivisionError: division by zero" in warning.message
    assert labels(await hints(client, uri))[4] == "⚠ ZeroDivisionError: division by zero"

    # Raised by the call itself (wrong arguments): reported on the def line.
    other = open_file(
        client, tmp_path / "arity.py", "# prophecy: g(1, 2)\ndef g(a):\n    return a\n"
    )
    assert (await execute(client, "cwm.predict", other, 1))["status"] == "done"
    (warning,) = await wait_for(lambda: client.diagnostics.get(other), what="diagnostics")
    assert warning.range.start.line == 1 and "TypeError" in warning.message


async def test_edit_inside_function_hides_values_and_edit_above_moves_them(
    client: LanguageClient, tmp_path: Path
) -> None:
    other = "# prophecy: g(3)\ndef g(n):\n    m = n + 1\n    return m\n\n"
    uri = open_file(client, tmp_path / "two.py", other + LOOP)
    assert (await execute(client, "cwm.predict", uri, 2))["status"] == "done"
    assert (await execute(client, "cwm.predict", uri, 8))["status"] == "done"
    before = labels(await hints(client, uri))
    assert before[2] == "m = 4" and before[9] == "y = 2 → 4 → 12 → 48"

    edit(client, uri, 0, 0, "import math\n\n")  # two lines above everything: values move down
    moved = await wait_for_hints(client, uri, lambda found: 4 in found and found.get(4) == "m = 4")
    assert moved[11] == "y = 2 → 4 → 12 → 48"

    edit(client, uri, 11, 8, "z = 0\n        ")  # inside f's loop body: f's values go stale
    after = await wait_for_hints(client, uri, lambda found: "stale" in found.get(8, ""))
    assert not any("48" in label or "→" in label for label in after.values())
    assert after[4] == "m = 4"  # g was not touched
    text = await hover(client, uri, 11)
    assert text is not None and "edited" in text and "48" not in text
