"""What the platform's CodePipelines share: build projects, failure alerts, acknowledged L2 grants."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlops_constructs.alerts import send_to_topic
from mlops_constructs.compliance import acknowledge_each, nag_ref

# Amazon Linux 2023 standard 5.0 ships Python 3.11/3.12.
BUILD_IMAGE = codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5


def build_project(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    build_spec: codebuild.BuildSpec,
    timeout: Duration,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
    environment: dict[str, str],
    cache: codebuild.Cache | None = None,
    role_name: str | None = None,
) -> codebuild.PipelineProject:
    """A CodeBuild project with the platform key, no privileged mode, its own retained log group.

    `cache` makes the buildspec's `cache.paths` effective (without one CodeBuild ignores them).
    `role_name`: a physical name for the project's role, where another account's trust policy names it.
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        encryption_key=encryption_key,
        retention=log_retention,
        removal_policy=RemovalPolicy.RETAIN,
    )
    return codebuild.PipelineProject(
        scope,
        construct_id,
        description=description,
        build_spec=build_spec,
        environment=codebuild.BuildEnvironment(
            build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.SMALL, privileged=False
        ),
        environment_variables={
            name: codebuild.BuildEnvironmentVariable(value=value) for name, value in environment.items()
        },
        encryption_key=encryption_key,
        timeout=timeout,
        queued_timeout=Duration.hours(1),
        cache=cache,
        role=None
        if role_name is None
        else iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            role_name=role_name,
            description=description,
        ),
        logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
    )


def alert_on_failure(pipeline: codepipeline.Pipeline, *, alert_topic: sns.ITopic, what: str) -> events.Rule:
    """An EventBridge rule that sends a readable alert when an execution of `pipeline` fails.

    Delivery is retried, then dead-lettered in the pipeline's stack (alerts.send_to_topic).
    """
    rule = pipeline.on_state_change(
        "FailureAlert",
        description=f"Alert when the {what} fails",
        event_pattern=events.EventPattern(detail={"state": ["FAILED"]}),
    )
    send_to_topic(
        rule,
        topic=alert_topic,
        message=events.RuleTargetInput.from_text(
            f"The {what} failed: execution {events.EventField.from_path('$.detail.execution-id')} of "
            f"{events.EventField.from_path('$.detail.pipeline')} in {events.EventField.region}."
        ),
    )
    return rule


def acknowledge_pipeline_grants(
    scope: Construct, *, projects: list[codebuild.PipelineProject], own_buckets: list[s3.IBucket]
) -> None:
    """Findings on the policies that the CodePipeline, CodeBuild and S3/KMS L2 grants generate under `scope`."""
    stack = Stack.of(scope)
    bucket_reason = "L2 read/write grant on a bucket this construct owns (artifacts, data)."
    key_reason = "L2 grant on the platform key, needed to read and write the encrypted artifacts and data."
    acknowledge_each(
        scope,
        [
            (
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "CodePipeline, CodeBuild and EventBridge L2s attach their generated, resource-scoped grants as each role's default policy.",
            ),
            ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", key_reason),
            ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", key_reason),
            *[
                (f"AwsSolutions-IAM5[Action::s3:{action}]", bucket_reason)
                for action in ("GetObject*", "GetBucket*", "List*", "DeleteObject*", "Abort*")
            ],
            *[(f"AwsSolutions-IAM5[Resource::{nag_ref(bucket, 'Arn')}/*]", bucket_reason) for bucket in own_buckets],
            *[
                (
                    f"AwsSolutions-IAM5[Resource::arn:{stack.partition}:logs:{stack.region}:{stack.account}:"
                    f"log-group:/aws/codebuild/{nag_ref(project)}:*]",
                    "CodeBuild L2 default: the project's own log streams.",
                )
                for project in projects
            ],
            *[
                (
                    f"AwsSolutions-IAM5[Resource::arn:{stack.partition}:codebuild:{stack.region}:"
                    f"{stack.account}:report-group/{nag_ref(project)}-*]",
                    "CodeBuild L2 default: test report groups named after the project.",
                )
                for project in projects
            ],
        ],
    )
