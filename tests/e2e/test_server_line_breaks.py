"""Incremental edits below characters that ``str.splitlines`` takes for line breaks (real server).

A form feed and U+2028 end no line for LSP positions (nor for Python): only ``\\n``, ``\\r\\n``
and ``\\r`` do. pygls' own document splits at them too, so every incremental edit below one used
to land lines too high.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient
from server_support import (
    CLIENTS,
    RUN,
    SERVER,
    code_actions,
    edit,
    execute,
    hints,
    labels,
    open_file,
    start,
)

# LSP lines: 0-2 g (U+2028 inside the comment of line 1), 3 a lone form feed, 4-9 f.
SOURCE = """\
def g(n):
    # a\u2028b
    return n
\x0c
# prophecy: f(2, 4)
def f(a, b):
    y = a
    for i in range(b):
        y += y * i
    return y
"""


@pytest_lsp.fixture(config=SERVER, params=CLIENTS)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Path):
    await start(lsp_client, request.param, RUN, tmp_path)
    yield
    await lsp_client.shutdown_session()


async def test_incremental_edits_after_a_form_feed_and_u2028_land_on_lsp_lines(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "paged.py", SOURCE)
    column = len("# prophecy: f(")
    edit(client, uri, 4, column, "3", end=(4, column + 1))  # f(2, 4) -> f(3, 4)
    edit(client, uri, 6, len("    y = a"), " + 1")
    edit(client, uri, 9, 0, "    y -= 1\n")  # return y moves to line 10
    # Text holding the same characters, inserted below them, must not shift anything either.
    edit(client, uri, 2, len("    return n"), "  # c\x0cd\u2028e")

    titles = [action.title for action in await code_actions(client, uri, 5)]
    assert "Prophecy: predict f(3, 4)" in titles  # the server read the edited example

    assert (await execute(client, "cwm.predict", uri, 5))["status"] == "done"
    found = labels(await hints(client, uri))
    assert found[6] == "y = 4"
    assert found[7] == "i = 0 → 1 → 2 → 3"
    assert found[8] == "y = 4 → 8 → 24 → 96"
    assert "95" in found[9]
    assert found[10] == "⮐ 95"
    hint = next(h for h in await hints(client, uri) if h.position.line == 6)
    assert hint.position.character == len("    y = a + 1")

    # Whole lines inserted above the function move its hints down with it; a lone \r ends a
    # line as \n does.
    edit(client, uri, 4, 0, "x = 1\n")
    edit(client, uri, 4, 0, "z = 2\r")
    found = labels(await hints(client, uri))
    assert found[8] == "y = 4"
    assert found[12] == "⮐ 95"
