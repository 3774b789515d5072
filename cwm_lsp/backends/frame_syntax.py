"""The byte syntax of a frame's LOCALS and VALUE, as a small automaton over tokens.

LOCALS is a JSON object whose values are strings, written by ``json.dumps`` with its defaults
(``", "`` and ``": "`` separators, only printable ASCII with ``\\`` escapes); VALUE is one such
JSON string. A model that strays from that writes a frame no parser can read, and the trace
loses it. :class:`FrameSyntax` names, for an automaton state, the tokens that keep the text on
that syntax and the state each leads to; the answers are cached per state (there are a few
dozen), so constraining costs a dictionary lookup per token after the first use of a state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Where a string sits: an object key, an object value, or the whole VALUE.
_KEY, _ITEM, _TOP = "key", "item", "top"
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = frozenset(b'"\\/bfnrt')


@dataclass(frozen=True)
class SyntaxState:
    """``place``: object (``open``, ``after_key``, ``colon``, ``value_open``, ``after_value``,
    ``comma``, ``key_open``, ``done``) or string (``key``/``item``/``top``); ``escape``: inside
    a backslash escape (0: no, 1: after ``\\``, 2-5: after ``\\u`` and that many hex digits
    minus 2)."""

    place: str
    escape: int = 0


LOCALS_START = SyntaxState("start")
VALUE_START = SyntaxState("top_open")
_OBJECT_DONE = SyntaxState("done")
_VALUE_DONE = SyntaxState("top_done")
COMPLETE = frozenset({_OBJECT_DONE, _VALUE_DONE})

# fixed bytes between the parts of an object: state -> {byte: next state}
_OBJECT_STEPS: dict[str, dict[int, SyntaxState]] = {
    "start": {ord("{"): SyntaxState("open")},
    "open": {ord('"'): SyntaxState(_KEY), ord("}"): _OBJECT_DONE},
    "after_key": {ord(":"): SyntaxState("colon")},
    "colon": {ord(" "): SyntaxState("value_open")},
    "value_open": {ord('"'): SyntaxState(_ITEM)},
    "after_value": {ord(","): SyntaxState("comma"), ord("}"): _OBJECT_DONE},
    "comma": {ord(" "): SyntaxState("key_open")},
    "key_open": {ord('"'): SyntaxState(_KEY)},
    "top_open": {ord('"'): SyntaxState(_TOP)},
}
_AFTER_STRING = {
    _KEY: SyntaxState("after_key"),
    _ITEM: SyntaxState("after_value"),
    _TOP: _VALUE_DONE,
}


def step(state: SyntaxState, byte: int) -> SyntaxState | None:
    """The state after ``byte``; None when the byte breaks the syntax."""
    if state.place not in _AFTER_STRING:
        return _OBJECT_STEPS.get(state.place, {}).get(byte)
    if state.escape == 1:
        if byte in _SIMPLE_ESCAPES:
            return SyntaxState(state.place)
        return SyntaxState(state.place, 2) if byte == ord("u") else None
    if state.escape >= 2:
        if byte not in _HEX:
            return None
        return (
            SyntaxState(state.place)
            if state.escape == 5
            else SyntaxState(state.place, state.escape + 1)
        )
    if byte == ord('"'):
        return _AFTER_STRING[state.place]
    if byte == ord("\\"):
        return SyntaxState(state.place, 1)
    return state if 0x20 <= byte < 0x7F else None


def run(state: SyntaxState, text: bytes) -> SyntaxState | None:
    for byte in text:
        next_state = step(state, byte)
        if next_state is None:
            return None
        state = next_state
    return state


class FrameSyntax:
    """The tokens (by their bytes) that keep a frame's LOCALS or VALUE well formed."""

    def __init__(self, pieces: Mapping[int, bytes]) -> None:
        self._by_first_byte: dict[int, list[tuple[int, bytes]]] = {}
        for token, piece in pieces.items():
            if piece:
                self._by_first_byte.setdefault(piece[0], []).append((token, piece))
        self._moves: dict[SyntaxState, dict[int, SyntaxState]] = {}
        self._allowed: dict[SyntaxState, list[int]] = {}

    def allowed(self, state: SyntaxState) -> list[int]:
        """The tokens allowed in ``state`` (built once per state: it is asked every token).
        Callers must not change the list."""
        found = self._allowed.get(state)
        if found is None:
            found = self._allowed[state] = list(self.moves(state))
        return found

    def moves(self, state: SyntaxState) -> dict[int, SyntaxState]:
        """token -> the state after it, for every token allowed in ``state``."""
        found = self._moves.get(state)
        if found is None:
            found = {}
            for first, tokens in self._by_first_byte.items():
                if step(state, first) is None:
                    continue
                for token, piece in tokens:
                    after = run(state, piece)
                    if after is not None:
                        found[token] = after
            self._moves[state] = found
        return found
