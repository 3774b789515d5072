"""Parsing the ``cwm`` settings section."""

from __future__ import annotations

from cwm_lsp.server.settings import Settings, parse_settings, settings_to_json


def test_defaults_when_nothing_is_given() -> None:
    assert parse_settings(None) == (Settings(), [])
    assert parse_settings({}) == (Settings(), [])
    settings = Settings()
    assert settings.backend == "auto" and not settings.allow_execution
    assert settings.hint_width == 60 and settings.predict_on == "demand" and settings.step_into


def test_every_setting_is_read_from_its_json_name() -> None:
    raw = {
        "backend": "run",
        "modelPath": "/models/cwm",
        "quantize": "int8",
        "device": "cuda",
        "allowExecution": True,
        "maxFrames": 500,
        "temperature": 0.5,
        "predictOn": "save",
        "stepInto": False,
        "hintWidth": 40,
        "timeout": 30,
        "followControlFlow": False,
        "pythonPath": "/project/.venv/bin/python",
        "sandbox": "bubblewrap",
        "predictionTimeout": 12.5,
        "editorPythonPath": "/usr/bin/python3",
    }
    settings, warnings = parse_settings(raw)
    assert warnings == []
    assert settings == Settings(
        "run",
        "/models/cwm",
        "int8",
        "cuda",
        True,
        500,
        0.5,
        "save",
        False,
        40,
        30.0,
        False,
        "/project/.venv/bin/python",
        "bubblewrap",
        12.5,
        "/usr/bin/python3",
    )
    assert settings_to_json(settings) == {**raw, "timeout": 30.0}


def test_a_whole_settings_object_with_a_cwm_section_is_accepted() -> None:
    settings, warnings = parse_settings({"cwm": {"backend": "run"}, "python": {"x": 1}})
    assert settings.backend == "run" and warnings == []


def test_bad_values_fall_back_to_defaults_with_a_warning_each() -> None:
    settings, warnings = parse_settings(
        {
            "backend": "gpt",
            "hintWidth": "wide",
            "maxFrames": 0,
            "allowExecution": "yes",
            "temperature": float("nan"),
        }
    )
    assert settings == Settings()
    assert warnings == [
        "cwm.backend must be one of 'auto', 'native', 'llama-cpp', 'openai', 'run', got 'gpt'; using 'auto'",
        "cwm.hintWidth must be a whole number from 8 to 1000, got 'wide'; using 60",
        "cwm.maxFrames must be a whole number from 1 to 1000000, got 0; using 10000",
        "cwm.allowExecution must be true or false, got 'yes'; using False",
        "cwm.temperature must be a number from 0 to 2, got nan; using 0.0",
    ]


def test_booleans_are_not_numbers_and_unknown_keys_are_ignored() -> None:
    settings, warnings = parse_settings({"hintWidth": True, "somethingNew": 1})
    assert settings.hint_width == 60
    assert len(warnings) == 1 and warnings[0].startswith("cwm.hintWidth")


def test_a_non_object_is_refused_as_a_whole() -> None:
    settings, warnings = parse_settings(["backend", "run"])
    assert settings == Settings()
    assert warnings == ["cwm settings must be an object, got ['backend', 'run']; using defaults"]


def test_keys_separate_model_loads_from_result_changes() -> None:
    base = Settings().options()
    assert Settings(hint_width=10).options().predictor_key() == base.predictor_key()
    assert Settings(hint_width=10).options() == base
    assert Settings(temperature=1.0).options().predictor_key() == base.predictor_key()
    assert Settings(temperature=1.0).options() != base
    assert Settings(model_path="x").options().predictor_key() != base.predictor_key()


def test_settings_a_backend_has_no_use_for_are_not_passed_on() -> None:
    settings = Settings(timeout=3.0, temperature=0.5, python_path="/usr/bin/python3")
    model = settings.options()
    assert (model.run_timeout, model.python, model.temperature) == (None, None, 0.5)
    assert model.unsupported() == []
    run = settings.options("run")
    assert (run.run_timeout, run.python, run.temperature) == (3.0, "/usr/bin/python3", 0.0)
    assert run.unsupported() == []
    free = Settings(backend="openai", follow_control_flow=False).options()
    assert [item.option for item in free.unsupported()] == ["follow_flow"]


def test_the_prediction_budget_reaches_model_backends_only() -> None:
    assert Settings().options().prediction_timeout == 30.0  # the editor's default
    assert Settings(prediction_timeout=0).options().prediction_timeout is None  # 0: no limit
    assert Settings(backend="run").options().prediction_timeout is None  # runs: cwm.timeout
    settings, warnings = parse_settings({"predictionTimeout": -1})
    assert settings.prediction_timeout == 30.0
    assert warnings == ["cwm.predictionTimeout must be a number from 0 to 3600, got -1; using 30.0"]
