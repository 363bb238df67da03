"""The platform's Lambda function baseline: one place for runtime, layer, logs, tracing and failures."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.staging import Content, stage, tree

LAMBDAS_DIRECTORY = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_13
# Powertools for AWS Lambda (Python) v3 as the AWS-published layer: it carries Powertools and its
# extras (pydantic, aws-xray-sdk), so the function asset is just the handler folder and synth
# needs neither Docker nor a package index. Bump together with lambdas/*/requirements.txt.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_VERSION = 27
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-x86_64"
ASSET_EXCLUDES = ("__pycache__", "*.pyc", "README.md", "requirements.txt")
# Shipped with every handler: what the handlers share (see lambdas/common/__init__.py).
COMMON_PACKAGE = "common"


def stage_handler(handler_directory: str) -> Path:
    """The function's asset: the `lambdas` package with this handler's folder and the common one, so
    the handler runs as `lambdas.<handler_directory>.handler.handler`, imported as in the tests."""
    files: dict[str, Content] = {"lambdas/__init__.py": LAMBDAS_DIRECTORY / "__init__.py"}
    for package in (handler_directory, COMMON_PACKAGE):
        files |= tree(LAMBDAS_DIRECTORY / package, excludes=ASSET_EXCLUDES, under=f"lambdas/{package}")
    return stage("mlops-lambda", files)


def powertools_layer_arn(stack: Stack) -> str:
    return (
        f"arn:{stack.partition}:lambda:{stack.region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}"
    )


class PlatformFunction(Construct):
    """A Python handler from `lambdas/<handler_directory>` with the platform's operational baseline.

    Encrypted log group with the configured retention, X-Ray tracing, Powertools settings,
    reserved concurrency, and a KMS-encrypted dead-letter queue that receives asynchronous
    invocations that still fail after Lambda's retries (`self.dead_letter_queue`; event sources
    such as EventBridge rules should send their undeliverable events there too).
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
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge_each(
            self.dead_letter_queue,
            [("AwsSolutions-SQS3", "This queue is the dead-letter queue; it needs none of its own.")],
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # An explicit role instead of the L2's AWSLambdaBasicExecutionRole: logs to this group only.
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=f"lambdas.{handler_directory}.handler.handler",
            code=lambda_.Code.from_asset(str(stage_handler(handler_directory))),
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_layer_arn(stack))],
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
                    f"{RUNTIME.to_string()} is the newest runtime with a published Powertools layer ({POWERTOOLS_LAYER_NAME}); bumped together.",
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

    def alarm_on_failures(self, alert_topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        """Alarms to the topic when the handler errors (AWS failures it retries) or dead-letters events."""
        alarms = []
        for alarm_id, description, metric in [
            (
                "ErrorAlarm",
                "is failing (AWS errors it retries)",
                self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            ),
            (
                "DeadLetterAlarm",
                "could not process events: inspect its dead-letter queue, fix, redrive",
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
            ),
        ]:
            alarm = cloudwatch.Alarm(
                self,
                alarm_id,
                alarm_description=f"{self.function.node.path} {description}",
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alert_topic))
            alarms.append(alarm)
        return alarms
