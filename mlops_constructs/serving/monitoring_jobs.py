"""What every monitoring job on a serving shares, whatever it checks (data quality, model quality, bias,
feature attribution): what it reads, the role it runs as, its instance, key, network and time limit,
where it writes, and its hourly schedule.

CloudFormation's four job definition types have property types of their own, of the same shapes: each
helper takes the L1 class of the job definition it builds for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnResource, Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas.common.contracts import JSON_CONTENT_TYPE, InferenceContract

# The monitors run hourly and must finish before the next run starts.
MONITORING_CRON = "cron(0 * ? * * *)"
MONITORING_MAX_RUNTIME_SECONDS = 3300
ENDPOINT_CAPTURES_PATH = "/opt/ml/processing/input/endpoint"
BATCH_CAPTURES_PATH = "/opt/ml/processing/input/batch"
OUTPUT_PATH = "/opt/ml/processing/output"
VOLUME_SIZE_GB = 20
# Every monitor publishes its metrics to CloudWatch (Model Monitor's and Clarify's containers alike).
PUBLISH_METRICS = {"publish_cloudwatch_metrics": "Enabled"}


@dataclass(frozen=True)
class MonitoredServing:
    """What the monitors read: the captures of a real-time endpoint, or those of a batch transform.

    `name` is the stage's serving name (the endpoint's, or the transform pipeline's): the schedules
    and alarms are named after it. `batch_capture_s3_uri` is where the transform captures its
    inputs and outputs (None for an endpoint, whose captures Model Monitor finds by its name).
    """

    name: str
    resource: CfnResource
    batch_capture_s3_uri: str | None = None

    @property
    def is_batch(self) -> bool:
        return self.batch_capture_s3_uri is not None

    def dimensions(self, schedule_name: str) -> list[cloudwatch.CfnAlarm.DimensionProperty]:
        """The dimensions Model Monitor publishes its metrics with (a batch transform's have no endpoint)."""
        schedule = cloudwatch.CfnAlarm.DimensionProperty(name="MonitoringSchedule", value=schedule_name)
        if self.is_batch:
            return [schedule]
        return [cloudwatch.CfnAlarm.DimensionProperty(name="Endpoint", value=self.name), schedule]


@dataclass(frozen=True)
class MonitoringJobs:
    """The settings every monitoring job on `serving` shares: it runs as `role_arn` on `instance_type`,
    network isolated (all but the explainability monitor, which serves the model on an endpoint), with
    `kms_key_arn` on its volume and its reports, and writes them under `<output_s3_uri>/<kind>`."""

    serving: MonitoredServing
    role_arn: str
    output_s3_uri: str
    kms_key_arn: str | None
    instance_type: str

    def job_input(self, job_definition: Any, contract: InferenceContract, **attributes: Any) -> dict[str, Any]:
        """The job input of `job_definition`'s kind: the endpoint's captures, or the batch transform's.

        `attributes` say where the job finds what it reads in each captured request and answer (a JSON
        document, or CSV rows, per `contract`): `features_attribute`, `inference_attribute`, ... (each
        kind's own, clarify.py and monitor.py)."""
        serving = self.serving
        if serving.batch_capture_s3_uri is None:
            return {
                "endpoint_input": job_definition.EndpointInputProperty(
                    endpoint_name=serving.name,
                    local_path=ENDPOINT_CAPTURES_PATH,
                    s3_data_distribution_type="FullyReplicated",
                    s3_input_mode="File",
                    **attributes,
                )
            }
        json_lines = contract.content_type == JSON_CONTENT_TYPE
        return {
            "batch_transform_input": job_definition.BatchTransformInputProperty(
                data_captured_destination_s3_uri=serving.batch_capture_s3_uri,
                dataset_format=job_definition.DatasetFormatProperty(
                    json=job_definition.JsonProperty(line=True) if json_lines else None,
                    csv=None if json_lines else job_definition.CsvProperty(header=False),
                ),
                local_path=BATCH_CAPTURES_PATH,
                s3_data_distribution_type="FullyReplicated",
                s3_input_mode="File",
                **attributes,
            )
        }

    def output_config(self, job_definition: Any, kind: str, *, upload_mode: str | None = None) -> Any:
        """The job's reports, encrypted, under `<output_s3_uri>/<kind>`."""
        return job_definition.MonitoringOutputConfigProperty(
            kms_key_id=self.kms_key_arn,
            monitoring_outputs=[
                job_definition.MonitoringOutputProperty(
                    s3_output=job_definition.S3OutputProperty(
                        s3_uri=f"{self.output_s3_uri}/{kind}", local_path=OUTPUT_PATH, s3_upload_mode=upload_mode
                    )
                )
            ],
        )

    def runtime(self, job_definition: Any, *, network_isolation: bool = True) -> dict[str, Any]:
        """How the job runs: its instance and encrypted volume, network isolated (unless the job calls an
        AWS API itself: `network_isolation` False), its traffic between instances encrypted, as the
        monitoring role, ending before the next hourly run (the job definition's keyword arguments)."""
        return {
            "job_resources": job_definition.MonitoringResourcesProperty(
                cluster_config=job_definition.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=self.instance_type,
                    volume_size_in_gb=VOLUME_SIZE_GB,
                    volume_kms_key_id=self.kms_key_arn,
                )
            ),
            "network_config": job_definition.NetworkConfigProperty(
                enable_network_isolation=network_isolation, enable_inter_container_traffic_encryption=True
            ),
            "role_arn": self.role_arn,
            "stopping_condition": job_definition.StoppingConditionProperty(
                max_runtime_in_seconds=MONITORING_MAX_RUNTIME_SECONDS
            ),
        }


def monitoring_schedule(
    scope: Construct, construct_id: str, *, name: str, kind: str, job_definition_arn: str
) -> sagemaker.CfnMonitoringSchedule:
    """The hourly schedule of a job definition (`kind`: its MonitoringType)."""
    # The job definition's generated name is the last part of its ARN.
    job_definition_name = Fn.select(1, Fn.split("/", job_definition_arn))
    return sagemaker.CfnMonitoringSchedule(
        scope,
        construct_id,
        monitoring_schedule_name=name,
        monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
            monitoring_job_definition_name=job_definition_name,
            monitoring_type=kind,
            schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(schedule_expression=MONITORING_CRON),
        ),
    )
