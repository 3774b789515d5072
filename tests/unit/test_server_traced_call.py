"""The server traces a generator function's call as ``list(CALL)``, with the CLI's helper."""

from __future__ import annotations

from cwm_lsp.server.jobs import traced_call

GENERATOR = "def squares(n):\n    for i in range(n):\n        yield i * i\n"


def test_a_generator_call_is_wrapped_and_other_calls_are_kept() -> None:
    source = GENERATOR + "\ndef plain(n):\n    return list(range(n))\n"
    assert traced_call(source, "squares(3)") == "list(squares(3))"
    assert traced_call(source, "list(squares(3))") == "list(squares(3))"  # already consumed
    assert traced_call(source, "plain(3)") == "plain(3)"
    assert traced_call(source, None) is None
    assert traced_call(source, "squares(") == "squares("  # not a call: left to report later


def test_a_module_that_may_rebind_list_keeps_the_call() -> None:
    for rebinding in ("list = tuple\n", "from helpers import *\n", "def list(x):\n    return x\n"):
        assert traced_call(GENERATOR + rebinding, "squares(3)") == "squares(3)", rebinding
