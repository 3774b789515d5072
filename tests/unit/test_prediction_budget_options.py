"""The time budget in BackendOptions and on the command line."""

from __future__ import annotations

from cwm_lsp.backends.options import DEFAULT_PREDICTION_TIMEOUT, BackendOptions
from cwm_lsp.cli import build_parser
from cwm_lsp.commands.common import options_from_args


def test_the_budget_is_per_request_and_not_part_of_a_cached_result() -> None:
    options = BackendOptions(backend="native", prediction_timeout=5.0)
    assert options.predictor_key() == BackendOptions(backend="native")  # no second model load
    assert options.for_cache().prediction_timeout is None
    assert options.for_prediction().prediction_timeout == 5.0
    assert options.for_run().prediction_timeout is None


def test_a_sandboxed_run_refuses_the_prediction_budget() -> None:
    refused = BackendOptions(backend="run", prediction_timeout=5.0).unsupported()
    assert [item.option for item in refused] == ["prediction_timeout"]
    assert "--timeout" in refused[0].message
    negative = BackendOptions(backend="native", prediction_timeout=-1.0).unsupported()
    assert [item.option for item in negative] == ["prediction_timeout"]


def test_command_line_default_is_sixty_seconds_and_zero_turns_it_off() -> None:
    parser = build_parser()
    parse = parser.parse_args
    assert (
        options_from_args(parse(["predict", "f.py"])).prediction_timeout
        == (DEFAULT_PREDICTION_TIMEOUT)
        == 60.0
    )
    given = parse(["predict", "f.py", "--prediction-timeout", "2.5"])
    assert options_from_args(given).prediction_timeout == 2.5
    assert (
        options_from_args(
            parse(["predict", "f.py", "--prediction-timeout", "0"])
        ).prediction_timeout
        is None
    )
    assert (
        options_from_args(parse(["predict", "f.py", "--backend", "run"])).prediction_timeout is None
    )
    checked = parse(["trace-check", "src", "--prediction-timeout", "7"])
    assert options_from_args(checked).prediction_timeout == 7.0
