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


def with_contract(**changes: str) -> dict[str, Any]:
    """The example's package_metadata with some of its customer metadata properties changed."""
    package = EXAMPLE_SETTINGS["package_metadata"]
    return {"package_metadata": package | {"customer_metadata_properties": CONTRACT | changes}}


def multiclass(metric: str, direction: str = "higher_is_better") -> dict[str, Any]:
    return {
        "problem_type": "multiclass_classification",
        "metric": {"name": metric, "threshold": 0.6, "direction": direction},
        **with_contract(**{"mlops:problem-type": "multiclass_classification"}),
        # A multiclass model's positive labels are classes: here, cancelling.
        "clarify": EXAMPLE_SETTINGS["clarify"] | {"label_values": ["cancel"]},
    }


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

    assert config.model_name == "churn"
    assert config.model_package_group_name == "churn"
    assert config.pipeline_name == "churn-build"
    assert config.problem_type == "binary_classification"
    assert (config.metric.name, config.metric.threshold, config.metric.direction) == (
        "auc",
        0.75,
        "higher_is_better",
    )
    assert config.processing_instance_type == config.training_instance_type == "ml.m5.large"
    assert config.inference_instance_types == ["ml.m5.large"]
    assert config.feature_group_name == "churn-customer-features"
    assert config.resource_tags == {MODEL_TAG: "churn"}
    assert config.package_metadata.task == "CLASSIFICATION"
    assert config.package_metadata.sample_payloads_prefix == "churn/sample-payloads/"


def test_the_inference_contract_is_kept_with_its_property_names() -> None:
    properties = load_model_config(EXAMPLE_CONFIG_PATH).package_metadata.customer_metadata_properties

    assert properties.as_properties() == {
        "mlops:problem-type": "binary_classification",
        "mlops:content-type": "application/json",
        "mlops:accept": "application/json",
        "mlops:prediction-attribute": "label",
        "mlops:probability-attribute": "probability",
    }


@pytest.mark.parametrize("metric", ["accuracy", "weighted_f1"])
@pytest.mark.parametrize("direction", ["higher_is_better", "lower_is_better"])
def test_a_multiclass_model_gates_on_a_multiclass_metric_in_either_direction(
    tmp_path: Path, metric: str, direction: str
) -> None:
    config = load_model_config(write_config(tmp_path, EXAMPLE_SETTINGS | multiclass(metric, direction)))

    assert config.problem_type == "multiclass_classification"
    assert (config.metric.name, config.metric.higher_is_better) == (metric, direction == "higher_is_better")


@pytest.mark.parametrize("metric", ["auc", "f1", "accuracy", "precision", "recall"])
def test_a_binary_model_gates_on_any_binary_metric(tmp_path: Path, metric: str) -> None:
    settings = EXAMPLE_SETTINGS | {
        "metric": {"name": metric, "threshold": 0.5, "direction": "lower_is_better"}
    }

    config = load_model_config(write_config(tmp_path, settings))

    assert (config.metric.name, config.metric.higher_is_better) == (metric, False)


def test_a_regression_model_is_sent_to_the_regression_template(tmp_path: Path) -> None:
    path = write_config(tmp_path, EXAMPLE_SETTINGS | {"problem_type": "regression"})

    with pytest.raises(ModelConfigError) as error:
        load_model_config(path)

    (problem,) = str(error.value).splitlines()[1:]
    assert problem.startswith("  - problem_type: ")
    assert "create the model from the regression seed template" in problem


@pytest.mark.parametrize(
    ("change", "expected_message"),
    [
        # A metric of the other problem type.
        (multiclass("auc"), r"metric\.name 'auc' is not reported for multiclass_classification"),
        (multiclass("f1"), r"metric\.name 'f1' is not reported for multiclass_classification"),
        (
            {"metric": {"name": "weighted_f1", "threshold": 0.7, "direction": "higher_is_better"}},
            r"metric\.name 'weighted_f1' is not reported for binary_classification \(use one of auc, f1,",
        ),
        ({"metric": {"name": "rmse", "threshold": 0.75, "direction": "higher_is_better"}}, "metric.name"),
        ({"metric": {"name": "auc", "threshold": 1.5, "direction": "higher_is_better"}}, "metric.threshold"),
        ({"metric": {"name": "auc", "threshold": 0.75, "direction": "up"}}, "metric.direction"),
        ({"metric": {"name": "auc", "threshold": 0.75}}, "metric.direction: Field required"),
        ({"problem_type": "ranking"}, "problem_type: Input should be"),
        # The contract must describe this model: its problem type, media types it serves, its answer.
        (
            with_contract(**{"mlops:problem-type": "multiclass_classification"}),
            "package_metadata: .*mlops:problem-type is 'multiclass_classification' but problem_type is"
            " 'binary_classification'",
        ),
        (
            with_contract(**{"mlops:content-type": "application/x-parquet"}),
            "customer_metadata_properties.mlops:content-type",
        ),
        (with_contract(**{"mlops:accept": "text/plain"}), "customer_metadata_properties.mlops:accept"),
        (
            with_contract(**{"mlops:prediction-attribute": "churned"}),
            "customer_metadata_properties.mlops:prediction-attribute: Input should be 'label'",
        ),
        (
            with_contract(**{"mlops:probability-attribute": "score"}),
            "customer_metadata_properties.mlops:probability-attribute: Input should be 'probability'",
        ),
        (with_contract(**{"mlops:owner": "team-a"}), "mlops:owner: Extra inputs are not permitted"),
        (
            {"package_metadata": EXAMPLE_SETTINGS["package_metadata"] | {"task": "REGRESSION"}},
            "package_metadata.task",
        ),
        (
            {"package_metadata": EXAMPLE_SETTINGS["package_metadata"] | {"sample_payloads_prefix": "churn"}},
            "package_metadata.sample_payloads_prefix: String should match pattern",
        ),
        (
            {
                "package_metadata": EXAMPLE_SETTINGS["package_metadata"]
                | {"sample_payloads_prefix": "/churn/"}
            },
            "package_metadata.sample_payloads_prefix: String should match pattern",
        ),
        (
            {"package_metadata": EXAMPLE_SETTINGS["package_metadata"] | {"sample_payloads_prefix": "a//b/"}},
            "package_metadata.sample_payloads_prefix: String should match pattern",
        ),
        ({"model_name": "Churn Model"}, "model_name"),
        ({"training_instance_type": "m5.large"}, "training_instance_type"),
        ({"inference_instance_types": []}, "inference_instance_types"),
        ({"pipline_name": "typo"}, "pipline_name: Extra inputs are not permitted"),
        ({"feature_group_name": "churn features"}, "feature_group_name: String should match pattern"),
        ({"feature_group_name": "-churn"}, "feature_group_name: String should match pattern"),
        ({"feature_group_name": "churn-"}, "feature_group_name: String should match pattern"),
        ({"feature_group_name": "a" * 65}, "feature_group_name: String should match pattern"),
        ({"feature_group_name": ""}, "feature_group_name: String should match pattern"),
        ({"resource_tags": {"": "churn"}}, "resource_tags"),
        ({"resource_tags": {"mlops:model": "churn;rm"}}, "resource_tags"),
        ({"resource_tags": ["mlops:model"]}, "resource_tags"),
    ],
)
def test_a_bad_value_is_rejected_naming_the_setting(
    tmp_path: Path, change: dict[str, Any], expected_message: str
) -> None:
    path = write_config(tmp_path, EXAMPLE_SETTINGS | change)

    with pytest.raises(ModelConfigError, match=expected_message):
        load_model_config(path)


@pytest.mark.parametrize("key", ["problem_type", "metric", "package_metadata"])
def test_the_settings_of_the_inference_contract_are_required(tmp_path: Path, key: str) -> None:
    settings = {name: value for name, value in EXAMPLE_SETTINGS.items() if name != key}

    with pytest.raises(ModelConfigError, match=f"{key}: Field required"):
        load_model_config(write_config(tmp_path, settings))


# --- clarify and card ---------------------------------------------------------------------------------

CLARIFY: dict[str, Any] = EXAMPLE_SETTINGS["clarify"]
CARD: dict[str, Any] = EXAMPLE_SETTINGS["card"]


def test_the_examples_bias_checks_and_card_are_kept() -> None:
    config = load_model_config(EXAMPLE_CONFIG_PATH)

    assert config.clarify is not None
    assert [(facet.name, facet.values) for facet in config.clarify.facets] == [("senior_citizen", [1])]
    assert (config.clarify.label_values, config.clarify.bias_policy) == ([1], "block")
    assert config.card.model_dump() == CARD
    assert (config.card.risk_rating, config.card.owner) == (
        "medium",
        "customer-analytics (churn-models@example.com)",
    )


@pytest.mark.parametrize(
    "clarify",
    [
        None,  # explainability only: the card says bias was not assessed
        CLARIFY | {"bias_policy": "report"},
        CLARIFY | {"facets": [{"name": "contract_type", "values": ["month-to-month", "one-year"]}]},
        CLARIFY
        | {"facets": [{"name": "tenure_months", "values": [12]}, {"name": "senior_citizen", "values": [1]}]},
        CLARIFY | {"facets": [{"name": "monthly_charges", "values": [99.5]}], "label_values": [0]},
    ],
)
def test_bias_checks_of_the_models_features_and_labels_are_accepted(
    tmp_path: Path, clarify: dict[str, Any] | None
) -> None:
    config = load_model_config(write_config(tmp_path, EXAMPLE_SETTINGS | {"clarify": clarify}))

    assert (config.clarify.model_dump() if config.clarify else None) == clarify


def test_a_multiclass_models_positive_labels_are_its_classes(tmp_path: Path) -> None:
    settings = EXAMPLE_SETTINGS | multiclass("weighted_f1")
    settings["clarify"] = CLARIFY | {"label_values": ["cancel", "downgrade"]}

    config = load_model_config(write_config(tmp_path, settings))

    assert config.clarify is not None
    assert config.clarify.label_values == ["cancel", "downgrade"]


def test_settings_without_clarify_assess_no_bias(tmp_path: Path) -> None:
    """The settings CloudFormation renders for a SageMaker Project's build drop null values."""
    settings = {key: value for key, value in EXAMPLE_SETTINGS.items() if key != "clarify"}

    assert load_model_config(write_config(tmp_path, settings)).clarify is None


@pytest.mark.parametrize(
    ("clarify", "expected_message"),
    [
        (
            CLARIFY | {"facets": [{"name": "age", "values": [65]}]},
            r"clarify\.facets\.0\.name: Value error, 'age' is not a feature of the model"
            r" \(jobs/features\.py: tenure_months, ",
        ),
        # The target and the identifier are not features: Clarify compares groups of customers.
        (CLARIFY | {"facets": [{"name": "churned", "values": [1]}]}, "'churned' is not a feature"),
        (
            CLARIFY | {"facets": [{"name": "customer_id", "values": ["C000001"]}]},
            "'customer_id' is not a feature",
        ),
        (
            CLARIFY | {"facets": [{"name": "senior_citizen", "values": ["1"]}]},
            r"the values of 'senior_citizen' are numbers, not \['1'\]",
        ),
        (
            CLARIFY | {"facets": [{"name": "contract_type", "values": [1]}]},
            r"the values of 'contract_type' are categories \(strings\), not \[1\]",
        ),
        (CLARIFY | {"facets": [{"name": "senior_citizen", "values": []}]}, r"clarify\.facets\.0\.values"),
        (CLARIFY | {"facets": []}, r"clarify\.facets: List should have at least 1 item"),
        (
            CLARIFY | {"facets": [{"name": "senior_citizen", "values": [1]}] * 2},
            "facet senior_citizen is listed more than once",
        ),
        (
            CLARIFY | {"label_values": [2]},
            r"clarify: Value error, label_values \[2\] are not classes of a binary_classification model"
            r" \(one or more of 0, 1\)",
        ),
        (CLARIFY | {"label_values": ["1"]}, r"label_values \['1'\] are not classes"),
        (CLARIFY | {"label_values": ["cancel"]}, r"label_values \['cancel'\] are not classes"),
        (CLARIFY | {"label_values": [True]}, r"clarify\.label_values\.0"),
        (CLARIFY | {"label_values": [0, 1]}, "label_values name every class"),
        (CLARIFY | {"label_values": []}, r"clarify\.label_values: List should have at least 1 item"),
        (CLARIFY | {"bias_policy": "warn"}, r"clarify\.bias_policy: Input should be 'block' or 'report'"),
        (
            CLARIFY | {"block_on_bias_violation": True},
            "block_on_bias_violation: Extra inputs are not permitted",
        ),
        (
            {key: value for key, value in CLARIFY.items() if key != "bias_policy"},
            "bias_policy: Field required",
        ),
    ],
)
def test_bias_checks_the_model_cannot_run_are_refused(
    tmp_path: Path, clarify: dict[str, Any], expected_message: str
) -> None:
    path = write_config(tmp_path, EXAMPLE_SETTINGS | {"clarify": clarify})

    with pytest.raises(ModelConfigError, match=expected_message):
        load_model_config(path)


def test_a_multiclass_models_positive_labels_cannot_be_binary_ones(tmp_path: Path) -> None:
    settings = EXAMPLE_SETTINGS | multiclass("accuracy")
    settings["clarify"] = CLARIFY  # label_values [1]

    with pytest.raises(
        ModelConfigError, match=r"label_values \[1\] are not classes of a multiclass_classification"
    ):
        load_model_config(write_config(tmp_path, settings))


@pytest.mark.parametrize(
    ("card", "expected_message"),
    [
        (
            CARD | {"risk_rating": "Medium"},
            r"card\.risk_rating: Input should be 'low', 'medium', 'high' or 'unknown'",
        ),
        (CARD | {"owner": ""}, r"card\.owner: String should have at least 1 character"),
        (
            CARD | {"limitations": "x" * 2049},
            r"card\.limitations: String should have at most 2048 characters",
        ),
        (
            {key: value for key, value in CARD.items() if key != "intended_uses"},
            "card.intended_uses: Field required",
        ),
        (CARD | {"ethics": "none"}, "card.ethics: Extra inputs are not permitted"),
    ],
)
def test_a_card_setting_that_does_not_fit_the_card_is_refused(
    tmp_path: Path, card: dict[str, Any], expected_message: str
) -> None:
    with pytest.raises(ModelConfigError, match=expected_message):
        load_model_config(write_config(tmp_path, EXAMPLE_SETTINGS | {"card": card}))


def test_the_platform_always_writes_the_card(tmp_path: Path) -> None:
    settings = {name: value for name, value in EXAMPLE_SETTINGS.items() if name != "card"}

    with pytest.raises(ModelConfigError, match="card: Field required"):
        load_model_config(write_config(tmp_path, settings))


@pytest.mark.parametrize("name", ["churn-customer-features", "churn_features_v2", "A", "a" * 64])
def test_a_feature_group_name_that_sagemaker_accepts_is_kept(tmp_path: Path, name: str) -> None:
    path = write_config(tmp_path, EXAMPLE_SETTINGS | {"feature_group_name": name})

    assert load_model_config(path).feature_group_name == name


def test_a_model_without_a_feature_group_may_omit_the_key_or_set_it_to_null(tmp_path: Path) -> None:
    without_key = {key: value for key, value in EXAMPLE_SETTINGS.items() if key != "feature_group_name"}

    assert load_model_config(write_config(tmp_path, without_key)).feature_group_name is None
    assert (
        load_model_config(
            write_config(tmp_path, without_key | {"feature_group_name": None})
        ).feature_group_name
        is None
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    settings = {key: value for key, value in EXAMPLE_SETTINGS.items() if key != "pipeline_name"}
    bad_metric = {"name": "auc", "threshold": 0, "direction": "higher_is_better"}
    path = write_config(tmp_path, settings | {"metric": bad_metric})

    with pytest.raises(ModelConfigError) as error:
        load_model_config(path)

    message = str(error.value)
    assert "pipeline_name: Field required" in message
    assert "metric.threshold: Input should be greater than 0" in message


def test_malformed_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "model_config.json"
    path.write_text('{"model_name": "churn",')

    with pytest.raises(ModelConfigError, match="not valid JSON"):
        load_model_config(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="file not found"):
        load_model_config(tmp_path / "absent.json")


# --- from the build's environment ---------------------------------------------------------------------

# The settings the platform gives a build project whose model was named when its project was created.
FRAUD_SETTINGS = EXAMPLE_SETTINGS | {
    "model_name": "fraud",
    "model_package_group_name": "fraud",
    "pipeline_name": "fraud-build",
    "resource_tags": {"mlops:model": "fraud"},
}


def test_the_build_projects_settings_come_before_the_file(tmp_path: Path) -> None:
    environ = {MODEL_SETTINGS_VARIABLE: json.dumps(FRAUD_SETTINGS)}

    config = load_model_config(environ=environ)

    assert (config.model_name, config.pipeline_name) == ("fraud", "fraud-build")
    assert config == load_model_config(write_config(tmp_path, FRAUD_SETTINGS))
    assert settings_source(environ=environ) == "$MODEL_SETTINGS"


def test_the_variable_is_read_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_SETTINGS_VARIABLE, json.dumps(FRAUD_SETTINGS))

    assert load_model_config().model_name == "fraud"


@pytest.mark.parametrize(
    ("value", "expected_message"),
    [
        ("{", r"^\$MODEL_SETTINGS: not valid JSON"),
        ("[]", r"^\$MODEL_SETTINGS is invalid:\n  - \(top level\): "),
        (
            json.dumps(EXAMPLE_SETTINGS | {"model_name": "Fraud Model"}),
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
    environ = {MODEL_SETTINGS_VARIABLE: json.dumps(FRAUD_SETTINGS)}

    config = load_model_config(EXAMPLE_CONFIG_PATH, environ=environ)

    assert config.model_name == "churn"
    assert settings_source(EXAMPLE_CONFIG_PATH, environ=environ) == str(EXAMPLE_CONFIG_PATH)
