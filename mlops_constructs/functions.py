"""The platform's Lambda function baseline: one place for runtime, layer, logs, tracing and failures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aws_cdk import CfnParameter, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_servicecatalog as servicecatalog
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from mlops_constructs.assets import Content, compose, tree
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.dead_letters import alarm_on_dead_letters, alarm_when_any, dead_letter_queue

LAMBDAS_DIRECTORY = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.X86_64
# The Powertools for AWS Lambda (Python) release the handlers run with, and the one place it is
# named: lambdas/*/requirements.txt and requirements-dev.txt (what the tests run) pin the same, and
# tests/lambdas/test_function_assets.py fails when they differ. It runs as the AWS-published layer,
# which carries Powertools and its extras (pydantic, aws-xray-sdk), so the function asset is just
# the handler folder and synth needs neither Docker nor a package index.
POWERTOOLS_VERSION = "3.37.0"
ASSET_EXCLUDES = ("__pycache__", "*.pyc", "README.md", "requirements.txt")
# Shipped with every handler: what the handlers share (see lambdas/common/__init__.py).
COMMON_PACKAGE = "common"


def handler_asset(handler_directory: str) -> Path:
    """The function's asset: the `lambdas` package with this handler's folder and the common one, so
    the handler runs as `lambdas.<handler_directory>.handler.handler`, imported as in the tests."""
    files: dict[str, Content] = {"lambdas/__init__.py": LAMBDAS_DIRECTORY / "__init__.py"}
    for package in (handler_directory, COMMON_PACKAGE):
        files |= tree(LAMBDAS_DIRECTORY / package, excludes=ASSET_EXCLUDES, under=f"lambdas/{package}")
    return compose("mlops-lambda", files)


def powertools_layer_parameter() -> str:
    """The public SSM parameter in which Powertools publishes, in every region, the ARN of the layer
    of one release for one architecture and runtime: /aws/service/powertools/python/{arch}/{runtime}/{version}.

    Layer version numbers are per layer and say nothing about the release inside (layer 27 was
    Powertools 3.23.0), so the release is what the platform names and the number is looked up.
    """
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{POWERTOOLS_VERSION}"


def powertools_layer_arn(scope: Construct) -> str:
    """The layer's ARN, read from the public parameter when CloudFormation deploys the stack (a stack
    parameter of type AWS::SSM::Parameter::Value<String>, one per stack, whose resolved value the
    stack shows), never at synth. A release whose parameter does not exist fails the deployment
    before any resource changes.

    In a SageMaker Projects product's template, Studio shows that parameter in the form a data
    scientist fills in to create a project: there it is `PowertoolsLayerArn`, described and pinned to
    the public parameter (pinned_ssm_value), rather than CDK's generated `SsmParameterValue...`."""
    stack = Stack.of(scope)
    if not isinstance(stack, servicecatalog.ProductStack):
        return ssm.StringParameter.value_for_string_parameter(scope, powertools_layer_parameter())
    return pinned_ssm_value(
        stack,
        "PowertoolsLayerArn",
        parameter_name=powertools_layer_parameter(),
        description=f"ARN of the Powertools for AWS Lambda {POWERTOOLS_VERSION} layer, as AWS publishes it",
    )


def pinned_ssm_value(scope: Construct, parameter_id: str, *, parameter_name: str, description: str) -> str:
    """An SSM parameter's value, read by CloudFormation at each deployment through a parameter of the
    stack (`parameter_id`, of type AWS::SSM::Parameter::Value<String>) that allows `parameter_name`
    only: in a template whose parameters a person fills in (a product's, in Studio's form), it cannot
    be pointed at another SSM parameter. One parameter per id and stack, however often it is used: a
    `Ref`, unlike a `{{resolve:ssm:...}}` dynamic reference (at most 60 per template), each one a use."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(parameter_id)
    if existing is not None:
        parameter = cast(CfnParameter, existing)
        if parameter.default != parameter_name:
            raise ValueError(f"{parameter_id} already reads {parameter.default}, not {parameter_name}")
        return parameter.value_as_string
    return CfnParameter(
        stack,
        parameter_id,
        type="AWS::SSM::Parameter::Value<String>",
        default=parameter_name,
        allowed_values=[parameter_name],
        description=f"{description}: set by the platform, leave as it is",
    ).value_as_string


@dataclass(frozen=True)
class FunctionAlarms:
    errors: cloudwatch.Alarm
    # One per dead-letter queue: failed invocations, and events EventBridge could not deliver.
    dead_letters: cloudwatch.Alarm
    event_dead_letters: cloudwatch.Alarm


class PlatformFunction(Construct):
    """A Python handler from `lambdas/<handler_directory>` with the platform's operational baseline.

    Encrypted log group with the configured retention, X-Ray tracing, Powertools settings,
    reserved concurrency, and two KMS-encrypted dead-letter queues, because what they hold redrives
    differently (docs/runbook-dead-letters.md): `dead_letter_queue` receives Lambda's records of
    asynchronous invocations that still failed after its retries, `event_dead_letter_queue` the
    events that EventBridge rules targeting the function could not deliver (their `dead_letter_queue`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler_directory: str,
        description: str,
        environment: dict[str, str],
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        metrics_namespace: str,
        timeout_seconds: int = 60,
        reserved_concurrency: int = 5,
        async_retry_attempts: int = 2,
        role_name: str | None = None,
    ) -> None:
        """`role_name`: a physical name for the role, where another account's trust policy names it."""
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", encryption_key=encryption_key)
        self.event_dead_letter_queue = dead_letter_queue(self, "EventDeadLetterQueue", encryption_key=encryption_key)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # An explicit role instead of the L2's AWSLambdaBasicExecutionRole: logs to this group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
            role_name=role_name,
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"lambdas.{handler_directory}.handler.handler",
            code=lambda_.Code.from_asset(str(handler_asset(handler_directory))),
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_layer_arn(self))],
            environment={
                "POWERTOOLS_SERVICE_NAME": handler_directory.replace("_", "-"),
                "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
            environment_encryption=encryption_key,
            memory_size=256,
            timeout=Duration.seconds(timeout_seconds),
            role=self.role,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            reserved_concurrent_executions=reserved_concurrency,
            retry_attempts=async_retry_attempts,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        acknowledge_each(
            self.function,
            [
                (
                    "NIST.800.53.R5-LambdaInsideVPC",
                    "The handler calls only AWS APIs; the platform has no VPC, and a VPC would add NAT cost without isolating anything.",
                ),
                (
                    "NIST.800.53.R5-LambdaDLQ",
                    "Failed asynchronous invocations go to an SQS on-failure destination, which keeps the error with the event.",
                ),
                (
                    "AwsSolutions-L1",
                    f"{RUNTIME.to_string()} is the newest runtime the Powertools {POWERTOOLS_VERSION} layer is published for; bumped together.",
                ),
            ],
        )
        acknowledge_each(
            self.role,
            [
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "The Lambda L2 and the grants attach their generated, resource-scoped statements as the role's default policy.",
                ),
                ("AwsSolutions-IAM5[Resource::*]", "X-Ray PutTraceSegments/PutTelemetryRecords accept no resource."),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.log_group, 'Arn')}:*]",
                    "The function's own log group: its log streams are created at run time.",
                ),
            ],
        )

    def alarm_on_failures(self, alert_topic: sns.ITopic) -> FunctionAlarms:
        """Alarms to the topic when the handler errors (AWS failures it retries) or either queue dead-letters."""
        errors = alarm_when_any(
            self,
            "ErrorAlarm",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            alert_topic=alert_topic,
            description=f"{self.function.node.path} is failing (AWS errors it retries)",
        )
        runbook = "see docs/runbook-dead-letters.md to inspect, fix and redrive"
        return FunctionAlarms(
            errors=errors,
            dead_letters=alarm_on_dead_letters(
                self,
                "DeadLetterAlarm",
                queue=self.dead_letter_queue,
                alert_topic=alert_topic,
                description=f"{self.function.node.path} failed on events after Lambda's retries: {runbook}",
            ),
            event_dead_letters=alarm_on_dead_letters(
                self,
                "EventDeadLetterAlarm",
                queue=self.event_dead_letter_queue,
                alert_topic=alert_topic,
                description=f"EventBridge could not deliver events to {self.function.node.path}: {runbook}",
            ),
        )
