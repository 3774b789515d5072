"""Pure parts of ``cwm-lsp predict``: backend name resolution, call selection, raised calls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import goldens
import pytest

from cwm_lsp.backends.base import BackendError
from cwm_lsp.backends.options import BackendOptions
from cwm_lsp.backends.registry import build_predictor, demo_model_path, resolve_backend_name
from cwm_lsp.commands.predict import (
    MAX_SOURCE_BYTES,
    UsageError,
    exception_repr,
    provenance_line,
    read_source,
    shown_ranges,
    uncaught_exception,
)
from cwm_lsp.entry import EntryError, find_function
from cwm_lsp.prediction import NoExampleCall, Target, select_target
from cwm_lsp.provenance import Origin, Provenance
from cwm_lsp.trace.frames import Frame

GOLDENS = sorted(goldens.GOLDEN_DIR.glob("*.json"))


def function_name(target: Target) -> str | None:
    return target.function.name if target.function is not None else None


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.stem)
def test_uncaught_exception_agrees_with_golden(path: Path) -> None:
    golden = json.loads(path.read_text(encoding="utf-8"))
    frames = [Frame.from_json(item) for item in golden["frames"]]
    raised = uncaught_exception(frames)
    if golden["uncaught"] is None:
        assert raised is None
    else:
        error_type = golden["uncaught"].split(":")[0]
        assert raised is not None and raised.startswith(f"{error_type}(")


def test_describe_exception_keeps_the_value() -> None:
    triple = "(<class 'ValueError'>, ValueError('bad'), <traceback object>)"
    assert exception_repr(triple) == "ValueError('bad')"
    assert exception_repr("garbled") == "garbled"


def test_auto_backend_follows_the_model_path() -> None:
    assert resolve_backend_name("auto", "http://localhost:8000/v1") == (
        "openai",
        "http://localhost:8000/v1",
    )
    assert resolve_backend_name("auto", "/models/cwm-Q4_0.GGUF")[0] == "llama-cpp"
    assert resolve_backend_name("auto", "/models/cwm")[0] == "native"
    assert resolve_backend_name("run", None) == ("run", None)
    demo = demo_model_path()
    if demo is None:
        with pytest.raises(BackendError, match="--backend run"):
            resolve_backend_name("auto", None)
    else:
        assert resolve_backend_name("auto", None) == ("native", str(demo))
    with pytest.raises(BackendError, match="unknown backend 'gpt'"):
        resolve_backend_name("gpt", None)


def test_run_backend_needs_consent_and_models_must_exist(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="executes your code"):
        build_predictor(BackendOptions(backend="run"))
    with pytest.raises(BackendError, match="model not found"):
        build_predictor(BackendOptions(backend="native", model=str(tmp_path / "absent")))


def test_select_prefers_explicit_call_then_first_example() -> None:
    source = "# prophecy: f(1)\n# prophecy: f(2)\ndef f(x):\n    return x\n\ndef g():\n    pass\n"
    assert select_target(source).call == "f(1)"
    explicit = select_target(source, call=" f(3) ")
    assert (explicit.call, function_name(explicit)) == ("f(3)", "f")
    assert function_name(select_target(source, function="g", call="f(3)")) == "g"
    with pytest.raises(NoExampleCall, match=r"g \(line 6\) has no example call.*# prophecy: g\(\)"):
        select_target(source, function="g")
    with pytest.raises(EntryError, match="not valid Python"):
        select_target(source, call="f(")


def test_select_reports_a_broken_only_example() -> None:
    source = "# prophecy: f(1\ndef f(x):\n    return x\n"
    with pytest.raises(EntryError, match=r"line 1: .*not valid Python"):
        select_target(source)


def test_demo_model_is_labelled_not_cwm() -> None:
    demo = Provenance(Origin.PREDICTED, "native", model="tiny", is_demo_model=True)
    assert provenance_line(demo) == "predicted by tiny (demo model, not CWM)"
    observed = Provenance(Origin.OBSERVED, "run")
    assert provenance_line(observed) == "observed in a sandboxed run"


def test_text_output_shows_the_chosen_function_and_functions_that_ran() -> None:
    source = (
        "def helper(x):\n"  # 1
        "    return x\n"
        "\n"
        "def unused():\n"  # 4
        "    pass\n"
        "\n"
        "# prophecy: main_fn(1)\n"  # 7
        "def main_fn(y):\n"
        "    def inner():\n"
        "        return y\n"
        "    return helper(inner())\n"  # 11
    )
    chosen = find_function(source, name="main_fn")
    assert shown_ranges(source, chosen, [2, 10, 11]) == [(1, 2), (7, 11)]
    nested = find_function(source, name="main_fn.inner")
    assert shown_ranges(source, nested, []) == [(7, 11)]


def test_line_on_an_example_call_picks_that_call() -> None:
    source = "# prophecy: f(1)\n# prophecy: f(2)\ndef f(x):\n    return x\n"
    assert select_target(source, line=2).call == "f(2)"
    assert select_target(source, line=4).call == "f(1)"


def test_unreadable_files_are_usage_errors(tmp_path: Path) -> None:
    cases = {
        "binary.py": (b"\x7fELF\x00\x01", "is a binary file"),
        "latin.py": (b"# prophecy: f()\ndef f():\n    return '\xe9'\n", "not utf-8 text (line 3"),
        "huge.py": (b"x = 1\n" * (MAX_SOURCE_BYTES // 6 + 1), "too large to trace"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UsageError, match=re.escape(message)):
            read_source(str(tmp_path / name))
    with pytest.raises(UsageError, match="is a directory"):
        read_source(str(tmp_path))
    with pytest.raises(UsageError, match="no such file"):
        read_source(str(tmp_path / "absent.py"))
    with pytest.raises(UsageError, match="/dev/null is not a regular file"):
        read_source("/dev/null")
    cookie = tmp_path / "cookie.py"
    cookie.write_bytes(b"# -*- coding: latin-1 -*-\ndef f():\n    return '\xe9'\n")
    assert "'\u00e9'" in read_source(str(cookie))


CALLS = """\
def gen(n):
    for i in range(n):
        yield i

square = lambda v: v * v

def f(x):
    return x
"""


def test_a_call_to_an_undefined_name_is_a_usage_error() -> None:
    with pytest.raises(EntryError, match=r"'missing', which the file does not define.*gen, f"):
        select_target(CALLS, call="missing(1)")
    assert select_target(CALLS, call="len([1])").call == "len([1])"
    assert select_target("from m import *\ndef f():\n    pass\n", call="g()")


def test_a_generator_call_is_consumed_so_its_body_runs() -> None:
    assert select_target(CALLS, call="gen(3)").call == "list(gen(3))"
    assert select_target(CALLS, call="list(gen(3))").call == "list(gen(3))"
    shadowed = CALLS + "\nlist = tuple\n"
    assert select_target(shadowed, call="gen(3)").call == "gen(3)"


def test_a_call_to_a_lambda_shows_the_lambda_line_not_another_function() -> None:
    selection = select_target(CALLS, call="square(3)")
    assert not selection.targeted
    assert shown_ranges(CALLS, None, [5, 10]) == [(5, 5)]  # 10: the harness, past the source
    assert select_target(CALLS, call="f(3)").targeted


def test_a_file_without_functions_can_still_trace_a_call_to_its_lambda() -> None:
    source = "square = lambda v: (\n    v * v\n)\n"
    selection = select_target(source, call="square(2)")
    assert (selection.function, selection.call, selection.targeted) == (None, "square(2)", False)
    assert shown_ranges(source, None, [1, 2, 5]) == [(1, 3)]  # the whole statement
    with pytest.raises(EntryError, match="no functions to trace; give a call"):
        select_target(source)


def test_a_method_is_shown_under_its_class_line() -> None:
    source = (
        "import dataclasses\n"  # 1
        "@dataclasses.dataclass\n"
        "class Box:\n"  # 3
        "    size: int\n"
        "\n"
        "    def grow(self, n):\n"  # 6
        "        return self.size + n\n"
    )
    chosen = find_function(source, name="Box.grow")
    assert shown_ranges(source, chosen, [7]) == [(2, 3), (6, 7)]


def test_a_skipped_doctest_is_traced_only_when_asked_for() -> None:
    source = (
        "def f(x):\n"
        '    """\n'
        "    >>> f(1)  # doctest: +SKIP\n"
        "    >>> f(2)\n"
        "    2\n"
        '    """\n'
        "    return x\n"
    )
    assert select_target(source).call == "f(2)"
    assert select_target(source, line=3).call == "f(1)  # doctest: +SKIP"


def test_a_call_to_a_nested_function_or_bare_method_says_how_to_reach_it() -> None:
    source = (
        "def outer(n):\n"
        "    def inner(k):\n"
        "        return k\n"
        "    return inner(n)\n"
        "\n"
        "class K:\n"
        "    def meth(self, v):\n"
        "        return v\n"
        "\n"
        "def helper():\n"
        "    global meth\n"
        "    meth = 1\n"
    )
    message = r"'inner' is not a module-level name \(it is outer.inner\): try --call 'outer\(n\)'"
    with pytest.raises(EntryError, match=message):
        select_target(source, call="inner(2)")
    assert select_target(source, call="meth(1)").call == "meth(1)"  # global
    assert function_name(select_target(source, call="K().meth(3)")) == "meth"
