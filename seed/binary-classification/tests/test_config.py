import json
from pathlib import Path
from typing import Any

import pytest

from workflow.config import DEFAULT_CONFIG_PATH, ModelConfigError, load_model_config

DEFAULT_SETTINGS: dict[str, Any] = json.loads(DEFAULT_CONFIG_PATH.read_text())


def write_config(directory: Path, settings: dict[str, Any]) -> Path:
    path = directory / "model_config.json"
    path.write_text(json.dumps(settings))
    return path


def test_the_shipped_config_loads_with_the_platform_defaults() -> None:
    config = load_model_config()

    assert config.model_name == "churn"
    assert config.model_package_group_name == "churn"
    assert config.pipeline_name == "churn-build"
    assert (config.metric.name, config.metric.threshold) == ("auc", 0.75)
    assert config.processing_instance_type == config.training_instance_type == "ml.m5.large"
    assert config.inference_instance_types == ["ml.m5.large"]
    assert config.feature_group_name == "churn-customer-features"


@pytest.mark.parametrize("name", ["churn-customer-features", "churn_features_v2", "A", "a" * 64])
def test_a_feature_group_name_that_sagemaker_accepts_is_kept(tmp_path: Path, name: str) -> None:
    path = write_config(tmp_path, DEFAULT_SETTINGS | {"feature_group_name": name})

    assert load_model_config(path).feature_group_name == name


def test_a_model_without_a_feature_group_may_omit_the_key_or_set_it_to_null(tmp_path: Path) -> None:
    without_key = {key: value for key, value in DEFAULT_SETTINGS.items() if key != "feature_group_name"}

    assert load_model_config(write_config(tmp_path, without_key)).feature_group_name is None
    assert (
        load_model_config(
            write_config(tmp_path, without_key | {"feature_group_name": None})
        ).feature_group_name
        is None
    )


@pytest.mark.parametrize(
    ("change", "expected_message"),
    [
        ({"metric": {"name": "rmse", "threshold": 0.75}}, "metric.name"),
        ({"metric": {"name": "auc", "threshold": 1.5}}, "metric.threshold"),
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
    path = write_config(tmp_path, DEFAULT_SETTINGS | change)

    with pytest.raises(ModelConfigError, match=expected_message):
        load_model_config(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    settings = {key: value for key, value in DEFAULT_SETTINGS.items() if key != "pipeline_name"}
    path = write_config(tmp_path, settings | {"metric": {"name": "auc", "threshold": 0}})

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
