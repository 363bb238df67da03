"""The platform delivered by its own pipeline (`delivery:` in the config): a self-mutating CDK Pipeline in
the tooling account that tests and synthesizes the repository, then deploys each remote stage's target
stack (production's after a person approves), then the tooling account's stacks.

The delivery stack is the one stack deployed by hand (once); it deploys everything else, governance
included, so it uses nothing governance creates (key, topics, permissions boundary): it has its own.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Duration, Environment, RemovalPolicy, Stack, Stage, Tags, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.delivery import CodeCommitDeliverySource, DeliveryConfig
from config.loader import ConfigError
from config.schema import PlatformConfig
from lambdas.common.contracts import PLATFORM_TAG
from lambdas.common.contracts import Stage as PlatformStageName
from mlops_constructs.alerts import AlertTopic, send_to_topic
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS, EventDeadLetters
from mlops_constructs.encryption import PlatformKey
from mlops_constructs.pipelines import BUILD_IMAGE, acknowledge_pipeline_grants, alert_on_failure
from mlops_constructs.retention import retention_days
from stacks.platform import Platform, build_platform

ROOT = Path(__file__).resolve().parent.parent
# What the synth step installs (the Makefile's own targets), runs and publishes: the README's test
# command, then the app synthesized into the directory CDK Pipelines deploys from.
INSTALL_TARGETS = (".venv/.dev-installed", "node_modules/.installed", ".venv-seed/.installed")
TEST_COMMAND = "make test"
CLOUD_ASSEMBLY_DIRECTORY = "cdk.out"
# The test suite needs no AWS access: it runs without the build's credentials, so it cannot use them.
WITHOUT_CREDENTIALS = "env -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_CONTAINER_CREDENTIALS_FULL_URI"
APPROVAL_STEP = "PromoteToProduction"


def cdk_cli_version() -> str:
    """The CDK CLI pinned in package.json: the self-mutation deploys with the CLI the repository synthesizes with."""
    return str(json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"])


def repository_path(config_path: str | Path) -> str:
    """`config_path` relative to the repository: the pipeline synthesizes the file it was built from."""
    path = Path(config_path).resolve()
    if not path.is_relative_to(ROOT):
        raise ConfigError(
            f"{config_path}: delivery: the pipeline synthesizes the configuration from the repository, so the"
            f" file must be inside it ({ROOT})"
        )
    return path.relative_to(ROOT).as_posix()


class PlatformStage(Stage):
    """One account's share of the platform, as the delivery pipeline deploys it."""

    def __init__(self, scope: Construct, construct_id: str, *, account: str, region: str) -> None:
        super().__init__(scope, construct_id, env=Environment(account=account, region=region))


class DeliveryStack(Stack):
    """The delivery pipeline: source (CodeCommit repository it creates, or a CodeConnections repository),
    synth (install, `make test`, `cdk synth` of `config_path`), self-mutation, then the stages added with
    `deliver`. `build()` completes it once every stage is added."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PlatformConfig, config_path: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        assert config.delivery is not None
        self._delivery: DeliveryConfig = config.delivery
        self._platform_name = config.name
        self._approver_emails = list(config.alerts.approver_emails)
        # Its own key, alert topic and logs: governance's do not exist yet when this stack is deployed.
        self.key = PlatformKey(self, "DeliveryKey", alias=f"alias/{config.name}-delivery").key
        self.alert_topic = AlertTopic(
            self,
            "Alerts",
            encryption_key=self.key,
            emails=config.alerts.emails,
            display_name=f"MLOps platform delivery ({config.name})",
        ).topic
        self.log_group = logs.LogGroup(
            self,
            "BuildLogs",
            encryption_key=self.key,
            retention=retention_days(config.retention.log_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.repository: codecommit.Repository | None = None
        self.source = self._source()
        self.synth = pipelines.CodeBuildStep(
            "Synth",
            input=self.source,
            install_commands=[f"make {' '.join(INSTALL_TARGETS)}"],
            commands=[
                f"{WITHOUT_CREDENTIALS} {TEST_COMMAND}",
                f"make synth ARGS={shlex.quote(f'-c config={config_path}')}",
            ],
            primary_output_directory=CLOUD_ASSEMBLY_DIRECTORY,
            # The whole suite synthesizes each configuration and runs the moto server and the seeds' tests.
            build_environment=codebuild.BuildEnvironment(
                build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.MEDIUM
            ),
            timeout=Duration.minutes(90),
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=self.synth,
            self_mutation=True,
            # Target accounts read the artifacts: a KMS key (rotating) instead of S3-managed encryption.
            cross_account_keys=True,
            enable_key_rotation=True,
            cli_version=cdk_cli_version(),
            # One publishing project per asset type, not one per asset.
            publish_assets_in_parallel=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.SMALL, privileged=False
                ),
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)
                ),
            ),
        )

    def _source(self) -> pipelines.CodePipelineSource:
        source, branch = self._delivery.source, self._delivery.branch
        if isinstance(source, CodeCommitDeliverySource):
            self.repository = codecommit.Repository(
                self,
                "Repository",
                repository_name=self._delivery.repository_name(self._platform_name),
                description=f"The MLOps platform '{self._platform_name}': its code and configuration",
            )
            # The platform's history outlives the stack (CodeCommit's L2 sets no removal policy).
            self.repository.apply_removal_policy(RemovalPolicy.RETAIN)
            # Pushes start the pipeline through a rule of this stack's own (`build`): retried, dead-lettered.
            return pipelines.CodePipelineSource.code_commit(
                self.repository, branch, trigger=actions.CodeCommitTrigger.NONE
            )
        return pipelines.CodePipelineSource.connection(source.repository, branch, connection_arn=source.connection_arn)

    def deliver(self, stage: PlatformStage, *, approval: bool = False) -> None:
        """Deploy `stage` after the stages added before it; with `approval`, once a person approves."""
        pre = [pipelines.ManualApprovalStep(APPROVAL_STEP, comment=f"Deploy {stage.stage_name}?")] if approval else []
        self.pipeline.add_stage(stage, pre=pre)

    def build(self) -> None:
        """Build the pipeline (every stage added), its trigger, alerts, outputs and acknowledgments."""
        self.pipeline.build_pipeline()
        pipeline = self.pipeline.pipeline
        if self.repository is not None:
            dead_letters = EventDeadLetters.of(self, encryption_key=self.key, alert_topic=self.alert_topic)
            rule = self.repository.on_commit(
                "PushToBranch",
                description=f"Deliver the platform on every push to {self._delivery.branch}",
                branches=[self._delivery.branch],
            )
            rule.add_target(
                targets.CodePipeline(
                    pipeline,
                    dead_letter_queue=dead_letters.queue,
                    retry_attempts=EVENT_RETRY_ATTEMPTS,
                    max_event_age=EVENT_MAX_AGE,
                )
            )
            dead_letters.accept_events_of(rule)
            CfnOutput(self, "RepositoryCloneUrl", value=self.repository.repository_clone_url_grc)
        alert_on_failure(pipeline, alert_topic=self.alert_topic, what="platform's delivery pipeline")
        self._ask_for_approval(pipeline)
        CfnOutput(self, "PipelineName", value=pipeline.pipeline_name)
        self._acknowledge()

    def _ask_for_approval(self, pipeline: codepipeline.Pipeline) -> None:
        """Tell the approvers (`alerts.approver_emails`) when the pipeline waits for them before production."""
        self.approval_topic = AlertTopic(
            self,
            "Approvals",
            encryption_key=self.key,
            emails=self._approver_emails,
            display_name=f"MLOps platform delivery approvals ({self._platform_name})",
        ).topic
        rule = pipeline.on_event(
            "ApprovalRequested",
            description="Ask the approvers when the delivery waits before the production account",
            event_pattern=events.EventPattern(
                detail_type=["CodePipeline Action Execution State Change"],
                detail={"state": ["STARTED"], "action": [APPROVAL_STEP], "type": {"category": ["Approval"]}},
            ),
        )
        send_to_topic(
            rule,
            topic=self.approval_topic,
            dead_letter_alerts=self.alert_topic,
            message=events.RuleTargetInput.from_text(
                f"The platform's delivery pipeline waits for an approval before it deploys the production account:"
                f" execution {events.EventField.from_path('$.detail.execution-id')} of"
                f" {events.EventField.from_path('$.detail.pipeline')} in {events.EventField.region}."
                f" Review the change, then approve or reject the {APPROVAL_STEP} action."
            ),
        )

    def _acknowledge(self) -> None:
        """Findings on what CDK Pipelines generates, acknowledged on the resource they concern."""
        artifacts = self.pipeline.pipeline.artifact_bucket
        projects = [self.pipeline.synth_project, self.pipeline.self_mutation_project]
        assert all(isinstance(project, codebuild.PipelineProject) for project in projects)
        acknowledge_pipeline_grants(self, projects=projects, own_buckets=[artifacts])  # type: ignore[arg-type]
        acknowledge_each(
            artifacts,
            [
                (
                    rule,
                    "Pipeline artifacts (source archives, the cloud assembly) are rebuilt by every execution"
                    " from the repository, which keeps the history; the bucket is KMS-encrypted, private and TLS-only,"
                    " and an access-log bucket would be one more store for what the pipeline re-creates.",
                )
                for rule in (
                    "AwsSolutions-S1",
                    "NIST.800.53.R5-S3BucketLoggingEnabled",
                    "NIST.800.53.R5-S3BucketReplicationEnabled",
                    "NIST.800.53.R5-S3BucketVersioningEnabled",
                )
            ],
        )
        self_mutation_role = self.pipeline.self_mutation_project.role
        assert self_mutation_role is not None
        acknowledge_each(
            self_mutation_role,
            [
                (
                    f"AwsSolutions-IAM5[Resource::arn:*:iam::{self.account}:role/*]",
                    "CDK Pipelines self-mutation: it may assume only this account's CDK bootstrap roles (the"
                    " policy's condition on the aws-cdk:bootstrap-role tag) to deploy the pipeline's own stack.",
                ),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "CDK Pipelines self-mutation: cloudformation:DescribeStacks and s3:ListBucket, read-only, to find"
                    " the stack it updates and the bootstrap bucket.",
                ),
            ],
        )
        assets = self.pipeline.node.try_find_child("Assets")
        if assets is None:  # nothing to publish
            return
        acknowledge_each(
            assets.node.find_child("FileRole"),
            [
                (
                    f"AwsSolutions-IAM5[Resource::arn:{self.partition}:logs:{self.region}:{self.account}:"
                    "log-group:/aws/codebuild/*]",
                    "CDK Pipelines' shared asset publishing role: its log streams go to the delivery log group;"
                    " the L2 also allows CodeBuild's default groups of the projects it creates after the role.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::arn:{self.partition}:codebuild:{self.region}:{self.account}:"
                    "report-group/*]",
                    "CDK Pipelines' shared asset publishing role: report groups of the projects it creates after the role.",
                ),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "CDK Pipelines' shared asset publishing role: codebuild:StartBuild/StopBuild/BatchGetBuilds on the"
                    " publishing projects it creates after the role; it publishes only by assuming the bootstrap"
                    " file-publishing roles of the platform's accounts.",
                ),
            ],
        )


@dataclass(frozen=True)
class DeliveredPlatform:
    delivery: DeliveryStack
    platform: Platform
    # The Stages the pipeline deploys: the tooling account's, and each remote stage's account.
    tooling: PlatformStage
    targets: dict[PlatformStageName, PlatformStage]


def build_delivered_platform(app: App, config: PlatformConfig, *, config_path: str | Path) -> DeliveredPlatform:
    """The delivery stack in the tooling account, and the platform in the Stages its pipeline deploys:
    each remote stage's target stack (staging, then production after a manual approval), then the
    tooling account's stacks.

    Target stacks first, on every execution: the tooling account's key, bucket and registry policies name
    the stage accounts' roles (a new model's included), and IAM refuses a policy naming a role that does
    not exist yet; the target stacks name the tooling account's roles only in conditions (README, "Several
    accounts"). So a change reaches the tooling account once production's approval is given.
    """
    environment = config.environment
    delivery = DeliveryStack(
        app,
        f"{config.name}-delivery",
        stack_name=f"{config.name}-delivery",
        config=config,
        config_path=repository_path(config_path),
        env=Environment(account=environment.account, region=environment.region),
        description="MLOps platform delivery: the self-mutating pipeline that tests, synthesizes and deploys the platform",
        termination_protection=True,
    )
    Tags.of(delivery).add(PLATFORM_TAG, config.name)
    tooling = PlatformStage(app, "Tooling", account=environment.account, region=environment.region)
    remote: dict[PlatformStageName, PlatformStage] = {
        stage: PlatformStage(
            app, stage.capitalize(), account=environment.stage_account(stage), region=environment.region
        )
        for stage in environment.remote_stages()
    }
    platform = build_platform(tooling, config, target_scopes=remote)
    for stage, scope in remote.items():
        delivery.deliver(scope, approval=stage == "production")
    delivery.deliver(tooling)
    delivery.build()
    return DeliveredPlatform(delivery=delivery, platform=platform, tooling=tooling, targets=remote)
