"""Report helpers: GitHub workflow-command escaping, baseline files, summary lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cwm_lsp.checking.baseline import BaselineKey, baseline_text, load_baseline, write_baseline
from cwm_lsp.checking.discovery import CheckUsageError
from cwm_lsp.checking.report import Summary
from cwm_lsp.checking.reports.github import command, escape_data, escape_property


def test_github_escaping() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert command("error", "x: 1,\n2", file="a,b.py", line="3", title="t:1") == (
        "::error file=a%2Cb.py,line=3,title=t%3A1::x: 1,%0A2"
    )


def test_baseline_is_sorted_stable_and_round_trips(tmp_path: Path) -> None:
    keys = [
        BaselineKey("b.py", "g", "g(1)", "prophecy/uncaught-exception"),
        BaselineKey("a.py", "f", "f(2)", "prophecy/doctest-mismatch"),
        BaselineKey("a.py", "f", "f(1)", "prophecy/doctest-mismatch"),
    ]
    text = baseline_text(keys)
    assert text == baseline_text(reversed(keys))
    entries = json.loads(text)["known_failures"]
    assert [entry["call"] for entry in entries] == ["f(1)", "f(2)", "g(1)"]
    path = tmp_path / "sub" / "baseline.json"
    write_baseline(path, keys)
    assert load_baseline(path) == set(keys)


@pytest.mark.parametrize("content", ["not json", "[]", '{"known_failures": [{"file": 1}]}'])
def test_unusable_baselines_are_usage_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CheckUsageError, match="not a trace-check baseline"):
        load_baseline(path)


def test_summary_line() -> None:
    assert Summary(3, 2, 0, 0, 0).line() == "3 passed, 2 failed"
    assert Summary(1, 0, 1, 2, 0).line() == (
        "1 passed, 0 failed, 1 known failure (baseline), 2 skipped"
    )
