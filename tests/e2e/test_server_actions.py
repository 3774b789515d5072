"""Code actions: example calls, doctests, verify and iteration focus (real server, run backend)."""

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
    apply_edit,
    code_actions,
    execute,
    hints,
    hover,
    labels,
    open_file,
    run_action,
    start,
    titled,
    wait_for,
)

LOOP = """\
# prophecy: f(2, 4)
def f(a, b):
    y = a
    for i in range(b):
        y += y * i
    return y
"""

METHOD = """\
class Counter:
    def __init__(self, start):
        self.count = start

    @staticmethod
    def double(n):
        \"\"\"Twice n.\"\"\"
        return n * 2
"""

RANDOM = """\
import os


# prophecy: draw()
def draw():
    n = int.from_bytes(os.urandom(8), "big")
    return n
"""


@pytest_lsp.fixture(config=SERVER, params=CLIENTS)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Path):
    await start(lsp_client, request.param, RUN, tmp_path)
    yield
    await lsp_client.shutdown_session()


def titles(actions: list[types.CodeAction]) -> list[str]:
    return [action.title for action in actions]


async def test_actions_on_a_function_anywhere_inside_it(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    for line in (0, 1, 4, 5):  # the example comment, the def, the body, the last line
        found = titles(await code_actions(client, uri, line))
        assert "Prophecy: predict f(2, 4)" in found
        assert "Prophecy: add an example call" in found
        # The run backend cannot invent inputs, has nothing to verify (a run compared with a
        # run), and there is no result to insert yet.
        assert not [title for title in found if title.startswith("Prophecy: verify")]
        assert "Prophecy: predict with invented inputs" not in found
        assert "Prophecy: insert result as doctest" not in found
    assert all(title.startswith("Prophecy:") for title in found)


async def test_add_example_call_inserts_a_comment_above_the_decorators(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "counter.py", METHOD)
    action = titled(await code_actions(client, uri, 7), "Prophecy: add an example call")
    assert action.edit is not None and action.edit.changes is not None
    (text_edit,) = action.edit.changes[uri]
    updated = apply_edit(METHOD, text_edit)
    assert "    # prophecy: Counter.double(n)\n    @staticmethod\n" in updated
    compile(updated, "counter.py", "exec")


async def test_insert_result_as_doctest(client: LanguageClient, tmp_path: Path) -> None:
    source = "# prophecy: Counter.double(21)\n" + METHOD.replace("class Counter:\n", "", 1)
    source = "class Counter:\n" + source.replace("# prophecy: Counter.double(21)\n", "").replace(
        "    @staticmethod", "    # prophecy: Counter.double(21)\n    @staticmethod"
    )
    uri = open_file(client, tmp_path / "counter.py", source)
    assert (await execute(client, "cwm.predict", uri, 8))["status"] == "done"
    action = titled(await code_actions(client, uri, 8), "Prophecy: insert result as doctest")
    assert action.edit is not None and action.edit.changes is not None
    (text_edit,) = action.edit.changes[uri]
    updated = apply_edit(source, text_edit)
    assert '"""Twice n.\n\n        >>> Counter.double(21)\n        42\n        """' in updated
    namespace: dict[str, object] = {}
    exec(compile(updated, "counter.py", "exec"), namespace)  # the doctest must hold
    import doctest

    counter = namespace["Counter"]
    tests = doctest.DocTestFinder().find(counter.double, globs=namespace)  # type: ignore[attr-defined]
    assert doctest.DocTestRunner().run(tests[0]).failed == 0


async def test_doctest_for_an_exception_creates_a_docstring(
    client: LanguageClient, tmp_path: Path
) -> None:
    source = "# prophecy: inverse(0)\ndef inverse(x):\n    return 1 / x\n"
    uri = open_file(client, tmp_path / "inverse.py", source)
    assert (await execute(client, "cwm.predict", uri, 2))["status"] == "done"
    action = titled(await code_actions(client, uri, 2), "Prophecy: insert result as doctest")
    assert action.edit is not None and action.edit.changes is not None
    updated = apply_edit(source, action.edit.changes[uri][0])
    assert updated.endswith(
        '    """\n    >>> inverse(0)\n    Traceback (most recent call last):\n        ...\n'
        '    ZeroDivisionError: division by zero\n    """\n    return 1 / x\n'
    )


async def test_verify_reports_where_two_runs_differ(client: LanguageClient, tmp_path: Path) -> None:
    # Two sandboxed runs of the same call draw different random numbers: a real mismatch.
    uri = open_file(client, tmp_path / "draw.py", RANDOM)
    # Under the run backend the code action is not offered (a run compared with a run says
    # nothing about a model); the command still compares two runs.
    titles_here = titles(await code_actions(client, uri, 5))
    assert not [title for title in titles_here if title.startswith("Prophecy: verify")]
    result = await execute(client, "cwm.verify", uri, 5, "draw()")
    assert result["status"] == "mismatch"
    assert result["line"] == 5
    diagnostics = await wait_for(lambda: client.diagnostics.get(uri), what="diagnostics")
    (information,) = diagnostics
    assert information.severity == types.DiagnosticSeverity.Information
    assert information.range.start.line == 5
    assert information.source == "cwm-lsp"
    assert "predicted n = " in information.message and "observed n = " in information.message


async def test_verify_agrees_with_itself_for_deterministic_code(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    assert (await execute(client, "cwm.verify", uri, 1, "f(2, 4)"))["status"] == "match"
    assert not client.diagnostics.get(uri)


async def test_iteration_focus_pins_hints_to_one_pass(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_file(client, tmp_path / "loop.py", LOOP)
    assert (await execute(client, "cwm.predict", uri, 1))["status"] == "done"
    action = titled(await code_actions(client, uri, 4), "Prophecy: next iteration")
    assert action.title == "Prophecy: next iteration (1 of 4)"
    assert (await run_action(client, action)) == {"iteration": 0, "of": 4}

    second = titled(await code_actions(client, uri, 4), "Prophecy: next iteration")
    assert second.title == "Prophecy: next iteration (2 of 4)"
    await run_action(client, second)
    found = labels(await hints(client, uri))
    assert found[3] == "i = 1 (iteration 2 of 4)"
    assert found[4] == "y = 4"
    assert found[2] == "y = 2" and found[5] == "⮐ 48"  # outside the loop: unchanged
    text = await hover(client, uri, 4)
    assert text is not None and "showing iteration 2 of 4" in text
    assert "| 4 |" in text and "| 12 |" not in text

    previous = titled(await code_actions(client, uri, 4), "Prophecy: previous iteration")
    assert previous.title == "Prophecy: previous iteration (1 of 4)"
    await run_action(client, titled(await code_actions(client, uri, 4), "Prophecy: show all"))
    assert labels(await hints(client, uri))[4] == "y = 2 → 4 → 12 → 48"

    assert (await execute(client, "cwm.showIteration", uri, 4, 3)) == {"iteration": 3, "of": 4}
    assert labels(await hints(client, uri))[4] == "y = 48"
