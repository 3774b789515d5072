"""The language server observes a function of a real package (relative imports, a dependency
installed only in the project's own venv under /tmp): the workspace folder is the project, the
run uses the project's .venv, and the hover names that interpreter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from server_support import execute, hints, hover, labels, start
from test_project_venv_runs import needs, project

__all__ = ["project"]  # the module-scoped fixture: the package and its venv

# the server must find the project's .venv itself, not an activated environment's
SERVER_ENV = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
SANDBOXES = ["bubblewrap", "audit-hook"]


SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "cwm_lsp", "serve"], server_env=SERVER_ENV
)


@pytest_lsp.fixture(config=SERVER, params=SANDBOXES)
async def client(lsp_client: LanguageClient, project: Path, request: pytest.FixtureRequest):
    sandbox = request.param
    needs(sandbox)
    settings = {"backend": "run", "allowExecution": True, "sandbox": sandbox}
    await start(lsp_client, "visual-studio-code", settings, project)
    yield
    await lsp_client.shutdown_session()


async def test_a_package_function_runs_with_the_projects_venv(
    client: LanguageClient, project: Path
) -> None:
    path = project / "src" / "shop" / "prices.py"
    text = path.read_text()
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    def_line = text.splitlines().index("def total(amounts):")
    outcome = await execute(client, "cwm.predict", uri, def_line)
    assert outcome["status"] == "done", outcome
    shown = labels(await hints(client, uri))
    return_line = max(shown)
    assert "⮐ 6" in shown[return_line], shown  # scale(3, rates.VAT) from the venv's tinyscale
    described = await hover(client, uri, return_line)
    assert described is not None
    assert str(project / ".venv" / "bin" / "python") in described, described
