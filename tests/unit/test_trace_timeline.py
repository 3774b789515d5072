"""The per-line timeline built from the golden traces, and its robustness on broken traces."""

from __future__ import annotations

import json

import goldens
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.parser import parse_trace
from cwm_lsp.trace.render import render_text
from cwm_lsp.trace.timeline import (
    Timeline,
    TimelineBuilder,
    build_timeline,
    describe_exception,
    timeline_to_json,
)

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDENS = {p.stem: json.loads(p.read_text()) for p in sorted(GOLDEN_DIR.glob("*.json"))}


def timeline_of(name: str) -> Timeline:
    golden = GOLDENS[name]
    return build_timeline(parse_trace(golden["trace_text"]).frames, golden["context"])


def values_on(timeline: Timeline, line: int, name: str) -> list[str | None]:
    return [e.values[name] for e in timeline.executions_on(line) if name in e.values]


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_goldens_build_complete_json_serializable_timelines(name: str) -> None:
    timeline = timeline_of(name)
    assert timeline.complete
    assert timeline.problems == []
    assert all(e.line is not None and e.effect_known for e in timeline.executions)
    data = json.loads(json.dumps(timeline_to_json(timeline)))
    assert data["complete"] is True
    assert len(data["executions"]) == len(timeline.executions)
    assert data["result"]["value"] == timeline.result.value
    exception = timeline.result.exception
    assert (exception.describe() if exception else None) == GOLDENS[name]["uncaught"]


def test_loop_accumulate() -> None:
    timeline = timeline_of("loop_accumulate")
    runs = timeline.executions_on(4)
    assert [e.iteration for e in runs] == [0, 1, 2, 3]
    assert values_on(timeline, 4, "y") == ["2", "4", "12", "48"]
    assert [e.changes for e in runs] == [{}, {"y": "4"}, {"y": "12"}, {"y": "48"}]
    assert values_on(timeline, 3, "i") == ["0", "1", "2", "3"]
    assert len(timeline.executions_on(3)) == 5  # the last run ends the loop
    assert [e.returned for e in timeline.executions_on(5)] == ["48"]
    assert timeline.result.value == "48" and not timeline.result.raised
    f = timeline.invocations_of("f")[0]
    assert (f.call_line, f.arguments, f.depth, f.caller, f.caller_line) == (
        1,
        {"a": "2", "b": "4"},
        1,
        0,
        8,
    )
    assert timeline.executions[f.caller_execution or 0].calls == [f.id]


def test_recursion_has_one_invocation_per_call() -> None:
    timeline = timeline_of("recursion")
    facts = timeline.invocations_of("fact")
    assert [inv.arguments["n"] for inv in facts] == ["3", "2", "1"]
    assert [inv.depth for inv in facts] == [1, 2, 3]
    assert [inv.return_value for inv in facts] == ["6", "2", "1"]
    assert [inv.caller_line for inv in facts] == [7, 4, 4]
    # Iterations count per invocation: each fact runs line 2 once.
    assert [(e.invocation, e.iteration) for e in timeline.executions_on(2)] == [
        (facts[0].id, 0),
        (facts[1].id, 0),
        (facts[2].id, 0),
    ]
    assert [e.returned for e in timeline.executions_on(4)] == ["6", "2"]
    assert [e.returned for e in timeline.executions_on(3)] == ["1"]


def test_escaping_exception_is_uncaught_on_its_line() -> None:
    timeline = timeline_of("escaping_exception")
    (raising,) = timeline.executions_on(4)
    assert raising.exception is not None
    assert raising.exception.describe() == "ZeroDivisionError: division by zero"
    assert raising.exception.raised_here and raising.exception.uncaught
    assert raising.returned is None
    (harness,) = timeline.executions_on(7)
    assert harness.exception is not None and not harness.exception.raised_here
    assert timeline.result.raised and timeline.result.value is None
    assert timeline.result.exception is harness.exception
    assert timeline.invocations_of("ratio")[0].raised


def test_caught_exception_is_marked_caught() -> None:
    timeline = timeline_of("caught_exception")
    (raising,) = timeline.executions_on(3)
    assert raising.exception is not None
    assert raising.exception.type_name == "ValueError"
    assert raising.exception.message == "invalid literal for int() with base 10: '80a'"
    assert raising.exception.caught and not raising.exception.uncaught
    assert values_on(timeline, 5, "port") == ["-1"]
    assert [e.returned for e in timeline.executions_on(7)] == ["None"]
    assert timeline.result.value == "None" and not timeline.result.raised


def test_comprehension_and_closure() -> None:
    timeline = timeline_of("comprehension_and_closure")
    assert [e.returned for e in timeline.executions_on(3)] == ["10", "30"]
    scales = timeline.invocations_of("scale")
    assert [inv.arguments for inv in scales] == [{"v": "1", "k": "10"}, {"v": "3", "k": "10"}]
    assert all(inv.caller_line == 4 for inv in scales)
    (listcomp,) = timeline.invocations_of("<listcomp>")
    assert listcomp.kind == "comprehension" and listcomp.call_line == 4
    assert listcomp.function == "scaled.<locals>.<listcomp>"
    comp_runs = [e for e in timeline.executions_on(4) if e.invocation == listcomp.id]
    assert [e.iteration for e in comp_runs] == [0, 1, 2, 3]
    assert [e.values.get("v") for e in comp_runs] == ["1", "0", "3", None]
    (scaled_run,) = [e for e in timeline.executions_on(4) if e.invocation != listcomp.id]
    assert scaled_run.returned == "[10, 30]"
    assert scaled_run.calls == [listcomp.id]


def test_count_letters_multi_line_statement_and_nested_calls() -> None:
    timeline = timeline_of("count_letters")
    assert [len(timeline.executions_on(n)) for n in range(9, 16)] == [1] * 7
    (parts,) = timeline.executions_on(9)
    assert parts.values["parts"].startswith("['Found', '0003'")
    assert values_on(timeline, 4, "n")[-1] == "3"
    assert [inv.function for inv in timeline.invocations] == [
        "main",
        "report",
        "count_letters",
        "format_answer",
    ]
    (report_line,) = timeline.executions_on(22)
    assert report_line.values == {"num": "3"}
    assert timeline.invocations[report_line.calls[0]].function == "count_letters"


def test_method_and_while_loop() -> None:
    timeline = timeline_of("method_and_object")
    assert [inv.function for inv in timeline.invocations] == [
        "main",
        "Counter.__init__",
        "Counter.bump",
    ]
    assert timeline.invocations[2].arguments["self"] == "<__prophecy__.Counter object>"
    assert values_on(timeline, 6, "_") == ["0", "1"]
    loop = timeline_of("while_break")
    assert values_on(loop, 4, "k") == ["1", "2", "3", "4"]
    assert len(loop.executions_on(6)) == 1


def test_truncated_trace_is_incomplete() -> None:
    golden = GOLDENS["loop_accumulate"]
    frames = parse_trace(golden["trace_text"]).frames[:9]
    timeline = build_timeline(frames, golden["context"])
    assert not timeline.complete
    assert timeline.result.value is None and not timeline.result.raised
    last = timeline.executions[-1]
    assert last.line == 3 and not last.effect_known and last.changes == {}
    assert not timeline.invocations[1].finished


def test_builder_follows_a_stream() -> None:
    golden = GOLDENS["recursion"]
    frames = parse_trace(golden["trace_text"]).frames
    builder = TimelineBuilder(golden["context"])
    builder.add(frames[:5])
    partial = builder.timeline()
    assert builder.timeline() is partial
    assert not partial.complete and len(partial.invocations) == 2
    builder.add(frames[5:])
    assert timeline_to_json(builder.timeline()) == timeline_to_json(timeline_of("recursion"))
    assert builder.timeline().result.value == "6"


def test_json_states_are_optional() -> None:
    timeline = timeline_of("loop_accumulate")
    assert "state" not in timeline_to_json(timeline)["executions"][0]
    with_states = timeline_to_json(timeline, states=True)
    assert with_states["executions"][3]["state"] == {"a": "2", "b": "4", "y": "2", "i": "0"}


def test_describe_exception_variants() -> None:
    assert describe_exception("(<class 'KeyError'>, KeyError('x'), <traceback object>)") == (
        "KeyError",
        "x",
    )
    assert describe_exception("(<class 'pkg.Err'>, Err(1, 2), <traceback object>)") == (
        "Err",
        "1, 2",
    )
    assert describe_exception("StopIteration()") == ("StopIteration", "")
    assert describe_exception("something odd") == ("something odd", "")


LINES = [
    "def f(a):\n",
    "    y = a\n",
    "    return y\n",
    "def main():  # << START_OF_TRACE\n",
    "zz\n",
]
random_frames = st.lists(
    st.builds(
        Frame,
        st.sampled_from(list(Event)),
        st.sampled_from(LINES),
        st.dictionaries(st.sampled_from(["a", "y", ".0"]), st.sampled_from(["..", "1", "2"])),
        st.one_of(
            st.none(),
            st.sampled_from(["1", "(<class 'E'>, E('x'), <traceback object>)", "E(("]),
        ),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(random_frames, st.sampled_from(["".join(LINES[:4]), "def f(:\n  y = a\n", ""]))
def test_any_frames_build_a_timeline(frames: list[Frame], context: str) -> None:
    timeline = build_timeline(frames, context)
    json.dumps(timeline_to_json(timeline, states=True))
    text = render_text(timeline, context, width=10, origin="observed", line_numbers=True)
    assert len(text.splitlines()) == len(context.splitlines()) + 1
    assert len(timeline.executions) == sum(1 for f in frames if f.event is Event.LINE)
    assert all(0 <= p.frame_index < len(frames) for p in timeline.problems)
