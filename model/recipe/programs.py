"""Random small Python programs in the style of everyday code, for the demo model's corpus.

``generate_program(rng)`` returns a module source plus a call expression. Programs are built from
typed "idioms" (accumulating loops, guarded updates, string/list/dict methods, comprehensions,
helpers, try/except, early returns) so every name used is defined and of the right type; a few
hand-shaped templates add recursion, classes, lambdas and closures. Inputs are random and small so
traces stay short. Some calls raise on purpose (caught and uncaught exceptions are part of the
trace format).
"""

from __future__ import annotations

import builtins
import keyword
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

INT, STR, LIST, WORDS, DICT = "int", "str", "list", "words", "dict"

NAMES = {
    INT: ["n", "k", "m", "total", "count", "acc", "steps", "best", "idx", "value", "score", "size"],
    STR: ["s", "text", "word", "name", "label", "line", "tag", "msg", "key", "code"],
    LIST: ["xs", "nums", "values", "items", "data", "scores", "row", "parts_n", "seq", "marks"],
    WORDS: ["words", "names", "tokens", "parts", "tags", "keys", "fields", "labels"],
    DICT: ["counts", "seen", "table", "index", "groups_n", "lookup", "freq", "totals"],
}
LOOP_NAMES = {INT: ["x", "v", "num", "item", "i"], STR: ["w", "t", "entry"], "char": ["c", "ch"]}
LOOP_NAMES_ALL = {n for names in LOOP_NAMES.values() for n in names} | {"i", "j", "_"}
SYLLABLES = ["ka", "lo", "mi", "ta", "ren", "zu", "bel", "or", "qi", "vat", "sn", "pe", "dor", "xi"]
SYLLABLES += [
    "ul",
    "gra",
    "mon",
    "fi",
    "st",
    "ap",
    "ne",
    "cor",
    "yak",
    "om",
    "el",
    "tr",
    "wi",
    "bu",
]
# Share of names drawn regardless of their pool's type (a list called `totals`, a loop
# variable called `value`, `for item in items`), so a name says nothing about its type; 0
# reproduces the corpora up to stage 5.
MIXED_NAME_RATE = 0.0
# Share of invented identifiers; 0 reproduces the stage-1 corpus (pool names only).
INVENTED_NAME_RATE = 0.5
VERBS = ["count", "sum", "find", "build", "make", "score", "check", "scale", "merge", "split"]
VERBS += ["collect", "filter", "clean", "pick", "rank", "encode", "tally", "shift", "pack"]
NOUNS = ["items", "words", "values", "letters", "total", "pairs", "runs", "steps", "keys", "mix"]
NOUNS += ["digits", "tokens", "stats", "chunks", "name", "label", "row", "list", "best"]
WORD_POOL = ["apple", "kiwi", "b", "data", "x1", "Hello", "a b", "yes", "no", "42", "7", "hat"]
WORD_POOL += ["tree", "moon", "Cat", "dog", "red", "zz", "abc", "code", "  pad ", "go", "sun"]
WORD_POOL += ["level", "ok", "é", "", "3x", "AbC", "rose", "ice", "mix-up", "ten", "a,b"]
# Share of string values that are made-up words (any letters, sometimes accents, quotes,
# backslashes, tabs or newlines) rather than WORD_POOL entries, so the model learns to copy
# strings it has never seen; 0 reproduces the corpora up to stage 4.
RANDOM_WORD_RATE = 0.0
WORD_EXTRAS = [
    "é",
    "ü",
    "ñ",
    "ß",
    "ø",
    "ç",
    "à",
    "Ω",
    "中",
    "'",
    '"',
    "\\",
    "\n",
    "\t",
    " ",
    "-",
    "!",
]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CHARS = ["a", "e", "o", "x", " ", "-", "1", "s", "t", ","]


@dataclass
class Program:
    source: str
    call: str
    # function name -> (parameter kinds, return kind or "?"), where the generator knows them;
    # realfiles.py turns them into type hints and doctest inputs
    signatures: dict[str, tuple[list[str], str]] = field(default_factory=dict)


@dataclass
class Scope:
    vars: dict[str, str] = field(default_factory=dict)

    def of(self, kind: str) -> list[str]:
        return [name for name, t in self.vars.items() if t == kind]


class Builder:
    """Builds one function body as indented source lines from typed idioms."""

    def __init__(self, rng: random.Random, scope: Scope, helpers: dict[str, tuple[str, str]]):
        self.rng = rng
        self.scope = scope
        self.helpers = helpers  # name -> (param type, return type)
        self.lines: list[str] = []
        self.loop_vars: set[str] = set()

    # --- values and names -------------------------------------------------------------
    def const(self, kind: str) -> str:
        r = self.rng
        if kind == INT:
            return str(r.randint(-3, 12))
        if kind == STR:
            return repr(word(r))
        if kind == LIST:
            return repr([r.randint(-4, 15) for _ in range(r.randint(0, 4))])
        if kind == WORDS:
            return repr([word(r) for _ in range(r.randint(0, 3))])
        return repr({word(r): r.randint(0, 9) for _ in range(r.randint(0, 3))})

    def fresh(self, kind: str) -> str:
        pool = [n for n in names_for(self.rng, kind) if n not in self.scope.vars]
        name = self.rng.choice(pool) if pool else f"{NAMES[kind][0]}{len(self.scope.vars)}"
        if chance(self.rng, INVENTED_NAME_RATE / 2):
            invented = invented_name(self.rng, short=True)
            taken = set(self.scope.vars) | self.loop_vars | set(self.helpers) | set(dir(builtins))
            if invented not in taken and invented not in LOOP_NAMES_ALL:
                name = invented
        return name

    def targets(self, kind: str) -> list[str]:
        return [name for name in self.scope.of(kind) if name not in self.loop_vars]

    def var(self, kind: str) -> str | None:
        names = self.scope.of(kind)
        return self.rng.choice(names) if names else None

    def pick(self, kind: str) -> str:
        return self.var(kind) or self.const(kind)

    # --- expressions ----------------------------------------------------------------------
    def int_expr(self) -> str:
        r = self.rng
        a = self.pick(INT)
        options = [
            lambda: a,
            lambda: f"{a} {r.choice(['+', '-', '*'])} {self.pick(INT)}",
            lambda: f"{a} {r.choice(['//', '%'])} {r.randint(2, 5)}",
            lambda: f"len({self.pick(r.choice([STR, LIST, WORDS]))})",
            lambda: f"sum({self.pick(LIST)})",
            lambda: f"max({self.pick(LIST)}, default={r.randint(-1, 3)})",
            lambda: f"{self.pick(STR)}.count({r.choice(CHARS)!r})",
            lambda: f"{self.pick(STR)}.find({r.choice(CHARS)!r})",
            lambda: f"abs({a} - {self.pick(INT)})",
            lambda: f"min({a}, {self.pick(INT)})",
            lambda: f"{self.pick(DICT)}.get({self.pick(STR)}, {r.randint(0, 2)})",
            lambda: (
                f"sum(1 for {self._lv(STR)} in {self.pick(WORDS)} if len({self._last}) > {r.randint(1, 3)})"
            ),
            lambda: f"{a} ** 2",
            lambda: f"int({self.pick(STR)})",  # may raise ValueError
            lambda: f"{self.pick(LIST)}[{r.randint(-2, 3)}]",  # may raise IndexError
        ]
        return r.choice(options)()

    _last = "x"

    def _lv(self, kind: str) -> str:
        names = LOOP_NAMES[kind]
        if chance(self.rng, MIXED_NAME_RATE):
            names = [n for pool in NAMES.values() for n in pool] + LOOP_NAMES[kind]
        taken = set(self.scope.vars) | set(self.helpers)
        self._last = self.rng.choice([n for n in names if n not in taken])
        return self._last

    def _singular(self, iterable: str, fallback: str) -> str:
        """`value` for `values` (at MIXED_NAME_RATE), the commonest loop-variable idiom."""
        if not chance(self.rng, MIXED_NAME_RATE):
            return fallback
        name = iterable[:-1]
        taken = set(self.scope.vars) | set(self.helpers) | set(dir(builtins))
        plural = iterable.isidentifier() and iterable.endswith("s") and len(name) > 1
        if plural and name not in taken and not keyword.iskeyword(name):
            self._last = name
            return name
        return fallback

    def str_expr(self) -> str:
        r = self.rng
        s = self.pick(STR)
        options = [
            lambda: s,
            lambda: (
                f"{s}.{r.choice(['upper', 'lower', 'strip', 'title', 'capitalize', 'swapcase'])}()"
            ),
            lambda: f"{s}.replace({r.choice(CHARS)!r}, {r.choice([*CHARS, ''])!r})",
            lambda: f"{s}[::-1]",
            lambda: f"{s}[{r.randint(0, 2)}:{r.randint(2, 5)}]",
            lambda: f"{s} + {self.const(STR)}",
            lambda: f"str({self.pick(INT)})",
            lambda: fstring_pair(s, self.pick(INT)),
            lambda: f"{r.choice(['-', ' ', '', ', '])!r}.join({self.pick(WORDS)})",
            lambda: f"{s} * {r.randint(0, 3)}",
            lambda: f"{s}.rstrip({r.choice(CHARS)!r})",
            lambda: f"{self.pick(WORDS)}[{r.randint(-1, 2)}]",  # may raise IndexError
        ]
        return r.choice(options)()

    def list_expr(self) -> str:
        r = self.rng
        xs = self.pick(LIST)
        options = [
            lambda: xs,
            lambda: f"sorted({xs})",
            lambda: f"{xs}[{r.randint(0, 2)}:]",
            lambda: f"{xs}[::-1]",
            lambda: f"[{(v := self._lv(INT))} * {r.randint(2, 4)} for {v} in {xs}]",
            lambda: (
                f"[{(v := self._lv(INT))} for {v} in {xs} if {v} {r.choice(['>', '<', '!='])} {r.randint(0, 6)}]"
            ),
            lambda: f"list(range({r.randint(0, 5)}))",
            lambda: f"{xs} + [{self.pick(INT)}]",
            lambda: f"[len({(w := self._lv(STR))}) for {w} in {self.pick(WORDS)}]",
            lambda: f"sorted({xs}, reverse=True)",
        ]
        return r.choice(options)()

    def words_expr(self) -> str:
        r = self.rng
        ws = self.pick(WORDS)
        options = [
            lambda: ws,
            lambda: f"{self.pick(STR)}.split()",
            lambda: f"{self.pick(STR)}.split({r.choice([',', '-', 'a'])!r})",
            lambda: f"sorted({ws})",
            lambda: f"[{(w := self._lv(STR))}.upper() for {w} in {ws}]",
            lambda: f"[{(w := self._lv(STR))} for {w} in {ws} if len({w}) > {r.randint(1, 3)}]",
            lambda: f"sorted({ws}, key=lambda {(w := self._lv(STR))}: len({w}))",
            lambda: f"list({self.pick(STR)}[:{r.randint(1, 4)}])",
        ]
        return r.choice(options)()

    def dict_expr(self) -> str:
        r = self.rng
        options = [
            lambda: "{}",
            lambda: f"{{{(w := self._lv(STR))}: len({w}) for {w} in {self.pick(WORDS)}}}",
            lambda: f"dict(zip({self.pick(WORDS)}, {self.pick(LIST)}))",
            lambda: self.const(DICT),
        ]
        return r.choice(options)()

    def grounded(self, make: Callable[[], str]) -> str:
        """Prefer expressions that read a variable in scope (real code rarely computes constants)."""
        text = make()
        for _ in range(4):
            if set(_IDENTIFIER.findall(text)) & set(self.scope.vars):
                break
            text = make()
        return text

    def expr(self, kind: str) -> str:
        return self.grounded(
            {
                INT: self.int_expr,
                STR: self.str_expr,
                LIST: self.list_expr,
                WORDS: self.words_expr,
                DICT: self.dict_expr,
            }[kind]
        )

    def cond(self) -> str:
        return self.grounded(self._cond)

    def _cond(self) -> str:
        r = self.rng
        options = [
            lambda: f"{self.pick(INT)} {r.choice(['>', '<', '>=', '==', '!='])} {self.pick(INT)}",
            lambda: f"{self.pick(INT)} % 2 == {r.randint(0, 1)}",
            lambda: f"{self.pick(STR)}.startswith({r.choice(CHARS)!r})",
            lambda: f"{r.choice(CHARS)!r} in {self.pick(STR)}",
            lambda: f"{self.pick(INT)} in {self.pick(LIST)}",
            lambda: f"len({self.pick(r.choice([LIST, WORDS, STR]))}) > {r.randint(0, 4)}",
            lambda: f"not {self.pick(r.choice([LIST, WORDS, DICT]))}",
            lambda: f"{self.pick(STR)}.{r.choice(['isdigit', 'isalpha', 'islower'])}()",
            lambda: f"{self.pick(STR)} in {self.pick(DICT)}",
        ]
        return r.choice(options)()

    # --- statements -----------------------------------------------------------------------
    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def assign_new(self, indent: int) -> None:
        kind = self.rng.choice([INT, INT, STR, STR, LIST, WORDS, DICT])
        value = self.expr(kind)
        name = self.fresh(kind)
        self.emit(indent, f"{name} = {value}")
        self.scope.vars[name] = kind

    def update(
        self, indent: int, loop_var: str | None = None, loop_kind: str | None = None
    ) -> None:
        """A statement that changes an existing variable (safe inside loops and branches)."""
        r = self.rng
        choices: list[str] = []
        if self.targets(INT):
            n = r.choice(self.targets(INT))
            delta = loop_var if loop_kind == INT and loop_var else self.pick(INT)
            if loop_kind in (STR, "char") and loop_var:
                delta = f"len({loop_var})"
            choices += [
                f"{n} += {delta}",
                f"{n} -= {r.randint(1, 3)}",
                f"{n} = {n} * {r.randint(2, 3)}",
                f"{n} += 1",
            ]
        if self.targets(LIST):
            xs = r.choice(self.targets(LIST))
            item = loop_var if loop_kind == INT and loop_var else self.pick(INT)
            choices += [f"{xs}.append({item})", f"{xs}.insert(0, {item})"]
        if self.targets(WORDS) and loop_kind in (STR, "char") and loop_var:
            ws = r.choice(self.targets(WORDS))
            choices += [f"{ws}.append({loop_var})", f"{ws}.append({loop_var}.upper())"]
        if self.targets(DICT):
            d = r.choice(self.targets(DICT))
            key = loop_var if loop_kind in (STR, "char") and loop_var else self.pick(STR)
            choices += [f"{d}[{key}] = {d}.get({key}, 0) + 1", f"{d}[{key}] = {self.pick(INT)}"]
        if self.targets(STR):
            s = r.choice(self.targets(STR))
            piece = (
                loop_var if loop_kind in (STR, "char") and loop_var else f"str({self.pick(INT)})"
            )
            choices += [f"{s} = {s} + {piece}", f"{s} += {r.choice(CHARS)!r}"]
        if not choices:
            name = self.fresh(INT)
            self.scope.vars[name] = INT
            self.emit(indent, f"{name} = {self.const(INT)}")
            return
        self.emit(indent, r.choice(choices))

    def accumulator(self, indent: int) -> None:
        kind = self.rng.choice([INT, INT, LIST, DICT, STR, WORDS])
        init = {INT: "0", LIST: "[]", DICT: "{}", STR: "''", WORDS: "[]"}[kind]
        if kind == INT and self.rng.random() < 0.3:
            init = str(self.rng.randint(1, 5))
        name = self.fresh(kind)
        self.emit(indent, f"{name} = {init}")
        self.scope.vars[name] = kind

    def for_loop(self, indent: int) -> None:
        r = self.rng
        self.accumulator(indent)
        source_kind = r.choice([LIST, WORDS, "range", "chars"])
        if source_kind == LIST:
            var, kind, it = self._lv(INT), INT, self.pick(LIST)
            var = self._singular(it, var)
        elif source_kind == WORDS:
            var, kind, it = self._lv(STR), STR, self.pick(WORDS)
            var = self._singular(it, var)
        elif source_kind == "range":
            var, kind = self._lv(INT), INT
            it = r.choice([f"range({r.randint(1, 4)})", f"range(len({self.pick(LIST)}))"])
        else:
            var, kind, it = self._lv("char"), "char", self.pick(STR)
        index_var = None
        if r.random() < 0.15 and kind == INT:
            index_var = "i" if var != "i" else "j"
            self.emit(indent, f"for {index_var}, {var} in enumerate({it}):")
            self.scope.vars[index_var] = INT
        else:
            self.emit(indent, f"for {var} in {it}:")
        self.scope.vars[var] = INT if kind == INT else STR
        self.loop_vars.add(var)
        if index_var:
            self.loop_vars.add(index_var)
        body = r.random()
        if body < 0.4:
            self.update(indent + 1, var, kind)
        elif body < 0.8:
            test = (
                f"{var} {r.choice(['>', '<', '==', '!='])} {self.pick(INT)}"
                if kind == INT
                else f"{var} {r.choice(['in', 'not in'])} {r.choice(['aeiou', 'xyz', 'abc'])!r}"
                if kind == "char"
                else f"len({var}) {r.choice(['>', '<'])} {r.randint(1, 4)}"
            )
            self.emit(indent + 1, f"if {test}:")
            self.update(indent + 2, var, kind)
            if r.random() < 0.4:
                self.emit(indent + 1, "else:")
                self.update(indent + 2, var, kind)
            elif r.random() < 0.2:
                self.emit(indent + 2, r.choice(["break", "continue"]))
        else:
            self.update(indent + 1, var, kind)
            self.update(indent + 1, var, kind)
        del self.scope.vars[var]
        self.loop_vars.discard(var)
        if index_var:
            del self.scope.vars[index_var]
            self.loop_vars.discard(index_var)

    def while_loop(self, indent: int) -> None:
        r = self.rng
        n = self.fresh(INT)
        self.emit(indent, f"{n} = {self.pick(INT)}")
        self.scope.vars[n] = INT
        steps = self.fresh(INT)
        self.emit(indent, f"{steps} = 0")
        self.scope.vars[steps] = INT
        kind = r.choice(["halve", "count_down", "grow"])
        if kind == "halve":
            self.emit(indent, f"while {n} > {r.randint(0, 2)}:")
            self.emit(indent + 1, f"{n} //= {r.randint(2, 3)}")
        elif kind == "count_down":
            self.emit(indent, f"while {n} > 0:")
            self.emit(indent + 1, f"{n} -= {r.randint(2, 4)}")
        else:
            self.emit(indent, f"while {n} < {r.randint(5, 30)}:")
            self.emit(indent + 1, f"{n} = {n} * 2 + 1")
        self.emit(indent + 1, f"{steps} += 1")

    def if_block(self, indent: int) -> None:
        r = self.rng
        self.emit(indent, f"if {self.cond()}:")
        if r.random() < 0.35:
            kind = r.choice(list(self.scope.vars.values()) or [INT])
            self.emit(indent + 1, f"return {self.expr(kind)}")
        elif r.random() < 0.1:
            self.emit(indent + 1, f"raise ValueError({self.str_expr()})")
        else:
            self.update(indent + 1)
        if r.random() < 0.3:
            self.emit(indent, f"elif {self.cond()}:")
            self.update(indent + 1)
        if r.random() < 0.5:
            self.emit(indent, "else:")
            self.update(indent + 1)

    def try_block(self, indent: int) -> None:
        r = self.rng
        name = self.fresh(INT)
        risky, error = r.choice(
            [
                (f"int({self.pick(STR)})", "ValueError"),
                (f"{self.pick(LIST)}[{self.pick(INT)}]", "IndexError"),
                (f"{self.pick(DICT)}[{self.pick(STR)}]", "KeyError"),
                (f"{self.pick(INT)} // {self.pick(INT)}", "ZeroDivisionError"),
            ]
        )
        self.emit(indent, "try:")
        self.emit(indent + 1, f"{name} = {risky}")
        self.emit(indent, f"except {error}:")
        self.emit(indent + 1, f"{name} = {self.const(INT)}")
        self.scope.vars[name] = INT

    def helper_call(self, indent: int) -> None:
        candidates = [
            (h, p, ret) for h, (p, ret) in self.helpers.items() if self.var(p) or p in (INT, STR)
        ]
        if not candidates:
            self.assign_new(indent)
            return
        helper, param, ret = self.rng.choice(candidates)
        name = self.fresh(ret)
        self.emit(indent, f"{name} = {helper}({self.pick(param)})")
        self.scope.vars[name] = ret

    def body(self, blocks: int) -> None:
        r = self.rng
        for _ in range(blocks):
            roll = r.random()
            if roll < 0.25:
                self.assign_new(1)
            elif roll < 0.5:
                self.for_loop(1)
            elif roll < 0.58:
                self.while_loop(1)
            elif roll < 0.75:
                self.if_block(1)
            elif roll < 0.83:
                self.try_block(1)
            elif roll < 0.95:
                self.helper_call(1)
            else:
                self.update(1)
        kind = r.choice(list(self.scope.vars.values()))
        if r.random() < 0.7:
            self.emit(1, f"return {r.choice(self.scope.of(kind))}")
        else:
            self.emit(1, f"return {self.expr(kind)}")


def chance(rng: random.Random, rate: float) -> bool:
    """True with probability ``rate``; draws nothing when ``rate`` is 0, so a corpus made with
    a feature switched off is the same as one made before the feature existed."""
    return bool(rate) and rng.random() < rate


def fstring_pair(text: str, number: str) -> str:
    """``f"{text}-{number}"``, or the same value by concatenation when ``text`` is a literal an
    f-string cannot hold before Python 3.12 (a backslash or a double quote: made-up words)."""
    if "\\" in text or '"' in text:
        return f"{text} + '-' + str({number})"
    return f'f"{{{text}}}-{{{number}}}"'


def word(rng: random.Random) -> str:
    """A string value: from WORD_POOL, or made up at RANDOM_WORD_RATE."""
    if not chance(rng, RANDOM_WORD_RATE):
        return rng.choice(WORD_POOL)
    alphabet = string.ascii_lowercase if rng.random() < 0.7 else string.ascii_letters + "0123456789"
    chars = [rng.choice(alphabet) for _ in range(rng.randint(1, 10))]
    for _ in range(rng.choice([0, 0, 1, 2])):
        chars.insert(rng.randint(0, len(chars)), rng.choice(WORD_EXTRAS))
    return "".join(chars)


def invented_name(rng: random.Random, *, short: bool = False) -> str:
    """A made-up identifier: names in user code are arbitrary, so the model must copy them."""
    if short and rng.random() < 0.5:
        return rng.choice("abcdfghpqruvwyz")
    words = [
        "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(1, 1 if short else 3))
    ]
    name = "_".join(words)
    return name if name.isidentifier() and not keyword.iskeyword(name) else "val"


def _function_name(rng: random.Random, taken: set[str]) -> str:
    while True:
        if chance(rng, INVENTED_NAME_RATE):
            name = invented_name(rng)
        else:
            name = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
        if name not in taken and name not in dir(builtins):
            taken.add(name)
            return name


def names_for(rng: random.Random, kind: str) -> list[str]:
    """The name pool for a variable of ``kind``: another kind's at MIXED_NAME_RATE."""
    if chance(rng, MIXED_NAME_RATE):
        return NAMES[rng.choice(sorted(NAMES))]
    return NAMES[kind]


def _param_names(rng: random.Random, kinds: list[str]) -> list[str]:
    names: list[str] = []
    for kind in kinds:
        pool = [n for n in names_for(rng, kind) if n not in names]
        name = rng.choice(pool)
        if chance(rng, INVENTED_NAME_RATE):
            name = invented_name(rng, short=True)
        names.append(name if name not in names and name not in dir(builtins) else pool[0])
    return names


def _helper(rng: random.Random, taken: set[str]) -> tuple[str, str, str, list[str]]:
    name = _function_name(rng, taken)
    param_kind = rng.choice([INT, STR, LIST, WORDS])
    param = _param_names(rng, [param_kind])[0]
    builder = Builder(rng, Scope({param: param_kind}), {})
    builder.body(1)
    ret_kind = _return_kind(builder.lines[-1], builder.scope)
    return name, param_kind, ret_kind, [f"def {name}({param}):", *builder.lines]


def _return_kind(return_line: str, scope: Scope) -> str:
    value = return_line.strip().removeprefix("return ")
    return scope.vars.get(value, "?")


def random_function_program(rng: random.Random) -> Program:
    taken: set[str] = set()
    chunks: list[list[str]] = []
    helpers: dict[str, tuple[str, str]] = {}
    signatures: dict[str, tuple[list[str], str]] = {}
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        name, param_kind, ret_kind, lines = _helper(rng, taken)
        if ret_kind != "?":
            helpers[name] = (param_kind, ret_kind)
            signatures[name] = ([param_kind], ret_kind)
            chunks.append(lines)
    name = _function_name(rng, taken)
    kinds = [rng.choice([INT, INT, STR, STR, LIST, WORDS, DICT]) for _ in range(rng.randint(1, 3))]
    params = _param_names(rng, kinds)
    builder = Builder(rng, Scope(dict(zip(params, kinds, strict=True))), helpers)
    builder.body(rng.choice([1, 1, 2, 2, 3]))
    chunks.append([f"def {name}({', '.join(params)}):", *builder.lines])
    args = ", ".join(builder.const(kind) for kind in kinds)
    source = "\n\n".join("\n".join(chunk) + "\n" for chunk in chunks)
    signatures[name] = (kinds, _return_kind(builder.lines[-1], builder.scope))
    return Program(source, f"{name}({args})", signatures)


# --- hand-shaped templates: recursion, classes, closures, generators ------------------------


def _recursion(rng: random.Random) -> Program:
    kind = rng.choice(["fact", "fib", "total_digits", "power", "gcd", "rev", "count_down", "depth"])
    invent = chance(rng, INVENTED_NAME_RATE)
    f = invented_name(rng) if invent else kind
    n = rng.randint(0, 5)
    if kind == "fact":
        src = f"def {f}(n):\n    if n <= 1:\n        return 1\n    return n * {f}(n - 1)\n"
        call = f"{f}({n})"
    elif kind == "fib":
        src = f"def {f}(n):\n    if n < 2:\n        return n\n    return {f}(n - 1) + {f}(n - 2)\n"
        call = f"{f}({min(n, 4)})"
    elif kind == "total_digits":
        src = f"def {f}(n):\n    if n < 10:\n        return n\n    return n % 10 + {f}(n // 10)\n"
        call = f"{f}({rng.randint(0, 9999)})"
    elif kind == "power":
        src = f"def {f}(b, e):\n    if e == 0:\n        return 1\n    half = {f}(b, e // 2)\n"
        src += "    if e % 2:\n        return half * half * b\n    return half * half\n"
        call = f"{f}({rng.randint(-3, 5)}, {rng.randint(0, 6)})"
    elif kind == "gcd":
        src = f"def {f}(a, b):\n    if b == 0:\n        return a\n    return {f}(b, a % b)\n"
        call = f"{f}({rng.randint(0, 60)}, {rng.randint(0, 40)})"
    elif kind == "rev":
        src = f"def {f}(s):\n    if not s:\n        return ''\n    return {f}(s[1:]) + s[0]\n"
        call = f"{f}({word(rng)[:4]!r})"
    elif kind == "count_down":
        src = f"def {f}(n, out):\n    if n < 0:\n        return out\n    out.append(n)\n"
        src += f"    return {f}(n - 1, out)\n"
        call = f"{f}({min(n, 4)}, [])"
    else:
        src = f"def {f}(xs):\n    if not isinstance(xs, list):\n        return 0\n"
        src += f"    return 1 + max(({f}(x) for x in xs), default=0)\n"
        call = f"{f}({rng.choice(['[]', '[1, [2]]', '[[[]]]', '[3, [4, [5]]]', '7'])})"
    return Program(src, call)


def _klass(rng: random.Random) -> Program:
    kind = rng.choice(["counter", "stack", "account"])
    if kind == "counter":
        src = (
            "class Counter:\n    def __init__(self, start):\n        self.value = start\n\n"
            "    def bump(self, times):\n        for _ in range(times):\n"
            f"            self.value += {rng.randint(1, 3)}\n        return self.value\n"
        )
        call = f"Counter({rng.randint(0, 9)}).bump({rng.randint(0, 3)})"
    elif kind == "stack":
        src = (
            "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
            "    def push(self, x):\n        self.items.append(x)\n        return self\n\n"
            "    def pop(self):\n        return self.items.pop()\n\n\n"
            "def run_stack(values, pops):\n    st = Stack()\n    for v in values:\n"
            "        st.push(v)\n    out = []\n    for _ in range(pops):\n"
            "        out.append(st.pop())\n    return out\n"
        )
        values = [rng.randint(0, 9) for _ in range(rng.randint(0, 3))]
        call = f"run_stack({values}, {rng.randint(0, 3)})"
    else:
        src = (
            "class Account:\n    def __init__(self, owner, balance=0):\n        self.owner = owner\n"
            "        self.balance = balance\n\n    def withdraw(self, amount):\n"
            "        if amount > self.balance:\n"
            "            raise ValueError('insufficient funds')\n"
            "        self.balance -= amount\n        return self.balance\n\n\n"
            "def settle(amounts):\n    acct = Account('ann', 10)\n    for a in amounts:\n"
            "        try:\n            acct.withdraw(a)\n        except ValueError:\n"
            "            return -1\n    return acct.balance\n"
        )
        call = f"settle({[rng.randint(0, 7) for _ in range(rng.randint(0, 3))]})"
    return Program(src, call)


def _closure(rng: random.Random) -> Program:
    k = rng.randint(1, 5)
    kind = rng.choice(["closure", "generator", "lambda_map"])
    values = [rng.randint(-2, 6) for _ in range(rng.randint(0, 4))]
    if kind == "closure":
        src = (
            "def scaled(values, k):\n    def scale(v):\n        return v * k\n"
            "    return [scale(v) for v in values if v]\n"
        )
        return Program(src, f"scaled({values}, {k})")
    if kind == "generator":
        src = (
            "def evens(limit):\n    n = 0\n    while n < limit:\n        yield n\n        n += 2\n\n\n"
            "def total_evens(limit):\n    total = 0\n    for e in evens(limit):\n        total += e\n"
            "    return total\n"
        )
        return Program(src, f"total_evens({rng.randint(0, 7)})")
    src = (
        "def apply_all(values, k):\n    ops = [lambda v: v + k, lambda v: v * k]\n"
        "    out = []\n    for op in ops:\n        out.append([op(v) for v in values])\n    return out\n"
    )
    return Program(src, f"apply_all({values[:2]}, {k})")


def generate_program(rng: random.Random) -> Program:
    roll = rng.random()
    if roll < 0.8:
        return random_function_program(rng)
    if roll < 0.9:
        return _recursion(rng)
    if roll < 0.95:
        return _klass(rng)
    return _closure(rng)


def harness(source: str, call: str) -> str:
    """The traced context: module source plus the marked ``main`` harness (as in the goldens)."""
    return f"{source}\ndef main():  # << START_OF_TRACE\n    return {call}\n"
