"""The serving templates: variants, weights, KMS, data capture, autoscaling, guardrails, alarms.

These are the templates the deploy pipeline deploys (rendered once per session by the deploy stack).
They name the model by their `ModelName` parameter, never by a literal, and take its gate's threshold
(`MetricThreshold`) and its inference instance type (`InferenceInstanceType`) as parameters where they
use them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jmespath
import pytest
from aws_cdk import App, CfnParameter, CfnResource, Environment, Stack

from config.schema import ModelConfig, PlatformConfig
from lambdas.common.contracts import (
    INFERENCE_INSTANCE_TYPE_PARAMETER,
    METRIC_THRESHOLD_PARAMETER,
    MODEL_NAME_PARAMETER,
    MODEL_TAG,
    PLATFORM_TAG,
    STAGES,
    Stage,
    clarify_feature_names,
    clarify_model_name,
    package_version,
    serving_name,
)
from mlops_constructs.compliance import rule_packs
from mlops_constructs.serving import ServingTemplateStack, render_serving_template
from mlops_constructs.serving.clarify import ClarifyBaseline, ClarifyInputs, ClarifyMonitor
from mlops_constructs.serving.monitoring_jobs import MonitoredServing, MonitoringJobs
from tests.conftest import Synthesized, cdk_json_context

PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/3"
ENV = Environment(account="123456789012", region="eu-west-1")
MODEL = {"Ref": MODEL_NAME_PARAMETER}
THRESHOLD = {"Ref": METRIC_THRESHOLD_PARAMETER}
INSTANCE_TYPE = {"Ref": INFERENCE_INSTANCE_TYPE_PARAMETER}


def named(stage: str, suffix: str = "", prefix: str = "") -> dict[str, Any]:
    """A name of the model's stage resources (`[prefix]mlops-<model>-<stage>[suffix]`), as the template joins it."""
    return {"Fn::Join": ["", [f"{prefix}mlops-", MODEL, f"-{stage}{suffix}"]]}


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def only(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    (found,) = of_type(template, resource_type).values()
    return found


@pytest.fixture(scope="module")
def production(serving_templates: dict[str, dict]) -> dict[str, Any]:
    return serving_templates["production"]


@pytest.fixture(scope="module")
def staging(serving_templates: dict[str, dict]) -> dict[str, Any]:
    return serving_templates["staging"]


# --- production: the A/B endpoint -----------------------------------------------------------------


def test_production_takes_only_deploy_time_values_as_parameters(production: dict[str, Any]) -> None:
    parameters = production["Parameters"]
    assert set(parameters) == {
        "ModelName",
        "InferenceInstanceType",  # production has no instance type of its own in config
        "ChampionModelPackageArn",
        "ChallengerModelPackageArn",
        "ExecutionRoleArn",
        "KmsKeyArn",
        "DataCaptureS3Uri",
        "AlertTopicArn",
        "MonitoringRoleArn",
        "MonitoringOutputS3Uri",
        "BaselineStatisticsS3Uri",
        "BaselineConstraintsS3Uri",
        "ExplainabilityAnalysisConfigS3Uri",
        "ExplainabilityConstraintsS3Uri",
        "ClarifyFeatureNames",  # churn's requests are JSON: Clarify finds their features by name
        "RecordPreprocessorS3Uri",
    }, "no MetricThreshold nor bias baseline: without ground truth neither model quality nor bias is monitored"
    assert "Default" not in parameters["ChampionModelPackageArn"], "a champion is always required"
    assert parameters["ChallengerModelPackageArn"]["Default"] == ""
    champion_pattern = re.compile(parameters["ChampionModelPackageArn"]["AllowedPattern"])
    challenger_pattern = re.compile(parameters["ChallengerModelPackageArn"]["AllowedPattern"])
    assert champion_pattern.fullmatch(PACKAGE)
    assert not champion_pattern.fullmatch("")
    assert not champion_pattern.fullmatch("arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/churn")
    assert challenger_pattern.fullmatch("")
    assert challenger_pattern.fullmatch(PACKAGE)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_the_model_is_named_by_a_parameter_that_takes_model_names(
    serving_templates: dict[str, dict], stage: str
) -> None:
    """One template serves any model (a SageMaker Project's too): its name is set at deploy time."""
    parameter = serving_templates[stage]["Parameters"]["ModelName"]
    assert "Default" not in parameter, "the deploy pipeline always passes the model's name"
    assert (parameter["Type"], parameter["MinLength"], parameter["MaxLength"]) == ("String", 2, 32)
    pattern = re.compile(parameter["AllowedPattern"])
    for name in ("churn", "churn-v2", "ab", "a" * 40):
        assert pattern.fullmatch(name), name
    for name in ("Churn", "churn_v2", "-churn", "churn-", "churn--v2", "churn v2", ""):
        assert not pattern.fullmatch(name), name
    assert "churn" not in json.dumps(serving_templates[stage]["Resources"]), "no literal model name"


def test_the_inference_instance_type_is_a_parameter_that_takes_ml_instance_types(production: dict[str, Any]) -> None:
    """Set by the deploy pipeline to the model's inference instance type (a product's own parameter)."""
    parameter = production["Parameters"]["InferenceInstanceType"]
    assert "Default" not in parameter, "the deploy pipeline always passes the model's"
    assert parameter["Type"] == "String"
    pattern = re.compile(parameter["AllowedPattern"])
    for instance_type in ("ml.m5.large", "ml.c5.2xlarge", "ml.g4dn.xlarge", "ml.inf2.xlarge"):
        assert pattern.fullmatch(instance_type), instance_type
    for instance_type in ("m5.large", "ml.m5", "ML.M5.LARGE", "ml.m5.large ", ""):
        assert not pattern.fullmatch(instance_type), instance_type


def test_champion_and_challenger_variants_with_configured_weights(
    production: dict[str, Any], default_config: PlatformConfig
) -> None:
    (condition,) = [name for name in production["Conditions"] if name.startswith("EndpointHasChallenger")]
    assert production["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ChallengerModelPackageArn"}, ""]}]
    }
    config = only(production, "AWS::SageMaker::EndpointConfig")["Properties"]
    champion, challenger = config["ProductionVariants"]
    weights = default_config.models[0].endpoint_variants
    assert champion["VariantName"] == "champion"
    assert champion["InitialVariantWeight"] == weights.champion_percent
    assert (champion["InstanceType"], champion["InitialInstanceCount"]) == (INSTANCE_TYPE, 1)
    condition_name, challenger_variant, no_value = challenger["Fn::If"]
    assert condition_name == condition
    assert no_value == {"Ref": "AWS::NoValue"}
    assert challenger_variant["VariantName"] == "challenger"
    assert challenger_variant["InitialVariantWeight"] == weights.challenger_percent


def test_models_come_from_the_package_parameters_network_isolated(production: dict[str, Any]) -> None:
    """The variants' models, and the champion's again as the model Clarify's explainability monitor explains."""
    models = {
        logical_id.split("Model")[0]: resource
        for logical_id, resource in of_type(production, "AWS::SageMaker::Model").items()
    }
    assert set(models) == {"EndpointChampion", "EndpointChallenger", "MonitorClarifyExplained"}
    packages = {name: model["Properties"]["Containers"][0]["ModelPackageName"] for name, model in models.items()}
    assert packages == {
        "EndpointChampion": {"Ref": "ChampionModelPackageArn"},
        "EndpointChallenger": {"Ref": "ChallengerModelPackageArn"},
        "MonitorClarifyExplained": {"Ref": "ChampionModelPackageArn"},
    }
    assert "Condition" not in models["EndpointChampion"]
    assert models["EndpointChallenger"]["Condition"].startswith("EndpointHasChallenger")
    assert models["MonitorClarifyExplained"]["Condition"].startswith("MonitorClarifyHasExplainabilityBaseline")
    for model in models.values():
        assert model["Properties"]["EnableNetworkIsolation"] is True
        assert model["Properties"]["ExecutionRoleArn"] == {"Ref": "ExecutionRoleArn"}


def test_volumes_and_captured_data_are_encrypted(production: dict[str, Any], default_config: PlatformConfig) -> None:
    config = only(production, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == default_config.models[0].serving.data_capture_percent
    assert capture["DestinationS3Uri"] == {"Ref": "DataCaptureS3Uri"}
    assert capture["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]


def test_each_variant_autoscales_on_invocations_per_instance(production: dict[str, Any]) -> None:
    targets = {
        json.dumps(resource["Properties"]["ResourceId"]): resource
        for resource in of_type(production, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    }
    resource_ids = {
        "champion": named("production", "/variant/champion", prefix="endpoint/"),
        "challenger": named("production", "/variant/challenger", prefix="endpoint/"),
    }
    assert sorted(targets) == sorted(json.dumps(r) for r in resource_ids.values())
    for target in targets.values():
        assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 4)
        assert target["Properties"]["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert "Condition" in targets[json.dumps(resource_ids["challenger"])]
    assert "Condition" not in targets[json.dumps(resource_ids["champion"])]
    for policy in of_type(production, "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert tracking["TargetValue"] == 100
        assert tracking["PredefinedMetricSpecification"] == {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
        }


def test_updates_roll_out_blue_green_canary_and_roll_back_on_alarms(production: dict[str, Any]) -> None:
    endpoint = only(production, "AWS::SageMaker::Endpoint")["Properties"]
    assert endpoint["EndpointName"] == named("production")
    policy = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 300,
    }
    assert policy["TerminationWaitInSeconds"] == 600
    rollback = endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    alarms = of_type(production, "AWS::CloudWatch::Alarm")
    unconditional = [entry["AlarmName"]["Ref"] for entry in rollback if "AlarmName" in entry]
    conditional = [entry["Fn::If"][1]["AlarmName"]["Ref"] for entry in rollback if "Fn::If" in entry]
    assert sorted(unconditional) == sorted(
        k for k in alarms if k.startswith(("EndpointChampionErrors5xx", "EndpointChampionLatencyP99"))
    )
    assert sorted(conditional) == sorted(
        k for k in alarms if k.startswith(("EndpointChallengerErrors5xx", "EndpointChallengerLatencyP99"))
    )


def test_per_variant_alarms_alert_the_topic(production: dict[str, Any]) -> None:
    alarms = of_type(production, "AWS::CloudWatch::Alarm")
    kinds = {"LatencyP99", "Errors5xx", "Errors4xx", "NoInvocations"}
    for variant in ("Champion", "Challenger"):
        found = {kind for kind in kinds if any(k.startswith(f"Endpoint{variant}{kind}") for k in alarms)}
        assert found == kinds, variant
    for logical_id, alarm in alarms.items():
        if logical_id.startswith("Endpoint"):  # the variants' alarms (drift alarms go through EventBridge)
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertTopicArn"}]
    latency = next(v["Properties"] for k, v in alarms.items() if k.startswith("EndpointChampionLatencyP99"))
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "ModelLatency",
        "p99",
        500_000,
    )
    assert latency["Dimensions"] == [
        {"Name": "EndpointName", "Value": named("production")},
        {"Name": "VariantName", "Value": "champion"},
    ]
    errors = next(v["Properties"] for k, v in alarms.items() if k.startswith("EndpointChampionErrors5xx"))
    assert errors["Threshold"] == 1.0
    expression = next(m for m in errors["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "IF(invocations_champion > 0, 100 * errors_champion / invocations_champion, 0)"
    silence = next(v["Properties"] for k, v in alarms.items() if k.startswith("EndpointChampionNoInvocations"))
    assert (silence["ComparisonOperator"], silence["TreatMissingData"]) == ("LessThanThreshold", "breaching")


def test_dashboard_never_references_a_resource_that_may_not_exist(production: dict[str, Any]) -> None:
    dashboard = only(production, "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == named("production")
    conditional = {k for k, v in production["Resources"].items() if "Condition" in v}
    assert conditional, "the challenger's resources are conditional"
    body = str(dashboard["Properties"]["DashboardBody"])
    assert not any(logical_id in body for logical_id in conditional)


# --- staging: the new package alone, serverless ---------------------------------------------------


def test_staging_serves_the_new_package_alone_serverless(staging: dict[str, Any]) -> None:
    assert set(staging["Parameters"]) == {"ModelName", "ChampionModelPackageArn", "ExecutionRoleArn", "AlertTopicArn"}
    config = only(staging, "AWS::SageMaker::EndpointConfig")["Properties"]
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant
    assert "KmsKeyId" not in config, "serverless endpoints take no volume key"
    assert "DataCaptureConfig" not in config
    assert "DeploymentConfig" not in only(staging, "AWS::SageMaker::Endpoint")["Properties"]
    assert not of_type(staging, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert not any(k.startswith("EndpointChampionNoInvocations") for k in of_type(staging, "AWS::CloudWatch::Alarm"))


# --- other configurations -------------------------------------------------------------------------


def _render(config: PlatformConfig, **serving_updates: Any) -> tuple[App, dict[str, Any]]:
    model = config.models[0]
    model = model.model_copy(update={"serving": model.serving.model_copy(update=serving_updates)})
    app = App()
    stack = ServingTemplateStack(
        app,
        "Serving",
        platform_name="mlops",
        model=model,
        stage="production",
        monitored_features=["tenure_months"],
        env=ENV,
    )
    return app, app.synth().get_stack_by_name(stack.stack_name).template


def test_linear_rollout_and_instance_override(default_config: PlatformConfig) -> None:
    serving = default_config.models[0].serving
    _, template = _render(
        default_config,
        rollout=serving.rollout.model_copy(update={"mode": "linear", "step_percent": 25}),
        production=serving.production.model_copy(update={"instance_type": "ml.c5.xlarge"}),
    )
    endpoint = only(template, "AWS::SageMaker::Endpoint")["Properties"]
    routing = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "LINEAR"
    assert routing["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 25}
    champion = only(template, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"][0]
    assert champion["InstanceType"] == "ml.c5.xlarge"
    assert "InferenceInstanceType" not in template["Parameters"], "the stage's own instance type applies"


def test_no_data_capture_when_disabled(default_config: PlatformConfig) -> None:
    _, template = _render(default_config, data_capture_percent=0)
    assert "DataCaptureConfig" not in only(template, "AWS::SageMaker::EndpointConfig")["Properties"]


def test_serving_templates_pass_the_rule_packs(default_config: PlatformConfig) -> None:
    app, _ = _render(default_config)
    for pack in rule_packs(app):
        report = pack.validate_scope(app)
        assert report.success, [v.rule_name for v in report.violations]


# --- Model Monitor --------------------------------------------------------------------------------


def test_data_quality_monitor_runs_hourly_against_the_champions_baseline(production: dict[str, Any]) -> None:
    (has_baseline,) = [name for name in production["Conditions"] if name.startswith("MonitorHasBaseline")]
    assert production["Conditions"][has_baseline] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "BaselineConstraintsS3Uri"}, ""]}]
    }
    job = only(production, "AWS::SageMaker::DataQualityJobDefinition")
    assert job["Condition"] == has_baseline
    properties = job["Properties"]
    assert properties["DataQualityAppSpecification"] == {
        "ImageUri": "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer",
        "Environment": {"publish_cloudwatch_metrics": "Enabled"},
        "RecordPreprocessorSourceUri": {"Ref": "RecordPreprocessorS3Uri"},
    }
    assert properties["DataQualityBaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": {"Ref": "BaselineConstraintsS3Uri"}},
        "StatisticsResource": {"S3Uri": {"Ref": "BaselineStatisticsS3Uri"}},
    }
    assert properties["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == named("production")
    assert properties["DataQualityJobOutputConfig"]["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert properties["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert properties["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    assert properties["RoleArn"] == {"Ref": "MonitoringRoleArn"}
    assert properties["StoppingCondition"]["MaxRuntimeInSeconds"] < 3600, "must end before the next hourly run"
    (schedule,) = [
        s
        for s in of_type(production, "AWS::SageMaker::MonitoringSchedule").values()
        if s["Properties"]["MonitoringScheduleConfig"]["MonitoringType"] == "DataQuality"
    ]
    assert schedule["Condition"] == has_baseline
    config = schedule["Properties"]["MonitoringScheduleConfig"]
    assert schedule["Properties"]["MonitoringScheduleName"] == named("production", "-data-quality")
    assert config["MonitoringType"] == "DataQuality"
    assert config["ScheduleConfig"] == {"ScheduleExpression": "cron(0 * ? * * *)"}


def test_each_monitored_feature_has_a_drift_alarm(production: dict[str, Any], default_config: PlatformConfig) -> None:
    drift = {
        json.dumps(alarm["Properties"]["AlarmName"]): alarm
        for alarm in of_type(production, "AWS::CloudWatch::Alarm").values()
        if "-drift-" in json.dumps(alarm["Properties"].get("AlarmName", ""))
    }
    features = default_config.monitored_features(default_config.models[0])
    assert set(drift) == {json.dumps(named("production", f"-drift-{feature}")) for feature in features}
    alarm = drift[json.dumps(named("production", "-drift-tenure_months"))]["Properties"]
    assert alarm["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
    assert alarm["MetricName"] == "feature_baseline_drift_tenure_months"
    assert alarm["Dimensions"] == [
        {"Name": "Endpoint", "Value": named("production")},
        {"Name": "MonitoringSchedule", "Value": named("production", "-data-quality")},
    ]
    assert alarm["Threshold"] == default_config.models[0].monitoring.drift_threshold
    assert "AlarmActions" not in alarm, "EventBridge takes drift alarms to the drift alert Lambda"


@pytest.fixture(scope="module")
def with_ground_truth(default_config: PlatformConfig) -> tuple[App, dict[str, Any]]:
    """The production template of the default model with labels at a ground-truth location."""
    model = default_config.models[0]
    monitoring = model.monitoring.model_copy(update={"ground_truth_s3_uri": "s3://labels/churn/"})
    config = default_config.model_copy(update={"models": [model.model_copy(update={"monitoring": monitoring})]})
    return _render(config)


def test_model_quality_monitor_when_ground_truth_is_configured(with_ground_truth: tuple[App, dict[str, Any]]) -> None:
    _, template = with_ground_truth
    job = only(template, "AWS::SageMaker::ModelQualityJobDefinition")["Properties"]
    assert job["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    assert job["ModelQualityAppSpecification"]["Environment"] == {"publish_cloudwatch_metrics": "Enabled"}
    assert job["ModelQualityJobInput"]["GroundTruthS3Input"] == {"S3Uri": "s3://labels/churn/"}
    # Where the model's inference contract puts the answer and its probability (config defaults).
    assert job["ModelQualityJobInput"]["EndpointInput"]["InferenceAttribute"] == "predictions[0].label"
    assert job["ModelQualityJobInput"]["EndpointInput"]["ProbabilityAttribute"] == "predictions[0].probability"
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True
    names = [
        s["Properties"]["MonitoringScheduleName"]
        for s in of_type(template, "AWS::SageMaker::MonitoringSchedule").values()
    ]
    assert sorted(map(json.dumps, names)) == sorted(
        json.dumps(named("production", f"-{kind}"))
        for kind in ("data-quality", "model-quality", "model-bias", "model-explainability")
    )


def test_the_gate_metric_falling_below_its_threshold_in_production_alarms(
    with_ground_truth: tuple[App, dict[str, Any]], default_config: PlatformConfig
) -> None:
    """The drift alert's rule matches the name (test_endpoint_automation.py); the handler reads the
    model-quality schedule named in the dimensions (tests/lambdas/test_drift_alert.py)."""
    _, template = with_ground_truth
    gate = default_config.models[0].metric
    quality = [
        {key: value for key, value in alarm["Properties"].items() if key != "Tags"}
        for alarm in of_type(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "aws/sagemaker/Endpoints/model-metrics"
    ]
    assert quality == [
        {
            "AlarmName": named("production", f"-model-quality-{gate.name}"),
            "AlarmDescription": {
                "Fn::Join": [
                    "",
                    [f"Model-quality {gate.name} of mlops-", MODEL, "-production below the gate's ", THRESHOLD],
                ]
            },
            "Namespace": "aws/sagemaker/Endpoints/model-metrics",
            "MetricName": gate.name,  # Model Monitor publishes auc, f1, accuracy, precision, recall by these names
            "Dimensions": [
                {"Name": "Endpoint", "Value": named("production")},
                {"Name": "MonitoringSchedule", "Value": named("production", "-model-quality")},
            ],
            "Statistic": "Minimum",
            "Period": 3600,
            "EvaluationPeriods": 1,
            "Threshold": THRESHOLD,  # the deploy pipeline passes the gate's (tests/unit/test_deploy.py)
            "ComparisonOperator": "LessThanThreshold",  # auc: higher is better (rmse: test_any_model.py)
            "TreatMissingData": "notBreaching",
        }
    ], "no action of its own: EventBridge takes it to the drift alert"
    (alarm_id,) = [
        logical_id
        for logical_id, alarm in of_type(template, "AWS::CloudWatch::Alarm").items()
        if alarm["Properties"].get("Namespace") == "aws/sagemaker/Endpoints/model-metrics"
    ]
    assert "Condition" not in template["Resources"][alarm_id], "the model-quality schedule needs no baseline"
    # A Number, within the bounds the configuration holds auc to.
    assert template["Parameters"]["MetricThreshold"] == {
        "Type": "Number",
        "Description": "Threshold of the model's gate metric (auc), which its model-quality alarm holds",
        "MinValue": 0,
        "MaxValue": 1,
    }


def test_the_model_quality_monitor_passes_the_rule_packs(with_ground_truth: tuple[App, dict[str, Any]]) -> None:
    app, _ = with_ground_truth
    for pack in rule_packs(app):
        report = pack.validate_scope(app)
        assert report.success, [v.rule_name for v in report.violations]


def test_no_model_quality_monitor_without_ground_truth(production: dict[str, Any]) -> None:
    assert not of_type(production, "AWS::SageMaker::ModelQualityJobDefinition")
    assert not [
        alarm
        for alarm in of_type(production, "AWS::CloudWatch::Alarm").values()
        if "-model-quality-" in json.dumps(alarm["Properties"].get("AlarmName", ""))
    ]


# --- Clarify: feature attribution drift always, bias drift with ground truth -------------------------------

CLARIFY_IMAGE = "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"


def _has_baseline(template: dict[str, Any], condition: str, config: str, constraints: str) -> None:
    """`condition` holds when the champion's package carries both the analysis config and the constraints."""
    assert template["Conditions"][condition] == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": config}, ""]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": constraints}, ""]}]},
        ]
    }
    for parameter in (config, constraints):
        declared = template["Parameters"][parameter]
        assert "Default" not in declared, "the deploy pipeline and the rollback always pass the champion's own"
        pattern = re.compile(declared["AllowedPattern"])
        assert pattern.fullmatch("")
        assert pattern.fullmatch("s3://data/churn/pipelines/e1/analysis.json")
        assert not pattern.fullmatch("https://data/analysis.json")


def _clarify_job(template: dict[str, Any], kind: str) -> dict[str, Any]:
    job = only(template, f"AWS::SageMaker::Model{kind}JobDefinition")
    (schedule,) = [
        s
        for s in of_type(template, "AWS::SageMaker::MonitoringSchedule").values()
        if s["Properties"]["MonitoringScheduleConfig"]["MonitoringType"] == f"Model{kind}"
    ]
    assert schedule["Condition"] == job["Condition"], "job and schedule exist together, or not at all"
    return {"job": job, "schedule": schedule}


def _runs_like_every_monitor(job: dict[str, Any], kind: str, output: str) -> None:
    """KMS on volume and reports, inter-instance traffic encrypted, the monitoring role, hourly, reports
    under their kind; network isolated but for the explainability monitor, which calls the SageMaker API
    to serve the model on a shadow endpoint."""
    properties = job["Properties"]
    assert properties[f"Model{kind}AppSpecification"]["ImageUri"] == CLARIFY_IMAGE
    assert properties[f"Model{kind}AppSpecification"]["Environment"] == {"publish_cloudwatch_metrics": "Enabled"}
    assert properties["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == {"Ref": "KmsKeyArn"}
    output_config = properties[f"Model{kind}JobOutputConfig"]
    assert output_config["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    [report] = output_config["MonitoringOutputs"]
    assert report["S3Output"]["S3Uri"] == {"Fn::Join": ["", [{"Ref": "MonitoringOutputS3Uri"}, f"/{output}"]]}
    assert properties["NetworkConfig"] == {
        "EnableNetworkIsolation": kind != "Explainability",
        "EnableInterContainerTrafficEncryption": True,
    }
    assert properties["RoleArn"] == {"Ref": "MonitoringRoleArn"}
    assert properties["StoppingCondition"]["MaxRuntimeInSeconds"] < 3600
    tags = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
    assert (tags[MODEL_TAG], tags[PLATFORM_TAG]) == (MODEL, "mlops")


def test_feature_attribution_drift_is_monitored_against_the_champions_explainability_baseline(
    production: dict[str, Any],
) -> None:
    explainability = _clarify_job(production, "Explainability")
    job, schedule = explainability["job"], explainability["schedule"]
    _has_baseline(production, job["Condition"], "ExplainabilityAnalysisConfigS3Uri", "ExplainabilityConstraintsS3Uri")
    properties = job["Properties"]
    assert properties["ModelExplainabilityAppSpecification"]["ConfigUri"] == {
        "Ref": "ExplainabilityAnalysisConfigS3Uri"
    }
    assert properties["ModelExplainabilityBaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": {"Ref": "ExplainabilityConstraintsS3Uri"}}
    }
    endpoint_input = properties["ModelExplainabilityJobInput"]["EndpointInput"]
    assert endpoint_input["EndpointName"] == named("production")
    # Every record of a captured {"instances": [...]} request, its features selected by name (the champion's
    # feature names: a parameter), and the score explained for each: the binary classifier's probability.
    assert endpoint_input["FeaturesAttribute"] == features_attribute("*")
    assert endpoint_input["InferenceAttribute"] == "predictions[*].probability"
    assert "ProbabilityAttribute" not in endpoint_input
    _runs_like_every_monitor(job, "Explainability", "model-explainability")
    # SageMaker checks that the endpoint exists when the job definition is created; the model it explains
    # exists before any run.
    assert job["DependsOn"] == [
        next(k for k, v in production["Resources"].items() if v["Type"] == "AWS::SageMaker::Endpoint"),
        _explained_model(production)[0],
    ]
    assert schedule["Properties"]["MonitoringScheduleName"] == named("production", "-model-explainability")
    assert schedule["Properties"]["MonitoringScheduleConfig"]["ScheduleConfig"] == {
        "ScheduleExpression": "cron(0 * ? * * *)"
    }


def _explained_model(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, resource)
        for logical_id, resource in of_type(template, "AWS::SageMaker::Model").items()
        if "ModelName" in resource["Properties"]
    ]
    return found


def _evaluated(value: Any, parameters: dict[str, str]) -> Any:
    """`value` with the template's Ref, Fn::Join, Fn::Select and Fn::Split of parameters evaluated."""
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref":
            return parameters[argument]
        if function == "Fn::Join":
            parts = _evaluated(argument[1], parameters)
            return argument[0].join(_evaluated(part, parameters) for part in parts)
        if function == "Fn::Select":
            return _evaluated(argument[1], parameters)[argument[0]]
        if function == "Fn::Split":
            return _evaluated(argument[1], parameters).split(argument[0])
    return value


@pytest.mark.parametrize("model", ["churn", "churn-v2"])
def test_the_explained_model_is_the_champions_package_named_as_its_analysis_config_names_it(
    production: dict[str, Any], model: str
) -> None:
    """Clarify serves the model the analysis config names (`contracts.clarify_model_name`, which the champion
    resolution writes): the template's name for it is the same, and a new champion is a new model."""
    _, explained = _explained_model(production)
    properties = explained["Properties"]
    assert properties["Containers"] == [{"ModelPackageName": {"Ref": "ChampionModelPackageArn"}}]
    for version in ("3", "12"):
        champion = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{model}/{version}"
        values = {MODEL_NAME_PARAMETER: model, "ChampionModelPackageArn": champion}
        expected = clarify_model_name(serving_name("mlops", model, "production"), package_version(champion))
        assert _evaluated(properties["ModelName"], values) == expected == f"mlops-{model}-production-clarify-{version}"
    tags = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
    assert tags[MODEL_TAG] == MODEL, "the CloudFormation role creates models with the model's tag only"


def test_the_explained_model_exists_with_the_explainability_monitor_only(production: dict[str, Any]) -> None:
    """A champion without an explainability baseline (the condition false) gets neither job nor model."""
    _, explained = _explained_model(production)
    assert explained["Condition"] == _clarify_job(production, "Explainability")["job"]["Condition"]


def features_attribute(records: str) -> dict[str, Any]:
    """The template's FeaturesAttribute of `records` ("*": every record, "0": the first): each of the
    champion's feature names (its parameter, comma-separated) quoted, as contracts.clarify_features_attribute."""
    names = {"Fn::Join": ['","', {"Fn::Split": [",", {"Ref": "ClarifyFeatureNames"}]}]}
    return {"Fn::Join": ["", [f'instances[{records}].["', names, '"]']]}


def test_the_features_attribute_finds_a_json_requests_features_by_the_champions_names() -> None:
    """Evaluated as CloudFormation evaluates it, over a captured request: rows of values in the names' order."""
    names = clarify_feature_names(["tenure_months", "monthly-charges", "2nd_line"])
    captured = {"instances": [{"2nd_line": True, "tenure_months": 3, "monthly-charges": 20.5}]}
    for records, rows in (("*", [[3, 20.5, True]]), ("0", [3, 20.5, True])):
        attribute = _evaluated(features_attribute(records), {"ClarifyFeatureNames": names})
        assert attribute == f'instances[{records}].["tenure_months","monthly-charges","2nd_line"]'
        assert jmespath.search(attribute, captured) == rows


def test_the_feature_names_parameter_takes_names_that_fit_a_monitoring_job(production: dict[str, Any]) -> None:
    """Set by the champion resolution from the champion's Clarify headers; CloudFormation's 256 characters
    for a FeaturesAttribute hold 'instances[*].[""]' and the names."""
    parameter = production["Parameters"]["ClarifyFeatureNames"]
    assert "Default" not in parameter
    assert parameter["MaxLength"] == 256 - len('instances[*].[""]')
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch(clarify_feature_names(["tenure_months", "monthly-charges", "plan type"]))
    for unsafe in ('a"b', "a\\b", ",a", "a,", "a,,b"):
        assert not pattern.fullmatch(unsafe), unsafe


def test_no_bias_monitor_without_ground_truth(production: dict[str, Any]) -> None:
    """Bias drift is judged on labelled predictions: without labels, no job, schedule or parameter."""
    assert not of_type(production, "AWS::SageMaker::ModelBiasJobDefinition")
    assert not {"BiasAnalysisConfigS3Uri", "BiasConstraintsS3Uri"} & set(production["Parameters"])


def test_bias_drift_is_monitored_with_the_labels_against_the_champions_post_training_constraints(
    with_ground_truth: tuple[App, dict[str, Any]],
) -> None:
    _, template = with_ground_truth
    bias = _clarify_job(template, "Bias")
    job, schedule = bias["job"], bias["schedule"]
    _has_baseline(template, job["Condition"], "BiasAnalysisConfigS3Uri", "BiasConstraintsS3Uri")
    assert job["Condition"] != _clarify_job(template, "Explainability")["job"]["Condition"]
    properties = job["Properties"]
    assert properties["ModelBiasAppSpecification"]["ConfigUri"] == {"Ref": "BiasAnalysisConfigS3Uri"}
    assert properties["ModelBiasBaselineConfig"] == {"ConstraintsResource": {"S3Uri": {"Ref": "BiasConstraintsS3Uri"}}}
    job_input = properties["ModelBiasJobInput"]
    assert job_input["GroundTruthS3Input"] == {"S3Uri": "s3://labels/churn/"}
    endpoint_input = job_input["EndpointInput"]
    # The label the model answered (its own decision threshold), over the hour whose labels have landed,
    # exactly as model quality reads it.
    quality_input = only(template, "AWS::SageMaker::ModelQualityJobDefinition")["Properties"]["ModelQualityJobInput"]
    for field in ("EndpointName", "InferenceAttribute", "StartTimeOffset", "EndTimeOffset"):
        assert endpoint_input[field] == quality_input["EndpointInput"][field], field
    assert (endpoint_input["InferenceAttribute"], endpoint_input["StartTimeOffset"]) == (
        "predictions[0].label",
        "-PT2H",
    )
    # The features of the record the label is joined with: a request's first, as model quality joins it.
    assert endpoint_input["FeaturesAttribute"] == features_attribute("0")
    assert "ProbabilityAttribute" not in endpoint_input
    assert "ProbabilityThresholdAttribute" not in endpoint_input
    _runs_like_every_monitor(job, "Bias", "model-bias")
    assert schedule["Properties"]["MonitoringScheduleName"] == named("production", "-model-bias")


def test_a_bias_monitor_without_labels_is_refused(default_config: PlatformConfig) -> None:
    """Bias drift is judged on labelled predictions: asked for without ground truth, it fails synth."""
    stack = Stack(App(), "Probe", env=ENV)
    serving = MonitoredServing(name="mlops-churn-production", resource=CfnResource(stack, "Endpoint", type="X::Y::Z"))
    jobs = MonitoringJobs(
        serving=serving, role_arn="role", output_s3_uri="s3://reports", kms_key_arn="key", instance_type="ml.m5.large"
    )
    baseline = ClarifyBaseline(analysis_config_s3_uri="s3://b/config.json", constraints_s3_uri="s3://b/c.json")
    inputs = ClarifyInputs(
        explainability=baseline,
        bias=baseline,
        champion_package_arn=PACKAGE,
        execution_role_arn="role",
        feature_names="tenure_months",
    )
    model = default_config.models[0]
    assert model.monitoring.ground_truth_s3_uri is None
    with pytest.raises(ValueError, match="bias drift is monitored against labels, and none are configured"):
        ClarifyMonitor(stack, "Clarify", jobs=jobs, model=model, inputs=inputs)


def test_clarify_monitors_follow_the_template_region(default_config: PlatformConfig) -> None:
    """Clarify's image is published from an account of its own in each region (config/regions.py)."""
    model = default_config.models[0]
    app = App()
    stack = ServingTemplateStack(
        app,
        "Serving",
        platform_name="mlops",
        model=model,
        stage="production",
        monitored_features=["tenure_months"],
        env=Environment(account="123456789012", region="cn-north-1"),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    job = only(template, "AWS::SageMaker::ModelExplainabilityJobDefinition")["Properties"]
    assert job["ModelExplainabilityAppSpecification"]["ImageUri"] == (
        "122526803553.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-clarify-processing:1.0"
    )


def test_a_batch_transforms_clarify_monitors_read_its_captures(any_model: Synthesized) -> None:
    """A batch model (renewals: JSON lines, with ground truth) is monitored for both, from the transform's captures."""
    template = any_model.platform.model_deploys["renewals"].deploy.templates["production"]
    for kind, output in (("Bias", "model-bias"), ("Explainability", "model-explainability")):
        monitor = _clarify_job(template, kind)
        job_input = monitor["job"]["Properties"][f"Model{kind}JobInput"]
        assert "EndpointInput" not in job_input
        batch_input = job_input["BatchTransformInput"]
        assert batch_input["DataCapturedDestinationS3Uri"] == {"Ref": "DataCaptureS3Uri"}
        assert batch_input["DatasetFormat"] == {"Json": {"Line": True}}
        # Each captured line is a {"instances": [...]} request: its features are selected by name.
        records = "*" if kind == "Explainability" else "0"
        assert batch_input["FeaturesAttribute"] == features_attribute(records)
        pipeline = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::SageMaker::Pipeline")
        explained = [_explained_model(template)[0]] if kind == "Explainability" else []
        assert sorted(monitor["job"]["DependsOn"]) == sorted([pipeline, *explained])
        _runs_like_every_monitor(monitor["job"], kind, output)
        assert monitor["schedule"]["Properties"]["MonitoringScheduleName"] == named("production", f"-{output}")
    bias_input = _clarify_job(template, "Bias")["job"]["Properties"]["ModelBiasJobInput"]
    assert bias_input["GroundTruthS3Input"] == {"S3Uri": "s3://example-labels/renewals/ground-truth/"}
    # The transform has no endpoint: Clarify serves the champion on its own shadow endpoint to explain it.
    _, explained_model = _explained_model(template)
    assert explained_model["Properties"]["Containers"] == [{"ModelPackageName": {"Ref": "ChampionModelPackageArn"}}]


def test_a_csv_models_clarify_monitors_read_csv_captures_by_column(any_model: Synthesized) -> None:
    """ticket-routing answers CSV `label,probability`: attributes are column numbers; no data quality."""
    template = any_model.platform.model_deploys["ticket-routing"].deploy.templates["production"]
    bias = _clarify_job(template, "Bias")["job"]["Properties"]["ModelBiasJobInput"]["EndpointInput"]
    explainability = _clarify_job(template, "Explainability")["job"]["Properties"]
    explainability_input = explainability["ModelExplainabilityJobInput"]["EndpointInput"]
    assert bias["InferenceAttribute"] == "0"
    assert explainability_input["InferenceAttribute"] == "1"
    # A captured CSV request's rows are its features: no attribute, and no parameter to set one.
    assert "FeaturesAttribute" not in bias
    assert "FeaturesAttribute" not in explainability_input
    assert "ClarifyFeatureNames" not in template["Parameters"]
    assert not of_type(template, "AWS::SageMaker::DataQualityJobDefinition")


# Resources with generated names (models, endpoint configs, job definitions, scalable targets) are
# reachable by the model's CloudFormation role only through this tag (tests/unit/test_model_isolation.py).
TAGGED_FOR_THE_DEPLOYMENT_ROLE = (
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
    "AWS::SageMaker::DataQualityJobDefinition",
    "AWS::SageMaker::ModelQualityJobDefinition",
    "AWS::SageMaker::ModelBiasJobDefinition",
    "AWS::SageMaker::ModelExplainabilityJobDefinition",
    "AWS::SageMaker::MonitoringSchedule",
    "AWS::ApplicationAutoScaling::ScalableTarget",
)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_every_serving_resource_carries_the_model_tag(serving_templates: dict[str, dict], stage: str) -> None:
    tagged = [
        (logical_id, resource["Type"])
        for logical_id, resource in serving_templates[stage]["Resources"].items()
        if resource["Type"] in TAGGED_FOR_THE_DEPLOYMENT_ROLE
    ]
    assert tagged, f"{stage} creates none of {TAGGED_FOR_THE_DEPLOYMENT_ROLE}"
    for logical_id, resource_type in tagged:
        tags = serving_templates[stage]["Resources"][logical_id]["Properties"]["Tags"]
        # Scalable targets take tags as a list of {Key, Value} too.
        pairs = {tag["Key"]: tag["Value"] for tag in tags}
        assert pairs.get(MODEL_TAG) == MODEL, (logical_id, resource_type, tags)
        assert pairs.get(PLATFORM_TAG) == "mlops", (logical_id, resource_type, tags)


# --- one template for every model -------------------------------------------------------------------


def _renamed(model: ModelConfig, name: str, threshold: float, instance_type: str) -> ModelConfig:
    return model.model_copy(
        update={
            "name": name,
            "metric": model.metric.model_copy(update={"threshold": threshold}),
            "instance_types": model.instance_types.model_copy(update={"inference": instance_type}),
        }
    )


@pytest.mark.parametrize("stage", STAGES)
def test_models_with_the_same_settings_share_one_template(default_config: PlatformConfig, stage: Stage) -> None:
    """The name, the gate's threshold and the inference instance type are parameters: another model's
    (even tokens of another app, as a SageMaker Projects product's parameters are) render exactly the
    same template."""
    model = default_config.models[0]
    # Monitored with labels, so that production's model-quality alarm holds the threshold.
    monitoring = model.monitoring.model_copy(update={"ground_truth_s3_uri": "s3://labels/churn/"})
    model = model.model_copy(update={"monitoring": monitoring})
    features = default_config.monitored_features(model)
    product = Stack(App(), "Product")
    project = CfnParameter(product, "SageMakerProjectName").value_as_string
    threshold = CfnParameter(product, "MetricThreshold", type="Number").value_as_number
    instance_type = CfnParameter(product, "InferenceInstanceType").value_as_string

    def rendered(name: str, threshold: float, instance_type: str) -> dict[str, Any]:
        return render_serving_template(
            platform_name="mlops",
            model=_renamed(model, name, threshold, instance_type),
            stage=stage,
            monitored_features=features,
            env=ENV,
            context=cdk_json_context(),
        )

    churn = rendered("churn", 0.75, "ml.m5.large")
    assert rendered("churn-v2", 0.9, "ml.c5.xlarge") == churn
    assert rendered(project, threshold, instance_type) == churn
    text = json.dumps(churn)
    assert "${Token[" not in text
    assert not re.search(r"\d[eE]\+\d", text), "no number token's encoding (-1.888...e+289)"
    # Staging is serverless (no instance type); only production's model-quality alarm holds the threshold.
    settings = {"InferenceInstanceType", "MetricThreshold"}
    assert set(churn["Parameters"]) & settings == (settings if stage == "production" else set())
