"""The serving accounts' stacks (`<platform>-target-<stage>`) of config/examples/several-accounts.yaml.

Only the target stacks are built, once for the module, into an App that runs the compliance packs at
synth (any unacknowledged cdk-nag finding fails the fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from config import DEFAULT_CONFIG_PATH, PlatformConfig, load_config
from lambdas.common.contracts import STAGES, TARGET_ROLE_KINDS, Stage, serving_boundary_name, serving_name
from mlops_constructs.accounts import ServingAccount, serving_accounts
from mlops_constructs.compliance import add_compliance_checks, rule_packs
from mlops_constructs.target.model_roles import STAGE_ROLE_KINDS
from mlops_constructs.target_account import BOOTSTRAP_QUALIFIER_CONTEXT, bootstrap_qualifier, record_preprocessor_url
from stacks.target_stack import TargetStack, build_targets
from tests.conftest import ROOT, cdk_json_context, lint_for
from tests.iam_evaluation import Principal, role_principal
from tests.template_lint import TemplateLint

SEVERAL_ACCOUNTS = ROOT / "config" / "examples" / "several-accounts.yaml"
TOOLING, STAGING, PRODUCTION, REGION = "123456789012", "222222222222", "333333333333", "eu-west-1"
ACCOUNT_OF: dict[Stage, str] = {"staging": STAGING, "production": PRODUCTION}
MODEL = "churn"


class Targets:
    def __init__(self, tmp: Path) -> None:
        self.config: PlatformConfig = load_config(SEVERAL_ACCOUNTS)
        self.app = App(context=cdk_json_context(), outdir=str(tmp))
        add_compliance_checks(self.app)
        self.stacks = build_targets(dict.fromkeys(STAGES, self.app), self.config)
        self.assembly = self.app.synth()
        self.raw = {
            stage: self.assembly.get_stack_by_name(stack.stack_name).template for stage, stack in self.stacks.items()
        }
        self.templates = {
            stage: Template.from_json(_render(raw, raw["Resources"], stage)) for stage, raw in self.raw.items()
        }
        self.accounts = serving_accounts(self.config)
        self.template_files = [Path(self.assembly.directory) / stack.template_file for stack in self.stacks.values()]

    def role_id(self, stage: Stage, kind: str, model: str = MODEL) -> str:
        name = self.accounts[stage].role_name(model, kind)  # type: ignore[arg-type]
        found = self.templates[stage].find_resources("AWS::IAM::Role", {"Properties": {"RoleName": name}})
        assert len(found) == 1, f"{name}: {list(found)}"
        return next(iter(found))

    def principal(self, stage: Stage, kind: str) -> Principal:
        return role_principal(self.templates[stage], self.role_id(stage, kind))

    def role(self, stage: Stage, kind: str) -> dict[str, Any]:
        return self.templates[stage].to_json()["Resources"][self.role_id(stage, kind)]["Properties"]


def _render(node: Any, resources: dict[str, Any], stage: Stage) -> Any:
    """The template with the partition, the role and bucket ARNs of physically named resources (and the key's,
    as a placeholder) written out, so the IAM evaluator can match them."""
    if isinstance(node, list):
        return [_render(item, resources, stage) for item in node]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": "AWS::Partition"}:
        return "aws"
    if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][1] == "Arn":
        resource = resources.get(node["Fn::GetAtt"][0], {})
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::IAM::Role" and "RoleName" in properties:
            return f"arn:aws:iam::{ACCOUNT_OF[stage]}:role/{properties['RoleName']}"
        if resource.get("Type") == "AWS::S3::Bucket" and "BucketName" in properties:
            return f"arn:aws:s3:::{properties['BucketName']}"
        if resource.get("Type") == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT_OF[stage]}:key/serving"
    rendered = {key: _render(value, resources, stage) for key, value in node.items()}
    if set(rendered) == {"Fn::Join"}:
        separator, parts = rendered["Fn::Join"]
        if all(isinstance(part, str) for part in parts):
            return separator.join(parts)
    return rendered


@pytest.fixture(scope="session")  # kept for its cfn-lint test, which runs last (marked background)
def targets(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Targets:
    targets = Targets(tmp_path_factory.mktemp("targets.out"))
    lint_for(request, "test_the_target_templates_pass_cfn_lint", targets.template_files)
    return targets


def _arn(stage: Stage, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_OF[stage]}:{resource}"


def _endpoint(stage: Stage, of_stage: Stage, model: str = MODEL) -> str:
    """The endpoint of `of_stage` as it would be named in `stage`'s account."""
    return _arn(stage, "sagemaker", f"endpoint/{serving_name('mlops', model, of_stage)}")


# --- the stacks -------------------------------------------------------------------------------------


def test_one_stack_per_remote_stage_in_its_account_and_the_platforms_region(targets: Targets) -> None:
    assert set(targets.stacks) == {"staging", "production"}
    for stage, stack in targets.stacks.items():
        assert isinstance(stack, TargetStack)
        assert (stack.stack_name, stack.node.id) == (f"mlops-target-{stage}",) * 2
        assert (stack.account, stack.region) == (ACCOUNT_OF[stage], REGION)
        assert stack.termination_protection
        assert stack.serving_account == targets.accounts[stage]


def test_a_single_account_platform_has_no_target_stack() -> None:
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.environment.remote_stages() == []
    assert build_targets(dict.fromkeys(STAGES, App()), config) == {}


def test_every_role_carries_the_serving_accounts_boundary_by_its_contract_name(targets: Targets) -> None:
    for stage, template in targets.templates.items():
        boundaries = template.find_resources(
            "AWS::IAM::ManagedPolicy", {"Properties": {"Description": Match.string_like_regexp("Permissions boundary")}}
        )
        assert len(boundaries) == 1
        boundary_id = next(iter(boundaries))
        name = serving_boundary_name("mlops", stage)
        assert name == f"mlops-{'stg' if stage == 'staging' else 'prd'}-boundary"
        assert boundaries[boundary_id]["Properties"]["ManagedPolicyName"] == name
        roles = template.find_resources("AWS::IAM::Role")
        assert roles
        assert all(role["Properties"]["PermissionsBoundary"] == {"Ref": boundary_id} for role in roles.values())


def test_key_and_buckets_are_retained_and_the_serving_bucket_is_named_and_encrypted(targets: Targets) -> None:
    for stage, template in targets.templates.items():
        account = targets.accounts[stage]
        template.has_resource(
            "AWS::KMS::Key",
            {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {"EnableKeyRotation": True}},
        )
        template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/mlops/{stage}-serving"})
        buckets = template.find_resources("AWS::S3::Bucket")
        assert len(buckets) == 2
        assert all(bucket["DeletionPolicy"] == "Retain" for bucket in buckets.values())
        template.has_resource_properties(
            "AWS::S3::Bucket",
            {
                "BucketName": f"mlops-{'stg' if stage == 'staging' else 'prd'}-serving-{ACCOUNT_OF[stage]}-{REGION}",
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        Match.object_like(
                            {
                                "ServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "aws:kms",
                                    "KMSMasterKeyID": f"arn:aws:kms:{REGION}:{ACCOUNT_OF[stage]}:key/serving",
                                }
                            }
                        )
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {
                    "Rules": [Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 90}})]
                },
                "LoggingConfiguration": Match.object_like({"LogFilePrefix": "serving-bucket/"}),
            },
        )
        assert (
            account.bucket_name
            == f"mlops-{'stg' if stage == 'staging' else 'prd'}-serving-{ACCOUNT_OF[stage]}-{REGION}"
        )


def test_alert_topic_is_named_encrypted_and_alerted_by_the_budget(targets: Targets) -> None:
    for stage, template in targets.templates.items():
        template.has_resource_properties(
            "AWS::SNS::Topic", {"TopicName": f"mlops-{stage}-alerts", "KmsMasterKeyId": Match.any_value()}
        )
        topic_id = next(iter(template.find_resources("AWS::SNS::Topic")))
        template.has_resource_properties(
            "AWS::Budgets::Budget",
            {
                "Budget": Match.object_like({"BudgetLimit": {"Amount": 1000, "Unit": "USD"}, "TimeUnit": "MONTHLY"}),
                "NotificationsWithSubscribers": Match.array_with(
                    [Match.object_like({"Subscribers": [{"SubscriptionType": "SNS", "Address": {"Ref": topic_id}}]})]
                ),
            },
        )


# --- event forwarding -------------------------------------------------------------------------------


def test_serving_events_are_forwarded_to_the_tooling_accounts_default_bus(targets: Targets) -> None:
    for stage, template in targets.templates.items():
        forwarder = template.find_resources(
            "AWS::IAM::Role", {"Properties": {"RoleName": f"mlops-{'stg' if stage == 'staging' else 'prd'}-events"}}
        )
        assert len(forwarder) == 1
        forwarder_id = next(iter(forwarder))
        rules = template.find_resources("AWS::Events::Rule")
        patterns = {json.dumps(rule["Properties"]["EventPattern"], sort_keys=True) for rule in rules.values()}
        assert patterns == {
            json.dumps(pattern, sort_keys=True)
            for pattern in [
                {
                    "source": ["aws.cloudwatch"],
                    "detail-type": ["CloudWatch Alarm State Change"],
                    "detail": {"alarmName": [{"prefix": "mlops-"}]},
                },
                {
                    "source": ["aws.sagemaker"],
                    "detail-type": ["SageMaker Processing Job State Change"],
                    "detail": {
                        "MonitoringScheduleArn": [{"prefix": _arn(stage, "sagemaker", "monitoring-schedule/mlops-")}]
                    },
                },
                {
                    "source": ["aws.sagemaker"],
                    "detail-type": ["SageMaker Endpoint State Change"],
                    "detail": {"EndpointName": [{"prefix": "mlops-"}]},
                },
            ]
        }
        queue_id = next(iter(template.find_resources("AWS::SQS::Queue")))
        for rule in rules.values():
            (target,) = rule["Properties"]["Targets"]
            assert target["Arn"] == f"arn:aws:events:{REGION}:{TOOLING}:event-bus/default"
            assert (
                target["RoleArn"]
                == f"arn:aws:iam::{ACCOUNT_OF[stage]}:role/mlops-{'stg' if stage == 'staging' else 'prd'}-events"
            )
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
            assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600}
        forwarder_policy = role_principal(template, forwarder_id)
        assert forwarder_policy.is_allowed("events:PutEvents", f"arn:aws:events:{REGION}:{TOOLING}:event-bus/default")
        assert not forwarder_policy.is_allowed(
            "events:PutEvents", f"arn:aws:events:{REGION}:{TOOLING}:event-bus/mlops-audit"
        )
        assert forwarder[forwarder_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_OF[stage]}},
            }
        ]
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {"Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]},
        )


# --- the model's roles ------------------------------------------------------------------------------


def test_each_stage_has_the_models_roles_by_their_contract_names(targets: Targets) -> None:
    expected = {"staging": set(TARGET_ROLE_KINDS) - {"mon", "steer"}, "production": set(TARGET_ROLE_KINDS)}
    for stage, template in targets.templates.items():
        names = {role["Properties"].get("RoleName") for role in template.find_resources("AWS::IAM::Role").values()}
        account = targets.accounts[stage]
        assert {kind for kind in TARGET_ROLE_KINDS if account.role_name(MODEL, kind) in names} == expected[stage]
        assert set(STAGE_ROLE_KINDS[stage]) == expected[stage]
        model_roles = {name for name in names if name and name.startswith(f"mlops-{MODEL}-")}
        assert model_roles == {account.role_name(MODEL, kind) for kind in STAGE_ROLE_KINDS[stage]}


def _trusted_principal_arns(role: dict[str, Any]) -> tuple[Any, list[str]]:
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Effect"] == "Allow"
    assert set(statement["Condition"]) == {"ArnEquals"}
    arns = statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    return statement["Principal"], sorted(arns if isinstance(arns, list) else [arns])


@pytest.mark.parametrize(
    ("stage", "kind", "trusted"),
    [
        ("staging", "deploy", ["pipeline"]),
        ("production", "deploy", ["pipeline"]),
        ("staging", "ops", ["check"]),
        ("production", "ops", ["champion", "drift"]),
        ("production", "steer", ["shift"]),
    ],
)
def test_cross_account_roles_trust_exactly_the_tooling_roles_named(
    targets: Targets, stage: Stage, kind: str, trusted: list[str]
) -> None:
    principal, arns = _trusted_principal_arns(targets.role(stage, kind))
    assert principal == {"AWS": f"arn:aws:iam::{TOOLING}:root"}
    assert arns == sorted(f"arn:aws:iam::{TOOLING}:role/mlops-{MODEL}-{tooling}" for tooling in trusted)


@pytest.mark.parametrize("kind", ["serve", "mon", "cfn"])
def test_service_roles_trust_their_service_only(targets: Targets, kind: str) -> None:
    service = "cloudformation.amazonaws.com" if kind == "cfn" else "sagemaker.amazonaws.com"
    assert targets.role("production", kind)["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": service}}
    ]


def test_no_role_of_a_serving_account_changes_a_model_package(targets: Targets) -> None:
    for template in targets.templates.values():
        package = f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/{MODEL}/1"
        for role_id in template.find_resources("AWS::IAM::Role"):
            principal = role_principal(template, role_id)
            assert not principal.is_allowed("sagemaker:UpdateModelPackage", package), role_id
            # Not even one tagged as an approver: the serving accounts' boundary denies it unconditionally.
            principal.tags["mlops:model-approver"] = "true"
            assert not principal.is_allowed("sagemaker:UpdateModelPackage", package), role_id


def test_the_boundary_denies_package_changes_whatever_a_role_is_granted(targets: Targets) -> None:
    for template in targets.templates.values():
        (boundary,) = template.find_resources(
            "AWS::IAM::ManagedPolicy", {"Properties": {"Description": Match.string_like_regexp("Permissions boundary")}}
        ).values()
        everything = Principal(
            identity_statements=[{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            boundary_statements=boundary["Properties"]["PolicyDocument"]["Statement"],
            tags={"mlops:model-approver": "true"},
        )
        assert not everything.is_allowed(
            "sagemaker:UpdateModelPackage", f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/{MODEL}/1"
        )
        assert not everything.is_allowed("iam:PutRolePermissionsBoundary", "*")
        assert everything.is_allowed("sagemaker:DescribeEndpoint", "*")


def test_the_cfn_role_acts_on_its_models_resources_in_its_account_and_reads_the_tooling_registry(
    targets: Targets,
) -> None:
    for stage in STAGES:
        cfn = targets.principal(stage, "cfn")
        assert cfn.is_allowed("sagemaker:CreateEndpoint", _endpoint(stage, stage))
        assert not cfn.is_allowed("sagemaker:CreateEndpoint", _endpoint(stage, stage, model="churn-v2"))
        assert cfn.is_allowed(
            "sagemaker:DescribeModelPackage", f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/{MODEL}/3"
        )
        assert not cfn.is_allowed(
            "sagemaker:DescribeModelPackage", _arn(stage, "sagemaker", f"model-package/{MODEL}/3")
        )
        assert not cfn.is_allowed(
            "sagemaker:DescribeModelPackage", f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/churn-v2/3"
        )
        model = _arn(stage, "sagemaker", "model/generated-id")
        assert cfn.is_allowed("sagemaker:DeleteModel", model, **{"aws:ResourceTag/mlops:model": MODEL})
        assert not cfn.is_allowed("sagemaker:DeleteModel", model, **{"aws:ResourceTag/mlops:model": "churn-v2"})
        passed = [
            f"arn:aws:iam::{ACCOUNT_OF[stage]}:role/{targets.accounts[stage].role_name(MODEL, kind)}"
            for kind in ("serve", "mon")
        ]
        assert cfn.is_allowed("iam:PassRole", passed[0], **{"iam:PassedToService": "sagemaker.amazonaws.com"})
        assert cfn.is_allowed("iam:PassRole", passed[1], **{"iam:PassedToService": "sagemaker.amazonaws.com"}) == (
            stage == "production"
        )


@pytest.mark.parametrize("stage", STAGES)
def test_a_stages_roles_cannot_act_in_the_other_stages_account(targets: Targets, stage: Stage) -> None:
    other: Stage = "production" if stage == "staging" else "staging"
    cfn, ops = targets.principal(stage, "cfn"), targets.principal(stage, "ops")
    for endpoint_stage in STAGES:
        assert not cfn.is_allowed("sagemaker:UpdateEndpoint", _endpoint(other, endpoint_stage))
        assert not ops.is_allowed("sagemaker:DescribeEndpoint", _endpoint(other, endpoint_stage))
    assert ops.is_allowed("sagemaker:DescribeEndpoint", _endpoint(stage, stage))
    assert not ops.is_allowed("sagemaker:DescribeEndpoint", _endpoint(stage, other))
    assert not ops.is_allowed("sagemaker:DescribeEndpoint", _endpoint(stage, stage, model="churn-v2"))
    deploy = targets.principal(stage, "deploy")
    assert not deploy.is_allowed(
        "cloudformation:UpdateStack", _arn(other, "cloudformation", f"stack/mlops-{MODEL}-{other}/id")
    )
    assert not deploy.is_allowed(
        "cloudformation:UpdateStack", _arn(stage, "cloudformation", f"stack/mlops-{MODEL}-{other}/id")
    )
    assert deploy.is_allowed(
        "cloudformation:UpdateStack", _arn(stage, "cloudformation", f"stack/mlops-{MODEL}-{stage}/id")
    )
    assert deploy.is_allowed(
        "cloudformation:DeleteStack", _arn(stage, "cloudformation", f"stack/mlops-{MODEL}-{stage}/id")
    ) == (stage == "staging")


@pytest.mark.parametrize("stage", STAGES)
def test_the_deploy_role_passes_only_its_models_cfn_role(targets: Targets, stage: Stage) -> None:
    deploy = targets.principal(stage, "deploy")
    account = targets.accounts[stage]
    to_cloudformation = {"iam:PassedToService": "cloudformation.amazonaws.com"}

    def role_arn(name: str, in_account: str = ACCOUNT_OF[stage]) -> str:
        return f"arn:aws:iam::{in_account}:role/{name}"

    assert deploy.is_allowed("iam:PassRole", role_arn(account.role_name(MODEL, "cfn")), **to_cloudformation)
    assert not deploy.is_allowed(
        "iam:PassRole", role_arn(account.role_name(MODEL, "cfn")), **{"iam:PassedToService": "sagemaker.amazonaws.com"}
    )
    for kind in ("serve", "mon", "ops", "steer", "deploy"):
        assert not deploy.is_allowed("iam:PassRole", role_arn(account.role_name(MODEL, kind)), **to_cloudformation)
    assert not deploy.is_allowed("iam:PassRole", role_arn(account.role_name("churn-v2", "cfn")), **to_cloudformation)
    other: Stage = "production" if stage == "staging" else "staging"
    assert not deploy.is_allowed(
        "iam:PassRole",
        role_arn(targets.accounts[other].role_name(MODEL, "cfn"), ACCOUNT_OF[other]),
        **to_cloudformation,
    )


def test_the_deploy_role_reads_pipeline_artifacts_of_the_tooling_account_only(targets: Targets) -> None:
    deploy = targets.principal("staging", "deploy")
    artifact = "arn:aws:s3:::mlops-churn-deploy-artifacts-generated/DeployBundle/abc.zip"
    assert deploy.is_allowed("s3:GetObject", artifact, **{"aws:ResourceAccount": TOOLING})
    assert not deploy.is_allowed("s3:GetObject", artifact, **{"aws:ResourceAccount": STAGING})
    assert not deploy.is_allowed("s3:PutObject", artifact, **{"aws:ResourceAccount": TOOLING})
    statement = next(s for s in deploy.identity_statements if s.get("Sid") == "DecryptThePipelineArtifacts")
    assert statement["Resource"] == f"arn:aws:kms:{REGION}:{TOOLING}:key/*"
    assert statement["Condition"] == {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/mlops/platform"}}


def test_the_serving_role_reads_its_models_artifacts_in_the_tooling_account(targets: Targets) -> None:
    serve = targets.principal("production", "serve")
    tooling = {"aws:ResourceAccount": TOOLING}
    assert serve.is_allowed(
        "s3:GetObject", f"arn:aws:s3:::tooling-data-bucket/{MODEL}/models/job/output/model.tar.gz", **tooling
    )
    assert not serve.is_allowed(
        "s3:GetObject", "arn:aws:s3:::tooling-data-bucket/churn-v2/models/job/output/model.tar.gz", **tooling
    )
    assert not serve.is_allowed(
        "s3:GetObject", f"arn:aws:s3:::other/{MODEL}/models/x", **{"aws:ResourceAccount": "999999999999"}
    )
    key = next(s for s in serve.identity_statements if s.get("Sid") == "DecryptThemWithThePlatformKey")
    assert key["Action"] == "kms:Decrypt"
    assert key["Resource"] == f"arn:aws:kms:{REGION}:{TOOLING}:key/*"
    assert key["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/mlops/platform"},
    }
    bucket = f"arn:aws:s3:::{targets.accounts['production'].bucket_name}"
    assert serve.is_allowed("s3:PutObject", f"{bucket}/{MODEL}/production/variant/2024/01/01/00/capture.jsonl")
    assert not serve.is_allowed("s3:PutObject", f"{bucket}/churn-v2/production/x")


def test_the_monitoring_role_reads_baselines_captures_and_the_record_preprocessor(targets: Targets) -> None:
    stack = targets.stacks["production"]
    mon = targets.principal("production", "mon")
    tooling = {"aws:ResourceAccount": TOOLING}
    for prefix in ("pipelines/execution/baselines/constraints.json", "clarify/commit/analysis_config.json"):
        assert mon.is_allowed("s3:GetObject", f"arn:aws:s3:::tooling-data-bucket/{MODEL}/{prefix}", **tooling)
    assert not mon.is_allowed("s3:GetObject", "arn:aws:s3:::tooling-data-bucket/churn/models/x", **tooling)
    bucket = f"arn:aws:s3:::{targets.accounts['production'].bucket_name}"
    assert mon.is_allowed("s3:GetObject", f"{bucket}/{MODEL}/production/variant/capture.jsonl")
    assert mon.is_allowed("s3:GetObject", f"{bucket}/{MODEL}/monitoring/clarify-configs/model_explainability-3.json")
    assert mon.is_allowed("s3:PutObject", f"{bucket}/{MODEL}/monitoring/schedule/report.json")
    url = stack.record_preprocessor_url
    assert url.startswith(f"s3://cdk-hnb659fds-assets-{PRODUCTION}-{REGION}/")
    assert url.endswith(".py")
    assert mon.is_allowed("s3:GetObject", "arn:aws:s3:::" + url.removeprefix("s3://"))
    assert not mon.is_allowed("s3:GetObject", f"arn:aws:s3:::cdk-hnb659fds-assets-{PRODUCTION}-{REGION}/other.py")


def test_the_record_preprocessor_url_is_computed_without_the_stack(targets: Targets) -> None:
    for stage, stack in targets.stacks.items():
        assert record_preprocessor_url(targets.accounts[stage]) == stack.record_preprocessor_url
    other = ServingAccount(
        platform_name="mlops", stage="production", account="444444444444", region="us-east-1", tooling_account=TOOLING
    )
    assert record_preprocessor_url(other).startswith("s3://cdk-hnb659fds-assets-444444444444-us-east-1/")


def test_the_record_preprocessor_url_follows_the_apps_bootstrap_qualifier(tmp_path: Path) -> None:
    config = load_config(SEVERAL_ACCOUNTS)
    app = App(context=cdk_json_context() | {BOOTSTRAP_QUALIFIER_CONTEXT: "custom123"}, outdir=str(tmp_path))
    stacks = build_targets(dict.fromkeys(STAGES, app), config)
    for stage, stack in stacks.items():
        assert bootstrap_qualifier(stack) == "custom123"
        url = record_preprocessor_url(stack.serving_account, qualifier=bootstrap_qualifier(stack))
        assert url == stack.resolve(stack.record_preprocessor_url)
        assert url.startswith(f"s3://cdk-custom123-assets-{ACCOUNT_OF[stage]}-{REGION}/")
        assert record_preprocessor_url(stack.serving_account) != url
    assert bootstrap_qualifier(App()) == "hnb659fds"


def test_the_staging_ops_role_smoke_tests_its_endpoint_only(targets: Targets) -> None:
    ops = targets.principal("staging", "ops")
    assert ops.is_allowed("sagemaker:InvokeEndpoint", _endpoint("staging", "staging"))
    assert not ops.is_allowed("sagemaker:UpdateEndpointWeightsAndCapacities", _endpoint("staging", "staging"))
    assert not ops.is_allowed("cloudwatch:GetMetricData")
    assert not ops.is_allowed(
        "s3:PutObject",
        f"arn:aws:s3:::{targets.accounts['staging'].bucket_name}/{MODEL}/monitoring/clarify-configs/x.json",
    )


def test_the_production_ops_role_reads_what_the_champion_resolution_and_drift_alert_call(targets: Targets) -> None:
    ops = targets.principal("production", "ops")
    endpoint = _endpoint("production", "production")
    assert ops.is_allowed("sagemaker:DescribeEndpoint", endpoint)
    assert not ops.is_allowed("sagemaker:UpdateEndpointWeightsAndCapacities", endpoint)
    assert not ops.is_allowed("cloudwatch:GetMetricData")
    assert not ops.is_allowed("sagemaker:InvokeEndpoint", endpoint)
    assert not ops.is_allowed("sagemaker:UpdateEndpoint", endpoint)
    tagged = {"aws:ResourceTag/mlops:model": MODEL}
    for kind, action in (("endpoint-config", "DescribeEndpointConfig"), ("model", "DescribeModel")):
        resource = _arn("production", "sagemaker", f"{kind}/generated")
        assert ops.is_allowed(f"sagemaker:{action}", resource, **tagged)
        assert not ops.is_allowed(f"sagemaker:{action}", resource, **{"aws:ResourceTag/mlops:model": "churn-v2"})
    assert ops.is_allowed("sagemaker:ListMonitoringExecutions")
    assert ops.is_allowed("sagemaker:DescribeProcessingJob", _arn("production", "sagemaker", "processing-job/any"))
    assert not ops.is_allowed("sagemaker:DescribeProcessingJob", _arn("staging", "sagemaker", "processing-job/any"))
    assert not ops.is_allowed("sagemaker:DescribeTrainingJob", _arn("production", "sagemaker", "training-job/any"))
    (unscoped,) = [s for s in ops.identity_statements if s.get("Resource") == "*" and s["Effect"] == "Allow"]
    assert unscoped["Action"] == "sagemaker:ListMonitoringExecutions"
    assert ops.is_allowed(
        "cloudformation:DescribeStacks", _arn("production", "cloudformation", f"stack/mlops-{MODEL}-production/id")
    )
    assert not ops.is_allowed(
        "cloudformation:UpdateStack", _arn("production", "cloudformation", f"stack/mlops-{MODEL}-production/id")
    )
    bucket = f"arn:aws:s3:::{targets.accounts['production'].bucket_name}"
    assert ops.is_allowed("s3:GetObject", f"{bucket}/{MODEL}/monitoring/schedule/execution/constraint_violations.json")
    assert ops.is_allowed("s3:PutObject", f"{bucket}/{MODEL}/monitoring/clarify-configs/model_explainability-3.json")
    assert not ops.is_allowed("s3:PutObject", f"{bucket}/{MODEL}/monitoring/schedule/report.json")
    assert not ops.is_allowed("s3:GetObject", f"{bucket}/{MODEL}/production/capture.jsonl")
    assert ops.is_allowed("kms:GenerateDataKey", f"arn:aws:kms:{REGION}:{PRODUCTION}:key/serving")
    assert not ops.is_allowed(
        "sagemaker:DescribeModelPackage", f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/{MODEL}/1"
    )


def test_the_production_steer_role_reweights_its_endpoint_only(targets: Targets) -> None:
    steer = targets.principal("production", "steer")
    endpoint = _endpoint("production", "production")
    assert steer.is_allowed("sagemaker:DescribeEndpoint", endpoint)
    assert steer.is_allowed("sagemaker:UpdateEndpointWeightsAndCapacities", endpoint)
    assert steer.is_allowed("cloudwatch:GetMetricData")
    assert not steer.is_allowed(
        "sagemaker:UpdateEndpointWeightsAndCapacities", _endpoint("production", "production", model="churn-v2")
    )
    assert not steer.is_allowed("sagemaker:UpdateEndpoint", endpoint)
    assert not steer.is_allowed("sagemaker:InvokeEndpoint", endpoint)
    assert not steer.is_allowed("sagemaker:ListMonitoringExecutions")
    bucket = f"arn:aws:s3:::{targets.accounts['production'].bucket_name}"
    assert not steer.is_allowed("s3:GetObject", f"{bucket}/{MODEL}/monitoring/schedule/report.json")
    assert not steer.is_allowed("s3:PutObject", f"{bucket}/{MODEL}/monitoring/clarify-configs/x.json")
    assert not steer.is_allowed(
        "cloudformation:DescribeStacks", _arn("production", "cloudformation", f"stack/mlops-{MODEL}-production/id")
    )


# --- compliance -------------------------------------------------------------------------------------


def test_the_target_stacks_have_no_unacknowledged_nag_findings(targets: Targets) -> None:
    # The fixture's synthesis already ran the packs (add_compliance_checks raises on a finding); this
    # states it, per pack.
    for pack in rule_packs(targets.app):
        report = pack.validate_scope(targets.app)
        assert [f"{v.rule_name} at {r.construct_path}" for v in report.violations for r in v.violating_resources] == []


@pytest.mark.background
def test_the_target_templates_pass_cfn_lint(targets: Targets, template_lint: TemplateLint) -> None:
    findings = template_lint.findings(targets.template_files)
    assert findings == [], "\n\n".join(findings)
