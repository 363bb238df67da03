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
from mlops_constructs.seeds import NOT_STATED, model_settings
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
            _set("models.0.metric.threshold", 1.5), "models[0].metric.threshold", "between 0 and 1", id="threshold"
        ),
        pytest.param(
            _set("models.0.metric.name", "rmse"),
            "models[0].metric.name",
            "'rmse' is not a binary_classification metric; use one of auc, f1",
            id="metric-of-another-problem-type",
        ),
        pytest.param(
            _set("models.0.metric.name", "loss"), "models[0].metric.name", "is not a binary_classification", id="metric"
        ),
        pytest.param(_set("models.0.name", "Churn_Model"), "models[0].name", "pattern", id="model-name-characters"),
        pytest.param(_set("models.0.name", "c" * 33), "models[0].name", "at most 32", id="model-name-length"),
        pytest.param(
            _set("models.0.name", "models"), "models[0].name", "names a path of the platform's SSM", id="registry"
        ),
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


def test_a_deployment_account_equal_to_the_platforms_is_no_remote_stage() -> None:
    config = load_config()
    environment = config.environment.model_copy(
        update={
            "deployment_accounts": config.environment.deployment_accounts.model_copy(
                update={"staging": config.environment.account, "production": "109876543210"}
            )
        }
    )
    assert environment.remote_stages() == ["production"]
    assert environment.stage_account("staging") == config.environment.account
    assert environment.stage_account("production") == "109876543210"


def test_no_deployment_accounts_means_one_account() -> None:
    assert load_config().environment.remote_stages() == []


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


# --- problem types, metric directions, inference contracts, serving modes --------------------------

REGRESSION = {"problem_type": "regression", "feature_group": None, "metric": {"name": "rmse", "threshold": 12.0}}
BATCH: dict[str, Any] = {"mode": "batch", "batch": {"schedule_expression": "cron(0 2 * * ? *)"}}


def _model(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the first model: `changes` set (None removes the key)."""

    def mutate(raw: dict[str, Any]) -> None:
        model = raw["models"][0]
        for key, value in changes.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value

    return mutate


def _batch_model(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return _model(**{"serving": BATCH, "variants": None, "traffic_shift": None, **changes})


CLARIFY: dict[str, Any] = {"facets": [{"name": "senior_citizen", "values": [1]}], "label_values": [1]}
CARD = {"intended_uses": "ranking", "limitations": "none known", "risk_rating": "low", "owner": "team"}


def test_a_model_without_clarify_is_not_assessed_for_bias_and_its_card_says_what_is_not_stated(
    tmp_path: Path,
) -> None:
    model = load_config(write_config(tmp_path, _model(clarify=None, card=None))).models[0]
    settings = model_settings(model)
    assert (model.bias_policy, settings["clarify"]) == ("none", None)
    assert settings["card"] == {
        "description": model.description,
        "intended_uses": NOT_STATED,
        "limitations": NOT_STATED,
        "risk_rating": "unknown",
        "owner": NOT_STATED,
    }


@pytest.mark.parametrize(("block", "policy"), [(True, "block"), (False, "report")])
def test_the_default_model_is_assessed_for_bias_and_blocks_as_configured(
    tmp_path: Path, block: bool, policy: str
) -> None:
    clarify = {**CLARIFY, "block_on_bias_violation": block}
    model = load_config(write_config(tmp_path, _model(clarify=clarify))).models[0]
    assert model.bias_policy == policy
    assert model_settings(model)["clarify"] == {
        "facets": [{"name": "senior_citizen", "values": [1]}],
        "label_values": [1],
        "bias_policy": policy,
    }


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        pytest.param(
            _model(**{**REGRESSION, "metric": {"name": "auc", "threshold": 0.8}}),
            "models[0].metric.name",
            "'auc' is not a regression metric; use one of rmse, mae, mse, r2",
            id="classification-metric-for-regression",
        ),
        pytest.param(
            _model(problem_type="multiclass_classification"),
            "models[0].metric.name",
            "'auc' is not a multiclass_classification metric; use one of accuracy, weighted_f1",
            id="binary-metric-for-multiclass",
        ),
        pytest.param(
            _model(**{**REGRESSION, "metric": {"name": "rmse", "threshold": 0}}),
            "models[0].metric.threshold",
            "a threshold above 0",
            id="zero-error-threshold",
        ),
        pytest.param(
            _model(**{**REGRESSION, "metric": {"name": "r2", "threshold": 1.5}}),
            "models[0].metric.threshold",
            "r2 is at most 1",
            id="r2-above-one",
        ),
        pytest.param(
            _model(problem_type="ranking"), "models[0].problem_type", "Input should be", id="unknown-problem-type"
        ),
        pytest.param(
            _model(**REGRESSION, seed="binary-classification"),
            "models[0].seed",
            "cannot build a regression model",
            id="classification-seed-for-regression",
        ),
        pytest.param(
            _model(seed="regression"), "models[0].seed", "cannot build a binary_classification", id="regression-seed"
        ),
        pytest.param(
            _model(**{**REGRESSION, "feature_group": "churn-customer-features"}),
            "models[0]",
            "reads its data from S3, not from a feature group",
            id="regression-seed-with-feature-group",
        ),
        pytest.param(
            _model(**REGRESSION, inference={"probability_attribute": "p"}),
            "models[0].inference",
            "a regression model answers no probability",
            id="regression-probability",
        ),
        pytest.param(
            _model(inference={"accept": "text/csv", "prediction_attribute": "label"}),
            "models[0].inference",
            "must be a column number, not 'label'",
            id="csv-attribute-name",
        ),
        pytest.param(
            _model(inference={"content_type": "application/x-parquet"}),
            "models[0].inference.content_type",
            "Input should be",
            id="unknown-content-type",
        ),
        pytest.param(
            _model(inference={"content_type": "text/csv"}, monitoring={"drift_alarm_features": ["tenure_months"]}),
            "models[0]",
            "drift_alarm_features needs inference.content_type application/json",
            id="csv-requests-with-drift-alarms",
        ),
        pytest.param(
            _model(serving=BATCH),
            "models[0]",
            "variants, traffic_shift only apply to real-time models",
            id="batch-with-variants",
        ),
        pytest.param(
            _model(variants=None, traffic_shift=None),
            "models[0]",
            "a real-time model needs variants",
            id="realtime-without-variants",
        ),
        pytest.param(
            _batch_model(serving={**BATCH, "rollout": {"mode": "linear"}}),
            "models[0].serving",
            "rollout only apply to real-time models",
            id="batch-with-rollout",
        ),
        pytest.param(
            _batch_model(serving={"mode": "batch"}), "models[0].serving", "needs batch:", id="batch-without-settings"
        ),
        pytest.param(
            _model(serving={"batch": BATCH["batch"]}), "models[0].serving", "need mode: batch", id="batch-not-batch"
        ),
        pytest.param(
            _batch_model(serving={**BATCH, "batch": {"schedule_expression": "cron(0 2 * * *)"}}),
            "models[0].serving.batch.schedule_expression",
            "expected cron(minutes hours day-of-month month day-of-week year)",
            id="five-field-cron",
        ),
        pytest.param(
            _batch_model(serving={**BATCH, "batch": {"schedule_expression": "cron(0 2 * * * *)"}}),
            "models[0].serving.batch.schedule_expression",
            "'?' in exactly one of day-of-month and day-of-week",
            id="cron-without-question-mark",
        ),
        pytest.param(
            _batch_model(serving={**BATCH, "batch": {"schedule_expression": "rate(1 days)"}}),
            "models[0].serving.batch.schedule_expression",
            "say rate(1 day) or rate(N days)",
            id="plural-rate-of-one",
        ),
        pytest.param(
            _batch_model(serving={**BATCH, "batch": {**BATCH["batch"], "schedule_timezone": "Paris"}}),
            "models[0].serving.batch.schedule_timezone",
            "not an IANA time zone",
            id="unknown-time-zone",
        ),
        pytest.param(
            _batch_model(serving={**BATCH, "batch": {**BATCH["batch"], "max_runtime_minutes": 2880}}),
            "models[0].serving.batch.max_runtime_minutes",
            "less than or equal to 2145",
            id="check-longer-than-codebuild-allows",
        ),
        pytest.param(
            _batch_model(serving={**BATCH, "smoke_test_max_p95_ms": 500, "data_capture_percent": 50}),
            "models[0].serving",
            "data_capture_percent, smoke_test_max_p95_ms only apply to real-time models",
            id="batch-with-endpoint-settings",
        ),
        pytest.param(
            _batch_model(
                serving={
                    **BATCH,
                    "batch": {
                        "schedule_expression": "rate(1 day)",
                        "input_s3_uri": "s3://bucket/scores/",
                        "output_s3_uri": "s3://bucket/scores/out/",
                    },
                }
            ),
            "models[0].serving.batch",
            "may not contain one another",
            id="output-inside-input",
        ),
        pytest.param(
            _model(clarify={**CLARIFY, "facets": []}),
            "models[0].clarify.facets",
            "at least 1 item",
            id="no-facet",
        ),
        pytest.param(
            _model(clarify={**CLARIFY, "facets": [{"name": "senior_citizen", "values": []}]}),
            "models[0].clarify.facets[0].values",
            "at least 1 item",
            id="facet-without-values",
        ),
        pytest.param(
            _model(clarify={**CLARIFY, "facets": [CLARIFY["facets"][0], {"name": "senior_citizen", "values": [0]}]}),
            "models[0].clarify.facets",
            "facet senior_citizen is listed more than once",
            id="facet-twice",
        ),
        pytest.param(
            _model(clarify={**CLARIFY, "facets": [{"name": "shoe_size", "values": [44]}]}),
            "models[0].clarify.facets",
            "shoe_size is not a feature of the model's feature group 'churn-customer-features'",
            id="facet-not-a-feature",
        ),
        pytest.param(
            _model(clarify={**CLARIFY, "block_on_bias_violations": True}),
            "models[0].clarify.block_on_bias_violations",
            "Extra inputs are not permitted",
            id="misspelt-key",
        ),
        pytest.param(
            _model(**{**REGRESSION, "clarify": {**CLARIFY, "label_values": [10, 20]}}),
            "models[0]",
            "clarify.label_values of a regression model is one number",
            id="regression-with-two-thresholds",
        ),
        pytest.param(
            _model(**{**REGRESSION, "clarify": {**CLARIFY, "label_values": ["high"]}}),
            "models[0]",
            "clarify.label_values of a regression model is one number",
            id="regression-with-a-label",
        ),
        pytest.param(
            _model(card={**CARD, "risk_rating": "extreme"}),
            "models[0].card.risk_rating",
            "Input should be 'low', 'medium' or 'high'",
            id="unknown-risk-rating",
        ),
        pytest.param(
            _model(card={key: value for key, value in CARD.items() if key != "owner"}),
            "models[0].card.owner",
            "Field required",
            id="card-without-owner",
        ),
    ],
)
def test_a_model_that_cannot_be_served_or_governed_fails_naming_the_field(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, mutate))
    message = str(raised.value)
    assert f": {field}: " in message
    assert reason in message


def test_each_problem_type_gets_its_seed_contract_and_direction() -> None:
    config = load_config(EXAMPLES / "any-model.yaml")
    models = {model.name: model for model in config.models}
    summary = {
        name: (model.problem_type, model.seed, model.metric_direction, model.serving.mode)
        for name, model in models.items()
    }
    assert summary == {
        "churn": ("binary_classification", "binary-classification", "higher_is_better", "realtime"),
        "demand": ("regression", "regression", "lower_is_better", "realtime"),
        "ticket-routing": ("multiclass_classification", "binary-classification", "higher_is_better", "realtime"),
        "renewals": ("binary_classification", "binary-classification", "higher_is_better", "batch"),
    }
    assert (models["churn"].contract.prediction_attribute, models["churn"].contract.probability_attribute) == (
        "label",
        "probability",
    )
    assert (models["demand"].contract.prediction_attribute, models["demand"].contract.probability_attribute) == (
        "prediction",
        None,
    )
    # CSV answers name their attributes by column.
    routing = models["ticket-routing"].contract
    assert (routing.accept, routing.prediction_attribute, routing.probability_attribute) == ("text/csv", "0", "1")
    assert config.monitored_features(models["ticket-routing"]) == []
    assert models["renewals"].variants is None
    assert models["renewals"].batch.instance_count == 2
    with pytest.raises(ValueError, match="serves in batch"):
        _ = models["renewals"].endpoint_variants


def test_an_explicit_empty_probability_attribute_is_kept(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, _model(inference={"probability_attribute": None})))
    assert config.models[0].contract.probability_attribute is None


EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


def test_batch_locations_are_normalized_to_folders(tmp_path: Path) -> None:
    batch = {
        "schedule_expression": "rate(12 hours)",
        "schedule_timezone": "America/New_York",
        "input_s3_uri": "s3://scores/in",
        "output_s3_uri": "s3://scores/out/",
    }
    config = load_config(write_config(tmp_path, _batch_model(serving={"mode": "batch", "batch": batch})))
    settings = config.models[0].batch
    assert (settings.input_s3_uri, settings.output_s3_uri) == ("s3://scores/in/", "s3://scores/out")
