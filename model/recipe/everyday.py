"""Short functions exercising Python's everyday semantics, for the demo model's corpus (stage 7).

``everyday_program(rng)`` writes one function of 3-15 lines in a shape people write (a chain of
method calls, an accumulating loop with a condition, a search with an early return, a ``while``
loop stepping an index, a comprehension, a branch, in-place updates of a list or dict, a helper
called from a loop) around the methods of ``str``, ``list``, ``dict``, ``set`` and ``tuple``
and the common builtins, applied to random inputs of realistic shapes (sentences, identifiers,
numbers with signs, words with punctuation, nested lists, dicts of counts).

Every expression is evaluated while the function is written, on the values it will see, so
the generator knows each local's type and never emits a call that cannot apply; the finished
function is run once more and dropped if it raises. Traces come from cwm-lsp's own tracer
(data.py), never from these evaluations.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from programs import Program

WORDS = [
    "apple",
    "banana",
    "cherry",
    "river",
    "stone",
    "cloud",
    "paper",
    "green",
    "blue",
    "red",
    "light",
    "night",
    "data",
    "value",
    "code",
    "table",
    "chair",
    "water",
    "fire",
    "earth",
    "north",
    "south",
    "east",
    "west",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "quick",
    "brown",
    "fox",
    "lazy",
    "dog",
    "cat",
    "mouse",
    "house",
    "garden",
    "window",
    "door",
    "summer",
    "winter",
    "spring",
    "autumn",
    "music",
    "piano",
    "guitar",
    "ocean",
    "mountain",
    "forest",
    "desert",
    "city",
    "village",
    "road",
    "bridge",
    "train",
    "plane",
    "ship",
    "star",
    "moon",
    "sun",
    "orange",
    "lemon",
    "grape",
    "melon",
    "tiger",
    "eagle",
    "shark",
    "whale",
    "robot",
    "pixel",
    "socket",
    "buffer",
    "token",
    "parser",
    "error",
    "file",
    "path",
    "user",
    "admin",
    "guest",
    "order",
    "item",
    "price",
    "total",
    "count",
    "index",
    "level",
    "score",
    "report",
]
NAME_WORDS = [
    "ann",
    "bob",
    "carol",
    "dave",
    "eve",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "ken",
    "lea",
    "max",
    "nina",
    "otto",
    "paul",
]
PUNCTUATION = list(",.!?;:-_/#@()'")

PARAM_NAMES = {
    "str": [
        "text",
        "s",
        "word",
        "name",
        "line",
        "sentence",
        "label",
        "phrase",
        "title",
        "raw",
        "msg",
        "code",
        "path",
        "key",
        "value",
        "item",
        "token",
        "entry",
    ],
    "int": [
        "n",
        "x",
        "k",
        "count",
        "limit",
        "size",
        "num",
        "value",
        "seconds",
        "total",
        "width",
        "step",
        "start",
        "amount",
        "score",
        "index",
    ],
    "list_int": [
        "nums",
        "numbers",
        "values",
        "xs",
        "scores",
        "items",
        "data",
        "counts",
        "prices",
        "ages",
        "readings",
        "points",
        "seq",
        "row",
        "marks",
    ],
    "list_str": [
        "words",
        "names",
        "lines",
        "tokens",
        "parts",
        "items",
        "tags",
        "labels",
        "fields",
        "entries",
        "keys",
        "values",
    ],
    "dict": [
        "counts",
        "table",
        "scores",
        "mapping",
        "d",
        "prices",
        "stock",
        "ages",
        "totals",
        "inventory",
        "config",
        "lookup",
        "data",
    ],
    "nested": ["matrix", "grid", "rows", "groups", "nested", "batches", "pairs", "data"],
    "pairs": ["pairs", "records", "people", "entries", "items", "rows", "scores"],
}
LOOP_NAMES = {
    "str": ["ch", "c", "char", "letter", "w", "word", "part", "token", "s", "item", "line"],
    "int": ["n", "x", "v", "num", "value", "item", "score", "i"],
    "other": ["item", "row", "pair", "entry", "group", "record", "x"],
}
LOCAL_NAMES = [
    "result",
    "out",
    "res",
    "total",
    "acc",
    "parts",
    "cleaned",
    "words",
    "tmp",
    "values",
    "found",
    "best",
    "joined",
    "count",
    "first",
    "rest",
    "head",
    "tail",
    "merged",
    "seen",
    "keys",
    "pieces",
    "ordered",
    "text",
    "size",
    "answer",
    "left",
    "right",
    "mid",
    "current",
    "buf",
    "items",
    "picked",
    "kept",
    "n",
    "s",
    "x",
]
VERBS = [
    "count",
    "find",
    "build",
    "make",
    "clean",
    "pick",
    "split",
    "join",
    "merge",
    "sort",
    "filter",
    "strip",
    "parse",
    "format",
    "collect",
    "check",
    "get",
    "compute",
    "group",
    "normalize",
    "rank",
    "scan",
    "sum",
    "trim",
    "encode",
    "shift",
    "index",
    "select",
]
NOUNS = [
    "words",
    "items",
    "values",
    "letters",
    "text",
    "names",
    "total",
    "pairs",
    "tokens",
    "digits",
    "lines",
    "scores",
    "keys",
    "parts",
    "chars",
    "vowels",
    "max",
    "prefix",
    "suffix",
    "runs",
    "labels",
    "counts",
    "fields",
    "entries",
    "path",
    "title",
    "slug",
]
MIXED_NAME_RATE = 0.2
NEWLINE = "\n"


@dataclass
class Env:
    """Locals of the function being written, with the values they hold at this point."""

    values: dict[str, Any] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def fresh(self, rng: random.Random, pool: list[str]) -> str:
        choices = [n for n in pool if n not in self.taken]
        name = rng.choice(choices) if choices else f"v{len(self.taken)}"
        self.taken.add(name)
        return name


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, set):
        return "set"
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            return "list_str"
        if value and all(isinstance(v, list) for v in value):
            return "nested"
        if value and all(isinstance(v, tuple) for v in value):
            return "pairs"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "list_int"
        return "list"
    return "other"


# --- literal values -----------------------------------------------------------------------------


def literal(value: Any, double: bool) -> str:
    """Source text for a value, strings in double quotes when ``double`` (black's style)."""
    if isinstance(value, str):
        text = repr(value)
        if double and '"' not in value and "\\" not in text:
            return '"' + text[1:-1].replace("\\'", "'") + '"'
        return text
    if isinstance(value, list):
        return "[" + ", ".join(literal(v, double) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(literal(v, double) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{literal(k, double)}: {literal(v, double)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, set):
        return (
            "{" + ", ".join(literal(v, double) for v in sorted(value)) + "}" if value else "set()"
        )
    return repr(value)


def made_up_word(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) for _ in range(rng.randint(1, 7)))


def a_word(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return rng.choice(WORDS)
    if r < 0.75:
        return rng.choice(NAME_WORDS)
    return made_up_word(rng)


def random_string(rng: random.Random) -> str:
    shape = rng.randrange(12)
    words = [a_word(rng) for _ in range(rng.randint(1, 5))]
    if shape == 0:
        return a_word(rng)
    if shape == 1:
        return " ".join(words)
    if shape == 2:
        return " ".join(w.capitalize() if rng.random() < 0.5 else w.upper() for w in words)
    if shape == 3:
        return "_".join(words[:3])
    if shape == 4:
        return words[0] + "".join(w.capitalize() for w in words[1:3])
    if shape == 5:
        return rng.choice(["  ", " ", "", "\t"]) + " ".join(words[:3]) + rng.choice(["  ", " ", ""])
    if shape == 6:
        return str(rng.choice([rng.randint(0, 99), rng.randint(100, 99999)]))
    if shape == 7:
        return a_word(rng) + str(rng.randint(0, 999))
    if shape == 8:
        sep = rng.choice([",", ", ", ";", ":", "-", "/", "|", "="])
        return sep.join(words[:4])
    if shape == 9:
        return " ".join(w + rng.choice(PUNCTUATION) if rng.random() < 0.4 else w for w in words)
    if shape == 10:
        return f"{a_word(rng)}.{rng.choice(['txt', 'py', 'csv', 'tar.gz', 'json', 'md'])}"
    return rng.choice(["", "a", "ab", "aab", "abba", "xyz", "AbC", "a1b2", "hello world", "42"])


def random_value(rng: random.Random, kind: str) -> Any:
    if kind == "str":
        return random_string(rng)
    if kind == "int":
        return rng.choice([rng.randint(0, 10), rng.randint(-20, 50), rng.randint(10, 5000)])
    if kind == "list_int":
        low, high = rng.choice([(0, 9), (-10, 10), (1, 100), (-50, 50), (1, 5)])
        values = [
            rng.randint(low, high) for _ in range(rng.randint(0 if rng.random() < 0.05 else 1, 8))
        ]
        return sorted(values) if rng.random() < 0.2 else values
    if kind == "list_str":
        count = rng.randint(1, 6)
        if rng.random() < 0.15:
            return [rng.choice(["", " ", "a", "b", "x y"]) for _ in range(count)]
        return [random_string(rng) if rng.random() < 0.2 else a_word(rng) for _ in range(count)]
    if kind == "dict":
        keys = rng.sample(WORDS + NAME_WORDS, rng.randint(1, 5))
        return {k: rng.randint(-5, 100) if rng.random() < 0.8 else rng.randint(0, 3) for k in keys}
    if kind == "nested":
        width = rng.randint(1, 4)
        ragged = rng.random() < 0.4
        return [
            [rng.randint(0, 9) for _ in range(rng.randint(0, 4) if ragged else width)]
            for _ in range(rng.randint(1, 4))
        ]
    if kind == "pairs":
        return [(a_word(rng), rng.randint(0, 60)) for _ in range(rng.randint(1, 5))]
    raise ValueError(kind)


def small_constant(rng: random.Random, value: Any) -> Any:
    """A constant of the kind that pairs naturally with ``value`` (often taken from it)."""
    if isinstance(value, str):
        if value and rng.random() < 0.7:
            i = rng.randrange(len(value))
            return value[i : i + rng.randint(1, 3)]
        return rng.choice([" ", ",", "a", "e", "-", "x", "_", "."])
    if isinstance(value, list) and value and rng.random() < 0.7:
        return rng.choice(value)
    return rng.randint(0, 10)


# --- expression catalogue -----------------------------------------------------------------------

Maker = Callable[[random.Random, str, Any, bool], str]


def _q(rng: random.Random, value: Any, double: bool) -> str:
    return literal(small_constant(rng, value), double)


def _s(text: str, double: bool) -> str:
    return literal(text, double)


STR_EXPRS: list[Maker] = [
    lambda r, x, v, d: f"{x}.{r.choice(['upper', 'lower', 'title', 'capitalize', 'swapcase'])}()",
    lambda r, x, v, d: f"{x}.{r.choice(['strip', 'lstrip', 'rstrip'])}()",
    lambda r, x, v, d: f"{x}.strip({_s(r.choice(['.', '!', ' -', '_', 'x', '0']), d)})",
    lambda r, x, v, d: f"{x}.split()",
    lambda r, x, v, d: f"{x}.split({_s(r.choice([',', ' ', '-', ':', '_', '/', '=', 'a']), d)})",
    lambda r, x, v, d: (
        f"{x}.replace({_q(r, v, d)}, {_s(r.choice(['', '-', '_', '*', 'X', ' ']), d)})"
    ),
    lambda r, x, v, d: f"{x}.{r.choice(['count', 'find', 'rfind'])}({_q(r, v, d)})",
    lambda r, x, v, d: f"{x}.{r.choice(['startswith', 'endswith'])}({_q(r, v, d)})",
    lambda r, x, v, d: f"{x}[{r.randint(-3, 4)}]",
    lambda r, x, v, d: f"{x}[{r.randint(0, 3)}:{r.randint(2, 8)}]",
    lambda r, x, v, d: f"{x}[{r.choice(['::-1', '::2', '1::2', ':-1', '1:', ':3', '-3:', '-2:'])}]",
    lambda r, x, v, d: f"len({x})",
    lambda r, x, v, d: (
        f"{x}.{r.choice(['isdigit', 'isalpha', 'isupper', 'islower', 'isalnum', 'isspace', 'istitle'])}()"
    ),
    lambda r, x, v, d: (
        f"{x}.{r.choice(['center', 'ljust', 'rjust'])}({r.randint(3, 12)}, {_s(r.choice(['*', '.', '-', ' ']), d)})"
    ),
    lambda r, x, v, d: f"{x}.zfill({r.randint(2, 8)})",
    lambda r, x, v, d: f"{x}.{r.choice(['partition', 'rpartition'])}({_q(r, v, d)})",
    lambda r, x, v, d: f"{x} * {r.randint(0, 3)}",
    lambda r, x, v, d: f"{x} + {_s(r.choice(['!', '.txt', ' ', 'ed', 's', '-1']), d)}",
    lambda r, x, v, d: f"{_s(r.choice(['<', '[', 'Mr. ', '#']), d)} + {x}",
    lambda r, x, v, d: f"{_s(r.choice(['-', ', ', '', ' ', '.']), d)}.join({x})",
    lambda r, x, v, d: f"{r.choice(['sorted', 'list', 'set', 'tuple'])}({x})",
    lambda r, x, v, d: f"{_q(r, v, d)} in {x}",
    lambda r, x, v, d: f"{x}.{r.choice(['removeprefix', 'removesuffix'])}({_q(r, v, d)})",
    lambda r, x, v, d: f"int({x})",
    lambda r, x, v, d: f"ord({x}[0])",
    lambda r, x, v, d: f"{x}.index({_q(r, v, d)})",
    lambda r, x, v, d: f"{x}.splitlines()",
    lambda r, x, v, d: f'f"{{{x}}}:{{len({x})}}"' if d else f"f'{{{x}!r}} ({{len({x})}})'",
    lambda r, x, v, d: f'f"{{{x}:>{r.randint(3, 9)}}}"',
    lambda r, x, v, d: f"{x} == {x}[::-1]",
    lambda r, x, v, d: (
        f"{x}.{r.choice(['upper', 'lower', 'strip'])}().{r.choice(['split', 'title', 'strip'])}()"
    ),
    lambda r, x, v, d: (
        f"[c for c in {x} if c.{r.choice(['isalpha', 'isdigit', 'isupper', 'islower'])}()]"
    ),
    lambda r, x, v, d: (
        f'"".join(c for c in {x} if c not in {_s(r.choice(["aeiou", " ", ",.!", "0123456789"]), d)})'
    ),
    lambda r, x, v, d: f"{x}.count({_s(r.choice([' ', 'a', 'e']), d)}) + 1",
]

LIST_INT_EXPRS: list[Maker] = [
    lambda r, x, v, d: (
        f"{r.choice(['sum', 'min', 'max', 'len', 'sorted', 'set', 'tuple', 'any', 'all'])}({x})"
    ),
    lambda r, x, v, d: f"sorted({x}, reverse=True)",
    lambda r, x, v, d: f"list(reversed({x}))",
    lambda r, x, v, d: f"{x}[{r.choice(['::-1', '1:', ':-1', ':2', '-2:', '::2', '1:3', '2:'])}]",
    lambda r, x, v, d: f"{x}[{r.randint(-2, 3)}]",
    lambda r, x, v, d: f"{x}.{r.choice(['index', 'count'])}({_q(r, v, d)})",
    lambda r, x, v, d: f"{x} + [{r.randint(0, 9)}]",
    lambda r, x, v, d: f"{x} * 2",
    lambda r, x, v, d: f"sorted(set({x}))",
    lambda r, x, v, d: f"len(set({x}))",
    lambda r, x, v, d: f"max({x}) - min({x})",
    lambda r, x, v, d: f"sum({x}) / len({x})",
    lambda r, x, v, d: f"round(sum({x}) / len({x}), {r.randint(0, 2)})",
    lambda r, x, v, d: f"sum({x}) // len({x})",
    lambda r, x, v, d: f"[n {r.choice(['*', '+', '-', '//', '%'])} {r.randint(1, 5)} for n in {x}]",
    lambda r, x, v, d: (
        f"[n for n in {x} if n {r.choice(['>', '<', '>=', '!=', '=='])} {_q(r, v, d)}]"
    ),
    lambda r, x, v, d: f"[n for n in {x} if n % 2 {r.choice(['==', '!='])} 0]",
    lambda r, x, v, d: f"[n * n for n in {x}]",
    lambda r, x, v, d: f"[abs(n) for n in {x}]",
    lambda r, x, v, d: f"{{n: n * n for n in {x}}}",
    lambda r, x, v, d: f"{{n % {r.randint(2, 4)} for n in {x}}}",
    lambda r, x, v, d: f"list(enumerate({x}))",
    lambda r, x, v, d: f"list(zip({x}, {x}[1:]))",
    lambda r, x, v, d: f"[b - a for a, b in zip({x}, {x}[1:])]",
    lambda r, x, v, d: (
        f"{r.choice(['any', 'all'])}(n {r.choice(['>', '<', '=='])} {r.randint(-1, 9)} for n in {x})"
    ),
    lambda r, x, v, d: f"sum(1 for n in {x} if n {r.choice(['>', '<'])} {r.randint(0, 9)})",
    lambda r, x, v, d: f"{_s(r.choice([',', ' ', '-', ', ']), d)}.join(str(n) for n in {x})",
    lambda r, x, v, d: f"list(map(str, {x}))",
    lambda r, x, v, d: f"sorted({x}, key=abs)",
    lambda r, x, v, d: (
        f"sorted({x}, key=lambda n: {r.choice(['-n', 'n % 3', 'abs(n - 5)', '(n % 2, n)'])})"
    ),
    lambda r, x, v, d: f"{x}[0] if {x} else None",
    lambda r, x, v, d: f"{x}[len({x}) // 2]",
    lambda r, x, v, d: f"divmod(sum({x}), {r.randint(2, 7)})",
    lambda r, x, v, d: f"{_q(r, v, d)} in {x}",
    lambda r, x, v, d: f"[{x}[i] for i in range(0, len({x}), {r.randint(2, 3)})]",
    lambda r, x, v, d: (
        f"[i for i, n in enumerate({x}) if n {r.choice(['>', '<', '=='])} {_q(r, v, d)}]"
    ),
    lambda r, x, v, d: f"max(range(len({x})), key=lambda i: {x}[i])",
    lambda r, x, v, d: f"list(filter(None, {x}))",
]

LIST_STR_EXPRS: list[Maker] = [
    lambda r, x, v, d: _s(r.choice([" ", ",", ", ", "", "-", "/", NEWLINE]), d) + f".join({x})",
    lambda r, x, v, d: f"{r.choice(['sorted', 'len', 'set', 'min', 'max', 'tuple', 'list'])}({x})",
    lambda r, x, v, d: f"sorted({x}, key=len)",
    lambda r, x, v, d: (
        f"sorted({x}, key={r.choice(['str.lower', 'len', 'lambda w: w[-1]'])}, reverse={r.choice(['True', 'False'])})"
    ),
    lambda r, x, v, d: f"max({x}, key=len)",
    lambda r, x, v, d: (
        f"[w.{r.choice(['upper', 'lower', 'strip', 'title', 'capitalize'])}() for w in {x}]"
    ),
    lambda r, x, v, d: (
        f"[w for w in {x} if w.{r.choice(['startswith', 'endswith'])}({_s(r.choice(['a', 'e', 's', 'b', 'c', 't']), d)})]"
    ),
    lambda r, x, v, d: (
        f"[w for w in {x} if len(w) {r.choice(['>', '<', '<=', '=='])} {r.randint(1, 5)}]"
    ),
    lambda r, x, v, d: f"[len(w) for w in {x}]",
    lambda r, x, v, d: f"{{w: len(w) for w in {x}}}",
    lambda r, x, v, d: f"{{w[0]: w for w in {x} if w}}",
    lambda r, x, v, d: f"{x}[{r.choice(['::-1', '1:', ':-1', ':2', '-1', '0', '1', '-2:'])}]",
    lambda r, x, v, d: f"{x}.{r.choice(['index', 'count'])}({_q(r, v, d)})",
    lambda r, x, v, d: f'"".join(w[0] for w in {x} if w)',
    lambda r, x, v, d: f"[w[::-1] for w in {x}]",
    lambda r, x, v, d: f"list(enumerate({x}))",
    lambda r, x, v, d: f"list(enumerate({x}, start=1))",
    lambda r, x, v, d: f'[f"{{i}}:{{w}}" for i, w in enumerate({x})]',
    lambda r, x, v, d: f"{_q(r, v, d)} in {x}",
    lambda r, x, v, d: f"[w for w in {x} if w.strip()]",
    lambda r, x, v, d: f"sum(len(w) for w in {x})",
    lambda r, x, v, d: f"[w.split() for w in {x}]",
    lambda r, x, v, d: f"{x} + [{_s(a_word(r), d)}]",
    lambda r, x, v, d: f"dict.fromkeys({x}, 0)",
    lambda r, x, v, d: f"list(dict.fromkeys({x}))",
]

DICT_EXPRS: list[Maker] = [
    lambda r, x, v, d: f"{x}.get({_s(r.choice([*list(v), a_word(r)]), d)}, {r.randint(-1, 1)})",
    lambda r, x, v, d: f"{x}.get({_s(r.choice([*list(v), a_word(r)]), d)})",
    lambda r, x, v, d: f"list({x}.{r.choice(['keys', 'values', 'items'])}())",
    lambda r, x, v, d: f"sorted({x}{r.choice(['', '.values()', '.items()'])})",
    lambda r, x, v, d: f"sorted({x}, key={x}.get{r.choice(['', ', reverse=True'])})",
    lambda r, x, v, d: f"{r.choice(['max', 'min'])}({x}, key={x}.get)",
    lambda r, x, v, d: f"sum({x}.values())",
    lambda r, x, v, d: f"len({x})",
    lambda r, x, v, d: f"{_s(r.choice([*list(v), a_word(r)]), d)} in {x}",
    lambda r, x, v, d: (
        f"{{k: v {r.choice(['*', '+', '-', '//'])} {r.randint(1, 5)} for k, v in {x}.items()}}"
    ),
    lambda r, x, v, d: f"{{v: k for k, v in {x}.items()}}",
    lambda r, x, v, d: (
        f"[k for k, v in {x}.items() if v {r.choice(['>', '<', '>=', '=='])} {r.randint(0, 50)}]"
    ),
    lambda r, x, v, d: (
        f"{{k: v for k, v in {x}.items() if v {r.choice(['>', '<', '!='])} {r.randint(0, 50)}}}"
    ),
    lambda r, x, v, d: f"dict(sorted({x}.items()))",
    lambda r, x, v, d: f"dict(sorted({x}.items(), key=lambda kv: kv[1]))",
    lambda r, x, v, d: f"{x}[{_s(r.choice(list(v)), d)}]",
    lambda r, x, v, d: f'[f"{{k}}={{v}}" for k, v in {x}.items()]',
    lambda r, x, v, d: f"{{k.upper(): v for k, v in {x}.items()}}",
    lambda r, x, v, d: f"{x} | {{{_s(a_word(r), d)}: {r.randint(0, 9)}}}",
    lambda r, x, v, d: f"max({x}.values()) if {x} else 0",
]

INT_EXPRS: list[Maker] = [
    lambda r, x, v, d: f"{x} {r.choice(['*', '+', '-', '//', '%', '**'])} {r.randint(1, 4)}",
    lambda r, x, v, d: f"{r.choice(['abs', 'str', 'float', 'bin', 'hex', 'bool'])}({x})",
    lambda r, x, v, d: f"divmod({x}, {r.randint(2, 60)})",
    lambda r, x, v, d: f"round({x} / {r.randint(2, 9)}, {r.randint(0, 2)})",
    lambda r, x, v, d: f"{r.choice(['min', 'max'])}({x}, {r.randint(0, 20)})",
    lambda r, x, v, d: f"{x} {r.choice(['>', '<', '==', '>=', '!='])} {r.randint(0, 20)}",
    lambda r, x, v, d: f"{x} % 2 == 0",
    lambda r, x, v, d: f"str({x}).zfill({r.randint(2, 6)})",
    lambda r, x, v, d: f"len(str({x}))",
    lambda r, x, v, d: f"[int(c) for c in str({x})]",
    lambda r, x, v, d: f"sum(int(c) for c in str(abs({x})))",
    lambda r, x, v, d: f"list(range({x} % 6))",
    lambda r, x, v, d: f'f"{{{x}:,}}"',
    lambda r, x, v, d: f'f"{{{x}:0{r.randint(3, 6)}d}}"',
    lambda r, x, v, d: f"-{x}",
    lambda r, x, v, d: f"{x} // 10, {x} % 10",
]

OTHER_EXPRS: dict[str, list[Maker]] = {
    "float": [
        lambda r, x, v, d: f"round({x}, {r.randint(0, 2)})",
        lambda r, x, v, d: f"int({x})",
        lambda r, x, v, d: f'f"{{{x}:.{r.randint(0, 3)}f}}"',
        lambda r, x, v, d: f"{x} * {r.randint(2, 10)}",
        lambda r, x, v, d: f"str({x})",
    ],
    "bool": [
        lambda r, x, v, d: f"not {x}",
        lambda r, x, v, d: f"int({x})",
        lambda r, x, v, d: f"{_s('yes', d)} if {x} else {_s('no', d)}",
    ],
    "tuple": [
        lambda r, x, v, d: f"{x}[{r.choice(['0', '1', '-1'])}]",
        lambda r, x, v, d: f"list({x})",
        lambda r, x, v, d: f"len({x})",
        lambda r, x, v, d: f"{x}[::-1]",
        lambda r, x, v, d: f"{x} + ({r.randint(0, 9)},)",
    ],
    "set": [
        lambda r, x, v, d: f"sorted({x})",
        lambda r, x, v, d: f"len({x})",
        lambda r, x, v, d: (
            f"{x} {r.choice(['|', '&', '-', '^'])} {{{r.randint(0, 9)}, {r.randint(0, 9)}}}"
        ),
        lambda r, x, v, d: f"{r.randint(0, 9)} in {x}",
    ],
    "nested": [
        lambda r, x, v, d: f"[sum(row) for row in {x}]",
        lambda r, x, v, d: f"[x for row in {x} for x in row]",
        lambda r, x, v, d: f"[len(row) for row in {x}]",
        lambda r, x, v, d: f"{x}[{r.randint(0, 1)}]",
        lambda r, x, v, d: f"[row[0] for row in {x} if row]",
        lambda r, x, v, d: f"[list(col) for col in zip(*{x})]",
        lambda r, x, v, d: f"max({x}, key=len)",
        lambda r, x, v, d: f"sum(len(row) for row in {x})",
        lambda r, x, v, d: f"[row[::-1] for row in {x}]",
    ],
    "pairs": [
        lambda r, x, v, d: f"dict({x})",
        lambda r, x, v, d: f"sorted({x}, key=lambda p: p[1]{r.choice(['', ', reverse=True'])})",
        lambda r, x, v, d: f"[name for name, _ in {x}]",
        lambda r, x, v, d: f"sum(n for _, n in {x})",
        lambda r, x, v, d: f"max({x}, key=lambda p: p[1])[0]",
        lambda r, x, v, d: f'[f"{{a}}={{b}}" for a, b in {x}]',
        lambda r, x, v, d: f"list(zip(*{x}))",
        lambda r, x, v, d: f"{x}[0]",
    ],
    "list": [
        lambda r, x, v, d: f"len({x})",
        lambda r, x, v, d: f"{x}[::-1]",
        lambda r, x, v, d: f"[str(e) for e in {x}]",
    ],
}


def makers_for(kind: str) -> list[Maker]:
    return {
        "str": STR_EXPRS,
        "int": INT_EXPRS,
        "list_int": LIST_INT_EXPRS,
        "list_str": LIST_STR_EXPRS,
        "dict": DICT_EXPRS,
    }.get(kind) or OTHER_EXPRS.get(kind, [])


def try_eval(expr: str, env: dict[str, Any]) -> tuple[bool, Any]:
    try:
        return True, eval(expr, {"__builtins__": __builtins__}, dict(_copy(env)))
    except Exception:
        return False, None


def _copy(env: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(env)


def pick_expr(
    rng: random.Random, env: dict[str, Any], name: str, double: bool, tries: int = 12
) -> tuple[str, Any] | None:
    """An expression over local ``name`` that evaluates on its current value, with the result."""
    value = env[name]
    makers = makers_for(kind_of(value))
    if not makers:
        return None
    for _ in range(tries):
        try:
            expr = rng.choice(makers)(rng, name, value, double)
        except (IndexError, ValueError):
            continue
        ok, result = try_eval(expr, env)
        if ok and len(repr(result)) <= 90:
            return expr, result
    return None


# --- names --------------------------------------------------------------------------------------


def param_name(rng: random.Random, kind: str, env: Env) -> str:
    pool = PARAM_NAMES[kind]
    if rng.random() < MIXED_NAME_RATE:
        pool = [n for names in PARAM_NAMES.values() for n in names]
    if rng.random() < 0.08:
        pool = [made_up_word(rng) + rng.choice(["", "_list", "s", "_val"])]
    return env.fresh(rng, pool)


def function_name(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return made_up_word(rng) + "_" + made_up_word(rng)
    return f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"


def loop_name(rng: random.Random, element: Any, env: Env) -> str:
    kind = "str" if isinstance(element, str) else "int" if isinstance(element, int) else "other"
    pool = LOOP_NAMES[kind]
    if rng.random() < MIXED_NAME_RATE:
        pool = [n for names in LOOP_NAMES.values() for n in names]
    return env.fresh(rng, pool)


# --- shapes -------------------------------------------------------------------------------------


@dataclass
class Draft:
    params: list[str]
    args: list[Any]
    body: list[str]
    double: bool

    def source(self, name: str) -> str:
        lines = [f"def {name}({', '.join(self.params)}):"] + ["    " + b for b in self.body]
        return "\n".join(lines) + "\n"

    def call(self, name: str) -> str:
        return f"{name}({', '.join(literal(a, self.double) for a in self.args)})"


PARAM_KINDS = ["str"] * 5 + ["list_int"] * 4 + ["list_str"] * 3 + ["dict"] * 2 + ["int"] * 2
PARAM_KINDS += ["nested", "pairs"]


def _start(rng: random.Random, kinds: list[str] | None = None) -> tuple[Env, Draft]:
    env = Env()
    kinds = kinds or [rng.choice(PARAM_KINDS)]
    params, args = [], []
    for kind in kinds:
        name = param_name(rng, kind, env)
        value = random_value(rng, kind)
        env.values[name] = value
        params.append(name)
        args.append(value)
    return env, Draft(params, args, [], rng.random() < 0.5)


def shape_chain(rng: random.Random) -> Draft | None:
    """Two to four assignments, each applying a method or builtin to an earlier local."""
    env, draft = _start(rng)
    current = draft.params[0]
    for _ in range(rng.randint(1, 4)):
        picked = pick_expr(rng, env.values, current, draft.double)
        if picked is None:
            break
        expr, value = picked
        name = env.fresh(rng, LOCAL_NAMES)
        draft.body.append(f"{name} = {expr}")
        env.values[name] = value
        current = name
    if not draft.body:
        return None
    if rng.random() < 0.3:
        picked = pick_expr(rng, env.values, current, draft.double)
        if picked:
            draft.body.append(f"return {picked[0]}")
            return draft
    draft.body.append(f"return {current}")
    return draft


CONDITIONS = {
    "str": [
        "{e}.isdigit()",
        "{e}.isupper()",
        "{e}.islower()",
        "{e}.isalpha()",
        "{e} in {vow}",
        "{e} == {c}",
        "{e} != {c}",
        "{e}.isspace()",
        "not {e}.isalnum()",
        "{e} in {punct}",
    ],
    "word": [
        "{e}.startswith({c1})",
        "len({e}) > {k}",
        "len({e}) <= {k}",
        "{e}.isdigit()",
        "{e} == {c}",
        "{e}.istitle()",
        "{e}.endswith({c1})",
        "not {e}",
        "{e}.lower() == {e}",
        "{c1} in {e}",
    ],
    "int": [
        "{e} > {k}",
        "{e} < {k}",
        "{e} % 2 == 0",
        "{e} % 2",
        "{e} < 0",
        "{e} == {k}",
        "{e} >= {k}",
        "{e} != {k}",
        "{e} % 3 == 0",
        "not {e}",
    ],
    "other": ["{e}", "len({e}) > 1", "not {e}"],
}


def condition(
    rng: random.Random, element_name: str, element: Any, sample: list[Any], double: bool
) -> str:
    if isinstance(element, str) and len(element) == 1:
        kind = "str"
    elif isinstance(element, str):
        kind = "word"
    elif isinstance(element, int):
        kind = "int"
    else:
        kind = "other"
    template = rng.choice(CONDITIONS[kind])
    pick = rng.choice(sample) if sample else element
    k = pick if isinstance(pick, int) and not isinstance(pick, bool) else rng.randint(0, 5)
    c = pick if isinstance(pick, str) else "a"
    c1 = c[:1] if isinstance(c, str) and c else "a"
    return template.format(
        e=element_name,
        vow=literal("aeiou", double),
        c=literal(c, double),
        c1=literal(c1, double),
        k=k,
        punct=literal(",.!?", double),
    )


ACC_INITS = ["0", "[]", '""', "{}", "set()", "1"]


def update_for(
    rng: random.Random, acc: str, init: str, element: str, value: Any, double: bool
) -> str | None:
    """A statement folding loop element ``element`` into accumulator ``acc``."""
    is_str, is_int = isinstance(value, str), isinstance(value, int)
    if init == "0":
        options = [f"{acc} += 1"]
        if is_int:
            options += [
                f"{acc} += {element}",
                f"{acc} -= {element}",
                f"{acc} = max({acc}, {element})",
                f"{acc} += {element} * {element}",
                f"{acc} += abs({element})",
            ]
        if is_str or isinstance(value, list | tuple):
            options += [f"{acc} += len({element})"]
        if is_str and len(value) > 1:
            options += [f"{acc} = max({acc}, len({element}))"]
        return rng.choice(options)
    if init == "1":
        return f"{acc} *= {element}" if is_int else f"{acc} += 1"
    if init == "[]":
        options = [f"{acc}.append({element})", f"{acc}.insert(0, {element})"]
        if is_str:
            options += [
                f"{acc}.append({element}.{rng.choice(['upper', 'lower', 'strip', 'title'])}())",
                f"{acc}.append({element}[::-1])",
                f"{acc}.append(len({element}))",
                f"{acc}.extend({element}.split())",
            ]
        if is_int:
            options += [
                f"{acc}.append({element} * {rng.randint(2, 5)})",
                f"{acc}.append(str({element}))",
                f"{acc}.append({element} % {rng.randint(2, 5)})",
            ]
        if isinstance(value, list):
            options += [f"{acc}.extend({element})", f"{acc}.append(sum({element}))"]
        if isinstance(value, tuple):
            options += [f"{acc}.append({element}[0])"]
        return rng.choice(options)
    if init == '""':
        if is_str:
            return rng.choice(
                [
                    f"{acc} += {element}",
                    f"{acc} = {element} + {acc}",
                    f"{acc} += {element}.upper()",
                    f"{acc} += {element}[0]" if value else f"{acc} += {element}",
                    f"{acc} += {element} + {literal(rng.choice([' ', ',', '-']), double)}",
                ]
            )
        return f"{acc} += str({element})"
    if init == "{}":
        if isinstance(value, str | int):
            return rng.choice(
                [
                    f"{acc}[{element}] = {acc}.get({element}, 0) + 1",
                    f"{acc}[{element}] = {acc}.get({element}, 0) + 1",
                    f"{acc}.setdefault({element}, 0)",
                    f"{acc}[{element}] = len({acc})",
                ]
            )
        if isinstance(value, tuple):
            return f"{acc}[{element}[0]] = {element}[1]"
        return None
    if init == "set()":
        if isinstance(value, str | int):
            return f"{acc}.add({element})"
        return None
    return None


def _iterable_choice(rng: random.Random, env: Env, draft: Draft) -> tuple[str, list[Any]] | None:
    name = draft.params[0]
    value = env.values[name]
    kind = kind_of(value)
    if kind == "str":
        if rng.random() < 0.35 and value.split():
            return f"{name}.split()", value.split()
        return name, list(value)
    if kind == "dict":
        return (
            (f"{name}.items()", list(value.items())) if rng.random() < 0.5 else (name, list(value))
        )
    if kind == "int":
        return f"range(1, {name} % 7 + 2)", list(range(1, value % 7 + 2))
    if isinstance(value, list):
        return name, list(value)
    return None


def shape_accumulate(rng: random.Random) -> Draft | None:
    """acc = init; for x in xs: [if cond:] update; return acc."""
    env, draft = _start(rng)
    chosen = _iterable_choice(rng, env, draft)
    if chosen is None or not chosen[1]:
        return None
    iterable, elements = chosen
    element = elements[0]
    acc = env.fresh(
        rng,
        [
            "result",
            "total",
            "out",
            "count",
            "acc",
            "seen",
            "found",
            "kept",
            "parts",
            "buf",
            "counts",
            "n",
            "best",
            "collected",
            "letters",
        ],
    )
    init = rng.choice(ACC_INITS)
    if iterable.endswith(".items()"):
        key_name, value_name = (
            env.fresh(rng, ["k", "key", "name", "word"]),
            env.fresh(rng, ["v", "value", "n", "count", "score"]),
        )
        loop_target, element_name, element = (
            f"{key_name}, {value_name}",
            rng.choice([key_name, value_name]),
            None,
        )
        element = elements[0][0] if element_name == key_name else elements[0][1]
        sample = [e[0] if element_name == key_name else e[1] for e in elements]
    else:
        element_name = loop_name(rng, element, env)
        loop_target, sample = element_name, elements
    update = update_for(rng, acc, init, element_name, element, draft.double)
    if update is None:
        return None
    draft.body.append(f"{acc} = {init}")
    if rng.random() < 0.2 and not iterable.endswith(".items()"):
        index = env.fresh(rng, ["i", "idx", "pos", "j"])
        draft.body.append(f"for {index}, {loop_target} in enumerate({iterable}):")
    else:
        draft.body.append(f"for {loop_target} in {iterable}:")
    style = rng.random()
    if style < 0.55:
        draft.body.append(f"    if {condition(rng, element_name, element, sample, draft.double)}:")
        draft.body.append(f"        {update}")
        if rng.random() < 0.25:
            other = update_for(rng, acc, init, element_name, element, draft.double)
            if other:
                draft.body += ["    else:", f"        {other}"]
    elif style < 0.7:
        draft.body.append(f"    if {condition(rng, element_name, element, sample, draft.double)}:")
        draft.body.append(f"        {rng.choice(['continue', 'break'])}")
        draft.body.append(f"    {update}")
    else:
        draft.body.append(f"    {update}")
    ending = rng.random()
    if ending < 0.2 and init in ("[]", '""'):
        draft.body.append(f"return {acc}[::-1]" if init == '""' else f"return len({acc}), {acc}")
    elif ending < 0.3 and init == "[]":
        draft.body.append(
            f"return {literal(rng.choice([',', ' ', '']), draft.double)}.join(str(p) for p in {acc})"
        )
    elif ending < 0.4 and init == "set()":
        draft.body.append(f"return sorted({acc})")
    else:
        draft.body.append(f"return {acc}")
    return draft


def shape_search(rng: random.Random) -> Draft | None:
    """for x in xs: if cond: return f(x); return default."""
    env, draft = _start(rng)
    chosen = _iterable_choice(rng, env, draft)
    if chosen is None or not chosen[1] or chosen[0].endswith(".items()"):
        return None
    iterable, elements = chosen
    element_name = loop_name(rng, elements[0], env)
    cond = condition(rng, element_name, rng.choice(elements), elements, draft.double)
    default = rng.choice(["None", "-1", '""', "False", "0", "[]"])
    if default == '""':
        default = literal("", draft.double)
    if rng.random() < 0.4:
        index = env.fresh(rng, ["i", "idx", "pos", "index"])
        draft.body.append(f"for {index}, {element_name} in enumerate({iterable}):")
        returned = rng.choice([index, element_name, f"({index}, {element_name})"])
    else:
        draft.body.append(f"for {element_name} in {iterable}:")
        env.values[element_name] = elements[0]
        picked = (
            pick_expr(rng, env.values, element_name, draft.double) if rng.random() < 0.4 else None
        )
        returned = picked[0] if picked else rng.choice([element_name, "True"])
    draft.body.append(f"    if {cond}:")
    draft.body.append(f"        return {returned}")
    draft.body.append(f"return {default if returned != 'True' else 'False'}")
    return draft


def shape_while(rng: random.Random) -> Draft | None:
    """An index or a number stepped by a while loop."""
    kind = rng.choice(["str", "list_int", "list_str", "int", "int"])
    env, draft = _start(rng, [kind])
    name = draft.params[0]
    value = env.values[name]
    variant = rng.randrange(4)
    if kind == "int":
        acc = env.fresh(rng, ["total", "digits", "steps", "result", "count", "out"])
        name_value = abs(value) % 100000 + 1
        draft.args[0] = name_value
        body = rng.choice(
            [
                [
                    f"{acc} = 0",
                    f"while {name} > 0:",
                    f"    {acc} += {name} % 10",
                    f"    {name} //= 10",
                ],
                [
                    f"{acc} = []",
                    f"while {name} > 0:",
                    f"    {acc}.append({name} % {rng.randint(2, 10)})",
                    f"    {name} //= {rng.randint(2, 10)}",
                ],
                [
                    f"{acc} = 0",
                    f"while {name} > {rng.randint(1, 3)}:",
                    f"    {name} = {name} // 2",
                    f"    {acc} += 1",
                ],
                [f"{acc} = 1", f"while {acc} * 2 <= {name}:", f"    {acc} *= 2"],
                [
                    f"{acc} = 0",
                    f"while {name} % {rng.randint(2, 5)} == 0 and {name} > 0:",
                    f"    {name} //= 2",
                    f"    {acc} += 1",
                ],
            ]
        )
        draft.body = [*body, f"return {acc}" if rng.random() < 0.8 else f"return {acc}, {name}"]
        return draft
    i = env.fresh(rng, ["i", "idx", "pos", "j", "k"])
    acc = env.fresh(rng, ["result", "out", "total", "count", "picked", "parts"])
    step = rng.choice(["1", "1", "2", "3"])
    if variant == 0:
        draft.body = [
            f"{i} = 0",
            f"{acc} = []",
            f"while {i} < len({name}):",
            f"    {acc}.append({name}[{i}])",
            f"    {i} += {step}",
            f"return {acc}",
        ]
    elif variant == 1:
        draft.body = [
            f"{i} = len({name}) - 1",
            f"{acc} = []",
            f"while {i} >= 0:",
            f"    {acc}.append({name}[{i}])",
            f"    {i} -= {step}",
            f"return {acc}",
        ]
    elif variant == 2:
        elements = list(value)
        if not elements:
            return None
        element = elements[0]
        cond = condition(rng, f"{name}[{i}]", element, elements, draft.double)
        draft.body = [
            f"{i} = 0",
            f"while {i} < len({name}) and not ({cond}):",
            f"    {i} += 1",
            f"return {i}" if rng.random() < 0.5 else f"return {name}[:{i}]",
        ]
    else:
        left, right = i, env.fresh(rng, ["j", "end", "right", "hi"])
        draft.body = [
            f"{left}, {right} = 0, len({name}) - 1",
            f"{acc} = 0",
            f"while {left} < {right}:",
            f"    if {name}[{left}] == {name}[{right}]:",
            f"        {acc} += 1",
            f"    {left} += 1",
            f"    {right} -= 1",
            f"return {acc}",
        ]
    return draft


def shape_branch(rng: random.Random) -> Draft | None:
    """if / elif / else on a property of the argument, each branch returning its own value."""
    env, draft = _start(rng)
    name = draft.params[0]
    value = env.values[name]
    kind = kind_of(value)
    tests = {
        "str": [
            f"not {name}",
            f"{name}.isdigit()",
            f"len({name}) > {rng.randint(2, 10)}",
            f"{name}.startswith({literal(str(value)[:1] or 'a', draft.double)})",
            f"{name}.isupper()",
            f"{literal(' ', draft.double)} in {name}",
        ],
        "int": [
            f"{name} < 0",
            f"{name} == 0",
            f"{name} > {rng.randint(5, 100)}",
            f"{name} % 2 == 0",
        ],
    }.get(kind, [f"not {name}", f"len({name}) > {rng.randint(1, 4)}", f"len({name}) == 1"])
    first, second = rng.sample(tests, 2)
    outs = []
    for _ in range(3):
        picked = pick_expr(rng, env.values, name, draft.double)
        outs.append(picked[0] if picked else literal(a_word(rng), draft.double))
    draft.body = [f"if {first}:", f"    return {outs[0]}"]
    if rng.random() < 0.6:
        draft.body += [f"elif {second}:", f"    return {outs[1]}"]
    if rng.random() < 0.5:
        draft.body += ["else:", f"    return {outs[2]}"]
    else:
        draft.body += [f"return {outs[2]}"]
    return draft


def shape_mutate(rng: random.Random) -> Draft | None:
    """In-place list / dict / set updates, then the container (or something from it)."""
    kind = rng.choice(["list_int", "list_str", "dict", "dict", "list_int"])
    env, draft = _start(rng, [kind])
    name = draft.params[0]
    value = env.values[name]
    statements: list[str] = []
    for _ in range(rng.randint(1, 4)):
        if isinstance(value, list):
            item = literal(
                rng.choice(value)
                if value and rng.random() < 0.5
                else (a_word(rng) if kind == "list_str" else rng.randint(0, 20)),
                draft.double,
            )
            options = [
                f"{name}.append({item})",
                f"{name}.insert({rng.randint(0, 2)}, {item})",
                f"{name}.pop()",
                f"{name}.pop(0)",
                f"{name}.remove({item})",
                f"{name}.extend([{item}, {item}])",
                f"{name}.sort()",
                f"{name}.reverse()",
                f"{name}[{rng.randint(-2, 2)}] = {item}",
                f"del {name}[{rng.randint(0, 2)}]",
                f"{name}.sort(reverse=True)",
                f"{name} += [{item}]",
            ]
            if kind == "list_str":
                options.append(f"{name}.sort(key=len)")
        else:
            key = literal(
                rng.choice(list(value)) if value and rng.random() < 0.6 else a_word(rng),
                draft.double,
            )
            options = [
                f"{name}[{key}] = {rng.randint(0, 50)}",
                f"{name}[{key}] += {rng.randint(1, 5)}",
                f"{name}.pop({key})",
                f"{name}.pop({key}, None)",
                f"{name}.update({{{key}: {rng.randint(0, 9)}}})",
                f"{name}.setdefault({key}, {rng.randint(0, 9)})",
                f"del {name}[{key}]",
                f"{name}[{key}] = {name}.get({key}, 0) + 1",
            ]
        statement = rng.choice(options)
        trial = _copy(env.values)
        try:
            exec(statement, {}, trial)
        except Exception:
            continue
        env.values = trial
        value = trial[name]
        if (
            rng.random() < 0.25
            and not statement.startswith(("del", name + "[", name + " +="))
            and "=" not in statement.split("(")[0]
        ):
            target = env.fresh(rng, ["removed", "popped", "got", "last", "old", "r"])
            statement = f"{target} = {statement}"
        statements.append(statement)
    if not statements:
        return None
    draft.body = statements
    picked = pick_expr(rng, env.values, name, draft.double) if rng.random() < 0.3 else None
    draft.body.append(f"return {picked[0]}" if picked else f"return {name}")
    return draft


def shape_comprehension(rng: random.Random) -> Draft | None:
    """A one- or two-line function around a comprehension or generator over the argument."""
    env, draft = _start(
        rng, [rng.choice(["str", "list_int", "list_str", "dict", "nested", "pairs"])]
    )
    name = draft.params[0]
    picked = None
    for _ in range(20):
        picked = pick_expr(rng, env.values, name, draft.double)
        if picked and (" for " in picked[0] or "(" in picked[0]):
            break
    if picked is None:
        return None
    if rng.random() < 0.5:
        local = env.fresh(rng, LOCAL_NAMES)
        draft.body = [f"{local} = {picked[0]}", f"return {local}"]
    else:
        draft.body = [f"return {picked[0]}"]
    return draft


def shape_two_args(rng: random.Random) -> Draft | None:
    """Two arguments combined: zip, membership, lookups, merging, slicing by a count."""
    first = rng.choice(["list_int", "list_str", "str", "dict"])
    second = rng.choice(["int", "str", "list_int", "list_str"])
    env, draft = _start(rng, [first, second])
    a, b = draft.params
    va, vb = env.values[a], env.values[b]
    if isinstance(vb, int):
        draft.args[1] = vb = rng.randint(0, 5) if rng.random() < 0.7 else vb
        env.values[b] = vb
    options: list[str] = []
    if isinstance(vb, int):
        options += [
            f"{a}[:{b}]",
            f"{a}[{b}:]",
            f"{a}[-{b}:]" if vb else f"{a}[:]",
            f"{a}[::{b} or 1]",
            f"{a} * {b}",
            f"len({a}) > {b}",
        ]
        if isinstance(va, list | str):
            options += [f"{a}[{b} % len({a})]" if va else f"len({a})", f"{a}[{b}:] + {a}[:{b}]"]
    if isinstance(vb, str):
        options += [
            f"{b} in {a}",
            f"{a}.count({b})" if isinstance(va, str | list) else f"{b} in {a}",
        ]
        if isinstance(va, str):
            options += [
                f"{a}.split({b})" if vb else f"{a}.split()",
                f"{a}.replace({b}, {literal('', draft.double)})",
                f"{a}.startswith({b})",
                f"{b}.join({a}.split())",
                f"{a} + {b}",
                f"{a}.find({b})",
            ]
        if isinstance(va, dict):
            options += [f"{a}.get({b}, 0)", f"{a}.get({b})"]
        if isinstance(va, list):
            options += [f"{b}.join({a})" if first == "list_str" else f"{b} * len({a})"]
    if isinstance(vb, list):
        options += [
            f"list(zip({a}, {b}))",
            f"dict(zip({b}, {a}))" if first != "dict" else f"len({b})",
            f"[x for x in {b} if x in {a}]",
            f"len({a}) + len({b})",
        ]
        if isinstance(va, list):
            options += [
                f"{a} + {b}",
                f"sorted(set({a}) & set({b}))",
                f"sorted(set({a}) - set({b}))",
                f"[(x, y) for x in {a}[:2] for y in {b}[:2]]",
            ]
    rng.shuffle(options)
    for expr in options:
        ok, result = try_eval(expr, env.values)
        if ok and len(repr(result)) <= 90:
            if rng.random() < 0.5:
                local = env.fresh(rng, LOCAL_NAMES)
                draft.body = [f"{local} = {expr}", f"return {local}"]
            else:
                draft.body = [f"return {expr}"]
            return draft
    return None


def shape_loop_pairs(rng: random.Random) -> Draft | None:
    """Loops over neighbours or indices: range(1, len(x)), zip(x, x[1:]), nested for."""
    kind = rng.choice(["list_int", "str", "list_int", "list_str"])
    env, draft = _start(rng, [kind])
    name = draft.params[0]
    acc = env.fresh(rng, ["count", "result", "best", "changes", "out", "total"])
    i = env.fresh(rng, ["i", "j", "idx", "k"])
    variant = rng.randrange(4)
    if variant == 0:
        op = rng.choice([">", "<", "!=", "=="])
        draft.body = [
            f"{acc} = 0",
            f"for {i} in range(1, len({name})):",
            f"    if {name}[{i}] {op} {name}[{i} - 1]:",
            f"        {acc} += 1",
            f"return {acc}",
        ]
    elif variant == 1:
        a, b = (
            env.fresh(rng, ["a", "prev", "left", "x"]),
            env.fresh(rng, ["b", "cur", "right", "y"]),
        )
        update = f"{acc}.append({b} - {a})" if kind == "list_int" else f"{acc}.append({a} + {b})"
        draft.body = [
            f"{acc} = []",
            f"for {a}, {b} in zip({name}, {name}[1:]):",
            f"    {update}",
            f"return {acc}",
        ]
    elif variant == 2:
        j = env.fresh(rng, ["j", "k", "m"])
        draft.body = [
            f"{acc} = []",
            f"for {i} in range(len({name})):",
            f"    for {j} in range({i} + 1, len({name})):",
            f"        if {name}[{i}] == {name}[{j}]:",
            f"            {acc}.append(({i}, {j}))",
            f"return {acc}",
        ]
        if len(draft.args[0]) > 6:
            draft.args[0] = draft.args[0][:6]
    else:
        draft.body = [
            f"{acc} = []",
            f"for {i} in range(len({name}) - 1, -1, -{rng.choice([1, 1, 2])}):",
            f"    {acc}.append({name}[{i}])",
            f"return {acc}",
        ]
    return draft


def shape_helper(rng: random.Random) -> Draft | None:
    """A helper with an early return, called from a loop (argument copying into the callee)."""
    env, draft = _start(rng, [rng.choice(["list_str", "list_int", "str"])])
    name = draft.params[0]
    value = env.values[name]
    elements = list(value)
    if not elements or len(elements) > 6:
        return None
    helper_param = loop_name(rng, elements[0], env)
    element_name = env.fresh(rng, ["item", "x", "w", "part", "e"])
    env.values[helper_param] = elements[0]
    picked = pick_expr(rng, env.values, helper_param, draft.double)
    if picked is None:
        return None
    cond = condition(rng, helper_param, elements[0], elements, draft.double)
    helper = f"{rng.choice(['is', 'fix', 'to', 'norm', 'score', 'keep'])}_{rng.choice(['one', 'item', 'part', 'entry', 'value'])}"
    acc = env.fresh(rng, ["result", "out", "kept", "mapped"])
    draft.body = [
        f"{acc} = []",
        f"for {element_name} in {name}:",
        f"    {acc}.append({helper}({element_name}))",
        f"return {acc}",
    ]
    draft.helper = (  # type: ignore[attr-defined]
        f"def {helper}({helper_param}):\n    if {cond}:\n        return {picked[0]}\n"
        f"    return {helper_param}\n"
    )
    return draft


SHAPES: list[tuple[Callable[[random.Random], Draft | None], int]] = [
    (shape_chain, 16),
    (shape_accumulate, 24),
    (shape_search, 10),
    (shape_while, 10),
    (shape_branch, 8),
    (shape_mutate, 10),
    (shape_comprehension, 10),
    (shape_two_args, 8),
    (shape_loop_pairs, 6),
    (shape_helper, 6),
]


def runs_cleanly(source: str, call: str) -> bool:
    scope: dict[str, Any] = {}
    try:
        exec(source, scope)
        result = eval(call, scope)
    except Exception:
        return False
    return len(repr(result)) <= 120


def everyday_program(rng: random.Random) -> Program:
    shapes, weights = zip(*SHAPES, strict=True)
    while True:
        shape = rng.choices(shapes, weights)[0]
        draft = shape(rng)
        if draft is None or len(draft.body) > 14:
            continue
        name = function_name(rng)
        source = draft.source(name)
        helper = getattr(draft, "helper", None)
        if helper:
            source = helper + "\n\n" + source
        call = draft.call(name)
        if len(call) > 160 or not runs_cleanly(source, call):
            continue
        return Program(source, call)
