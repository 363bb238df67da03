"""A batch model's serving: a SageMaker Pipeline that runs one batch transform of the package, and in
production the schedule that starts it and the alarms that watch it.

Why a SageMaker Pipeline started by EventBridge Scheduler, rather than a rule or a state machine:
- the pipeline names each transform job itself (a fixed name would collide from one run to the next),
  keeps every run's history, parameters and failure reason, and records the lineage from the model
  package to the output, which auditors read;
- Scheduler starts a SageMaker pipeline natively (no Lambda, no SDK call to write), with cron in a
  time zone, retries and a dead-letter queue;
- the deploy pipeline's staging check runs the very same pipeline definition on a sample, with other
  input and output locations (its parameters), so what is checked is what production runs.

The transform reads `InputS3Uri` (a prefix of JSON lines or CSV rows, per the model's inference
contract) and writes `<OutputS3Uri>/<pipeline execution id>/`, one `<input file>.out` per input file,
KMS-encrypted; it captures every request and answer for Model Monitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    JSON_CONTENT_TYPE,
    MODEL_TAG,
    TRANSFORM_INPUT_PARAMETER,
    TRANSFORM_OUTPUT_PARAMETER,
)
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS
from mlops_constructs.serving.endpoint import package_model

PIPELINE_DEFINITION_VERSION = "2020-12-01"
TRANSFORM_STEP = "Transform"
# Where SageMaker Pipelines publish their executions' outcomes (dimension PipelineName).
PIPELINE_METRICS_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
# A request's answer may take this long (the container's own limit is an hour).
INVOCATION_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class TransformSchedule:
    """When production runs, and who starts it: the role EventBridge Scheduler assumes and its DLQ."""

    role_arn: str
    dead_letter_queue_arn: str


class BatchTransform(Construct):
    """The package behind one SageMaker Pipeline that runs one batch transform; in production, its
    schedule and the alarm on a failed run."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        model: ModelConfig,
        package_arn: str,
        execution_role_arn: str,
        pipeline_role_arn: str,
        kms_key_arn: str,
        input_s3_uri: str,
        output_s3_uri: str,
        data_capture_s3_uri: str,
        alert_topic_arn: str | None,
        schedule: TransformSchedule | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        batch = model.batch
        self.model = package_model(self, "Model", package_arn=package_arn, execution_role_arn=execution_role_arn)
        definition = self._definition(
            model,
            input_s3_uri=input_s3_uri,
            output_s3_uri=output_s3_uri,
            data_capture_s3_uri=data_capture_s3_uri,
            kms_key_arn=kms_key_arn,
        )
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=name,
            pipeline_description=f"Batch transform of model '{model.name}' with {package_arn}",
            role_arn=pipeline_role_arn,
            pipeline_definition={"PipelineDefinitionBody": Stack.of(self).to_json_string(definition)},
        )
        self.pipeline_arn = Stack.of(self).format_arn(service="sagemaker", resource="pipeline", resource_name=name)
        self.schedule: scheduler.CfnSchedule | None = None
        self.alarms: list[cloudwatch.Alarm] = []
        if schedule is not None and alert_topic_arn is not None:
            self.schedule = scheduler.CfnSchedule(
                self,
                "Schedule",
                name=name,
                description=f"Runs the batch transform of model '{model.name}'",
                schedule_expression=batch.schedule_expression,
                schedule_expression_timezone=batch.schedule_timezone,
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=self.pipeline_arn,
                    role_arn=schedule.role_arn,
                    # No parameters: the pipeline's defaults are the configured input and output.
                    sage_maker_pipeline_parameters=scheduler.CfnSchedule.SageMakerPipelineParametersProperty(),
                    # Retried like every event target of the platform, then dead-lettered.
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_retry_attempts=EVENT_RETRY_ATTEMPTS,
                        maximum_event_age_in_seconds=int(EVENT_MAX_AGE.to_seconds()),
                    ),
                    dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                        arn=schedule.dead_letter_queue_arn
                    ),
                ),
            )
            self.schedule.node.add_dependency(self.pipeline)
            self.alarms = self._alarms(alert_topic_arn)

    def _definition(
        self,
        model: ModelConfig,
        *,
        input_s3_uri: str,
        output_s3_uri: str,
        data_capture_s3_uri: str,
        kms_key_arn: str,
    ) -> dict[str, Any]:
        """The SageMaker Pipeline definition: two parameters, one transform step."""
        batch, contract = model.batch, model.contract
        # A JSON request is one document per line; CSV rows are sent several to a request.
        json_lines = contract.content_type == JSON_CONTENT_TYPE
        arguments: dict[str, Any] = {
            "ModelName": self.model.attr_model_name,
            "BatchStrategy": "SingleRecord" if json_lines else "MultiRecord",
            "ModelClientConfig": {
                "InvocationsTimeoutInSeconds": INVOCATION_TIMEOUT_SECONDS,
                "InvocationsMaxRetries": 1,
            },
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": {"Get": f"Parameters.{TRANSFORM_INPUT_PARAMETER}"},
                    }
                },
                "ContentType": contract.content_type,
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath": {
                    "Std:Join": {
                        "On": "/",
                        "Values": [
                            {"Get": f"Parameters.{TRANSFORM_OUTPUT_PARAMETER}"},
                            {"Get": "Execution.PipelineExecutionId"},
                        ],
                    }
                },
                "Accept": contract.accept,
                "AssembleWith": "Line",
                "KmsKeyId": kms_key_arn,
            },
            "TransformResources": {
                # The serving template's InferenceInstanceType parameter when the transform has none of its own.
                "InstanceType": batch.instance_type or model.instance_types.inference,
                "InstanceCount": batch.instance_count,
                "VolumeKmsKeyId": kms_key_arn,
            },
            "Tags": [{"Key": MODEL_TAG, "Value": model.name}],
        }
        # Captured in both stages, so that staging writes its answers exactly as production does: an
        # inference id (which model quality joins labels on) is appended to each answer.
        arguments["DataCaptureConfig"] = {
            "DestinationS3Uri": data_capture_s3_uri,
            "KmsKeyId": kms_key_arn,
            "GenerateInferenceId": model.monitoring.ground_truth_s3_uri is not None,
        }
        return {
            "Version": PIPELINE_DEFINITION_VERSION,
            "Metadata": {},
            "Parameters": [
                {"Name": TRANSFORM_INPUT_PARAMETER, "Type": "String", "DefaultValue": input_s3_uri},
                {"Name": TRANSFORM_OUTPUT_PARAMETER, "Type": "String", "DefaultValue": output_s3_uri},
            ],
            "Steps": [{"Name": TRANSFORM_STEP, "Type": "Transform", "Arguments": arguments}],
        }

    def _alarms(self, alert_topic_arn: str) -> list[cloudwatch.Alarm]:
        """A failed run notifies the alert topic. (A run the schedule could not start lands, after its
        retries, in the deploy stack's dead-letter queue, whose alarm notifies the same topic.)"""
        failed = cloudwatch.Alarm(
            self,
            "FailedRuns",
            alarm_description=f"{self.name}: a batch transform run failed",
            metric=cloudwatch.Metric(
                namespace=PIPELINE_METRICS_NAMESPACE,
                metric_name="ExecutionFailed",
                dimensions_map={"PipelineName": self.name},
                statistic="Sum",
                period=Duration.hours(1),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        failed.add_alarm_action(
            cloudwatch_actions.SnsAction(sns.Topic.from_topic_arn(self, "AlertTopic", alert_topic_arn))
        )
        return [failed]
