"""Entry discovery: functions at positions, example calls, and the CWM harness context."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import goldens
import pytest

from cwm_lsp.entry import (
    EntryError,
    build_context,
    example_calls,
    find_function,
    function_for_call,
    list_functions,
    names_in,
    parse_call,
)
from cwm_lsp.lines import source_lines

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDENS = sorted(GOLDEN_DIR.glob("*.json"))


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.stem)
def test_golden_context_is_reproduced_from_source_and_call(path: Path) -> None:
    golden = json.loads(path.read_text())
    fn = find_function(golden["source"], call=golden["call"])
    context = build_context(golden["source"], golden["call"], fn)
    assert context.context == golden["context"]
    assert context.harness == "main"
    marked = context.context.splitlines()[context.entry_line - 1]
    assert marked == "def main():  # << START_OF_TRACE"


def test_goldens_are_present() -> None:
    assert len(GOLDENS) == 10


def test_function_is_inferred_from_the_call() -> None:
    golden = json.loads((GOLDEN_DIR / "method_and_object.json").read_text())
    assert find_function(golden["source"], call="Counter(5).bump(2)").qualname == "Counter.bump"
    golden = json.loads((GOLDEN_DIR / "count_letters.json").read_text())
    assert find_function(golden["source"], call='report("r")').name == "report"


def test_context_normalises_trailing_blank_lines_and_missing_newline() -> None:
    expected = "def f(x):\n    return x\n\ndef main():  # << START_OF_TRACE\n    return f(1)\n"
    for source in ("def f(x):\n    return x", "def f(x):\n    return x\n\n\n  \n"):
        fn = find_function(source, name="f")
        assert build_context(source, "f(1)", fn).context == expected
    crlf = "def f(x):\r\n    return x\r\n"
    assert build_context(crlf, "f(1)", find_function(crlf)).context == expected


def test_harness_name_avoids_main_defined_or_used() -> None:
    source = src(
        """
        def main():
            return 1

        def f(x):
            return x
        """
    )
    context = build_context(source, "f(2)", find_function(source, name="f"))
    assert context.harness == "_prophecy_main"
    assert context.context.endswith("def _prophecy_main():  # << START_OF_TRACE\n    return f(2)\n")

    uses_main = "import main\n\ndef f(x):\n    return x\n"
    fn = find_function(uses_main)
    assert build_context(uses_main, "f(main)", fn).harness == "_prophecy_main"
    taken = "_prophecy_main = 1\n\ndef f(x):\n    return x\n"
    assert build_context(taken, "f(main)", find_function(taken)).harness == "_prophecy_main_1"


def test_call_none_marks_the_functions_own_def_line() -> None:
    source = src(
        """
        class Counter:
            def bump(self, times):  # bumps
                return times
        """
    )
    fn = find_function(source, line=3)
    context = build_context(source, None, fn)
    assert context.harness is None
    assert context.call is None
    assert context.entry_line == 2
    assert (
        context.context.splitlines()[1]
        == "    def bump(self, times):  # bumps  # << START_OF_TRACE"
    )
    assert context.context.count("\n") == source.count("\n")


def test_prophecy_comments_above_decorators_and_between_them() -> None:
    source = src(
        """
        import functools

        # prophecy: double(2)
        # an ordinary comment
        #prophecy:   double(21)
        @functools.cache
        # prophecy: double(-1)
        def double(x):
            return 2 * x
        """
    )
    fn = find_function(source)
    calls = example_calls(source, fn)
    assert [(c.expression, c.line, c.kind) for c in calls] == [
        ("double(2)", 3, "prophecy"),
        ("double(21)", 5, "prophecy"),
        ("double(-1)", 7, "prophecy"),
    ]
    assert all(c.error is None for c in calls)
    assert source.splitlines()[4][calls[1].column :] == "double(21)"
    assert (fn.comment_line, fn.first_line, fn.def_line, fn.last_line) == (3, 6, 8, 9)
    assert fn.decorators == ("functools.cache",)


def test_blank_line_ends_the_prophecy_block() -> None:
    source = "# prophecy: f(1)\n\ndef f(x):\n    return x\n"
    assert example_calls(source, find_function(source, name="f")) == []


def test_prophecy_inside_a_string_is_not_a_comment() -> None:
    source = 'TEXT = """\n# prophecy: f(1)\n"""\ndef f(x):\n    return x\n'
    assert example_calls(source, find_function(source, name="f")) == []


def test_invalid_prophecy_expression_is_reported_not_raised() -> None:
    source = "# prophecy: f(1\n# prophecy: x = f(2)\ndef f(x):\n    return x\n"
    calls = example_calls(source, find_function(source, name="f"))
    assert calls[0].error is not None and "not valid Python" in calls[0].error
    assert calls[1].error is not None and "must be an expression" in calls[1].error


def test_doctest_examples_with_continuations_expected_output_and_setup() -> None:
    source = src(
        '''
        class Counter:
            def __init__(self, start):
                self.value = start

            def bump(self, times):
                """Add two per time.

                >>> Counter(5).bump(2)
                9
                >>> c = Counter(1)
                >>> c.bump(
                ...     3,
                ... )
                7
                >>> c.bump(0)
                """
                self.value += 2 * times
                return self.value
        '''
    )
    fn = find_function(source, name="bump")
    assert fn.qualname == "Counter.bump"
    calls = example_calls(source, fn)
    assert [c.expression for c in calls] == [
        "Counter(5).bump(2)",
        "c.bump(\n    3,\n)",
        "c.bump(0)",
    ]
    assert [(c.line, c.end_line) for c in calls] == [(8, 8), (11, 13), (15, 15)]
    assert [c.expected for c in calls] == ["9", "7", None]
    assert calls[0].setup == ()
    assert calls[1].setup == ("Counter(5).bump(2)", "c = Counter(1)")
    assert all(c.kind == "doctest" for c in calls)
    assert source.splitlines()[7][calls[0].column :] == "Counter(5).bump(2)"

    context = build_context(source, calls[1].expression, fn, setup=calls[1].setup)
    assert context.context.endswith(
        "\ndef main():  # << START_OF_TRACE\n    Counter(5).bump(2)\n    c = Counter(1)\n"
        "    return c.bump(3)\n"
    )


def test_doctest_session_replays_earlier_calls_but_not_skipped_or_raising_ones() -> None:
    source = src(
        '''
        class Counter:
            def __init__(self, start):
                self.value = start

            def bump(self):
                """
                >>> c = Counter(5)
                >>> c.bump()
                6
                >>> c.bump()
                7
                >>> c.explode()  # doctest: +SKIP
                >>> c.bump(1)
                Traceback (most recent call last):
                TypeError: too many
                >>> c.bump()
                8
                """
                self.value += 1
                return self.value
        '''
    )
    calls = example_calls(source, find_function(source, name="bump"))
    last = calls[-1]
    assert (last.expression, last.expected) == ("c.bump()", "8")
    assert last.setup == ("c = Counter(5)", "c.bump()", "c.bump()")
    skipped = [c for c in calls if c.skipped]
    assert [c.expression for c in skipped] == ["c.explode()  # doctest: +SKIP"]
    [raising] = [c for c in calls if c.raises is not None]
    assert (raising.expression, raising.raises) == ("c.bump(1)", "TypeError: too many\n")
    assert not last.skipped and last.raises is None


def test_nested_functions_methods_and_lambdas_by_line() -> None:
    source = src(
        """
        def outer(values):
            def inner(v):
                return v + 1
            key = lambda v: -v
            return sorted(map(inner, values), key=key)

        class Box:
            size = 3

            def grow(self, by):
                return self.size + by
        """
    )
    assert find_function(source, line=3).qualname == "outer.inner"
    assert find_function(source, line=4).qualname == "outer"  # a lambda is not a def
    assert find_function(source, line=5).qualname == "outer"
    assert find_function(source, line=11).qualname == "Box.grow"
    inner = find_function(source, name="outer.inner")
    assert inner.is_nested and inner.template == "outer(values)"
    assert find_function(source, name="grow").template == "Box().grow(by)"
    with pytest.raises(EntryError, match=r"line 8 is not inside a function.*outer \(line 1\)"):
        find_function(source, line=8)  # class body
    with pytest.raises(EntryError, match="not inside a function"):
        find_function(source, line=6)  # blank line between them


def test_async_functions_are_refused() -> None:
    source = "async def fetch(url):\n    return url\n"
    assert list_functions(source)[0].is_async
    for kwargs in ({"line": 2}, {"name": "fetch"}, {}):
        with pytest.raises(EntryError, match="async functions cannot be traced yet"):
            find_function(source, **kwargs)  # type: ignore[arg-type]


def test_default_function_choice() -> None:
    two = "def a():\n    pass\n\n# prophecy: b()\ndef b():\n    pass\n"
    assert find_function(two).name == "b"
    one = "def only(x):\n    return x\n"
    assert find_function(one).name == "only"
    none = "def a():\n    pass\n\ndef b():\n    pass\n"
    with pytest.raises(EntryError, match=r"no function has an example call.*a \(line 1\), b"):
        find_function(none)
    with pytest.raises(EntryError, match="defines no functions"):
        find_function("x = 1\n")


def test_names_unknown_and_ambiguous() -> None:
    source = (
        "class A:\n    def f(self):\n        pass\n\nclass B:\n    def f(self):\n        pass\n"
    )
    with pytest.raises(EntryError, match=r"ambiguous: use one of A\.f, B\.f"):
        find_function(source, name="f")
    assert find_function(source, name="B.f").def_line == 6
    with pytest.raises(EntryError, match="no function named 'g'"):
        find_function(source, name="g")


def test_syntax_error_names_line_and_column() -> None:
    with pytest.raises(EntryError, match=r"syntax error at line 2, column \d+") as info:
        find_function("def f(x):\n    return (x\n")
    assert info.value.line == 2


def test_parameters_and_templates() -> None:
    source = src(
        """
        class Shop:
            def __init__(self, name, open_=True):
                self.name = name

            @staticmethod
            def tax(amount, *, rate):
                return amount * rate

            @classmethod
            def named(cls, name):
                return cls(name)

        def f(a, /, b: int, c=3, *rest, d, **extra):
            return a
        """
    )
    f = find_function(source, name="f")
    assert [(p.name, p.kind, p.default) for p in f.parameters] == [
        ("a", "positional_only", None),
        ("b", "positional", None),
        ("c", "positional", "3"),
        ("rest", "var_positional", None),
        ("d", "keyword_only", None),
        ("extra", "var_keyword", None),
    ]
    assert f.parameters[1].annotation == "int"
    assert f.template == "f(a, b, d=d)"
    assert find_function(source, name="Shop.tax").template == "Shop.tax(amount, rate=rate)"
    assert find_function(source, name="Shop.named").template == "Shop.named(name)"
    assert find_function(source, name="Shop.__init__").template == "Shop(name)"


def test_parse_call_rejects_statements_and_garbage() -> None:
    assert parse_call(" f(1) ") is not None
    with pytest.raises(EntryError, match="must be an expression"):
        parse_call("x = f(1)")
    with pytest.raises(EntryError, match="not valid Python"):
        parse_call("f(")
    with pytest.raises(EntryError, match="empty"):
        parse_call("  ")


def test_multiline_call_is_joined_into_one_harness_line() -> None:
    source = "def f(a, b):\n    return a\n"
    context = build_context(source, "f(\n    1,\n    'x\\ny',\n)", find_function(source))
    assert context.context.endswith("    return f(1, 'x\\ny')\n")


def test_prophecy_trailing_comment_is_not_part_of_the_call() -> None:
    source = "# prophecy: f('#', 2)  # hash sign\ndef f(c, n):\n    return c * n\n"
    [call] = example_calls(source, find_function(source))
    assert call.expression == "f('#', 2)"


def test_doctest_lines_without_a_call_are_not_example_calls() -> None:
    source = src(
        '''
        def f(x):
            """
            >>> y = 2
            >>> y
            2
            >>> f(y)
            2
            """
            return x
        '''
    )
    [call] = example_calls(source, find_function(source))
    assert (call.expression, call.setup, call.expected) == ("f(y)", ("y = 2", "y"), "2")


def test_form_feed_lines_keep_function_lines_and_prophecy_comments() -> None:
    source = "\x0c\n# prophecy: f(1)\ndef f(x):  # \u2028\n    return x\n"
    fn = find_function(source)
    assert (fn.def_line, fn.last_line, fn.comment_line) == (3, 4, 2)
    assert [c.expression for c in fn.examples] == ["f(1)"]
    marked = build_context(source, None, fn)
    assert source_lines(marked.context)[2].endswith("# << START_OF_TRACE")


def test_generators_calls_and_names() -> None:
    source = src(
        """
        import math as m

        def gen(n):
            yield from range(n)

        def plain(n):
            def inner():
                yield n
            return [x for x in range(n)]

        class K:
            def walk(self):
                yield self
        """
    )
    flags = {fn.qualname: fn.is_generator for fn in list_functions(source)}
    assert flags == {"gen": True, "plain": False, "plain.inner": True, "K.walk": True}
    target = function_for_call(source, "K().walk()")
    assert target is not None and target.qualname == "K.walk"
    assert function_for_call(source, "len([1])") is None
    assert {"m", "gen", "plain", "K", "n"} <= names_in(source)


def test_calls_and_setups_the_compiler_rejects_are_entry_errors() -> None:
    source = "def f(x):\n    return x\n"
    fn = find_function(source)
    for call, message in [
        ("await f(1)", "uses await"),
        ("(yield f(1))", "cannot yield"),
        ("(lambda: (yield))()", "cannot yield"),
    ]:
        with pytest.raises(EntryError, match=re.escape(message)):
            build_context(source, call, fn)
    with pytest.raises(EntryError, match="call or its doctest setup cannot be traced: import \\*"):
        build_context(source, "f(join('a'))", fn, setup=("from os.path import *",))
    with pytest.raises(EntryError, match="syntax error at line 3: nonlocal declaration"):
        build_context(source + "nonlocal q\n", "f(1)", fn)


def test_a_doctest_directive_stays_out_of_the_harness() -> None:
    source = 'def f(x):\n    """\n    >>> f([1] * 30)  # doctest: +ELLIPSIS\n    [1, ...]\n    """\n    return x\n'
    [call] = example_calls(source, find_function(source))
    assert call.expression == "f([1] * 30)  # doctest: +ELLIPSIS"  # as written, for reports
    context = build_context(source, call.expression, find_function(source))
    assert context.call == "f([1] * 30)"
    assert context.context.endswith("def main():  # << START_OF_TRACE\n    return f([1] * 30)\n")
