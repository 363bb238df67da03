"""Any model: each model's templates carry its problem type, its metric's direction and its inference
contract; a batch model serves through a scheduled transform, with no endpoint (config/examples/any-model.yaml)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config import load_config
from config.schema import ModelConfig
from lambdas.common.contracts import (
    BATCH_DATA_METRICS_NAMESPACE,
    BATCH_MODEL_METRICS_NAMESPACE,
    CHAMPION_PARAMETER,
    DATA_BUCKET_PARAMETER,
    INFERENCE_INSTANCE_TYPE_PARAMETER,
    METRIC_THRESHOLD_PARAMETER,
    MODEL_METRICS_NAMESPACE,
    MODEL_NAME_PARAMETER,
    MODEL_TAG,
    TRANSFORM_INPUT_PARAMETER,
    TRANSFORM_OUTPUT_PARAMETER,
    Stage,
    data_bucket_parameter_name,
)
from tests.conftest import ANY_MODEL_CONFIG_PATH, Synthesized


@cache
def _model(name: str) -> ModelConfig:
    (model,) = [model for model in load_config(ANY_MODEL_CONFIG_PATH).models if model.name == name]
    return model


def _serving(any_model: Synthesized, model: str, stage: Stage) -> Template:
    """A stage's serving template as the model's deploy pipeline deploys it: with the model's name, gate
    threshold and inference instance type from config for the template's parameters that take them
    (names that join them become the strings CloudFormation makes of them)."""
    template = any_model.platform.model_deploys[model].deploy.templates[stage]
    config = _model(model)
    values = {
        MODEL_NAME_PARAMETER: model,
        METRIC_THRESHOLD_PARAMETER: config.metric.threshold,
        INFERENCE_INSTANCE_TYPE_PARAMETER: config.instance_types.inference,
    }
    return Template.from_json(_with_parameters(template, values))


def _as_text(value: Any) -> Any:
    """A Number parameter's value where a text joins it: the string the deploy pipeline passed ("12")."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _with_parameters(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_with_parameters(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    resolved = {key: _with_parameters(value, values) for key, value in node.items()}
    if set(resolved) == {"Fn::Join"}:
        separator, parts = resolved["Fn::Join"]
        parts = [_as_text(part) for part in parts]
        if all(isinstance(part, str) for part in parts):
            return separator.join(parts)
        # Adjacent literals merge, so the definition body keeps reading as one text.
        merged: list[Any] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str) and separator == "":
                merged[-1] += part
            else:
                merged.append(part)
        return {"Fn::Join": [separator, merged]}
    return resolved


def _deploy(any_model: Synthesized, model: str) -> Template:
    return any_model.template(any_model.platform.model_deploys[model])


def _only(template: Template, resource_type: str) -> dict[str, Any]:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    [resource] = resources.values()
    return dict(resource)


# --- model quality: the problem type, the contract's attributes, the metric's direction ------------


@pytest.mark.parametrize(
    ("model", "problem_type", "attributes"),
    [
        (
            "churn",
            "BinaryClassification",
            {"InferenceAttribute": "predictions[0].label", "ProbabilityAttribute": "predictions[0].probability"},
        ),
        ("demand", "Regression", {"InferenceAttribute": "predictions[0].prediction"}),
        # CSV answers: the attribute is a column; a multiclass probability is not Model Monitor's to use.
        ("ticket-routing", "MulticlassClassification", {"InferenceAttribute": "0"}),
    ],
)
def test_model_quality_reads_each_models_answers_for_its_problem_type(
    any_model: Synthesized, model: str, problem_type: str, attributes: dict[str, str]
) -> None:
    job = _only(_serving(any_model, model, "production"), "AWS::SageMaker::ModelQualityJobDefinition")
    properties = job["Properties"]
    assert properties["ModelQualityAppSpecification"]["ProblemType"] == problem_type
    endpoint_input = properties["ModelQualityJobInput"]["EndpointInput"]
    assert {key: endpoint_input[key] for key in endpoint_input if key.endswith("Attribute")} == attributes


@pytest.mark.parametrize(
    ("model", "metric", "comparison", "statistic", "threshold", "description"),
    [
        ("demand", "rmse", "GreaterThanThreshold", "Maximum", 12.0, "above the gate's 12"),
        ("ticket-routing", "weighted_f1", "LessThanThreshold", "Minimum", 0.7, "below the gate's 0.7"),
    ],
)
def test_the_model_quality_alarm_fires_on_the_wrong_side_of_the_threshold(
    any_model: Synthesized, model: str, metric: str, comparison: str, statistic: str, threshold: float, description: str
) -> None:
    _serving(any_model, model, "production").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"mlops-{model}-production-model-quality-{metric}",
            "AlarmDescription": f"Model-quality {metric} of mlops-{model}-production {description}",
            "Namespace": MODEL_METRICS_NAMESPACE,
            "MetricName": metric,
            "ComparisonOperator": comparison,
            "Statistic": statistic,
            "Threshold": threshold,
        },
    )
    # The threshold is the template's Number parameter (the deploy pipeline passes the model's).
    assert (
        any_model.platform.model_deploys[model].deploy.templates["production"]["Parameters"][
            METRIC_THRESHOLD_PARAMETER
        ]["Type"]
        == "Number"
    )


def test_csv_requests_get_no_data_quality_monitoring(any_model: Synthesized) -> None:
    """Their header-less rows cannot be compared with the builds' named-feature baselines."""
    production = _serving(any_model, "ticket-routing", "production")
    production.resource_count_is("AWS::SageMaker::DataQualityJobDefinition", 0)
    assert "BaselineConstraintsS3Uri" not in production.to_json()["Parameters"]
    config = _only(production, "AWS::SageMaker::EndpointConfig")["Properties"]["DataCaptureConfig"]
    assert config["CaptureContentTypeHeader"]["CsvContentTypes"] == ["text/csv"]


# --- batch: a scheduled transform, no endpoint --------------------------------------------------------


def test_a_batch_model_has_no_endpoint_in_any_stage(any_model: Synthesized) -> None:
    for stage in ("staging", "production"):
        template = _serving(any_model, "renewals", stage)
        for resource_type in ("Endpoint", "EndpointConfig"):
            template.resource_count_is(f"AWS::SageMaker::{resource_type}", 0)
        template.resource_count_is("AWS::SageMaker::Pipeline", 1)
    _deploy(any_model, "renewals").resource_count_is("AWS::Lambda::Function", 1)  # the drift alert, no traffic shift


def _definition(template: Template) -> dict[str, Any]:
    pipeline = _only(template, "AWS::SageMaker::Pipeline")["Properties"]
    body = pipeline["PipelineDefinition"]["PipelineDefinitionBody"]
    # The definition is one Fn::Join of literal parts and references: read it with the references named.
    parts = body["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else json.dumps(part).replace('"', "'") for part in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_the_production_transform_runs_the_champion_on_a_schedule(any_model: Synthesized) -> None:
    production = _serving(any_model, "renewals", "production")
    production.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "Name": "mlops-renewals-production",
            "ScheduleExpression": "cron(0 2 * * ? *)",
            "ScheduleExpressionTimezone": "Europe/Paris",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            # No key: the schedule carries no input to encrypt.
            "KmsKeyArn": Match.absent(),
            "Target": {
                "Arn": Match.any_value(),
                "RoleArn": {"Ref": "SchedulerRoleArn"},
                "DeadLetterConfig": {"Arn": {"Ref": "DeadLetterQueueArn"}},
                "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600},
                "SageMakerPipelineParameters": {},
            },
        },
    )
    # The transform's model (the other is the one Clarify's explainability monitor serves, tested apart).
    [model] = [
        resource["Properties"]
        for logical_id, resource in production.find_resources("AWS::SageMaker::Model").items()
        if logical_id.startswith("TransformModel")
    ]
    assert model["Containers"] == [{"ModelPackageName": {"Ref": CHAMPION_PARAMETER}}]
    assert model["EnableNetworkIsolation"] is True
    definition = _definition(production)
    assert [p["Name"] for p in definition["Parameters"]] == [TRANSFORM_INPUT_PARAMETER, TRANSFORM_OUTPUT_PARAMETER]
    [step] = definition["Steps"]
    arguments = step["Arguments"]
    assert step["Type"] == "Transform"
    assert arguments["TransformInput"]["ContentType"] == "application/json"
    assert arguments["TransformInput"]["SplitType"] == "Line"
    assert arguments["BatchStrategy"] == "SingleRecord"
    assert arguments["TransformOutput"]["Accept"] == "application/json"
    assert arguments["TransformOutput"]["S3OutputPath"]["Std:Join"]["Values"][1] == {
        "Get": "Execution.PipelineExecutionId"
    }
    assert arguments["TransformResources"]["InstanceType"] == "ml.m5.xlarge"
    assert arguments["TransformResources"]["InstanceCount"] == 2
    for encrypted in (
        arguments["TransformOutput"]["KmsKeyId"],
        arguments["TransformResources"]["VolumeKmsKeyId"],
        arguments["DataCaptureConfig"]["KmsKeyId"],
    ):
        assert encrypted == "{'Ref': 'KmsKeyArn'}"
    assert arguments["Tags"] == [{"Key": MODEL_TAG, "Value": "renewals"}]
    # Input and output default to the model's data bucket, read from its SSM parameter.
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert defaults[TRANSFORM_INPUT_PARAMETER].endswith("/batch/input/")
    assert defaults[TRANSFORM_OUTPUT_PARAMETER].endswith("/batch/output")
    # The SSM parameter's name holds the model's: the deploy pipeline passes it (test_deploy.py).
    bucket = production.to_json()["Parameters"][DATA_BUCKET_PARAMETER]
    assert (bucket["Type"], "Default" in bucket) == ("AWS::SSM::Parameter::Value<String>", False)


def test_a_failed_production_run_alarms(any_model: Synthesized) -> None:
    _serving(any_model, "renewals", "production").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Sagemaker/ModelBuildingPipeline",
            "MetricName": "ExecutionFailed",
            "Dimensions": [{"Name": "PipelineName", "Value": "mlops-renewals-production"}],
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 1,
            "AlarmActions": [{"Ref": "AlertTopicArn"}],
        },
    )


def test_staging_has_no_schedule_capture_or_monitor(any_model: Synthesized) -> None:
    staging = _serving(any_model, "renewals", "staging")
    for resource_type in ("Scheduler::Schedule", "SageMaker::MonitoringSchedule", "CloudWatch::Alarm"):
        staging.resource_count_is(f"AWS::{resource_type}", 0)
    # Staging captures like production (its answers then read exactly as production's), in its own prefix.
    staging_capture = _definition(staging)["Steps"][0]["Arguments"]["DataCaptureConfig"]
    production_capture = _definition(_serving(any_model, "renewals", "production"))["Steps"][0]["Arguments"][
        "DataCaptureConfig"
    ]
    assert staging_capture["DestinationS3Uri"].endswith("/batch/staging/captures")
    assert production_capture["DestinationS3Uri"] == "{'Ref': 'DataCaptureS3Uri'}"
    # Labels are joined on the inference id the transform appends (ground truth is configured).
    assert staging_capture["GenerateInferenceId"] is production_capture["GenerateInferenceId"] is True


def test_model_monitor_reads_the_batch_captures(any_model: Synthesized) -> None:
    production = _serving(any_model, "renewals", "production")
    for kind in ("DataQuality", "ModelQuality"):
        job = _only(production, f"AWS::SageMaker::{kind}JobDefinition")["Properties"]
        batch_input = job[f"{kind}JobInput"]["BatchTransformInput"]
        assert batch_input["DataCapturedDestinationS3Uri"] == {"Ref": "DataCaptureS3Uri"}
        assert batch_input["DatasetFormat"] == {"Json": {"Line": True}}
        assert "EndpointInput" not in job[f"{kind}JobInput"]
    production.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "mlops-renewals-production-drift-tenure_months",
            "Namespace": BATCH_DATA_METRICS_NAMESPACE,
            "Dimensions": [{"Name": "MonitoringSchedule", "Value": "mlops-renewals-production-data-quality"}],
        },
    )
    production.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "mlops-renewals-production-model-quality-auc",
            "Namespace": BATCH_MODEL_METRICS_NAMESPACE,
            "ComparisonOperator": "LessThanThreshold",
        },
    )


# --- the deploy pipeline of a batch model ------------------------------------------------------------


def _buildspec(template: Template, description_start: str) -> dict[str, Any]:
    projects = template.find_resources(
        "AWS::CodeBuild::Project", {"Properties": {"Description": Match.string_like_regexp(f"^{description_start}")}}
    )
    assert len(projects) == 1, sorted(projects)
    source = next(iter(projects.values()))["Properties"]["Source"]
    buildspec: dict[str, Any] = json.loads(source["BuildSpec"])
    return buildspec


def test_the_batch_deploy_pipeline_checks_staging_with_a_transform_and_replaces_the_champion(
    any_model: Synthesized,
) -> None:
    deploy = _deploy(any_model, "renewals")
    stages = _only(deploy, "AWS::CodePipeline::Pipeline")["Properties"]["Stages"]
    actions = {stage["Name"]: [action["Name"] for action in stage["Actions"]] for stage in stages}
    assert actions == {
        "Source": ["DeployBundle"],
        "Staging": ["DeployStaging", "BatchCheck"],
        "Approve": ["ApproveProduction"],
        "Production": ["ResolveChampion", "DeployProduction"],
    }
    check = _buildspec(deploy, "Batch check")
    assert check["env"]["parameter-store"] == {"DATA_BUCKET": data_bucket_parameter_name("mlops", "renewals")}
    [command] = check["phases"]["build"]["commands"]
    assert command.startswith("python -m tools.batch_check --pipeline-name $PIPELINE_NAME")
    assert "--model-package-arn $NEW_PACKAGE_ARN" in command
    [resolve, _] = _buildspec(deploy, "Reads the current production champion")["phases"]["build"]["commands"]
    assert "--replace" in resolve
    assert "--endpoint-name" not in resolve


def _statements(template: Template) -> dict[str, dict[str, Any]]:
    """Every IAM statement of the stack with a Sid, by Sid (asserting each Sid names one statement)."""
    found: dict[str, dict[str, Any]] = {}
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in template.find_resources(resource_type).values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "Sid" in statement:
                    found.setdefault(statement["Sid"], statement)
    return found


def test_the_batch_roles_start_and_run_only_this_models_transforms(any_model: Synthesized) -> None:
    deploy = _deploy(any_model, "renewals")
    statements = _statements(deploy)
    arn = "arn:aws:sagemaker:eu-west-1:123456789012"
    own_tag = {"StringEquals": {"aws:RequestTag/mlops:model": "renewals"}}
    run = statements["RunThisModelsTaggedTransforms"]
    assert (run["Action"], run["Resource"]) == (
        ["sagemaker:AddTags", "sagemaker:CreateTransformJob"],
        f"{arn}:transform-job/pipelines-*",
    )
    assert own_tag["StringEquals"].items() <= run["Condition"]["StringEquals"].items()
    follow = statements["FollowThisModelsTaggedTransforms"]
    assert follow["Condition"] == {"StringEquals": {"aws:ResourceTag/mlops:model": "renewals"}}
    start = statements["StartTheProductionTransform"]
    assert (start["Action"], start["Resource"]) == (
        "sagemaker:StartPipelineExecution",
        f"{arn}:pipeline/mlops-renewals-production",
    )
    pipelines = statements["ThisModelsTransformPipelines"]
    assert sorted(pipelines["Resource"]) == [
        f"{arn}:pipeline/mlops-renewals-production",
        f"{arn}:pipeline/mlops-renewals-staging",
    ]
    schedule = statements["ThisModelsTransformSchedule"]
    assert schedule["Resource"] == "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/mlops-renewals-production"
    passed = statements["PassTheSchedulerRole"]
    assert passed["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    bucket_name = statements["ReadTheDataBucketName"]
    assert bucket_name["Resource"] == "arn:aws:ssm:eu-west-1:123456789012:parameter/mlops/renewals/data-bucket"
    # No serving endpoint: nothing in the deploy stack may act on one of this model's (there is none), but
    # the shadow endpoint Clarify's explainability monitor serves the champion on (its own prefix).
    endpoint_statements = {
        sid: statement for sid, statement in statements.items() if "endpoint/mlops-renewals" in json.dumps(statement)
    }
    for sid, statement in endpoint_statements.items():
        names = re.findall(r"endpoint(?:-config)?/(mlops-renewals[^\"]*)", json.dumps(statement))
        assert names, sid
        assert all(name.startswith("mlops-renewals-production-clarify") for name in names), (sid, names)
    # The staging check runs the staging transform only.
    check = statements["RunTheStagingTransform"]
    assert check["Resource"] == [
        f"{arn}:pipeline/mlops-renewals-staging",
        f"{arn}:pipeline/mlops-renewals-staging/execution/*",
    ]


def test_the_real_time_smoke_test_reads_the_packages_own_contract(synthesized: Synthesized) -> None:
    deploy = synthesized.template(synthesized.platform.model_deploys["churn"])
    [command] = _buildspec(deploy, "Smoke test")["phases"]["build"]["commands"]
    assert "--model-package-arn $NEW_PACKAGE_ARN" in command
    assert '--fallback-contract "$FALLBACK_CONTRACT"' in command
    assert "--payloads" not in command


def test_the_deploy_bundle_carries_no_sample_payloads(synthesized: Synthesized) -> None:
    bundles = sorted(Path(synthesized.assembly.directory).glob("asset.*/production.template.json"))
    assert bundles
    for bundle in bundles:
        assert not list(bundle.parent.rglob("*payload*"))


def test_each_build_stack_publishes_its_data_bucket_for_the_serving_templates(any_model: Synthesized) -> None:
    for name, build in any_model.platform.model_builds.items():
        any_model.template(build).has_resource_properties(
            "AWS::SSM::Parameter", {"Name": data_bucket_parameter_name("mlops", name), "Type": "String"}
        )


def test_configured_batch_locations_are_granted_to_the_transform_jobs(tmp_path: Path) -> None:
    """Outside the data bucket, the serving role reads the input prefix and writes the output prefix, no more."""
    from aws_cdk import App

    from config import load_config
    from mlops_constructs.compliance import rule_packs
    from stacks.platform import build_platform
    from tests.conftest import cdk_json_context, no_projects, write_config

    def batch_elsewhere(raw: dict[str, Any]) -> None:
        # The projects' stack and products do not change with the models (the session checks them).
        no_projects(raw)
        model = raw["models"][0]
        model.pop("variants")
        model.pop("traffic_shift")
        model["serving"] = {
            "mode": "batch",
            "batch": {
                "schedule_expression": "rate(1 day)",
                "input_s3_uri": "s3://scores-in/nightly",  # a folder, slash or not
                "output_s3_uri": "s3://scores-out/nightly/",
            },
        }

    config = load_config(write_config(tmp_path, batch_elsewhere))
    app = App(context=cdk_json_context(), outdir=str(tmp_path / "out"))
    platform = build_platform(app, config)
    deploy = Template.from_stack(platform.model_deploys["churn"])
    granted = {
        policy["Properties"]["Description"]: {
            statement["Sid"]: (statement["Action"], statement["Resource"], statement.get("Condition"))
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        }
        for policy in deploy.find_resources("AWS::IAM::ManagedPolicy").values()
        if "location configured" in policy["Properties"].get("Description", "")
    }
    assert granted == {
        "The batch input location configured for model 'churn'": {
            "ListThePrefixes": (
                "s3:ListBucket",
                "arn:aws:s3:::scores-in",
                {"StringLike": {"s3:prefix": ["nightly/*"]}},
            ),
            "ReadObjects": ("s3:GetObject", "arn:aws:s3:::scores-in/nightly/*", None),
        },
        "The batch output location configured for model 'churn'": {
            "WriteObjects": (["s3:AbortMultipartUpload", "s3:PutObject"], "arn:aws:s3:::scores-out/nightly/*", None),
        },
    }
    # Acknowledged next to the grant: no unacknowledged finding in this configuration either.
    for pack in rule_packs(app):
        assert [v.rule_name for v in pack.validate_scope(app).violations] == []
    definition = _definition(Template.from_json(platform.model_deploys["churn"].deploy.templates["production"]))
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert defaults == {
        TRANSFORM_INPUT_PARAMETER: "s3://scores-in/nightly/",
        TRANSFORM_OUTPUT_PARAMETER: "s3://scores-out/nightly",
    }


def test_production_serves_on_the_models_inference_instance_type(any_model: Synthesized) -> None:
    """Production has no instance type of its own: the template's InferenceInstanceType, passed the model's."""
    config = _only(_serving(any_model, "demand", "production"), "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["ProductionVariants"][0]["InstanceType"] == _model("demand").instance_types.inference
