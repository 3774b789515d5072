"""Everyday Python idioms the statement builder of ``programs.py`` cannot write, for the corpus.

``programs.py`` composes typed statements, so its loops always have a plain condition, its dicts
are only counted into, and its strings rarely hold quotes. Stage 5c still went wrong on exactly
such code: ``while True:`` left by ``break``, ``setdefault(key, []).append(item)``, words wrapped
in quotes and joined with tabs, a helper called from a driver over a 10-letter word (40+
frames), exception messages whose repr needs double quotes. ``idiom_program(rng)`` writes one of
ten such shapes, each with its own random names, constants, operators and inputs, so the model
sees the idiom in many forms rather than one program.
"""

from __future__ import annotations

import builtins
import keyword
import random
from collections.abc import Callable

from programs import NAMES, Program, invented_name, word

ROLE_NAMES = {
    "int": ["n", "k", "total", "count", "acc", "steps", "num", "value", "score", "size", "y"],
    "limit": ["limit", "cap", "bound", "target", "goal", "stop", "top", "most", "n"],
    "str": ["s", "text", "word", "line", "raw", "msg", "phrase", "sentence", "label"],
    "char": ["c", "ch", "letter", "char", "symbol", "target"],
    "list": ["values", "items", "nums", "xs", "data", "parts", "words", "out", "result", "seen"],
    "dict": ["groups", "counts", "buckets", "by_key", "table", "index", "seen", "freq"],
    "loop": ["w", "x", "v", "item", "word", "value", "entry", "part", "token", "i"],
    "func": ["report", "summarize", "describe", "render", "build", "tally", "group_items"],
    "class": ["Counter", "Tally", "Meter", "Box", "Gauge", "Clock", "Bank", "Score", "Ledger"],
    "attr": ["value", "total", "count", "level", "items", "amount", "n", "size"],
}
VERB = ["count", "find", "group", "quote", "parse", "collect", "scale", "first", "format", "tally"]
NOUN = ["letters", "words", "square", "port", "values", "items", "ratio", "answer", "keys", "runs"]
JOINERS = ['" "', '", "', '"\\t"', '"\\n"', '"-"', '"|"', '""', "' '", "'\\t'", "','"]


class Names:
    """Distinct identifiers for one program, drawn per role: usual names, names from another
    role, or invented ones, so no name implies its value's type."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taken: set[str] = {"main"}

    def __call__(self, role: str) -> str:
        r = self.rng
        for _ in range(50):
            roll = r.random()
            if role == "class":
                name = r.choice(ROLE_NAMES["class"]) if roll < 0.7 else invented_name(r).title()
                name = name.replace("_", "")
            elif role == "func":
                name = (
                    f"{r.choice(VERB)}_{r.choice(NOUN)}"
                    if roll < 0.5
                    else r.choice(ROLE_NAMES["func"])
                    if roll < 0.7
                    else invented_name(r)
                )
            elif roll < 0.6:
                name = r.choice(ROLE_NAMES[role])
            elif roll < 0.8:
                name = r.choice(r.choice([*ROLE_NAMES.values(), *NAMES.values()]))
            else:
                name = invented_name(r, short=role in ("loop", "char"))
            ok = name.isidentifier() and not keyword.iskeyword(name)
            if ok and name not in self.taken and name not in dir(builtins) and name != "self":
                self.taken.add(name)
                return name
        name = f"v{len(self.taken)}"
        self.taken.add(name)
        return name


def _text_literal(rng: random.Random, value: str) -> str:
    """``value`` as a source literal, in double quotes when it allows (black style)."""
    single = repr(value)
    if rng.random() < 0.6 and '"' not in value:
        return '"' + single[1:-1].replace("\\'", "'") + '"'
    return single


def _sentence(rng: random.Random, words: int) -> str:
    pool = ["it's", "café", "don't", "a", "the", "day", "night", "O'Brien", "naïve", "x"]
    pool += ['say "hi"', "tab\there", "new\nline", "back\\slash", "rock'n'roll", "ok", "ünï"]
    return " ".join(rng.choice(pool) if rng.random() < 0.5 else word(rng) for _ in range(words))


def search_loop(rng: random.Random, nm: Names) -> Program:
    """``while True:`` stepped until a test breaks out (or returns from inside)."""
    f, limit, k = nm("func"), nm("limit"), nm("int")
    start = rng.randint(1, 3)
    step = rng.choice(["+= 1", "+= 1", f"+= {rng.randint(2, 4)}", f"= {k} * 2", f"= {k} * 2 + 1"])
    test = rng.choice(
        [
            f"{k} * {k} > {limit}",
            f"{k} > {limit}",
            f"{k} >= {limit}",
            f"{k} % {rng.randint(3, 7)} == 0",
            f"{k} * {rng.randint(2, 5)} > {limit}",
        ]
    )
    lines = [f"def {f}({limit}):", f"    {k} = {start}"]
    counter = nm("int") if rng.random() < 0.35 else None
    if counter:
        lines.append(f"    {counter} = 0")
    head = "while True:" if rng.random() < 0.75 else f"while {k} < {rng.randint(20, 90)}:"
    lines += [f"    {head}", f"        {k} {step}"]
    if counter:
        lines.append(f"        {counter} += 1")
    lines.append(f"        if {test}:")
    result = f"{k}, {counter}" if counter and rng.random() < 0.5 else k
    if rng.random() < 0.25:
        lines += [f"            return {result}", "    return -1"]
    else:
        lines += ["            break", f"    return {result}"]
    return Program("\n".join(lines) + "\n", f"{f}({rng.randint(0, 60)})")


def grouping(rng: random.Random, nm: Names) -> Program:
    """A dict built in a loop: setdefault lists, get counts, membership tests, last-wins."""
    f, items, groups, w, key = nm("func"), nm("list"), nm("dict"), nm("loop"), nm("str")
    use_words = rng.random() < 0.65
    if use_words:
        values: list[object] = [word(rng) for _ in range(rng.randint(0, 6))]
        key_expr = rng.choice([f"len({w})", f"{w}[:1]", f"{w}.lower()", f"len({w}) % 2"])
    else:
        values = [rng.randint(-5, 30) for _ in range(rng.randint(0, 7))]
        key_expr = rng.choice(
            [f"{w} % {rng.randint(2, 4)}", f"{w} > {rng.randint(0, 9)}", f"{w} // 10"]
        )
    inline = rng.random() < 0.3
    k = key_expr if inline else key
    update = rng.choice(
        [
            [f"{groups}.setdefault({k}, []).append({w})"],
            [f"{groups}[{k}] = {groups}.get({k}, 0) + 1"],
            [f"if {k} not in {groups}:", f"    {groups}[{k}] = []", f"{groups}[{k}].append({w})"],
            [f"{groups}.setdefault({k}, 0)", f"{groups}[{k}] += 1"],
            [f"{groups}[{k}] = {w}"],
        ]
    )
    lines = [f"def {f}({items}):", f"    {groups} = {{}}", f"    for {w} in {items}:"]
    if not inline:
        lines.append(f"        {key} = {key_expr}")
    lines += [f"        {line}" for line in update]
    lines.append(f"    return {groups}" if rng.random() < 0.8 else f"    return sorted({groups})")
    return Program("\n".join(lines) + "\n", f"{f}({values!r})")


def count_and_report(rng: random.Random, nm: Names) -> Program:
    """A counting helper and a formatting helper called from a driver: long traces."""
    count, fmt, report = nm("func"), nm("func"), nm("func")
    s, t, n, c = nm("str"), nm("char"), nm("int"), nm("loop")
    bump = rng.choice(
        [
            [f"{n} += int({c} == {t})"],
            [f"{n} += {c} == {t}"],
            [f"if {c} == {t}:", f"    {n} += 1"],
            [f"if {c} in {t}:", f"    {n} += 1"],
            [f"{n} += 1 if {c} == {t} else 0"],
        ]
    )
    chunks = [
        [f"def {count}({s}, {t}):", f"    {n} = 0", f"    for {c} in {s}:"]
        + [f"        {line}" for line in bump]
        + [f"    return {n}"]
    ]
    w, letter, num, ans = nm("str"), nm("char"), nm("int"), nm("str")
    text = "".join(rng.choice("abcdeilnorstuwy") for _ in range(rng.randint(3, 12)))
    has_format = rng.random() < 0.6
    if has_format:
        parts = nm("list")
        spec = rng.choice(["04d", "3d", ">5", "<4", "02d", ",", "d", "+d"])
        pieces = [
            _text_literal(rng, rng.choice(["Found", "Saw", "count:", "There are", "got"])),
            f'f"{{{num}:{spec}}}"',
            _text_literal(rng, rng.choice(["of the letter", "copies of", "x", "times"])),
            letter,
            _text_literal(rng, rng.choice(["in", "inside", "within"])),
            w,
        ]
        if rng.random() < 0.5:
            body = [f"    {parts} = ["] + [f"        {p}," for p in pieces] + ["    ]"]
        else:
            body = [f"    {parts} = [{', '.join(pieces)}]"]
        chunks.append(
            [
                f"def {fmt}({w}, {letter}, {num}):",
                *body,
                f"    return {rng.choice(JOINERS)}.join({parts})",
            ]
        )
    driver = [f"def {report}({letter}):", f"    {w} = {_text_literal(rng, text)}"]
    driver.append(f"    {num} = {count}({w}, {letter})")
    if has_format:
        driver += [f"    {ans} = {fmt}({w}, {letter}, {num})", f"    return {ans}"]
    else:
        driver.append(f"    return {num}")
    chunks.append(driver)
    source = "\n\n\n".join("\n".join(chunk) for chunk in chunks) + "\n"
    probe = rng.choice(text) if rng.random() < 0.8 else rng.choice("xyzq")
    return Program(source, f"{report}({probe!r})")


def quote_words(rng: random.Random, nm: Names) -> Program:
    """Words wrapped in quotes or brackets depending on a test, joined by an escape."""
    f, text, out, w = nm("func"), nm("str"), nm("list"), nm("loop")
    marks = ["'\"'", '"\'"', '"-"', "'é'", '"a"', '"\\\\"']
    wraps = [
        f"'\"' + {w} + '\"'",
        f'"\'" + {w} + "\'"',
        f"{w}.upper()",
        f'"[" + {w} + "]"',
        f'{w}.replace("\'", "")',
        f"repr({w})",
        f"{w}[::-1]",
        f"{w}.title()",
    ]
    split = rng.choice(["split()", "split()", 'split(" ")', "split(',')"])
    lines = [f"def {f}({text}):", f"    {out} = []", f"    for {w} in {text}.{split}:"]
    lines += [
        f"        if {rng.choice(marks)} in {w}:",
        f"            {out}.append({rng.choice(wraps)})",
    ]
    lines += ["        else:", f"            {out}.append({rng.choice(wraps)})"]
    lines.append(f"    return {rng.choice(JOINERS)}.join({out})")
    value = _sentence(rng, rng.randint(1, 4))
    if split == "split(',')":
        value = value.replace(" ", ",")
    return Program("\n".join(lines) + "\n", f"{f}({_text_literal(rng, value)})")


def parse_number(rng: random.Random, nm: Names) -> Program:
    """int()/float() in try/except, a range check, messages that need double-quoted reprs."""
    f, text, v = nm("func"), nm("str"), nm("int")
    conv = rng.choice(["int", "int", "float"])
    arg = rng.choice([text, f"{text}.strip()"])
    lo, hi = rng.choice([(0, 65536), (0, 100), (-10, 10), (1, 13), (0, 256)])
    lines = [f"def {f}({text}):", "    try:", f"        {v} = {conv}({arg})"]
    if rng.random() < 0.3:
        err = nm("str")
        lines += [f"    except ValueError as {err}:", f"        return str({err})"]
    else:
        lines += ["    except ValueError:", f"        {v} = {rng.choice([-1, 0, None, lo])}"]
        if "None" in lines[-1]:
            lines += [f"    if {v} is None:", "        return None"]
    check = rng.choice([f"not {lo} < {v} < {hi}", f"{v} < {lo} or {v} > {hi}", f"{v} >= {hi}"])
    lines += [
        f"    if {check}:",
        f"        return {rng.choice(['None', '0', repr('out of range')])}",
    ]
    lines.append(f"    return {v}")
    samples = ["80", "80a", "443", " 7 ", "-1", "99999", "abc", "3.5", "", "0x1f", "12", "it's"]
    samples += ["1e3", "٣", "5", "65535", "65536", "42"]
    return Program("\n".join(lines) + "\n", f"{f}({_text_literal(rng, rng.choice(samples))})")


def escaping_error(rng: random.Random, nm: Names) -> Program:
    """Arithmetic on a list that raises uncaught for some inputs (empty, zeros, short)."""
    f, values, a, b = nm("func"), nm("list"), nm("int"), nm("int")
    first = rng.choice([f"sum({values})", f"len({values})", f"max({values})", f"{values}[-1]"])
    second = rng.choice([f"{values}[0]", f"{values}[{rng.randint(1, 3)}]", f"min({values})"])
    result = rng.choice([f"{b} / {a}", f"{b} // {a}", f"{b} % {a}", f"{a} / ({b} - {a})"])
    lines = [f"def {f}({values}):", f"    {a} = {first}", f"    {b} = {second}"]
    lines.append(f"    return {result}")
    xs = rng.choice([[], [0], [0, 0], [rng.randint(-3, 9) for _ in range(rng.randint(1, 5))]])
    return Program("\n".join(lines) + "\n", f"{f}({xs})")


def accumulate(rng: random.Random, nm: Names) -> Program:
    """A value updated from itself and the loop index over range()."""
    f, a, b, y, i = nm("func"), nm("int"), nm("limit"), nm("int"), nm("loop")
    op = rng.choice(
        [
            f"+= {y} * {i}",
            f"+= {i}",
            f"= {y} * 2 - {i}",
            f"-= {i} * {i}",
            f"+= {a} + {i}",
            f"*= {i} + 1",
            f"= {y} + {i} % {rng.randint(2, 4)}",
        ]
    )
    rng_expr = rng.choice([f"range({b})", f"range(1, {b})", f"range({b}, 0, -1)"])
    lines = [
        f"def {f}({a}, {b}):",
        f"    {y} = {a}",
        f"    for {i} in {rng_expr}:",
        f"        {y} {op}",
    ]
    lines.append(f"    return {y}")
    return Program("\n".join(lines) + "\n", f"{f}({rng.randint(-3, 9)}, {rng.randint(0, 6)})")


def object_state(rng: random.Random, nm: Names) -> Program:
    """A class whose method loops over range() changing an attribute."""
    cls, attr, p, method, times = nm("class"), nm("int"), nm("int"), nm("func"), nm("limit")
    op = rng.choice([f"+= {rng.randint(1, 4)}", "*= 2", "-= 1", f"= self.{attr} * 2 + 1"])
    lines = [
        f"class {cls}:",
        f"    def __init__(self, {p}):",
        f"        self.{attr} = {p}",
        "",
        f"    def {method}(self, {times}):",
        f"        for _ in range({times}):",
        f"            self.{attr} {op}",
        f"        return self.{attr}",
    ]
    call = f"{cls}({rng.randint(0, 9)}).{method}({rng.randint(0, 4)})"
    if rng.random() < 0.35:
        driver, obj = nm("func"), nm("str")
        lines += ["", "", f"def {driver}():", f"    {obj} = {cls}({rng.randint(0, 9)})"]
        lines += [f"    {obj}.{method}({rng.randint(0, 3)})", f"    return {obj}.{method}(1)"]
        call = f"{driver}()"
    return Program("\n".join(lines) + "\n", call)


def inner_function(rng: random.Random, nm: Names) -> Program:
    """A nested function used by a filtered comprehension."""
    f, values, k, inner, v = nm("func"), nm("list"), nm("int"), nm("func"), nm("loop")
    op = rng.choice(["*", "+", "-", "%", "//"])
    cond = rng.choice([f" if {v}", f" if {v} > 0", f" if {v} % 2", f" if {v} != {k}", ""])
    lines = [f"def {f}({values}, {k}):", f"    def {inner}({v}):", f"        return {v} {op} {k}"]
    lines.append(f"    return [{inner}({v}) for {v} in {values}{cond}]")
    xs = [rng.randint(-3, 12) for _ in range(rng.randint(0, 5))]
    return Program("\n".join(lines) + "\n", f"{f}({xs}, {rng.randint(1, 10)})")


def recursive(rng: random.Random, nm: Names) -> Program:
    """Small recursions with a base case: product, sum of a list, digits, string reversal."""
    f, n = nm("func"), nm("int")
    kind = rng.choice(["product", "sum_list", "digits", "reverse", "halves"])
    if kind == "product":
        test = rng.choice([f"{n} <= 1", f"{n} < 2", f"{n} == 0"])
        src = _recursion_source(f, n, test, "1", f"{n} * {f}({n} - 1)")
        return Program(src, f"{f}({rng.randint(0, 7)})")
    if kind == "sum_list":
        xs = nm("list")
        src = _recursion_source(f, xs, f"not {xs}", "0", f"{xs}[0] + {f}({xs}[1:])")
        return Program(src, f"{f}({[rng.randint(-5, 20) for _ in range(rng.randint(0, 4))]})")
    if kind == "digits":
        src = _recursion_source(f, n, f"{n} < 10", "1", f"1 + {f}({n} // 10)")
        return Program(src, f"{f}({rng.randint(0, 99999)})")
    if kind == "reverse":
        s = nm("str")
        src = _recursion_source(f, s, f"len({s}) <= 1", s, f"{f}({s}[1:]) + {s}[0]")
        return Program(src, f"{f}({_text_literal(rng, word(rng)[:5])})")
    src = _recursion_source(f, n, f"{n} == 0", "[]", f"[{n}] + {f}({n} // 2)")
    return Program(src, f"{f}({rng.randint(0, 40)})")


def _recursion_source(name: str, param: str, test: str, base: str, step: str) -> str:
    return f"def {name}({param}):\n    if {test}:\n        return {base}\n    return {step}\n"


IDIOMS: list[Callable[[random.Random, Names], Program]] = [
    search_loop,
    grouping,
    count_and_report,
    quote_words,
    parse_number,
    escaping_error,
    accumulate,
    object_state,
    inner_function,
    recursive,
]


def idiom_program(rng: random.Random) -> Program:
    return rng.choice(IDIOMS)(rng, Names(rng))
