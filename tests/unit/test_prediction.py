"""The one pipeline from a question (position, function or call) to a request, and the one
options object that configures every backend."""

from __future__ import annotations

import pytest

from cwm_lsp.backends.base import BackendError
from cwm_lsp.backends.options import DEFAULT_MAX_FRAMES, BackendOptions
from cwm_lsp.backends.registry import build_predictor
from cwm_lsp.entry import EntryError
from cwm_lsp.prediction import NoExampleCall, prepare, select_target

GENERATOR = "def squares(n):\n    for i in range(n):\n        yield i * i\n"

DOCTESTED = (
    "def bump(counter):\n"  # 1
    '    """\n'
    "    >>> c = [0]\n"  # 3
    "    >>> bump(c)  # doctest: +SKIP\n"  # 4
    "    >>> bump(c)\n"  # 5
    "    1\n"
    '    """\n'
    "    counter[0] += 1\n"
    "    return counter[0]\n"
)


def test_a_generator_call_is_consumed_and_other_calls_are_kept() -> None:
    source = GENERATOR + "\ndef plain(n):\n    return list(range(n))\n"
    wrapped = select_target(source, call="squares(3)")
    assert wrapped.call == "list(squares(3))"
    assert any("generator function" in note for note in wrapped.notes)
    assert select_target(source, call="list(squares(3))").call == "list(squares(3))"
    assert select_target(source, call="plain(3)").call == "plain(3)"
    with pytest.raises(EntryError, match="not valid Python"):
        select_target(source, call="squares(")


def test_a_module_that_may_rebind_list_keeps_the_call() -> None:
    for rebinding in ("list = tuple\n", "from helpers import *\n", "def list(x):\n    return x\n"):
        target = select_target(GENERATOR + rebinding, call="squares(3)")
        assert target.call == "squares(3)", rebinding


def test_the_example_choice_is_the_same_for_every_caller() -> None:
    # the cursor on the def: the first example doctest would run (not the +SKIP one)
    assert select_target(DOCTESTED, line=1).call == "bump(c)"
    assert select_target(DOCTESTED, function="bump").call == "bump(c)"
    # the cursor on an example: that example
    assert select_target(DOCTESTED, line=4).call == "bump(c)  # doctest: +SKIP"
    # its doctest session runs first, whether chosen by position or named as the call
    assert select_target(DOCTESTED, line=5).setup == ("c = [0]",)
    assert select_target(DOCTESTED, call="bump(c)").setup == ("c = [0]",)


def test_without_an_example_the_caller_chooses_to_invent() -> None:
    source = "def f(x):\n    return x\n"
    with pytest.raises(NoExampleCall, match=r"# prophecy: f\(x\)"):
        select_target(source, line=1)
    invented = select_target(source, line=1, invent=True)
    assert invented.invented and invented.function is not None


def test_prepare_takes_the_request_knobs_from_the_options() -> None:
    target = select_target(DOCTESTED, line=5)
    options = BackendOptions(max_frames=77, temperature=0.5, seed=3, step_over=True)
    prepared = prepare(DOCTESTED, target, options, path="/p/m.py", workspace_root="/p")
    request = prepared.request
    assert (request.max_frames, request.temperature, request.seed, request.step_over) == (
        77,
        0.5,
        3,
        True,
    )
    assert (request.source_path, request.workspace_root) == ("/p/m.py", "/p")
    assert request.context.endswith("    c = [0]\n    return bump(c)\n")
    assert BackendOptions().max_frames == DEFAULT_MAX_FRAMES


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (BackendOptions(backend="run", allow_execution=True, quantize="int4"), "--quantize"),
        (BackendOptions(backend="openai", model="http://x", run_timeout=5.0), "--timeout"),
        (BackendOptions(backend="openai", model="http://x", follow_flow=False), "--free-decoding"),
        (BackendOptions(backend="run", allow_execution=True, temperature=0.7), "--temperature"),
        (BackendOptions(backend="run", allow_execution=True, step_over=True), "--step-over"),
        (BackendOptions(backend="native", python="/usr/bin/python3"), "--python"),
        (BackendOptions(backend="native", sandbox="bubblewrap"), "--sandbox"),
        (BackendOptions(backend="llama-cpp", model="m.gguf", device="cuda"), "--device"),
    ],
)
def test_an_option_the_backend_cannot_honour_is_an_error(
    options: BackendOptions, message: str
) -> None:
    with pytest.raises(BackendError, match=message):
        build_predictor(options)


def test_quantize_none_means_no_quantization_and_defaults_are_accepted() -> None:
    assert BackendOptions(quantize="none").quantize is None
    assert BackendOptions(backend="openai", model="http://x").unsupported() == []
    assert BackendOptions(backend="run", allow_execution=True, run_timeout=2.0).unsupported() == []
