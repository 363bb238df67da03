"""ApprovalGate / ApprovalStack: the rule, its target, the DLQ and alarms, and the gate's least privilege;
ModelRegistration: how each model's deploy stack registers the model the gate finds.

The gate's behaviour on events is tested in tests/lambdas/test_approval_gate.py; this file checks
the wiring that delivers those events, the registrations it reads and the permissions it runs with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnElement, Environment, Stack
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from config.schema import ModelConfig, PlatformConfig
from lambdas.common.contracts import model_registration_parameter, serving_name
from mlops_constructs.approval_gate import ApprovalGate, GatedModel
from mlops_constructs.compliance import rule_packs
from tests.conftest import Synthesized, cdk_json_context
from tests.iam_evaluation import Principal, render, role_principal

ACCOUNT, REGION = "123456789012", "eu-west-1"
KEY_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputFnGetAttPlatformKey1C4A1A63Arn1AD0FED1"}
TOPIC_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputRefAlertsTopicCF7C81C9D535FDD6"}
FUNCTION = "ApprovalGateHandlerFunction3BCAAC94"
ROLE = "ApprovalGateHandlerRole990CDAFA"
QUEUE = "ApprovalGateHandlerDeadLetterQueueBE61B8DB"
# EventBridge's undeliverable events: a queue of their own (they redrive differently from QUEUE's records).
EVENT_QUEUE = "ApprovalGateHandlerEventDeadLetterQueueC0D71672"
TABLE = "ApprovalGateIdempotencyTableA0560F66"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/7"
# The deploy pipeline's generated name, as the approval stack imports it from the deploy stack.
DEPLOY_PIPELINE_EXPORT = "mlops-churn-deploy:ExportsOutputRefDeployPipeline74E14360299C0B95"
IMPORTS = {DEPLOY_PIPELINE_EXPORT: "mlops-churn-deploy-DeployPipeline-ABC123"}


def of_type(template: Template, resource_type: str) -> Mapping[str, Any]:
    return template.find_resources(resource_type)


def properties(template: Template, logical_id: str) -> dict[str, Any]:
    return template.to_json()["Resources"][logical_id]["Properties"]


def test_every_groups_package_state_changes_reach_the_gate(approval: Template) -> None:
    """Not only the configured groups': a model registered later (a SageMaker Project) must reach the
    gate without this rule changing; the gate ignores the groups no model registered."""
    rule = next(iter(of_type(approval, "AWS::Events::Rule").values()))["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
    }
    assert "EventBusName" not in rule, "SageMaker emits to the default bus"


def test_delivery_retries_then_dead_letters(approval: Template) -> None:
    rule = next(iter(of_type(approval, "AWS::Events::Rule").values()))["Properties"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [EVENT_QUEUE, "Arn"]}}
    invoke_config = next(iter(of_type(approval, "AWS::Lambda::EventInvokeConfig").values()))["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == 2
    assert invoke_config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [QUEUE, "Arn"]}}}


def test_dead_letter_queue_is_encrypted_tls_only_and_retained(approval: Template) -> None:
    queue = approval.to_json()["Resources"][QUEUE]
    assert queue["DeletionPolicy"] == "Retain"
    assert queue["Properties"]["KmsMasterKeyId"] == KEY_IMPORT
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    approval.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


@pytest.mark.parametrize(
    ("alarm_prefix", "metric_name", "namespace"),
    [
        ("ApprovalGateHandlerDeadLetterAlarm", "ApproximateNumberOfMessagesVisible", "AWS/SQS"),
        ("ApprovalGateHandlerEventDeadLetterAlarm", "ApproximateNumberOfMessagesVisible", "AWS/SQS"),
        ("ApprovalGateHandlerErrorAlarm", "Errors", "AWS/Lambda"),
    ],
)
def test_alarms_alert_the_topic(approval: Template, alarm_prefix: str, metric_name: str, namespace: str) -> None:
    alarm = next(
        v["Properties"] for k, v in of_type(approval, "AWS::CloudWatch::Alarm").items() if k.startswith(alarm_prefix)
    )
    assert (alarm["MetricName"], alarm["Namespace"]) == (metric_name, namespace)
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [TOPIC_IMPORT]


def test_function_runs_the_handler_with_powertools_tracing_and_its_contract(approval: Template) -> None:
    function = properties(approval, FUNCTION)
    assert function["Handler"] == "lambdas.approval_gate.handler.handler"
    assert function["Runtime"] == "python3.13"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["ReservedConcurrentExecutions"] == 5
    assert function["KmsKeyArn"] == KEY_IMPORT
    # The layer of the pinned Powertools release (tests/lambdas/test_function_assets.py checks which).
    (layer,) = function["Layers"]
    assert set(layer) == {"Ref"}
    variables = function["Environment"]["Variables"]
    # The gate knows no model by itself: it reads each group's registration under this prefix.
    assert variables["MODEL_REGISTRY_PREFIX"] == "/mlops/models/"
    assert "MODELS_CONFIG" not in variables
    assert variables["ALERT_TOPIC_ARN"] == TOPIC_IMPORT
    assert variables["IDEMPOTENCY_TABLE_NAME"] == {"Ref": TABLE}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "approval-gate"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "MLOps/ApprovalGate"
    log_group = properties(approval, function["LoggingConfig"]["LogGroup"]["Ref"])
    assert (log_group["KmsKeyId"], log_group["RetentionInDays"]) == (KEY_IMPORT, 365)


def test_environment_satisfies_the_handlers_settings_model(approval: Template) -> None:
    """The CDK side and the handler agree on the environment: the handler's own model parses it."""
    from lambdas.approval_gate.models import GateSettings

    variables = properties(approval, FUNCTION)["Environment"]["Variables"]
    # Values CloudFormation resolves at deploy time, replaced by what they resolve to.
    deploy_time_values = {
        "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-governance-AlertsTopic",
        "IDEMPOTENCY_TABLE_NAME": "mlops-approval-IdempotencyTable",
        "AUDIT_EVENT_BUS_NAME": "mlops-audit",
    }
    # What the Lambda runtime sets itself.
    runtime = {"AWS_LAMBDA_FUNCTION_NAME": "mlops-approval-ApprovalGateHandler"}
    deploy_time_values["GATE_ROLE_NAME"] = "mlops-approval-ApprovalGateHandlerRole"
    rendered = {name: render(value, IMPORTS) for name, value in variables.items()} | runtime
    assert {name for name, value in rendered.items() if not isinstance(value, str)} <= set(deploy_time_values)
    settings = GateSettings.from_env(
        {name: value if isinstance(value, str) else deploy_time_values[name] for name, value in rendered.items()}
    )
    assert settings.model_registry_prefix == "/mlops/models/"


def test_idempotency_table_expires_records_and_is_encrypted(approval: Template) -> None:
    table = approval.to_json()["Resources"][TABLE]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["Properties"]["SSESpecification"]["SSEType"] == "KMS"
    replica = table["Properties"]["Replicas"][0]
    assert replica["SSESpecification"] == {"KMSMasterKeyId": KEY_IMPORT}
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


# --- least privilege ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gate_role(approval: Template, governance: Template):
    return role_principal(approval, ROLE, boundary_from=governance, imports=IMPORTS)


def test_gate_can_read_and_reject_only_the_gated_groups(gate_role) -> None:
    assert gate_role.tags["mlops:model-approver"] == "true", "the boundary lets only approvers change a status"
    assert gate_role.is_allowed("sagemaker:DescribeModelPackage", PACKAGE)
    assert gate_role.is_allowed("sagemaker:UpdateModelPackage", PACKAGE)
    other = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/fraud/1"
    assert not gate_role.is_allowed("sagemaker:UpdateModelPackage", other)
    assert not gate_role.is_allowed(
        "sagemaker:CreateModelPackage", PACKAGE, **{"sagemaker:ModelApprovalStatus": "Approved"}
    )


def test_gate_starts_only_the_models_deploy_pipeline(gate_role) -> None:
    deploy = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{IMPORTS[DEPLOY_PIPELINE_EXPORT]}"
    assert gate_role.is_allowed("codepipeline:StartPipelineExecution", deploy)
    assert not gate_role.is_allowed(
        "codepipeline:StartPipelineExecution", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:other"
    )


def test_gate_reads_the_registrations_and_nothing_else_in_parameter_store(approval: Template, gate_role) -> None:
    statements = properties(approval, "ApprovalGateHandlerRoleDefaultPolicyA8E6058F")["PolicyDocument"]["Statement"]
    [statement] = [s for s in statements if s.get("Sid") == "ReadTheModelRegistrations"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "ssm:GetParameter")
    assert statement["Resource"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mlops/models/*"
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
    assert gate_role.is_allowed("ssm:GetParameter", f"{parameter}/mlops/models/churn")
    assert gate_role.is_allowed("ssm:GetParameter", f"{parameter}/mlops/models/a-project-model")
    for other in ("/mlops/churn/data-bucket", "/other-platform/models/churn", "/mlops/modelsx"):
        assert not gate_role.is_allowed("ssm:GetParameter", f"{parameter}{other}")
    for write in ("PutParameter", "DeleteParameter", "LabelParameterVersion"):
        assert not gate_role.is_allowed(f"ssm:{write}", f"{parameter}/mlops/models/churn")


def test_gate_reads_what_the_models_production_endpoint_serves_and_changes_nothing_there(gate_role) -> None:
    sagemaker = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    assert gate_role.is_allowed("sagemaker:DescribeEndpoint", f"{sagemaker}:endpoint/mlops-churn-production")
    assert not gate_role.is_allowed("sagemaker:DescribeEndpoint", f"{sagemaker}:endpoint/mlops-fraud-production")
    assert gate_role.is_allowed("sagemaker:DescribeEndpointConfig", f"{sagemaker}:endpoint-config/any-config")
    assert gate_role.is_allowed("sagemaker:DescribeModel", f"{sagemaker}:model/any-model")
    for change in ("UpdateEndpoint", "UpdateEndpointWeightsAndCapacities", "DeleteEndpoint", "CreateModel"):
        assert not gate_role.is_allowed(f"sagemaker:{change}", f"{sagemaker}:endpoint/mlops-churn-production")
    # A real-time model's production is its endpoint: the gate has no business with its stack.
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/mlops-churn-production/1a2b"
    assert not gate_role.is_allowed("cloudformation:DescribeStacks", stack)


def test_gate_has_no_wildcard_actions_and_no_pass_role(approval: Template) -> None:
    statements = properties(approval, "ApprovalGateHandlerRoleDefaultPolicyA8E6058F")["PolicyDocument"]["Statement"]
    actions = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert not any(action == "*" or action.endswith(":*") for action in actions)
    assert "iam:PassRole" not in actions
    assert {
        "sns:Publish",
        "events:PutEvents",
        "codepipeline:StartPipelineExecution",
        "sagemaker:UpdateModelPackage",
    } <= set(actions)


def test_gate_reads_evaluation_reports_through_the_model_project(churn_build: Template) -> None:
    policy = next(
        v["Properties"]
        for k, v in of_type(churn_build, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("ProjectPipelineOutputReadersmlopsapproval")
    )
    assert policy["Roles"] == [
        {"Fn::ImportValue": "mlops-approval:ExportsOutputRefApprovalGateHandlerRole990CDAFAEA478FA3"}
    ]
    bucket = {"Fn::GetAtt": ["ProjectDataBucket2B516496", "Arn"]}
    outputs = {"Fn::Join": ["", [bucket, "/churn/pipelines/*"]]}
    # The reports, and their versions: the gate judges a package on them as they were when it was registered.
    assert policy["PolicyDocument"]["Statement"] == [
        {"Sid": "ReadObjects", "Effect": "Allow", "Action": "s3:GetObject", "Resource": outputs},
        {"Sid": "ReadReportVersions", "Effect": "Allow", "Action": "s3:GetObjectVersion", "Resource": outputs},
        {
            "Sid": "ListReportVersions",
            "Effect": "Allow",
            "Action": "s3:ListBucketVersions",
            "Resource": bucket,
            "Condition": {"StringLike": {"s3:prefix": "churn/pipelines/*"}},
        },
    ]


def test_a_projects_gate_grant_lists_and_reads_report_versions_under_its_own_pipeline_outputs(
    synthesized: Synthesized,
) -> None:
    """The same for a SageMaker Project's model, in the one policy its template attaches to the gate's role."""
    assert synthesized.platform.projects is not None
    for product in synthesized.platform.projects.templates.values():
        [path] = Path(synthesized.assembly.directory).glob(f"*{product.node.id}*.product.template.json")
        resources = json.loads(path.read_text())["Resources"]
        [policy] = [v for k, v in resources.items() if k.startswith("ApprovalGateAccess")]
        [bucket] = [k for k, v in resources.items() if v["Type"] == "AWS::S3::Bucket" and k.startswith("ProjectData")]
        arn = {"Fn::GetAtt": [bucket, "Arn"]}
        outputs = {"Fn::Join": ["", [arn, "/", {"Ref": "SageMakerProjectName"}, "/pipelines/*"]]}
        statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
        assert statements["ReadReportVersions"] == {
            "Sid": "ReadReportVersions",
            "Effect": "Allow",
            "Action": "s3:GetObjectVersion",
            "Resource": outputs,
        }
        assert statements["ListReportVersions"] == {
            "Sid": "ListReportVersions",
            "Effect": "Allow",
            "Action": "s3:ListBucketVersions",
            "Resource": arn,
            "Condition": {
                "StringLike": {"s3:prefix": {"Fn::Join": ["", [{"Ref": "SageMakerProjectName"}, "/pipelines/*"]]}}
            },
        }


def test_outputs(approval: Template) -> None:
    assert {name for name in approval.find_outputs("*") if not name.startswith("ExportsOutput")} == {
        "ApprovalGateFunctionName",
        "ApprovalGateDeadLetterQueueUrl",
    }


# --- Batch models: production is a serving stack, read instead of an endpoint ----------------------

# A batch regressor gated on an error (lower is better): its production is a serving stack.
FORECAST = ModelConfig.model_validate(
    {
        "name": "forecast",
        "description": "Scores next week's demand every night.",
        "problem_type": "regression",
        "metric": {"name": "mae", "threshold": 5.0},
        "serving": {"mode": "batch", "batch": {"schedule_expression": "cron(0 2 * * ? *)"}},
    }
)
SAGEMAKER = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
CLOUDFORMATION = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}"


def _gate_of(models: list[ModelConfig]) -> tuple[App, Template]:
    """The gate of these models alone, in a stack of its own (what it needs, made there)."""
    app = App(context=cdk_json_context())
    stack = Stack(app, "Probe", env=Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key")
    gated = [
        GatedModel(
            model=model,
            model_package_group_name=model.name,
            deploy_pipeline=codepipeline.Pipeline.from_pipeline_arn(
                stack, f"{model.name}-deploy", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{model.name}-deploy"
            ),
            production_serving_name=serving_name("mlops", model.name, "production"),
        )
        for model in models
    ]
    ApprovalGate(
        stack,
        "ApprovalGate",
        platform_name="mlops",
        models=gated,
        encryption_key=key,
        alert_topic=sns.Topic(stack, "Topic", master_key=key),
        audit_bus=events.EventBus(stack, "Bus"),
        log_retention=logs.RetentionDays.ONE_YEAR,
    )
    return app, Template.from_stack(stack)


@pytest.fixture(scope="module")
def mixed_gate(default_config: PlatformConfig) -> tuple[App, Template]:
    return _gate_of([default_config.models[0], FORECAST])


@pytest.fixture(scope="module")
def mixed_gate_role(mixed_gate: tuple[App, Template]) -> Principal:
    return role_principal(mixed_gate[1], ROLE)


def test_the_gate_reads_a_batch_models_production_stack_and_only_that(mixed_gate_role: Principal) -> None:
    role = mixed_gate_role
    assert role.is_allowed("cloudformation:DescribeStacks", f"{CLOUDFORMATION}:stack/mlops-forecast-production/1a2b")
    for other in ("mlops-forecast-production-v2", "mlops-churn-production", "mlops-forecast-staging"):
        assert not role.is_allowed("cloudformation:DescribeStacks", f"{CLOUDFORMATION}:stack/{other}/1a2b")
    for change in ("UpdateStack", "DeleteStack", "CreateChangeSet"):
        assert not role.is_allowed(f"cloudformation:{change}", f"{CLOUDFORMATION}:stack/mlops-forecast-production/1a2b")
    # The batch model has no endpoint to read; the real-time one keeps its own.
    assert not role.is_allowed("sagemaker:DescribeEndpoint", f"{SAGEMAKER}:endpoint/mlops-forecast-production")
    assert role.is_allowed("sagemaker:DescribeEndpoint", f"{SAGEMAKER}:endpoint/mlops-churn-production")


def test_a_gate_of_batch_models_only_reads_no_endpoint() -> None:
    _, template = _gate_of([FORECAST])
    role = role_principal(template, ROLE)
    assert role.is_allowed("cloudformation:DescribeStacks", f"{CLOUDFORMATION}:stack/mlops-forecast-production/1a2b")
    for action in ("DescribeEndpoint", "DescribeEndpointConfig", "DescribeModel"):
        assert not role.is_allowed(f"sagemaker:{action}", f"{SAGEMAKER}:*")


def test_the_batch_grants_pass_the_rule_packs(mixed_gate: tuple[App, Template]) -> None:
    app, _ = mixed_gate
    findings = [
        f"{violation.rule_name} at {resource.construct_path}"
        for pack in rule_packs(app)
        for violation in pack.validate_scope(app).violations
        for resource in violation.violating_resources
        if (resource.construct_path or "").startswith("Probe/ApprovalGate/")
    ]
    assert findings == []


# --- Registrations: each model's deploy stack registers what the gate needs to know of it ----------------

# What each configured model's registration says (the deploy pipeline's name aside: generated by CloudFormation).
REGISTRATIONS = {
    # churn of the default config blocks on bias; the example's churn has no Clarify checks.
    "churn": ("auc", 0.75, "higher_is_better", "realtime"),
    "demand": ("rmse", 12.0, "lower_is_better", "realtime"),
    "ticket-routing": ("weighted_f1", 0.7, "higher_is_better", "realtime"),
    "renewals": ("auc", 0.7, "higher_is_better", "batch"),
}
BIAS_POLICIES = {"synthesized": {"churn": "block"}, "any_model": {"demand": "report"}}


def _registration(synthesized: Synthesized, model_name: str) -> dict[str, Any]:
    """The registration parameter of a model's deploy stack, its value rendered with the deploy pipeline's
    Ref replaced by the name CloudFormation gives the pipeline."""
    stack = synthesized.platform.model_deploys[model_name]
    pipeline = stack.deploy.pipeline.node.default_child
    assert isinstance(pipeline, CfnElement)
    pipeline_name = f"{model_name}-deploy-pipeline-ABC123"
    [parameter] = [
        resource["Properties"]
        for resource in of_type(synthesized.template(stack), "AWS::SSM::Parameter").values()
        if resource["Properties"]["Name"] == model_registration_parameter("mlops", model_name)
    ]
    separator, parts = parameter["Value"]["Fn::Join"]
    rendered = [pipeline_name if part == {"Ref": stack.get_logical_id(pipeline)} else part for part in parts]
    return {**parameter, "Value": json.loads(separator.join(rendered)), "PipelineName": pipeline_name}


@pytest.mark.parametrize("configuration", ["synthesized", "any_model"])
def test_each_configured_model_registers_exactly_what_the_gate_needs(
    configuration: str, request: pytest.FixtureRequest
) -> None:
    from lambdas.approval_gate.models import ModelGate

    synthesized: Synthesized = request.getfixturevalue(configuration)
    models = list(synthesized.platform.model_deploys)
    assert models == (["churn"] if configuration == "synthesized" else list(REGISTRATIONS))
    for model_name in models:
        registration = _registration(synthesized, model_name)
        metric, threshold, direction, serving_mode = REGISTRATIONS[model_name]
        assert registration["Value"] == {
            "model_name": model_name,
            "deploy_pipeline_name": registration["PipelineName"],
            "metric_name": metric,
            "threshold": threshold,
            "metric_direction": direction,
            "serving_mode": serving_mode,
            "production_serving_name": f"mlops-{model_name}-production",
            "bias_policy": BIAS_POLICIES[configuration].get(model_name, "none"),
        }
        assert (registration["Type"], registration["Tier"]) == ("String", "Standard")
        assert registration["Description"] == f"Registers model '{model_name}' with the platform's approval gate"
        # The gate's own model reads it as it is written.
        ModelGate.model_validate(registration["Value"])


def test_the_registration_is_the_deploy_stacks_and_the_gate_reads_it_by_name(synthesized: Synthesized) -> None:
    """No cross-stack reference: the approval stack does not depend on the registration, and the gate's
    prefix is the one the registrations are written under."""
    approval = synthesized.template(synthesized.platform.approval)
    variables = properties(approval, FUNCTION)["Environment"]["Variables"]
    parameter = model_registration_parameter("mlops", "churn")
    assert parameter == f"{variables['MODEL_REGISTRY_PREFIX']}churn"
    assert parameter not in json.dumps(approval.to_json())
