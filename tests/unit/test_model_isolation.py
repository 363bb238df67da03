"""One model's roles never reach another model's resources, though their names are prefixes of each other.

A platform with models `churn` and `churn-v2` (both valid names) is synthesized once; every role of
churn's build and deploy stacks (and of the serving templates' parameters: the serving, monitoring and
CloudFormation roles live in the deploy stack) is evaluated with tests/iam_evaluation.py against every
kind of resource churn-v2 owns, for every action that changes or reads it. Each probe also runs
against churn's own resource for a role that must reach it, so the test cannot pass by matching nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from config import ConfigError, load_config
from lambdas.common.contracts import (
    DATA_QUALITY,
    MODEL_BIAS,
    MODEL_EXPLAINABILITY,
    MODEL_QUALITY,
    MODEL_TAG,
    clarify_endpoint_prefix,
    clarify_model_name,
    drift_alarm_name,
    monitoring_schedule_name,
    serving_name,
)
from stacks.platform import build_platform
from tests.conftest import cdk_json_context, no_projects, write_config
from tests.iam_evaluation import Principal, role_principal

ACCOUNT, REGION, PLATFORM = "123456789012", "eu-west-1", "mlops"
OWN, OTHER = "churn", "churn-v2"


def _two_models(config: dict[str, Any]) -> None:
    (churn,) = config["models"]
    churn["monitoring"]["ground_truth_s3_uri"] = "s3://ground-truth-bucket/churn/"
    other = {**churn, "name": OTHER, "monitoring": {**churn["monitoring"]}}
    other["monitoring"]["ground_truth_s3_uri"] = "s3://ground-truth-bucket/churn-v2/"
    config["models"] = [churn, other]
    no_projects(config)  # only the models' stacks, and the governance stack's boundary, are read


@pytest.fixture(scope="module")
def platform_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    config = load_config(write_config(tmp_path_factory.mktemp("config"), _two_models, "two-models.yaml"))
    assert (config.name, config.environment.account, config.environment.region) == (PLATFORM, ACCOUNT, REGION)
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    build_platform(app, config)
    assembly = app.synth()
    return {stack.stack_name: Template.from_json(stack.template) for stack in assembly.stacks}


@pytest.fixture(scope="module")
def churn_roles(platform_templates: dict[str, Template]) -> dict[str, Principal]:
    """Every role of churn's own stacks, with the permissions boundary they carry."""
    governance = platform_templates[f"{PLATFORM}-governance"]
    roles: dict[str, Principal] = {}
    for stack_name in (f"{PLATFORM}-{OWN}-build", f"{PLATFORM}-{OWN}-deploy"):
        template = platform_templates[stack_name]
        for logical_id in template.find_resources("AWS::IAM::Role"):
            roles[f"{stack_name}/{logical_id}"] = role_principal(template, logical_id, boundary_from=governance)
    assert len(roles) >= 10, sorted(roles)
    return roles


def _arn(service: str, resource: str, *, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def owned_resources(model: str) -> list[tuple[str, list[str], dict[str, str]]]:
    """(resource ARN, actions on it, request context) for what `model` owns, by kind."""
    production, staging = (serving_name(PLATFORM, model, stage) for stage in ("production", "staging"))
    tagged = {f"aws:ResourceTag/{MODEL_TAG}": model}
    tagging = {f"aws:RequestTag/{MODEL_TAG}": model}
    endpoint_actions = [
        "sagemaker:CreateEndpoint",
        "sagemaker:UpdateEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        "sagemaker:InvokeEndpoint",
        "sagemaker:DescribeEndpoint",
        "sagemaker:AddTags",
    ]
    schedule_actions = [
        "sagemaker:CreateMonitoringSchedule",
        "sagemaker:UpdateMonitoringSchedule",
        "sagemaker:DeleteMonitoringSchedule",
        "sagemaker:DescribeMonitoringSchedule",
    ]
    alarm_actions = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource"]
    dashboard_actions = ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards", "cloudwatch:GetDashboard"]
    stack_actions = [
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:DescribeStacks",
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
    ]
    generated = {
        "model": ["CreateModel", "DeleteModel", "DescribeModel", "AddTags", "DeleteTags"],
        "endpoint-config": ["CreateEndpointConfig", "DeleteEndpointConfig", "DescribeEndpointConfig", "AddTags"],
        "data-quality-job-definition": [
            "CreateDataQualityJobDefinition",
            "DeleteDataQualityJobDefinition",
            "AddTags",
        ],
        "model-quality-job-definition": [
            "CreateModelQualityJobDefinition",
            "DeleteModelQualityJobDefinition",
            "AddTags",
        ],
        "model-bias-job-definition": ["CreateModelBiasJobDefinition", "DeleteModelBiasJobDefinition", "AddTags"],
        "model-explainability-job-definition": [
            "CreateModelExplainabilityJobDefinition",
            "DeleteModelExplainabilityJobDefinition",
            "AddTags",
        ],
    }
    resources: list[tuple[str, list[str], dict[str, str]]] = []
    for endpoint in (production, staging):
        resources += [
            (_arn("sagemaker", f"endpoint/{endpoint}"), endpoint_actions, tagging),
            (_arn("cloudwatch", f"alarm:{endpoint}-EndpointChampionLatencyP99A1B2C3-XYZ"), alarm_actions, {}),
            (
                _arn("cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint}/variant/champion-AlarmHigh-1a2b"),
                alarm_actions,
                {},
            ),
            (f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{endpoint}", dashboard_actions, {}),
            (_arn("cloudformation", f"stack/{endpoint}/0a1b2c3d-0000"), stack_actions, {}),
            (
                _arn("logs", f"log-group:/aws/sagemaker/Endpoints/{endpoint}:log-stream:champion/i-1"),
                ["logs:PutLogEvents", "logs:CreateLogStream"],
                {},
            ),
        ]
    resources += [
        (_arn("sagemaker", f"monitoring-schedule/{monitoring_schedule_name(production, kind)}"), schedule_actions, {})
        for kind in (DATA_QUALITY, MODEL_QUALITY, MODEL_BIAS, MODEL_EXPLAINABILITY)
    ]
    # What Clarify creates, calls and deletes in each run of production's explainability monitor (named
    # under the production prefix, with whatever suffix it adds), and the model it serves there.
    shadow = f"{clarify_endpoint_prefix(production)}-1700000000-1a2b"
    resources += [
        (_arn("sagemaker", f"endpoint/{shadow}"), [*endpoint_actions, "sagemaker:DescribeEndpoint"], {}),
        (
            _arn("sagemaker", f"endpoint-config/{shadow}"),
            [
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:AddTags",
            ],
            {},
        ),
        (
            _arn("logs", f"log-group:/aws/sagemaker/Endpoints/{shadow}:log-stream:AllTraffic/i-1"),
            ["logs:PutLogEvents", "logs:CreateLogStream"],
            {},
        ),
        # Created only by CloudFormation, tagged (a model's CloudFormation role may create any model name
        # tagged as its own: the template cannot name another model's explained model, whose name and tag
        # come from the same ModelName parameter; CreateModel is probed on generated names above).
        (
            _arn("sagemaker", f"model/{clarify_model_name(production, '7')}"),
            ["sagemaker:DescribeModel", "sagemaker:DeleteModel", "sagemaker:AddTags"],
            tagged | tagging,
        ),
    ]
    resources.append((_arn("cloudwatch", f"alarm:{drift_alarm_name(production, 'tenure')}"), alarm_actions, {}))
    for kind, actions in generated.items():
        resources.append(
            (_arn("sagemaker", f"{kind}/generated-1a2b3c"), [f"sagemaker:{a}" for a in actions], tagged | tagging)
        )
    for kind, job in (("processing-job", "Processing"), ("training-job", "Training")):
        resources.append(
            (
                _arn("sagemaker", f"{kind}/pipelines-1a2b3c-step-4d5e"),
                [
                    f"sagemaker:Create{job}Job",
                    f"sagemaker:Describe{job}Job",
                    f"sagemaker:Stop{job}Job",
                    "sagemaker:AddTags",
                ],
                tagged | tagging,
            )
        )
    resources += [
        (
            _arn("application-autoscaling", "scalable-target/1234abcd56ab78cd901ef1234567890ab123"),
            [
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:TagResource",
                "application-autoscaling:UntagResource",
            ],
            tagged | tagging,
        ),
        (
            _arn("sagemaker", f"model-package/{model}/3"),
            ["sagemaker:DescribeModelPackage", "sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"],
            {},
        ),
        (
            _arn("sagemaker", f"model-package-group/{model}"),
            ["sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages", "sagemaker:CreateModelPackage"],
            {},
        ),
    ]
    return resources


# Reads no name or tag can scope, each with its reason: (role logical id prefix, action) -> why.
READ_ONLY_EXCEPTIONS = {
    ("AutomationDriftAlertRole", "sagemaker:DescribeProcessingJob"): (
        "Model Monitor names a schedule's processing jobs itself and tags them with nothing of ours; the "
        "drift alert reads the latest job of its own schedule (ListMonitoringExecutions has no resource)"
    ),
}


def _read_only_exception(role_name: str, action: str) -> bool:
    return any(role_name.split("/")[1].startswith(role) and action == a for role, a in READ_ONLY_EXCEPTIONS)


def test_no_role_of_one_model_reaches_the_resources_of_a_model_whose_name_it_prefixes(
    churn_roles: dict[str, Principal],
) -> None:
    reaches = [
        f"{role_name}: {action} on {resource}"
        for resource, actions, context in owned_resources(OTHER)
        for action in actions
        for role_name, role in churn_roles.items()
        if role.is_allowed(action, resource, **context) and not _read_only_exception(role_name, action)
    ]
    assert reaches == []


def test_the_probes_reach_the_models_own_resources(churn_roles: dict[str, Principal]) -> None:
    """The same probes on churn's own resources are allowed to the roles that manage them: the test above
    does not pass because its resources match nothing."""
    deployment = next(role for name, role in churn_roles.items() if "DeploymentRole" in name)
    # CloudFormation manages the serving resources; stacks, logs, packages and Clarify's shadow endpoints
    # are other roles' business.
    shadow = clarify_endpoint_prefix(serving_name(PLATFORM, OWN, "production"))
    managed = [
        (resource, action, context)
        for resource, actions, context in owned_resources(OWN)
        if resource.split(":")[2] in ("cloudwatch", "application-autoscaling")
        or (
            resource.split(":")[5].split("/")[0]
            not in ("model-package", "model-package-group", "processing-job", "training-job")
            and resource.split(":")[2] == "sagemaker"
            and not resource.split(":")[5].split("/")[1].startswith(f"{shadow}-1")
        )
        for action in actions
        if action != "sagemaker:InvokeEndpoint"
    ]
    assert len(managed) > 40
    assert [f"{a} on {r}" for r, a, c in managed if not deployment.is_allowed(a, r, **c)] == []
    others = [role for name, role in churn_roles.items() if "DeploymentRole" not in name]
    production = serving_name(PLATFORM, OWN, "production")
    for action, resource in [
        ("sagemaker:DescribeModelPackage", _arn("sagemaker", f"model-package/{OWN}/3")),
        ("cloudformation:DescribeStacks", _arn("cloudformation", f"stack/{production}/0a1b2c3d-0000")),
        ("logs:PutLogEvents", _arn("logs", f"log-group:/aws/sagemaker/Endpoints/{production}:log-stream:a")),
        ("sagemaker:InvokeEndpoint", _arn("sagemaker", f"endpoint/{serving_name(PLATFORM, OWN, 'staging')}")),
    ]:
        assert any(role.is_allowed(action, resource) for role in others), (action, resource)
    # Clarify's shadow endpoints of churn's explainability monitor, and the model it serves on them.
    shadow = f"{clarify_endpoint_prefix(production)}-1700000000-1a2b"
    for action, resource in [
        ("sagemaker:CreateEndpointConfig", _arn("sagemaker", f"endpoint-config/{shadow}")),
        ("sagemaker:CreateEndpoint", _arn("sagemaker", f"endpoint/{shadow}")),
        ("sagemaker:InvokeEndpoint", _arn("sagemaker", f"endpoint/{shadow}")),
        ("sagemaker:DeleteEndpoint", _arn("sagemaker", f"endpoint/{shadow}")),
        ("sagemaker:DescribeModel", _arn("sagemaker", f"model/{clarify_model_name(production, '7')}")),
        ("logs:PutLogEvents", _arn("logs", f"log-group:/aws/sagemaker/Endpoints/{shadow}:log-stream:a")),
    ]:
        assert any(role.is_allowed(action, resource) for role in others), (action, resource)
    explained = _arn("sagemaker", f"model/{clarify_model_name(production, '7')}")
    assert deployment.is_allowed("sagemaker:CreateModel", explained, **{f"aws:RequestTag/{MODEL_TAG}": OWN})
    job = _arn("sagemaker", "training-job/pipelines-1a2b3c-step-4d5e")
    assert any(
        role.is_allowed("sagemaker:CreateTrainingJob", job, **{f"aws:RequestTag/{MODEL_TAG}": OWN}) for role in others
    )
    assert any(
        role.is_allowed("sagemaker:StopTrainingJob", job, **{f"aws:ResourceTag/{MODEL_TAG}": OWN}) for role in others
    )


def test_untagged_or_foreign_tagged_generated_resources_are_out_of_reach(churn_roles: dict[str, Principal]) -> None:
    deployment = next(role for name, role in churn_roles.items() if "DeploymentRole" in name)
    model = _arn("sagemaker", "model/generated-1a2b3c")
    assert deployment.is_allowed("sagemaker:DeleteModel", model, **{f"aws:ResourceTag/{MODEL_TAG}": OWN})
    assert not deployment.is_allowed("sagemaker:DeleteModel", model)
    assert not deployment.is_allowed("sagemaker:CreateModel", model)
    assert not deployment.is_allowed("sagemaker:CreateModel", model, **{f"aws:RequestTag/{MODEL_TAG}": OTHER})


def test_no_role_can_retag_another_models_resource_as_its_own(churn_roles: dict[str, Principal]) -> None:
    """Asking for the own tag on a resource that carries the other model's: retagging, then acting on it."""
    hijack = {f"aws:ResourceTag/{MODEL_TAG}": OTHER, f"aws:RequestTag/{MODEL_TAG}": OWN}
    probes = [
        (resource, action) for resource, actions, context in owned_resources(OTHER) if context for action in actions
    ]
    assert any(action == "application-autoscaling:TagResource" for _, action in probes)
    assert sum(action == "sagemaker:AddTags" for _, action in probes) >= 6
    retags = [
        f"{name}: {action} on {resource}"
        for resource, action in probes
        for name, role in churn_roles.items()
        if role.is_allowed(action, resource, **hijack) and not _read_only_exception(name, action)
    ]
    assert retags == []
    # Creating (no tag yet) with the own tag is what CloudFormation and the pipeline do; that stays allowed.
    deployment = next(role for name, role in churn_roles.items() if "DeploymentRole" in name)
    creating = {f"aws:RequestTag/{MODEL_TAG}": OWN}
    assert deployment.is_allowed("sagemaker:AddTags", _arn("sagemaker", "model/generated-1a2b3c"), **creating)
    assert deployment.is_allowed(
        "application-autoscaling:TagResource", _arn("application-autoscaling", "scalable-target/1a2b"), **creating
    )


@pytest.mark.parametrize("name", ["churn-production", "staging", "a-staging-b"])
def test_a_model_name_with_a_stage_word_is_rejected_naming_the_field(tmp_path: Path, name: str) -> None:
    path = write_config(tmp_path, lambda config: config["models"][0].update(name=name))
    with pytest.raises(ConfigError, match=r"models\[0\]\.name: .*stage word"):
        load_config(path)


# --- The approval gate: one role for every model; each model grants it reads of that model's own reports ---


def _bucket_arn(model: str) -> str:
    return f"arn:aws:s3:::{model}-data-bucket"


def _gate_grant(platform_templates: dict[str, Template], model: str) -> Principal:
    """What `model`'s build stack grants the approval gate's role (imported from the approval stack), its
    data bucket's ARN taken for `_bucket_arn(model)`."""
    resources = platform_templates[f"{PLATFORM}-{model}-build"].to_json()["Resources"]
    [bucket] = [key for key, r in resources.items() if r["Type"] == "AWS::S3::Bucket" and key.startswith("ProjectData")]

    def rendered(node: Any) -> Any:
        if node == {"Fn::GetAtt": [bucket, "Arn"]}:
            return _bucket_arn(model)
        if isinstance(node, dict) and set(node) == {"Fn::Join"}:
            separator, parts = node["Fn::Join"]
            return separator.join(rendered(part) for part in parts)
        return node

    statements = [
        statement | {"Resource": rendered(statement["Resource"])}
        for r in resources.values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        and any("ApprovalGateHandlerRole" in str(role) for role in r["Properties"]["Roles"])
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements
    return Principal(identity_statements=statements, boundary_statements=None)


@pytest.mark.parametrize(("own", "other"), [(OWN, OTHER), (OTHER, OWN)])
def test_a_models_grant_to_the_gate_reads_its_own_reports_and_their_versions_only(
    platform_templates: dict[str, Template], own: str, other: str
) -> None:
    gate = _gate_grant(platform_templates, own)
    report = f"{own}/pipelines/execution-1/evaluation/evaluation.json"
    for action in ("s3:GetObject", "s3:GetObjectVersion"):
        assert gate.is_allowed(action, f"{_bucket_arn(own)}/{report}")
    assert gate.is_allowed("s3:ListBucketVersions", _bucket_arn(own), **{"s3:prefix": report})

    elsewhere = f"{other}/pipelines/execution-1/evaluation/evaluation.json"
    for bucket in (_bucket_arn(own), _bucket_arn(other)):
        for action in ("s3:GetObject", "s3:GetObjectVersion"):
            assert not gate.is_allowed(action, f"{bucket}/{elsewhere}")
        assert not gate.is_allowed("s3:ListBucketVersions", bucket, **{"s3:prefix": elsewhere})
    # Not the whole bucket's versions, nor the model's other data (its trained models, say).
    assert not gate.is_allowed("s3:ListBucketVersions", _bucket_arn(own))
    assert not gate.is_allowed("s3:GetObjectVersion", f"{_bucket_arn(own)}/{own}/models/job-1/output/model.tar.gz")
