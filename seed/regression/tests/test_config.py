import json
from pathlib import Path
from typing import Any

import pytest

from workflow.config import (
    DEFAULT_CONFIG_PATH,
    MODEL_SETTINGS_VARIABLE,
    ModelConfigError,
    load_model_config,
    settings_source,
)

from .conftest import EXAMPLE_CONFIG_PATH

# The example model's settings (tests/conftest.py), which these tests vary: never the repository's
# model_config.json, which the platform writes for whichever model this repository builds.
EXAMPLE_SETTINGS: dict[str, Any] = json.loads(EXAMPLE_CONFIG_PATH.read_text())
CONTRACT: dict[str, str] = EXAMPLE_SETTINGS["package_metadata"]["customer_metadata_properties"]
# The tag by which the platform scopes the pipeline role to this model's jobs.
MODEL_TAG = "mlops:model"


def write_config(directory: Path, settings: dict[str, Any]) -> Path:
    path = directory / "model_config.json"
    path.write_text(json.dumps(settings))
    return path


def with_metric(name: str, direction: str, threshold: float) -> dict[str, Any]:
    return {"metric": {"name": name, "direction": direction, "threshold": threshold}}


def with_properties(changes: dict[str, str]) -> dict[str, Any]:
    properties = CONTRACT | changes
    return {
        "package_metadata": EXAMPLE_SETTINGS["package_metadata"]
        | {"customer_metadata_properties": properties}
    }


def test_the_repositorys_model_config_is_written_as_the_platform_writes_it() -> None:
    # The platform writes model_config.json with sorted keys, two-space indent and a final newline.
    text = DEFAULT_CONFIG_PATH.read_text()

    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_the_repositorys_model_config_is_valid_and_names_one_model_throughout() -> None:
    """Whichever model the platform wrote it for (or, for a SageMaker Projects template, its defaults
    under a placeholder name): it loads, and every name derived from the model's is the platform's."""
    config = load_model_config(DEFAULT_CONFIG_PATH)
    name = config.model_name

    assert config.model_package_group_name == name
    assert config.pipeline_name == f"{name}-build"
    assert config.package_metadata.sample_payloads_prefix == f"{name}/sample-payloads/"
    assert config.resource_tags.get(MODEL_TAG) == name


def test_the_example_settings_load_with_the_platform_defaults() -> None:
    config = load_model_config(EXAMPLE_CONFIG_PATH)

    assert config.model_name == config.model_package_group_name == "demand"
    assert config.pipeline_name == "demand-build"
    assert config.problem_type == "regression"
    assert (config.metric.name, config.metric.direction, config.metric.threshold) == (
        "rmse",
        "lower_is_better",
        12.0,
    )
    assert config.metric.lower_is_better
    assert config.feature_group_name is None
    assert config.resource_tags == {MODEL_TAG: "demand"}
    assert config.package_metadata.task == "REGRESSION"
    assert config.package_metadata.sample_payloads_prefix == "demand/sample-payloads/"
    assert config.package_metadata.customer_metadata_properties["mlops:prediction-attribute"] == "prediction"


@pytest.mark.parametrize(
    ("name", "direction", "threshold"),
    [
        ("rmse", "lower_is_better", 12.0),
        ("mae", "lower_is_better", 8.5),
        ("mse", "lower_is_better", 144.0),
        ("r2", "higher_is_better", 0.8),
        ("r2", "higher_is_better", -0.5),
    ],
)
def test_every_regression_metric_is_accepted_in_its_direction(
    tmp_path: Path, name: str, direction: str, threshold: float
) -> None:
    config = load_model_config(
        write_config(tmp_path, EXAMPLE_SETTINGS | with_metric(name, direction, threshold))
    )

    assert (config.metric.name, config.metric.lower_is_better) == (name, direction == "lower_is_better")


def test_csv_answers_name_the_prediction_by_its_column(tmp_path: Path) -> None:
    change = with_properties({"mlops:accept": "text/csv", "mlops:prediction-attribute": "0"})

    config = load_model_config(write_config(tmp_path, EXAMPLE_SETTINGS | change))

    assert config.package_metadata.customer_metadata_properties["mlops:accept"] == "text/csv"


def with_clarify(**changes: Any) -> dict[str, Any]:
    return {"clarify": EXAMPLE_SETTINGS["clarify"] | changes}


def with_card(**changes: Any) -> dict[str, Any]:
    return {"card": EXAMPLE_SETTINGS["card"] | changes}


def test_the_example_checks_holiday_weeks_above_a_threshold_and_reports_bias() -> None:
    config = load_model_config(EXAMPLE_CONFIG_PATH)

    assert config.clarify is not None
    assert [(facet.name, facet.values) for facet in config.clarify.facets] == [("holiday", [1])]
    assert config.clarify.threshold == 34.0
    assert config.clarify.bias_policy == "report"
    assert config.card.risk_rating == "low"
    assert config.card.owner == "supply-chain-analytics (demand-models@example.com)"
    assert config.card.description == "Forecasts next week's unit sales per store and product."


@pytest.mark.parametrize(
    "clarify",
    [
        None,
        {
            "facets": [{"name": "category", "values": ["snacks", "frozen"]}],
            "label_values": [0],
            "bias_policy": "block",
        },
        # A decimal column: Clarify reads its one value as the threshold of the group.
        {"facets": [{"name": "price", "values": [4.5]}], "label_values": [50], "bias_policy": "report"},
    ],
)
def test_clarify_may_be_off_or_name_any_feature_with_values_of_its_type(
    tmp_path: Path, clarify: dict[str, Any] | None
) -> None:
    config = load_model_config(write_config(tmp_path, EXAMPLE_SETTINGS | {"clarify": clarify}))

    assert (config.clarify is None) == (clarify is None)


@pytest.mark.parametrize(
    ("change", "expected_message"),
    [
        (
            with_clarify(facets=[{"name": "store_id", "values": ["S001"]}]),
            "clarify.facets.0.name: Value error, 'store_id' is not a feature of the model (jobs/features.py:"
            " price, promotion, week_of_year, store_size_sqm, holiday, category, units_last_week)",
        ),
        (
            with_clarify(facets=[{"name": "units_sold", "values": [10]}]),
            "'units_sold' is not a feature of the model",
        ),
        (
            with_clarify(facets=[{"name": "category", "values": [1]}]),
            "the values of 'category' are categories (strings), not [1]",
        ),
        (with_clarify(facets=[{"name": "holiday", "values": ["1"]}]), "the values of 'holiday' are numbers"),
        (with_clarify(facets=[{"name": "holiday", "values": [True]}]), "clarify.facets.0.values.0"),
        (with_clarify(facets=[{"name": "holiday", "values": []}]), "clarify.facets.0.values"),
        (with_clarify(facets=[]), "clarify.facets: List should have at least 1 item"),
        (
            with_clarify(facets=[{"name": "holiday", "values": [1]}, {"name": "holiday", "values": [0]}]),
            "facet holiday is listed more than once",
        ),
        (with_clarify(label_values=[20, 40]), "clarify.label_values: List should have at most 1 item"),
        (with_clarify(label_values=[]), "clarify.label_values: List should have at least 1 item"),
        (with_clarify(label_values=["34"]), "clarify.label_values.0"),
        (
            with_clarify(label_values=[-1.0]),
            "the threshold of a positive outcome is a number of units, at least 0",
        ),
        (with_clarify(bias_policy="warn"), "clarify.bias_policy: Input should be 'block' or 'report'"),
        (with_clarify(bias_policy=None), "clarify.bias_policy"),
        (with_clarify(threshold=34), "clarify.threshold: Extra inputs are not permitted"),
        (
            with_card(risk_rating="critical"),
            "card.risk_rating: Input should be 'low', 'medium', 'high' or 'unknown'",
        ),
        (with_card(intended_uses=""), "card.intended_uses: String should have at least 1 character"),
        (with_card(limitations="x" * 2049), "card.limitations: String should have at most 2048 characters"),
        (with_card(reviewer="me"), "card.reviewer: Extra inputs are not permitted"),
        ({"card": {"owner": "me"}}, "card.description: Field required"),
    ],
)
def test_bad_clarify_or_card_settings_are_rejected_naming_the_setting(
    tmp_path: Path, change: dict[str, Any], expected_message: str
) -> None:
    with pytest.raises(ModelConfigError) as error:
        load_model_config(write_config(tmp_path, EXAMPLE_SETTINGS | change))

    assert expected_message in str(error.value)


def test_the_card_the_platform_always_writes_is_required(tmp_path: Path) -> None:
    settings = {name: value for name, value in EXAMPLE_SETTINGS.items() if name != "card"}

    with pytest.raises(ModelConfigError, match="card: Field required"):
        load_model_config(write_config(tmp_path, settings))


def test_settings_without_clarify_assess_no_bias(tmp_path: Path) -> None:
    """The settings CloudFormation renders for a SageMaker Project's build drop null values."""
    settings = {name: value for name, value in EXAMPLE_SETTINGS.items() if name != "clarify"}

    assert load_model_config(write_config(tmp_path, settings)).clarify is None


@pytest.mark.parametrize(
    ("change", "expected_message"),
    [
        (
            {"problem_type": "binary_classification"},
            "problem_type: Value error, 'binary_classification' is not what this template builds: it trains"
            " regression models only; a classifier starts from the binary-classification seed template",
        ),
        (
            {"feature_group_name": "demand-features"},
            "feature_group_name: Value error, must be null: this template reads its training data"
            " from S3 only",
        ),
        (
            with_metric("auc", "higher_is_better", 0.75),
            "metric.name: Input should be 'rmse', 'mae', 'mse' or 'r2'",
        ),
        (with_metric("rmse", "higher_is_better", 12.0), "rmse is lower_is_better, not higher_is_better"),
        (with_metric("r2", "lower_is_better", 0.8), "r2 is higher_is_better, not lower_is_better"),
        (
            with_metric("mae", "lower_is_better", 0.0),
            "mae is an error, never below 0: the threshold must be above 0",
        ),
        (with_metric("r2", "higher_is_better", 1.5), "r2 is at most 1"),
        ({"metric": {"name": "rmse", "threshold": 12.0}}, "metric.direction: Field required"),
        ({"model_name": "Demand Model"}, "model_name"),
        ({"training_instance_type": "m5.large"}, "training_instance_type"),
        ({"inference_instance_types": []}, "inference_instance_types"),
        ({"pipline_name": "typo"}, "pipline_name: Extra inputs are not permitted"),
        ({"resource_tags": {"mlops:model": "demand;rm"}}, "resource_tags"),
        (
            {"package_metadata": EXAMPLE_SETTINGS["package_metadata"] | {"task": "CLASSIFICATION"}},
            "package_metadata.task: Input should be 'REGRESSION'",
        ),
        (
            {
                "package_metadata": EXAMPLE_SETTINGS["package_metadata"]
                | {"sample_payloads_prefix": "/demand"}
            },
            "package_metadata.sample_payloads_prefix",
        ),
        (with_properties({"mlops:problem-type": "binary_classification"}), "but this model is a regression"),
        (
            with_properties({"mlops:probability-attribute": "probability"}),
            "a regression model answers no probability",
        ),
        (
            with_properties({"mlops:prediction-attribute": "label"}),
            "mlops:prediction-attribute is 'label', but jobs/inference.py answers application/json with the"
            " prediction as 'prediction'",
        ),
        (with_properties({"mlops:accept": "text/csv"}), "answers text/csv with the prediction as '0'"),
        (with_properties({"mlops:content-type": "application/x-parquet"}), "mlops:content-type must be"),
        (with_properties({"model_name": "other"}), "the pipeline records model_name itself"),
    ],
)
def test_a_bad_value_is_rejected_naming_the_setting(
    tmp_path: Path, change: dict[str, Any], expected_message: str
) -> None:
    path = write_config(tmp_path, EXAMPLE_SETTINGS | change)

    with pytest.raises(ModelConfigError) as error:
        load_model_config(path)

    assert expected_message in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    settings = {key: value for key, value in EXAMPLE_SETTINGS.items() if key != "pipeline_name"}
    path = write_config(tmp_path, settings | with_metric("rmse", "lower_is_better", -1.0))

    with pytest.raises(ModelConfigError) as error:
        load_model_config(path)

    message = str(error.value)
    assert "pipeline_name: Field required" in message
    assert "metric: Value error, rmse is an error" in message


def test_malformed_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "model_config.json"
    path.write_text('{"model_name": "demand",')

    with pytest.raises(ModelConfigError, match="not valid JSON"):
        load_model_config(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="file not found"):
        load_model_config(tmp_path / "absent.json")


# --- from the build's environment ---------------------------------------------------------------------

# The settings the platform gives a build project whose model was named when its project was created.
FOOTFALL_SETTINGS = EXAMPLE_SETTINGS | {
    "model_name": "footfall",
    "model_package_group_name": "footfall",
    "pipeline_name": "footfall-build",
    "resource_tags": {"mlops:model": "footfall"},
}


def test_the_build_projects_settings_come_before_the_file(tmp_path: Path) -> None:
    environ = {MODEL_SETTINGS_VARIABLE: json.dumps(FOOTFALL_SETTINGS)}

    config = load_model_config(environ=environ)

    assert (config.model_name, config.pipeline_name) == ("footfall", "footfall-build")
    assert config == load_model_config(write_config(tmp_path, FOOTFALL_SETTINGS))
    assert settings_source(environ=environ) == "$MODEL_SETTINGS"


def test_the_variable_is_read_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_SETTINGS_VARIABLE, json.dumps(FOOTFALL_SETTINGS))

    assert load_model_config().model_name == "footfall"


@pytest.mark.parametrize(
    ("value", "expected_message"),
    [
        ("{", r"^\$MODEL_SETTINGS: not valid JSON"),
        ("[]", r"^\$MODEL_SETTINGS is invalid:\n  - \(top level\): "),
        (
            json.dumps(EXAMPLE_SETTINGS | {"model_name": "Footfall Model"}),
            r"^\$MODEL_SETTINGS is invalid:\n  - model_name: ",
        ),
        (
            json.dumps({key: value for key, value in EXAMPLE_SETTINGS.items() if key != "metric"}),
            r"^\$MODEL_SETTINGS is invalid:\n  - metric: Field required$",
        ),
    ],
)
def test_invalid_settings_in_the_variable_are_refused_naming_it(value: str, expected_message: str) -> None:
    with pytest.raises(ModelConfigError, match=expected_message):
        load_model_config(environ={MODEL_SETTINGS_VARIABLE: value})


def test_an_empty_variable_falls_back_to_model_config_json() -> None:
    environ = {MODEL_SETTINGS_VARIABLE: ""}

    assert load_model_config(environ=environ) == load_model_config(DEFAULT_CONFIG_PATH)
    assert settings_source(environ=environ) == str(DEFAULT_CONFIG_PATH)


def test_a_file_given_explicitly_comes_before_the_variable() -> None:
    environ = {MODEL_SETTINGS_VARIABLE: json.dumps(FOOTFALL_SETTINGS)}

    config = load_model_config(EXAMPLE_CONFIG_PATH, environ=environ)

    assert config.model_name == "demand"
    assert settings_source(EXAMPLE_CONFIG_PATH, environ=environ) == str(EXAMPLE_CONFIG_PATH)
