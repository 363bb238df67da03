"""The configuration loader: the default works, and each kind of bad input fails naming file and field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from config.regions import SUPPORTED_REGIONS
from config.schema import LOG_RETENTION_DAYS
from mlops_constructs.retention import SUPPORTED_RETENTION_DAYS
from tests.conftest import write_config


def test_default_config_is_valid() -> None:
    config = load_config()
    assert config.environment.account == "123456789012"
    assert [model.name for model in config.models] == ["churn"]
    assert config.models[0].metric.threshold == 0.75
    assert [group.name for group in config.feature_groups] == ["churn-customer-features"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted path (list items as numbers) to `value`."""

    def mutate(raw: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(leaf) if leaf.isdigit() else leaf] = value

    return mutate


def _duplicate_first(key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw[key].append(copy.deepcopy(raw[key][0]))

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        pytest.param(
            _set("budget.monthly_limit_usd", "a lot"), "budget.monthly_limit_usd", "valid number", id="wrong-type"
        ),
        pytest.param(
            _set("environment.account", 123456789012), "environment.account", "valid string", id="account-as-number"
        ),
        pytest.param(_set("environment.account", "12345"), "environment.account", "pattern", id="short-account"),
        pytest.param(
            _set("environment.region", "eu-west1"), "environment.region", "not an AWS region", id="bad-region"
        ),
        pytest.param(
            _set("environment.region", "ca-west-1"),
            "environment.region",
            "cannot serve models in 'ca-west-1'",
            id="unserved-region",
        ),
        pytest.param(_set("models.0.instance_typo", {}), "models[0].instance_typo", "Extra inputs", id="unknown-key"),
        pytest.param(
            _set("budget.monthly_limit_usd", -5), "budget.monthly_limit_usd", "greater than 0", id="negative-budget"
        ),
        pytest.param(
            _set("models.0.variants", {"champion_percent": 90, "challenger_percent": 20}),
            "models[0].variants",
            "must be 100",
            id="weights-over-100",
        ),
        pytest.param(
            _set("models.0.variants", {"champion_percent": 100, "challenger_percent": 0}),
            "models[0].variants.challenger_percent",
            "greater than 0",
            id="no-challenger",
        ),
        pytest.param(
            _set("models.0.metric.threshold", 1.5),
            "models[0].metric.threshold",
            "less than or equal to 1",
            id="threshold",
        ),
        pytest.param(
            _set("models.0.metric.name", "rmse"), "models[0].metric.name", "Input should be", id="unknown-metric"
        ),
        pytest.param(_set("models.0.name", "Churn_Model"), "models[0].name", "pattern", id="model-name-characters"),
        pytest.param(_set("models.0.name", "c" * 33), "models[0].name", "at most 32", id="model-name-length"),
        pytest.param(
            _set("models.0.instance_types.training", "m5.large"),
            "models[0].instance_types.training",
            "pattern",
            id="instance-type",
        ),
        pytest.param(_set("models.0.tags", {"aws:team": "x"}), "models[0].tags", "reserved by AWS", id="reserved-tag"),
        pytest.param(_duplicate_first("models"), "models", "duplicate names: churn", id="duplicate-model"),
        pytest.param(
            _duplicate_first("feature_groups"), "feature_groups", "duplicate names", id="duplicate-feature-group"
        ),
        pytest.param(
            _set("feature_groups.0.name", "g" * 65),
            "feature_groups[0].name",
            "at most 64",
            id="feature-group-name-length",
        ),
        pytest.param(
            _set("feature_groups.0.name", "churn features"),
            "feature_groups[0].name",
            "pattern",
            id="feature-group-name-chars",
        ),
        pytest.param(
            _set("feature_groups.0.record_identifier", "id"),
            "feature_groups[0]",
            "record_identifier 'id'",
            id="missing-identifier",
        ),
        pytest.param(
            _set("feature_groups.0.event_time", "ts"), "feature_groups[0]", "event_time 'ts'", id="missing-event-time"
        ),
        pytest.param(
            _set("feature_groups.0.features.2.type", "Float"),
            "feature_groups[0].features[2].type",
            "Input should be",
            id="feature-type",
        ),
        pytest.param(
            _set("feature_groups.0.features", [{"name": f"f{i}", "type": "String"} for i in range(2501)]),
            "feature_groups[0].features",
            "at most 2500",
            id="too-many-features",
        ),
        pytest.param(
            _set("models.0.feature_group", "unknown-group"),
            "(top level)",
            "models[0].feature_group 'unknown-group' is not declared",
            id="undeclared-feature-group",
        ),
        pytest.param(
            _set("feature_groups.0.features.5.name", "is_deleted"),
            "feature_groups[0]",
            "reserved by the offline store: is_deleted",
            id="reserved-feature-name",
        ),
        pytest.param(
            _set("feature_groups.0.online_store", False),
            "feature_groups[0]",
            "online_ttl_days needs online_store",
            id="ttl-without-online-store",
        ),
        pytest.param(
            _set("feature_groups.0.offline_table_format", "Delta"),
            "feature_groups[0].offline_table_format",
            "Input should be",
            id="table-format",
        ),
        pytest.param(
            _set("environment.deployment_accounts", {"staging": "12345"}),
            "environment.deployment_accounts.staging",
            "pattern",
            id="deployment-account",
        ),
        pytest.param(
            _set("models.0.serving.staging.autoscaling", {"min_instances": 1, "max_instances": 2}),
            "models[0].serving.staging",
            "serverless endpoints scale on their own",
            id="serverless-with-autoscaling",
        ),
        pytest.param(
            _set("models.0.serving.staging.instance_type", "ml.m5.large"),
            "models[0].serving.staging",
            "serverless endpoints have no instance type",
            id="serverless-with-instance-type",
        ),
        pytest.param(
            _set("models.0.serving.production", {"serverless": {"memory_mb": 2048}}),
            "models[0].serving.production",
            "production runs on instances",
            id="serverless-production",
        ),
        pytest.param(
            _set("models.0.serving.production.autoscaling", {"min_instances": 5, "max_instances": 2}),
            "models[0].serving.production.autoscaling",
            "min_instances (5) is above max_instances (2)",
            id="autoscaling-min-above-max",
        ),
        pytest.param(
            _set("models.0.serving.production.initial_instance_count", 9),
            "models[0].serving.production",
            "initial_instance_count must lie between",
            id="initial-count-outside-autoscaling",
        ),
        pytest.param(
            _set("models.0.serving.staging.serverless.memory_mb", 1500),
            "models[0].serving.staging.serverless.memory_mb",
            "Input should be",
            id="serverless-memory",
        ),
        pytest.param(
            _set("models.0.serving.production.instance_type", "ml.m5"),
            "models[0].serving.production.instance_type",
            "pattern",
            id="serving-instance-type",
        ),
        pytest.param(
            _set("models.0.serving.data_capture_percent", 120),
            "models[0].serving.data_capture_percent",
            "less than or equal to 100",
            id="data-capture-percent",
        ),
        pytest.param(
            _set("models.0.serving.rollout.mode", "all-at-once"),
            "models[0].serving.rollout.mode",
            "Input should be",
            id="rollout-mode",
        ),
        pytest.param(
            _set("retention.log_days", 100), "retention.log_days", "not a CloudWatch Logs retention", id="retention"
        ),
        pytest.param(
            _set("retention.trail_object_lock_mode", "governance"),
            "retention.trail_object_lock_mode",
            "Input should be 'GOVERNANCE' or 'COMPLIANCE'",
            id="trail-lock-mode",
        ),
        pytest.param(
            _set("retention.trail_object_lock_mode", "LEGAL_HOLD"),
            "retention.trail_object_lock_mode",
            "Input should be 'GOVERNANCE' or 'COMPLIANCE'",
            id="trail-lock-unknown-mode",
        ),
        pytest.param(
            _set("retention.trail_object_lock_days", 0),
            "retention.trail_object_lock_days",
            "greater than or equal to 1",
            id="trail-lock-zero-days",
        ),
        pytest.param(
            _set("retention.trail_object_lock_days", -30),
            "retention.trail_object_lock_days",
            "greater than or equal to 1",
            id="trail-lock-negative-days",
        ),
        pytest.param(
            _set("retention.trail_object_lock_days", 36500),
            "retention.trail_object_lock_days",
            "less than or equal to 3653",
            id="trail-lock-a-century",
        ),
        pytest.param(
            _set("retention.trail_object_lock_days", "365"),
            "retention.trail_object_lock_days",
            "valid integer",
            id="trail-lock-days-as-string",
        ),
        pytest.param(_set("alerts.emails", ["not-an-email"]), "alerts.emails[0]", "pattern", id="email"),
        pytest.param(_set("name", "MLOps"), "name", "pattern", id="platform-name"),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path: Path, mutate, field: str, reason: str) -> None:
    path = write_config(tmp_path, mutate)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert f"{path}: {field}" in message
    assert reason in message


def test_duplicate_yaml_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(DEFAULT_CONFIG_PATH.read_text() + "\nname: other\n")
    with pytest.raises(ConfigError, match=r"platform\.yaml: not valid YAML: .*duplicate key 'name'"):
        load_config(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the configuration"):
        load_config(tmp_path / "missing.yaml")


def test_non_mapping_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(path)


def test_every_error_is_listed_at_once(tmp_path: Path) -> None:
    def two_mistakes(raw: dict[str, Any]) -> None:
        raw["environment"]["region"] = "mars-1"
        raw["budget"]["monthly_limit_usd"] = 0

    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, two_mistakes))
    assert "environment.region" in str(error.value)
    assert "budget.monthly_limit_usd" in str(error.value)


def test_a_region_without_model_monitor_fails_as_config_naming_the_field(tmp_path: Path) -> None:
    """ca-west-1 exists but has no Model Monitor image: a ConfigError at load, before any construct
    (it used to pass validation and fail `cdk synth` with a bare ValueError from the monitor)."""
    assert "ca-west-1" not in SUPPORTED_REGIONS
    path = write_config(tmp_path, _set("environment.region", "ca-west-1"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    (line,) = [line for line in str(error.value).splitlines() if "ca-west-1" in line]
    assert line.strip().startswith(f"{path}: environment.region: Value error, the platform cannot serve models")
    assert "eu-west-1" in line, "the message lists the regions that work"
    assert "Traceback" not in str(error.value)


@pytest.mark.parametrize("region", sorted(SUPPORTED_REGIONS))
def test_every_region_with_model_monitor_is_accepted(tmp_path: Path, region: str) -> None:
    assert load_config(write_config(tmp_path, _set("environment.region", region))).environment.region == region


def test_own_account_needs_no_registry_grant() -> None:
    config = load_config()
    environment = config.environment.model_copy(
        update={
            "deployment_accounts": config.environment.deployment_accounts.model_copy(
                update={"staging": config.environment.account, "production": "109876543210"}
            )
        }
    )
    assert environment.registry_reader_accounts() == ["109876543210"]


def test_trail_object_lock_defaults_to_a_year_in_governance_mode(tmp_path: Path) -> None:
    def without_lock_keys(raw: dict[str, Any]) -> None:
        del raw["retention"]["trail_object_lock_mode"], raw["retention"]["trail_object_lock_days"]

    retention = load_config(write_config(tmp_path, without_lock_keys)).retention
    assert (retention.trail_object_lock_mode, retention.trail_object_lock_days) == ("GOVERNANCE", 365)


@pytest.mark.parametrize(("mode", "days"), [("GOVERNANCE", 1), ("COMPLIANCE", 2557), ("COMPLIANCE", 3653)])
def test_valid_trail_object_locks_are_accepted(tmp_path: Path, mode: str, days: int) -> None:
    def lock(raw: dict[str, Any]) -> None:
        raw["retention"] |= {"trail_object_lock_mode": mode, "trail_object_lock_days": days}

    retention = load_config(write_config(tmp_path, lock)).retention
    assert (retention.trail_object_lock_mode, retention.trail_object_lock_days) == (mode, days)


def test_schema_and_cdk_agree_on_log_retention() -> None:
    assert LOG_RETENTION_DAYS == SUPPORTED_RETENTION_DAYS
