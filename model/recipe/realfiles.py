"""Real-file-style modules around generated programs, for the demo model's corpus.

cwm-lsp's prompt is the user's whole file: a module docstring, imports, several functions and
classes with docstrings, doctests, comments, type hints, ``# prophecy:`` lines and descriptive
names, often 500-1,500 tokens. ``generate_real_file(rng)`` builds such a module from 2-6
programs of ``programs.py`` (plus a few stdlib-using templates), renames pool identifiers to
descriptive or invented ones consistently, decorates the functions, and traces one of them,
which can sit anywhere in the file. ``Program.source`` is the whole module; ``split_source`` is
the traced program as ``programs.py`` generated it, so the held-out split follows the program.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import random
import re
import signal
import tokenize
from dataclasses import dataclass, field

import programs
from programs import DICT, INT, LIST, STR, WORDS, Builder, Program, Scope

QUALS = ["max", "min", "total", "first", "last", "raw", "clean", "unique", "sorted", "current"]
QUALS += ["next", "prev", "best", "short", "long", "valid", "daily", "user", "item", "word"]
QUALS += ["line", "char", "new", "old", "base", "extra", "local", "final", "top", "sample"]
NOUNS = ["price", "score", "word", "line", "name", "item", "value", "count", "total", "key"]
NOUNS += ["label", "token", "entry", "record", "order", "user", "city", "color", "step", "page"]
NOUNS += ["digit", "vowel", "letter", "number", "amount", "weight", "grade", "tag", "path", "row"]
NOUNS += ["column", "cell", "node", "edge", "event", "point", "square", "prime", "chunk", "batch"]
VERBS = ["count", "sum", "find", "build", "make", "compute", "check", "scale", "merge", "split"]
VERBS += ["collect", "filter", "clean", "pick", "rank", "encode", "parse", "normalize", "format"]
VERBS += ["group", "total", "average", "validate", "render", "summarize", "extract", "apply"]
VERBS += ["flatten", "dedupe", "reverse", "score", "index", "strip", "join", "tally", "load"]
INT_SUFFIX = ["count", "total", "len", "size", "index", "limit", "sum", "max", "min", "score"]
STR_PREFIX = ["raw", "clean", "first", "last", "user", "file", "short", "full", "display"]
TYPE_HINTS = {INT: "int", STR: "str", LIST: "list[int]", WORDS: "list[str]", DICT: "dict[str, int]"}
DOC_OPENERS = ["Return", "Compute", "Build", "Count", "Collect", "Find", "Work out", "Make"]
MODULE_TOPICS = ["inventory", "text", "score", "order", "report", "grade", "word", "sensor"]
MODULE_TOPICS += ["log", "invoice", "playlist", "survey", "recipe", "ticket", "weather", "queue"]
COMMENTS = ["keep going until done", "edge case: empty input", "accumulate the result"]
COMMENTS += ["TODO: handle negative values", "this is the hot path", "note: mutates in place"]
COMMENTS += ["fall back to a default", "small inputs only", "see the docstring", "count it"]
COMMENTS += ["normalize first", "cheap check before the loop", "NOTE: order matters here"]
COMMENTS += ["update the running value", "guard against bad data", "simple and fast enough"]
LOOP_WORDS = ["item", "value", "word", "entry", "price", "char", "line", "part", "token"]

_NAME_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEEP = {"self", "main", "print", "Counter", "Stack", "Account"}


@dataclass
class RealFile(Program):
    split_source: str = ""
    imports: set[str] = field(default_factory=set)


def _plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2] not in "aeiou" else noun + "s"


def descriptive_name(rng: random.Random, kind: str) -> str:
    """A realistic snake_case name for a value of ``kind`` (or "func"/"loop")."""
    q, n, n2 = rng.choice(QUALS), rng.choice(NOUNS), rng.choice(NOUNS)
    if kind == "func":
        v = rng.choice(VERBS)
        return rng.choice(
            [
                f"{v}_{_plural(n)}",
                f"{v}_{q}_{_plural(n)}",
                f"{n}_{rng.choice(INT_SUFFIX)}",
                f"{q}_{n}_{rng.choice(['above', 'below', 'of', 'in', 'for'])}",
                f"{v}_{_plural(n)}_by_{n2}",
                f"{v}_{n}",
                f"is_{q}_{n}",
            ]
        )
    if kind == "loop":
        return rng.choice([*LOOP_WORDS, n])
    if kind == INT:
        return rng.choice([f"{n}_{rng.choice(INT_SUFFIX)}", f"{q}_{n}", f"num_{_plural(n)}"])
    if kind == STR:
        return rng.choice([f"{rng.choice(STR_PREFIX)}_{n}", f"{n}_text", f"{n}_name", n])
    if kind in (LIST, WORDS):
        return rng.choice([_plural(n), f"{q}_{_plural(n)}", f"{n}_list"])
    return rng.choice([f"{n}_counts", f"{_plural(n)}_by_{n2}", f"seen_{_plural(n)}", f"{n}_map"])


def _pool_kinds() -> dict[str, str]:
    kinds = {name: kind for kind, names in programs.NAMES.items() for name in names}
    for names in programs.LOOP_NAMES.values():
        kinds.update((name, "loop") for name in names)
    for verb in programs.VERBS:
        kinds.update((f"{verb}_{noun}", "func") for noun in programs.NOUNS)
    template_funcs = ["fact", "fib", "total_digits", "power", "gcd", "rev", "count_down", "depth"]
    template_funcs += ["scaled", "scale", "evens", "total_evens", "apply_all", "run_stack"]
    template_funcs += ["settle", "withdraw", "bump", "push", "pop"]
    kinds.update((name, "func") for name in template_funcs)
    kinds.update({"out": LIST, "ops": LIST, "half": INT, "limit": INT, "amounts": LIST})
    kinds.update({"acct": "obj", "st": "obj", "op": "loop", "amount": INT, "values": LIST})
    return kinds


POOL_KINDS = _pool_kinds()


def _identifiers(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.append(node.id)
        elif isinstance(node, ast.arg):
            out.append(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.append(node.name)
    return out


def _keyword_names(source: str) -> set[str]:
    """Names used as ``name=`` inside brackets (keyword arguments, defaults): never renamed."""
    return set(re.findall(r"[(,]\s*([A-Za-z_]\w*)\s*=(?!=)", source))


def rename_map(rng: random.Random, source: str, call: str, *, rate: float) -> dict[str, str]:
    taken = set(_NAME_LIKE.findall(source + call)) | set(dir(builtins)) | _KEEP
    blocked = _keyword_names(source) | _KEEP
    mapping: dict[str, str] = {}
    for name in sorted(set(_identifiers(ast.parse(source + "\n" + call)))):
        kind = POOL_KINDS.get(name)
        if kind is None or name in blocked or rng.random() >= rate:
            continue
        for _ in range(5):
            new = (
                programs.invented_name(rng, short=kind != "func")
                if rng.random() < 0.2
                else descriptive_name(rng, "loop" if kind == "obj" else kind)
            )
            if new not in taken and not keyword.iskeyword(new) and new.isidentifier():
                mapping[name] = new
                taken.add(new)
                break
    return mapping


def _rename_fstring(text: str, mapping: dict[str, str]) -> str:
    def fix(match: re.Match[str]) -> str:
        return re.sub(
            r"(?<![.\w])([A-Za-z_]\w*)", lambda m: mapping.get(m.group(1), m.group(1)), match[0]
        )

    return re.sub(r"\{[^{}]*\}", fix, text)


def _rename_line(line: str, mapping: dict[str, str]) -> str:
    code, comment = _split_comment(line)
    pieces = re.split(
        r"""([rRbBfF]*'[^'\\]*(?:\\.[^'\\]*)*'|[rRbBfF]*"[^"\\]*(?:\\.[^"\\]*)*")""", code
    )
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 1:  # a string literal
            out.append(
                _rename_fstring(piece, mapping) if re.match(r"[rRbB]?[fF]", piece) else piece
            )
        else:
            out.append(
                re.sub(
                    r"(?<![.\w])([A-Za-z_]\w*)",
                    lambda m: mapping.get(m.group(1), m.group(1)),
                    piece,
                )
            )
    return "".join(out) + comment


def _split_comment(line: str) -> tuple[str, str]:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i], line[i:]
    return line, ""


def rename(source: str, call: str, mapping: dict[str, str]) -> tuple[str, str]:
    """Rename consistently; the original is kept when the result is not the same program."""
    if not mapping:
        return source, call
    new_source, new_call = _rename_text(source, mapping), _rename_text(call, mapping)
    try:
        before = _identifiers(ast.parse(source + "\n" + call))
        after = _identifiers(ast.parse(new_source + "\n" + new_call))
    except SyntaxError:
        return source, call
    if [mapping.get(name, name) for name in before] != after:
        return source, call
    return new_source, new_call


def _rename_text(text: str, mapping: dict[str, str]) -> str:
    return "".join(_rename_line(line, mapping) for line in text.splitlines(keepends=True))


def long_call(rng: random.Random, program: Program) -> Program:
    """The same program called with bigger inputs, so its loops run longer (20-45 frames)."""
    if not program.signatures:
        return program
    name, (kinds, _) = list(program.signatures.items())[-1]
    if not program.call.startswith(name + "("):
        return program
    args = []
    for kind in kinds:
        if kind == INT:
            args.append(str(rng.randint(-3, 30)))
        elif kind == STR:
            letters = "".join(rng.choice("aeiostrnlxy ") for _ in range(rng.randint(6, 14)))
            args.append(repr(rng.choice([letters, " ".join(rng.sample(programs.WORD_POOL, 3))])))
        elif kind == LIST:
            args.append(repr([rng.randint(-4, 15) for _ in range(rng.randint(4, 9))]))
        elif kind == WORDS:
            args.append(repr([programs.word(rng) for _ in range(rng.randint(4, 8))]))
        else:
            args.append(
                repr({programs.word(rng): rng.randint(0, 9) for _ in range(rng.randint(3, 6))})
            )
    return Program(program.source, f"{name}({', '.join(args)})", program.signatures)


def double_quoted(text: str) -> str:
    """``text`` with its single-quoted string literals in double quotes (black's style), where
    that does not change them; users' files and calls mostly look like this."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    lines = text.splitlines(keepends=True)
    for tok in reversed(toks):
        if tok.type != tokenize.STRING or tok.start[0] != tok.end[0]:
            continue
        literal = tok.string
        prefix = literal[: len(literal) - len(literal.lstrip("rRbBuUfF"))]
        body = literal[len(prefix) :]
        if body.startswith("'" * 3) or not body.startswith("'") or '"' in body or "\\'" in body:
            continue
        row, start, end = tok.start[0] - 1, tok.start[1], tok.end[1]
        line = lines[row]
        lines[row] = line[:start] + prefix + '"' + body[1:-1] + '"' + line[end:]
    return "".join(lines)


def _renamed(program: Program, mapping: dict[str, str]) -> Program:
    source, call = rename(program.source, program.call, mapping)
    if source == program.source:
        return program
    signatures = {mapping.get(k, k): v for k, v in program.signatures.items()}
    return Program(source, call, signatures)


# --- stdlib-using templates --------------------------------------------------------------


def _stdlib_program(rng: random.Random) -> tuple[Program, set[str]]:
    kind = rng.randrange(9)
    xs = [rng.randint(-3, 12) for _ in range(rng.randint(1, 5))]
    words = [programs.word(rng) for _ in range(rng.randint(1, 4))]
    if kind == 0:
        src = (
            "def mean_and_spread(values):\n    avg = sum(values) / len(values)\n"
            "    spread = math.sqrt(sum((v - avg) ** 2 for v in values) / len(values))\n"
            "    return round(avg, 2), round(spread, 2)\n"
        )
        return Program(src, f"mean_and_spread({xs})"), {"import math"}
    if kind == 1:
        src = (
            "def most_common_word(text):\n    counts = Counter(text.lower().split())\n"
            "    if not counts:\n        return None\n"
            "    word, _ = counts.most_common(1)[0]\n    return word\n"
        )
        return Program(src, f"most_common_word({' '.join(words)!r})"), {
            "from collections import Counter"
        }
    if kind == 2:
        src = (
            "def group_by_first_letter(words):\n    groups = defaultdict(list)\n"
            "    for word in words:\n        if word:\n            groups[word[0]].append(word)\n"
            "    return dict(groups)\n"
        )
        return Program(src, f"group_by_first_letter({words})"), {
            "from collections import defaultdict"
        }
    if kind == 3:
        src = "def running_sums(values):\n    return list(itertools.accumulate(values))\n"
        return Program(src, f"running_sums({xs})"), {"import itertools"}
    if kind == 4:
        src = (
            "def pair_sums(items):\n    out = []\n"
            "    for a, b in itertools.combinations(items, 2):\n        out.append(a + b)\n"
            "    return out\n"
        )
        return Program(src, f"pair_sums({xs[:4]})"), {"import itertools"}
    if kind == 5:
        a, b = rng.randint(0, 60), rng.randint(0, 60)
        src = (
            "def simplify(num, den):\n    g = math.gcd(num, den)\n    if g == 0:\n"
            "        return num, den\n    return num // g, den // g\n"
        )
        return Program(src, f"simplify({a}, {b})"), {"import math"}
    if kind == 6:
        src = (
            "def chunked(items, size):\n    chunks = []\n"
            "    for start in range(0, len(items), size):\n"
            "        chunks.append(items[start:start + size])\n    return chunks\n"
        )
        return Program(src, f"chunked({xs}, {rng.randint(1, 3)})"), set()
    if kind == 7:
        src = (
            "def is_prime(n: int) -> bool:\n    if n < 2:\n        return False\n"
            "    for d in range(2, math.isqrt(n) + 1):\n        if n % d == 0:\n"
            "            return False\n    return True\n"
        )
        return Program(src, f"is_prime({rng.randint(0, 40)})"), {"import math"}
    src = (
        "def first_square_above(limit):\n    n = 0\n    while n * n <= limit:\n"
        "        n += 1\n    return n * n\n"
    )
    return Program(src, f"first_square_above({rng.randint(0, 30)})"), set()


# --- decoration ---------------------------------------------------------------------------


def _doc_sentence(rng: random.Random, name: str) -> str:
    words = name.replace("_", " ")
    return rng.choice(
        [
            f"{rng.choice(DOC_OPENERS)} the {rng.choice(NOUNS)} {rng.choice(['for', 'of', 'from'])} the input.",
            f"{words.capitalize()}.",
            f"Helper for {rng.choice(MODULE_TOPICS)} reports.",
            f"{rng.choice(DOC_OPENERS)} {words}, or a default when there is nothing to do.",
        ]
    )


class _Slow(BaseException):
    """A doctest input that runs too long (some generated loops grow their own list)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _Slow


def _run_repr(source: str, call: str) -> str | None:
    """The doctest output of ``call``, or None when it raises or prints."""
    namespace: dict[str, object] = {"__name__": "__doctest__"}
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        exec(compile(source, "<doctest>", "exec"), namespace)
        value = eval(call, namespace)
    except (Exception, _Slow):
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    text = repr(value)
    return text if "\n" not in text and len(text) < 60 else None


def _decorate_function(
    rng: random.Random,
    lines: list[str],
    signature: tuple[list[str], str] | None,
    doctest: tuple[str, str] | None,
) -> list[str]:
    """Type hints, a docstring (maybe with a doctest) and comments for one ``def`` chunk."""
    head = lines[0]
    match = re.match(r"(\s*)def (\w+)\((.*)\):$", head)
    if match is None:
        return lines
    indent, name, params = match.groups()
    if signature and params and rng.random() < 0.4:
        kinds, ret = signature
        names = [p.strip() for p in params.split(",")]
        if len(names) == len(kinds) and all(n.isidentifier() for n in names):
            params = ", ".join(f"{n}: {TYPE_HINTS[k]}" for n, k in zip(names, kinds, strict=True))
            arrow = f" -> {TYPE_HINTS[ret]}" if ret in TYPE_HINTS else ""
            head = f"{indent}def {name}({params}){arrow}:"
    body = lines[1:]
    inner = indent + "    "
    commented: list[str] = []
    for line in body:
        if line.strip() and rng.random() < 0.08:
            pad = line[: len(line) - len(line.lstrip())]
            commented.append(f"{pad}# {rng.choice(COMMENTS)}")
        if rng.random() < 0.04 and line.strip() and not line.rstrip().endswith(":"):
            line = f"{line}  # {rng.choice(COMMENTS)}"
        commented.append(line)
    doc: list[str] = []
    roll = rng.random()
    if doctest is not None and roll < 0.3:
        call, result = doctest
        doc = [
            f'{inner}"""{_doc_sentence(rng, name)}',
            "",
            f"{inner}>>> {call}",
            f"{inner}{result}",
        ]
        doc.append(f'{inner}"""')
    elif roll < 0.6:
        doc = [f'{inner}"""{_doc_sentence(rng, name)}"""']
    elif roll < 0.7:
        doc = [f'{inner}"""{_doc_sentence(rng, name)}', "", f"{inner}{_doc_sentence(rng, name)}"]
        doc.append(f'{inner}"""')
    return [head, *doc, *commented]


def _chunks(source: str) -> list[list[str]]:
    """Top-level definitions of a generated source, each as its lines."""
    out: list[list[str]] = []
    for line in source.splitlines():
        if line and not line[0].isspace():
            out.append([line])
        elif out and line.strip():
            out[-1].append(line)
    return out


def _decorate_chunk(
    rng: random.Random, chunk: list[str], program: Program, doctests: dict[str, str]
) -> list[str]:
    if chunk[0].startswith("def "):
        name = chunk[0][4:].split("(")[0]
        call = doctests.get(f"call:{name}")
        doctest = (call, doctests[name]) if call else None
        return _decorate_function(rng, chunk, program.signatures.get(name), doctest)
    out: list[str] = [chunk[0]]  # a class: decorate each method
    method: list[str] = []
    for line in chunk[1:]:
        if line.startswith("    def "):
            if method:
                out += [*_decorate_function(rng, method, None, None), ""]
            method = [line]
        else:
            method.append(line)
    if method:
        out += _decorate_function(rng, method, None, None)
    if rng.random() < 0.5:
        out.insert(
            1, f'    """A small {rng.choice(NOUNS)} {rng.choice(["helper", "holder", "model"])}."""'
        )
        out.insert(2, "")
    return out


def _doctests(rng: random.Random, program: Program, source: str) -> dict[str, str]:
    """Other inputs for the program's functions, with their outputs (``call:NAME`` -> call)."""
    out: dict[str, str] = {}
    for name, (kinds, _) in program.signatures.items():
        maker = Builder(rng, Scope(), {})
        call = f"{name}({', '.join(maker.const(kind) for kind in kinds)})"
        result = _run_repr(source, call)
        if result is not None:
            out[f"call:{name}"] = call
            out[name] = result
    return out


def _module_docstring(rng: random.Random) -> list[str]:
    topic = rng.choice(MODULE_TOPICS)
    first = rng.choice(
        [
            f"Utilities for {topic} data.",
            f"Small helpers used by the {topic} service.",
            f"{topic.capitalize()} processing: parsing, counting and summaries.",
            f"Functions for working with {topic} records.",
        ]
    )
    if rng.random() < 0.5:
        return [f'"""{first}"""']
    more = rng.choice(
        [
            "Each function is pure and small, so it is easy to test.",
            f"Put the cursor in a function and ask for a prophecy to see every {rng.choice(['step', 'iteration', 'line'])}.",
            "Inputs are plain lists, strings and dicts.",
        ]
    )
    return [f'"""{first}', "", more, '"""']


def generate_real_file(
    rng: random.Random,
    *,
    rename_rate: float = 0.7,
    long_rate: float = 0.0,
    double_quote_rate: float = 0.0,
) -> RealFile:
    """A module of 2-6 programs with one traced call, in the style of a real source file."""
    parts: list[tuple[Program, set[str]]] = []
    names: set[str] = set()
    want = rng.choice([2, 2, 3, 3, 4, 4, 5, 6])
    for _ in range(want * 3):
        if len(parts) >= want:
            break
        if rng.random() < 0.25:
            program, imports = _stdlib_program(rng)
        else:
            program, imports = programs.generate_program(rng), set()
        defined = set(re.findall(r"^(?:def|class) (\w+)", program.source, re.M))
        counter_import = any("Counter" in i for _, done in parts for i in done | imports)
        if defined & names or ("Counter" in names | defined and counter_import):
            continue
        names |= defined
        parts.append((program, imports))
    originals = [p.source for p, _ in parts]
    raw = "\n".join(p.source + "\n" + p.call for p, _ in parts)
    mapping = rename_map(rng, raw, "", rate=rename_rate)
    parts = [(_renamed(p, mapping), i) for p, i in parts]
    traced_index = rng.randrange(len(parts))
    if long_rate and rng.random() < long_rate:
        parts[traced_index] = (long_call(rng, parts[traced_index][0]), parts[traced_index][1])
    traced = parts[traced_index][0]
    split_source = originals[traced_index]
    imports = sorted(set().union(*(i for _, i in parts)))
    prelude = "\n".join(imports) + "\n" if imports else ""
    blocks: list[str] = []
    for index, (program, _) in enumerate(parts):
        doctests = _doctests(rng, program, prelude + program.source) if rng.random() < 0.5 else {}
        for chunk in _chunks(program.source):
            lines = _decorate_chunk(rng, chunk, program, doctests)
            name = re.match(r"(?:def|class) (\w+)", chunk[0])
            prophecies: list[str] = []
            if index == traced_index and name and traced.call.startswith(name[1] + "("):
                if rng.random() < 0.5:
                    prophecies.append(f"# prophecy: {traced.call}")
            elif name and program.call.startswith(name[1] + "(") and rng.random() < 0.2:
                prophecies.append(f"# prophecy: {program.call}")
            elif rng.random() < 0.06:
                prophecies.append(f"# {rng.choice(COMMENTS)}")
            blocks.append("\n".join(prophecies + lines) + "\n")
    if rng.random() < 0.3:  # module constants, sometimes unused (as in real code)
        blocks.insert(0, f"{descriptive_name(rng, INT).upper()} = {rng.randint(1, 100)}\n")
    head = _module_docstring(rng) if rng.random() < 0.85 else []
    module = ("\n".join(head) + "\n\n" if head else "") + (prelude + "\n\n" if prelude else "")
    module += "\n\n".join(blocks)
    if rng.random() < 0.15:
        other = rng.choice(parts)[0]
        module += f'\n\nif __name__ == "__main__":\n    print({other.call})\n'
    call = traced.call
    if double_quote_rate and rng.random() < double_quote_rate:
        module, call = double_quoted(module), double_quoted(call)
    return RealFile(module, call, split_source=split_source, imports=set(imports))
