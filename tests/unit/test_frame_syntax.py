"""The LOCALS/VALUE syntax automaton (cwm_lsp.backends.frame_syntax) accepts exactly what
``json.dumps`` writes for a trace frame."""

from __future__ import annotations

import json

import goldens
from hypothesis import given
from hypothesis import strategies as st

from cwm_lsp.backends.frame_syntax import (
    COMPLETE,
    LOCALS_START,
    VALUE_START,
    FrameSyntax,
    SyntaxState,
    run,
)
from cwm_lsp.trace.parser import parse_trace


def _complete(start: SyntaxState, text: str) -> bool:
    state = run(start, text.encode("utf-8"))
    return state is not None and state in COMPLETE


def test_every_goldens_locals_and_values_are_accepted() -> None:
    checked = 0
    for path in goldens.GOLDEN_FILES:
        for frame in parse_trace(json.loads(path.read_text())["trace_text"]).frames:
            if frame.has_locals:
                assert _complete(LOCALS_START, json.dumps(frame.locals))
            else:
                assert _complete(VALUE_START, json.dumps(frame.arg))
            checked += 1
    assert checked > 100


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=5))
def test_what_json_dumps_writes_is_accepted(values: dict[str, str]) -> None:
    assert _complete(LOCALS_START, json.dumps(values))
    for value in values.values():
        assert _complete(VALUE_START, json.dumps(value))


def test_broken_text_is_refused() -> None:
    for text in (
        '{"a":"1"}',  # the separators are ", " and ": "
        '{"a": 1}',  # values are strings
        '{"a": "\\q"}',
        '{"a": "\\u12g4"}',
        '{"a": "caf\u00e9"}',  # json.dumps escapes non-ASCII
        '{"a": "1"',
        '{"a": "1"}}',
    ):
        assert not _complete(LOCALS_START, text), text
    assert not _complete(VALUE_START, "'1'")


def test_tokens_are_allowed_by_the_state_they_lead_to() -> None:
    pieces = {0: b'{"', 1: b'x": "', 2: b"1", 3: b'"}', 4: b"}", 5: b'"x"', 6: b"\xc3"}
    syntax = FrameSyntax(pieces)
    assert set(syntax.moves(LOCALS_START)) == {0}
    state = syntax.moves(LOCALS_START)[0]
    # inside the key: `"}` would end the object right after a key; `"x"` puts x there
    assert set(syntax.moves(state)) == {0, 1, 2, 4}
    state = syntax.moves(syntax.moves(state)[1])[2]
    assert syntax.moves(state)[3] in COMPLETE
