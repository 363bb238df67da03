"""The approval gate: from "a person approved a model package" to "its deploy pipeline started".

EventBridge sends the registry's "SageMaker Model Package State Change" events, of any group, to the
gate's Lambda (lambdas/approval_gate), with retries and a dead-letter queue. The gate re-checks the
package's metric against the model's threshold in the metric's direction, rejects what falls short,
leaves alone what production already serves (an endpoint's variant; a batch model's serving stack
champion), and starts the model's deploy pipeline with the package ARN.

Which models: the gate finds a package's model through the model's registration, not through a
list in its own environment. Each model's deploy stack registers it (mlops_constructs/registration.py:
the SSM parameter `/<platform>/models/<group>`, and why SSM); the gate reads the parameter of the
event's group (`ssm:GetParameter` under that prefix only). A group without one is not the platform's:
its events are logged, counted and ignored, never alerted or retried. So a model created after this
stack (a SageMaker Project, another account's pipeline) needs no change here to be routed and judged.

What a model lets the gate do stays per model, as least privilege wants: reading and rejecting its
packages, reading what its production serves, starting its deploy pipeline. This construct grants
that for the models declared in config (`GatedModel`); a model the platform does not deploy from
config brings its own grants to the gate's role, with its registration (its template adds them, as
`ModelProject.grant_read_pipeline_outputs` does for the evaluation reports of a config-declared model).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack, Tags, Token
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import APPROVER_TAG, model_registry_prefix
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS
from mlops_constructs.functions import PlatformFunction
from mlops_constructs.personas import PACKAGE_APPROVAL_ACTION
from mlops_constructs.storage import expiring_state_table

METRICS_NAMESPACE = "MLOps/ApprovalGate"


@dataclass(frozen=True)
class GatedModel:
    """One model declared in config, behind the gate: its config, its registry group, and the pipeline
    that deploys it; what the gate's role is granted for it. (What the gate knows of it at run time is
    its registration, written by its deploy stack.)

    The gate also reads the model's evaluation reports; that grant is made by the model's project
    (ModelProject.grant_read_pipeline_outputs), next to the bucket, so this stack needs nothing from it.
    """

    model: ModelConfig
    model_package_group_name: str
    deploy_pipeline: codepipeline.IPipeline
    # Where the deploy pipeline deploys production (contracts.serving_name): the endpoint of a real-time
    # model, the serving stack of a batch one (the two share the name). The gate reads which packages
    # it serves, so that an approval of one of them deploys nothing.
    production_serving_name: str


class ApprovalGate(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        models: list[GatedModel],
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        audit_bus: events.IEventBus,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        if not models:
            raise ValueError("the approval gate needs at least one model")
        stack = Stack.of(self)
        self.model_registry_prefix = model_registry_prefix(platform_name)

        self.idempotency_table = expiring_state_table(
            self, "IdempotencyTable", partition_key="id", encryption_key=encryption_key, expiry="within a day"
        )

        self.handler = PlatformFunction(
            self,
            "Handler",
            handler_directory="approval_gate",
            description="Approval gate: checks approved model packages and starts their deploy pipeline",
            encryption_key=encryption_key,
            log_retention=log_retention,
            metrics_namespace=METRICS_NAMESPACE,
            environment={
                "MODEL_REGISTRY_PREFIX": self.model_registry_prefix,
                "ALERT_TOPIC_ARN": alert_topic.topic_arn,
                "IDEMPOTENCY_TABLE_NAME": self.idempotency_table.table_name,
                "AUDIT_EVENT_BUS_NAME": audit_bus.event_bus_name,
            },
        )
        # The gate knows the package changes it made itself (its model card updates come back as events)
        # by the session of its own role: Lambda names it after the function.
        self.handler.function.add_environment("GATE_ROLE_NAME", self.handler.role.role_name)
        self._grant(stack, models, encryption_key, alert_topic, audit_bus)

        self.rule = events.Rule(
            self,
            "PackageStateChange",
            # Every group's: the gate tells the platform's models by their registrations, so a model
            # registered after this rule was deployed is gated too.
            description="Model package approval changes; the gate acts on those of registered models",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
            ),
            targets=[
                targets.LambdaFunction(
                    self.handler.function,
                    dead_letter_queue=self.handler.event_dead_letter_queue,
                    retry_attempts=EVENT_RETRY_ATTEMPTS,
                    max_event_age=EVENT_MAX_AGE,
                )
            ],
        )
        self.alarms = self.handler.alarm_on_failures(alert_topic)

    def _grant(
        self,
        stack: Stack,
        models: list[GatedModel],
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        audit_bus: events.IEventBus,
    ) -> None:
        role = self.handler.role
        # The gate rejects packages that fall short of their threshold: it is an approver, and
        # the platform boundary lets only principals with this tag change an approval status.
        Tags.of(role).add(APPROVER_TAG, "true")
        registrations = stack.format_arn(
            service="ssm", resource="parameter", resource_name=f"{self.model_registry_prefix.strip('/')}/*"
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheModelRegistrations",
                actions=["ssm:GetParameter"],
                resources=[registrations],
            )
        )
        statements, model_acknowledgments = gated_model_grants(stack, models)
        for statement in statements:
            role.add_to_principal_policy(statement)
        encryption_key.grant_encrypt_decrypt(role)
        alert_topic.grant_publish(role)
        audit_bus.grant_put_events_to(role)
        self.idempotency_table.grant_read_write_data(role)
        acknowledge_each(
            role,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{registrations}]",
                    "The registrations of the models (one parameter per model package group, written by each"
                    " model's own stack): the gate reads the one of an event's group; read-only, this path only.",
                ),
                *model_acknowledgments,
                (
                    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                    "Publishing to the encrypted topic and writing the encrypted idempotency table.",
                ),
                (
                    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
                    "L2 grant on the platform key (encrypted table and topic).",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.idempotency_table, 'Arn')}/index/*]",
                    "L2 DynamoDB grant: the idempotency table has no index; the statement is the L2's default.",
                ),
            ],
        )


def gated_model_grants(
    stack: Stack, models: list[GatedModel]
) -> tuple[list[iam.PolicyStatement], list[tuple[str, str]]]:
    """What the gate's role needs for `models`, and the cdk-nag acknowledgments of those statements:
    reading and rejecting their packages, reading what their production serves (a real-time model's
    endpoint, with its configs and models; a batch model's serving stack, for its champion parameter),
    starting their deploy pipelines. The gate's own stack grants them for the models declared in config;
    a SageMaker Project's template, for its model."""
    statements: list[iam.PolicyStatement] = []
    package_arns = [
        stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{gated.model_package_group_name}/*"
        )
        for gated in models
    ]
    statements.append(
        iam.PolicyStatement(
            sid="ReadAndRejectPackagesOfTheGatedGroups",
            actions=["sagemaker:DescribeModelPackage", PACKAGE_APPROVAL_ACTION],
            resources=package_arns,
        )
    )
    acknowledgments: list[tuple[str, str]] = [
        (
            f"AwsSolutions-IAM5[Resource::{package_arn}]",
            "Package versions are numbered at registration; the scope is the gated groups only.",
        )
        for package_arn in package_arns
    ]
    endpoints = [gated.production_serving_name for gated in models if not gated.model.is_batch]
    if endpoints:
        any_endpoint_config = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
        any_model = stack.format_arn(service="sagemaker", resource="model", resource_name="*")
        statements.append(
            iam.PolicyStatement(
                sid="ReadWhatProductionServes",
                actions=[
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeModel",
                ],
                resources=[
                    # SageMaker ARNs carry the lower-cased name.
                    *[
                        stack.format_arn(
                            service="sagemaker", resource="endpoint", resource_name=_endpoint_arn_name(name)
                        )
                        for name in endpoints
                    ],
                    any_endpoint_config,
                    any_model,
                ],
            )
        )
        acknowledgments += [
            (
                f"AwsSolutions-IAM5[Resource::{arn}]",
                "Endpoint configs and models are named by CloudFormation; read-only Describe calls.",
            )
            for arn in (any_endpoint_config, any_model)
        ]
    batch_stacks = [
        stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{gated.production_serving_name}/*")
        for gated in models
        if gated.model.is_batch
    ]
    if batch_stacks:
        statements.append(
            iam.PolicyStatement(
                sid="ReadWhatBatchProductionServes",
                actions=["cloudformation:DescribeStacks"],
                resources=batch_stacks,
            )
        )
        acknowledgments += [
            (
                f"AwsSolutions-IAM5[Resource::{arn}]",
                "A stack ARN ends in a generated id; the name is a batch model's production serving stack.",
            )
            for arn in batch_stacks
        ]
    statements.append(
        iam.PolicyStatement(
            sid="StartTheDeployPipelines",
            actions=["codepipeline:StartPipelineExecution"],
            resources=[gated.deploy_pipeline.pipeline_arn for gated in models],
        )
    )
    return statements, acknowledgments


def _endpoint_arn_name(name: str) -> str:
    """SageMaker ARNs carry the lower-cased name (a SageMaker Project's name is a token already
    constrained to lower case by its template's parameter)."""
    return name if Token.is_unresolved(name) else name.lower()
