"""The platform delivered by its own pipeline (`delivery:`): the delivery stack, its stages and their order,
the synth step, the source variants, compliance, and that without `delivery` nothing changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnElement, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from aws_cdk.cx_api import CloudAssembly
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

import app as cdk_app
from config import DEFAULT_CONFIG_PATH, ConfigError, PlatformConfig, load_config
from config.delivery import CodeConnectionsDeliverySource, DeliveryConfig
from mlops_constructs.compliance import add_compliance_checks, rule_packs
from stacks import delivery_stack
from stacks.delivery_stack import (
    APPROVAL_STEP,
    TEST_COMMAND,
    DeliveredPlatform,
    DeliveryStack,
    PlatformStage,
    build_delivered_platform,
    repository_path,
)
from tests.conftest import ROOT, cdk_json_context, lint_for
from tests.snapshots.test_snapshots import normalized
from tests.template_lint import TemplateLint

CONFIG_PATH = ROOT / "config" / "examples" / "several-accounts.yaml"
CONFIG_IN_REPOSITORY = "config/examples/several-accounts.yaml"
TOOLING, STAGING, PRODUCTION = "123456789012", "222222222222", "333333333333"
REGION = "eu-west-1"
CONNECTION_ARN = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f4c8e2a-5b7d-4e1a-9c3f-2d6b8a1e7f90"
# Stateful: its logical id is a contract (DESIGN.md convention 8).
REPOSITORY = "Repository22E53BBD"


@dataclass(frozen=True)
class Delivered:
    app: App
    delivered: DeliveredPlatform
    assembly: CloudAssembly

    @property
    def template(self) -> Template:
        return Template.from_json(self.assembly.get_stack_by_name(self.delivered.delivery.stack_name).template)

    @property
    def template_file(self) -> Path:
        return Path(self.assembly.directory) / "mlops-delivery.template.json"


@pytest.fixture(scope="session")
def config() -> PlatformConfig:
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")  # kept for its cfn-lint test, which runs last (marked background)
def delivered(
    config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Delivered:
    # With the construct paths the CDK CLI writes: cfn-lint recognizes CDK's templates by them (and then
    # leaves CDK Pipelines' Fn::Join ARNs alone), so the template linted is the one the CLI deploys.
    context = cdk_json_context() | {"aws:cdk:enable-path-metadata": True}
    app = App(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    delivered = Delivered(
        app=app, delivered=build_delivered_platform(app, config, config_path=CONFIG_PATH), assembly=app.synth()
    )
    lint_for(request, "test_the_delivery_template_passes_cfn_lint", [delivered.template_file])
    return delivered


@pytest.fixture(scope="module")
def pipeline(delivered: Delivered) -> dict[str, Any]:
    [properties] = [
        resource["Properties"] for resource in delivered.template.find_resources("AWS::CodePipeline::Pipeline").values()
    ]
    return properties


def resolved(value: Any) -> str:
    """An ARN as the template writes it (Fn::Join of literals and the partition), as a string."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(resolved(part) for part in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    return json.dumps(value)


def deploy_role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{REGION}"


def test_the_delivery_stack_is_in_the_tooling_account_with_termination_protection(delivered: Delivered) -> None:
    [artifact] = [stack for stack in delivered.assembly.stacks if stack.stack_name == "mlops-delivery"]
    assert (artifact.environment.account, artifact.environment.region) == (TOOLING, REGION)
    assert artifact.termination_protection
    # The platform's stacks are in the pipeline's Stages, not beside the delivery stack.
    assert [stack.stack_name for stack in delivered.assembly.stacks] == ["mlops-delivery"]


def test_stages_run_in_order_with_an_approval_before_production(pipeline: dict[str, Any]) -> None:
    """The target accounts before the tooling account, whose policies name their roles."""
    assert [stage["Name"] for stage in pipeline["Stages"]] == [
        "Source",
        "Build",
        "UpdatePipeline",
        "Assets",
        "Staging",
        "Production",
        "Tooling",
    ]
    stages = {stage["Name"]: stage["Actions"] for stage in pipeline["Stages"]}
    assert [action["Name"] for action in stages["Build"]] == ["Synth"]
    assert [action["Name"] for action in stages["UpdatePipeline"]] == ["SelfMutate"]
    [approval] = [action for action in stages["Production"] if action["ActionTypeId"]["Category"] == "Approval"]
    assert approval["Name"] == APPROVAL_STEP
    deploys = [action for action in stages["Production"] if action["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert deploys
    assert all(action["RunOrder"] > approval["RunOrder"] for action in deploys)
    assert not any(action["ActionTypeId"]["Category"] == "Approval" for action in stages["Staging"] + stages["Tooling"])


@pytest.mark.parametrize(
    ("stage", "account", "stack_names"),
    [
        (
            "Tooling",
            TOOLING,
            {
                "mlops-governance",
                "mlops-studio",
                "mlops-churn-deploy",
                "mlops-approval",
                "mlops-churn-build",
                "mlops-feature-store",
                "mlops-projects",
            },
        ),
        ("Staging", STAGING, {"mlops-target-staging"}),
        ("Production", PRODUCTION, {"mlops-target-production"}),
    ],
)
def test_each_stage_deploys_its_stacks_under_their_names_in_its_account(
    pipeline: dict[str, Any], stage: str, account: str, stack_names: set[str]
) -> None:
    [actions] = [each["Actions"] for each in pipeline["Stages"] if each["Name"] == stage]
    deploys = [action for action in actions if action["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert {action["Configuration"]["StackName"] for action in deploys} == stack_names
    assert {resolved(action["RoleArn"]) for action in deploys} == {deploy_role(account)}


def test_the_platform_is_built_in_the_stages(delivered: Delivered) -> None:
    platform = delivered.delivered.platform
    assert platform.governance.node.scope is delivered.delivered.tooling
    assert {stage: target.node.scope for stage, target in platform.targets.items()} == delivered.delivered.targets
    assert list(delivered.delivered.targets) == ["staging", "production"]


def test_the_repository_is_created_and_retained(delivered: Delivered) -> None:
    delivered.template.has_resource(
        "AWS::CodeCommit::Repository", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )
    repositories = delivered.template.find_resources("AWS::CodeCommit::Repository")
    assert list(repositories) == [REPOSITORY]
    assert repositories[REPOSITORY]["Properties"]["RepositoryName"] == "mlops-platform"


def test_a_push_to_the_branch_starts_the_pipeline_with_retries_and_dead_letters(delivered: Delivered) -> None:
    delivered.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {"source": ["aws.codecommit"], "detail": Match.object_like({"referenceName": ["main"]})}
            ),
            "Targets": [
                Match.object_like(
                    {
                        "DeadLetterConfig": {"Arn": Match.any_value()},
                        "RetryPolicy": Match.object_like({"MaximumRetryAttempts": Match.any_value()}),
                    }
                )
            ],
        },
    )


def test_the_approvers_are_asked_when_the_pipeline_waits_before_production(delivered: Delivered) -> None:
    """A rule on the pipeline's approval action, to a topic of the configured approvers, with retries."""
    template = delivered.template
    [rule] = [
        r["Properties"]
        for r in template.find_resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type") == ["CodePipeline Action Execution State Change"]
    ]
    assert rule["EventPattern"]["detail"] == {
        "state": ["STARTED"],
        "action": ["PromoteToProduction"],
        "type": {"category": ["Approval"]},
    }
    (target,) = rule["Targets"]
    topics = template.find_resources("AWS::SNS::Topic")
    [approvals] = [k for k, v in topics.items() if "approvals" in v["Properties"].get("DisplayName", "")]
    assert target["Arn"] == {"Ref": approvals}
    assert "DeadLetterConfig" in target
    assert "RetryPolicy" in target
    assert "PromoteToProduction" in json.dumps(target["InputTransformer"])


def test_the_synth_step_installs_tests_and_synthesizes_the_same_config(delivered: Delivered) -> None:
    synth = delivered.delivered.delivery.pipeline.synth_project
    resource = synth.node.default_child
    assert isinstance(resource, CfnElement)
    project = delivered.template.to_json()["Resources"][Stack.of(synth).get_logical_id(resource)]
    build_spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    commands = build_spec["phases"]["install"]["commands"] + build_spec["phases"]["build"]["commands"]
    assert any(command.endswith(TEST_COMMAND) for command in commands)
    [synthesize] = [command for command in commands if "synth" in command]
    assert f"-c config={CONFIG_IN_REPOSITORY}" in synthesize
    assert commands.index(synthesize) > max(i for i, command in enumerate(commands) if TEST_COMMAND in command)
    assert build_spec["artifacts"]["base-directory"] == "cdk.out"
    assert project["Properties"]["Environment"]["PrivilegedMode"] is False


def test_artifacts_are_encrypted_with_a_rotating_key_and_logs_are_retained(
    delivered: Delivered, pipeline: dict[str, Any]
) -> None:
    key = pipeline["ArtifactStore"]["EncryptionKey"]["Id"]["Fn::GetAtt"][0]
    assert delivered.template.to_json()["Resources"][key]["Properties"]["EnableKeyRotation"] is True
    delivered.template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": Match.object_like({"RetentionInDays": 365, "KmsKeyId": Match.any_value()}),
            "DeletionPolicy": "Retain",
        },
    )


def test_the_delivered_platform_has_no_unacknowledged_findings(delivered: Delivered) -> None:
    """The delivery stack and every stage's stacks: inside a Stage some ARNs render literally (the
    partition), so acknowledgments written for an App's tokens must hold there too (`make synth` of
    this configuration is the delivery pipeline's own synth step)."""
    findings = {
        pack.read_pack_name: [
            f"{violation.rule_name} at {resource.construct_path}"
            for violation in pack.validate_scope(delivered.app).violations
            for resource in violation.violating_resources
        ]
        for pack in rule_packs(delivered.app)
    }
    assert findings == {"AwsSolutions": [], "NIST.800.53.R5": []}


@pytest.mark.background
def test_the_delivery_template_passes_cfn_lint(delivered: Delivered, template_lint: TemplateLint) -> None:
    findings = template_lint.findings([delivered.template_file])
    assert findings == [], "\n\n".join(findings)


def test_the_delivery_stack_has_a_snapshot(delivered: Delivered, snapshot: SnapshotAssertion) -> None:
    assert normalized(dict(delivered.template.to_json())) == snapshot.use_extension(JSONSnapshotExtension)(
        name="mlops-delivery"
    )


def test_compliance_checks_reach_the_stacks_inside_stages() -> None:
    """The rule packs registered on the App fail synth for a finding in a Stage's stack, too."""
    app = App()
    stage = PlatformStage(app, "Nested", account=TOOLING, region=REGION)
    s3.Bucket(Stack(stage, "Insecure"), "Bare")
    add_compliance_checks(app)
    with pytest.raises(RuntimeError, match=r"AwsSolutions-S1[\s\S]*Nested/Insecure/Bare"):
        app.synth()


def test_a_git_host_repository_is_followed_through_its_connection(config: PlatformConfig) -> None:
    variant = config.model_copy(
        update={
            "delivery": DeliveryConfig(
                source=CodeConnectionsDeliverySource(
                    provider="codeconnections", connection_arn=CONNECTION_ARN, repository="acme/mlops-platform"
                ),
                branch="release",
            )
        }
    )
    app = App(context=cdk_json_context())
    delivery = DeliveryStack(
        app,
        "mlops-delivery",
        config=variant,
        config_path=CONFIG_IN_REPOSITORY,
        env={"account": TOOLING, "region": REGION},
    )
    stage = PlatformStage(app, "Tooling", account=TOOLING, region=REGION)
    sqs.Queue(Stack(stage, "Minimal"), "Queue")
    delivery.deliver(stage)
    delivery.build()
    template = Template.from_stack(delivery)
    template.has_resource_properties(
        "AWS::CodePipeline::Pipeline",
        {
            "Stages": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": "Source",
                            "Actions": [
                                Match.object_like(
                                    {
                                        "ActionTypeId": Match.object_like({"Provider": "CodeStarSourceConnection"}),
                                        "Configuration": Match.object_like(
                                            {
                                                "ConnectionArn": CONNECTION_ARN,
                                                "FullRepositoryId": "acme/mlops-platform",
                                                "BranchName": "release",
                                            }
                                        ),
                                    }
                                )
                            ],
                        }
                    )
                ]
            )
        },
    )
    template.resource_count_is("AWS::CodeCommit::Repository", 0)


def test_the_config_path_is_taken_relative_to_the_repository(tmp_path: Path) -> None:
    assert repository_path(CONFIG_PATH) == CONFIG_IN_REPOSITORY
    assert repository_path(CONFIG_IN_REPOSITORY) == CONFIG_IN_REPOSITORY
    outside = tmp_path / "platform.yaml"
    with pytest.raises(ConfigError, match="must be inside"):
        repository_path(outside)


def test_without_delivery_the_app_builds_the_platform_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    default = load_config(DEFAULT_CONFIG_PATH)
    assert default.delivery is None
    built: list[str] = []
    monkeypatch.setattr(cdk_app, "build_platform", lambda app, config: built.append("platform"))
    # app.py imports the delivery stack only for a config with `delivery` (CDK Pipelines is slow to import).
    monkeypatch.setattr(
        delivery_stack, "build_delivered_platform", lambda app, config, config_path: built.append("delivered")
    )
    cdk_app.build(App(), default, config_path=DEFAULT_CONFIG_PATH)
    assert built == ["platform"]
    cdk_app.build(App(), load_config(CONFIG_PATH), config_path=CONFIG_PATH)
    assert built == ["platform", "delivered"]
