"""Model Monitor on what production serves (an endpoint, or a scheduled batch transform), and the drift
and model-quality alarms on what it publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnCondition, CfnResource, Fn, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.regions import model_monitor_image_uri
from config.schema import ModelConfig
from lambdas.common.contracts import (
    BATCH_DATA_METRICS_NAMESPACE,
    BATCH_MODEL_METRICS_NAMESPACE,
    DATA_METRICS_NAMESPACE,
    DATA_QUALITY,
    HIGHER_IS_BETTER,
    JSON_CONTENT_TYPE,
    MODEL_METRICS_NAMESPACE,
    MODEL_QUALITY,
    MONITOR_PROBLEM_TYPES,
    InferenceContract,
    drift_alarm_name,
    drift_metric_name,
    model_quality_alarm_name,
    monitoring_schedule_name,
)
from mlops_constructs.compliance import acknowledge_each

# The monitor runs hourly and must finish before the next run starts.
MONITORING_CRON = "cron(0 * ? * * *)"
MONITORING_MAX_RUNTIME_SECONDS = 3300
ENDPOINT_CAPTURES_PATH = "/opt/ml/processing/input/endpoint"
BATCH_CAPTURES_PATH = "/opt/ml/processing/input/batch"


@dataclass(frozen=True)
class MonitoredServing:
    """What Model Monitor reads: the captures of a real-time endpoint, or those of a batch transform.

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
class DataQualityInputs:
    """What the data-quality schedule compares captures with: the champion's baseline (empty strings
    when its package has none), and the script that flattens captured requests into records."""

    baseline_statistics_s3_uri: str
    baseline_constraints_s3_uri: str
    record_preprocessor_s3_uri: str


class ServingMonitor(Construct):
    """Model Monitor on what production serves, and the drift and model-quality alarms on what it publishes.

    An hourly data-quality schedule compares captured requests with the deployed champion's
    baseline (created only when the package carries one) and publishes a drift metric per
    feature; each monitored feature has an alarm. Where config names a ground-truth location, an
    hourly model-quality schedule joins captured predictions with the labels, reading them where
    the model's inference contract says, for its problem type, and publishes the model's metrics;
    the model's gate metric has an alarm on falling short of the gate's threshold in its direction.
    Jobs run network isolated, with KMS on volumes and outputs.

    Data quality is monitored where `data_quality` is given: for models whose requests name their
    features (JSON), like the builds' baselines do; header-less CSV rows cannot be matched with them
    (the configuration refuses drift alarms for a CSV model).

    The alarms have no action of their own: EventBridge routes their state changes to the drift
    alert Lambda, which publishes one message with context (and can start retraining).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        serving: MonitoredServing,
        model: ModelConfig,
        monitored_features: list[str],
        role_arn: str,
        output_s3_uri: str,
        data_quality: DataQualityInputs | None,
        kms_key_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The configuration accepts only regions with a Model Monitor image (config/regions.py).
        self._image = model_monitor_image_uri(stack.region)
        self._role_arn, self._kms_key_arn = role_arn, kms_key_arn
        self._serving = serving
        monitoring = model.monitoring
        self.drift_alarms: list[cloudwatch.CfnAlarm] = []
        self.data_quality_schedule: sagemaker.CfnMonitoringSchedule | None = None
        if data_quality is not None:
            self._data_quality(model, monitored_features, output_s3_uri=output_s3_uri, inputs=data_quality)
        self.model_quality_alarm: cloudwatch.CfnAlarm | None = None
        if monitoring.ground_truth_s3_uri:
            self._model_quality(model, output_s3_uri, monitoring.ground_truth_s3_uri)

    def _data_quality(
        self,
        model: ModelConfig,
        monitored_features: list[str],
        *,
        output_s3_uri: str,
        inputs: DataQualityInputs,
    ) -> None:
        """Captured requests against the champion's baseline, hourly; an alarm per monitored feature."""
        monitoring, name = model.monitoring, self._serving.name
        self.has_baseline = CfnCondition(
            self,
            "HasBaseline",
            expression=Fn.condition_not(Fn.condition_equals(inputs.baseline_constraints_s3_uri, "")),
        )
        data_quality = sagemaker.CfnDataQualityJobDefinition(
            self,
            "DataQualityJob",
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=self._image,
                environment={"publish_cloudwatch_metrics": "Enabled"},
                # Captured {"instances": [...]} bodies -> the flat records the baseline profiles.
                record_preprocessor_source_uri=inputs.record_preprocessor_s3_uri,
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=inputs.baseline_constraints_s3_uri
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=inputs.baseline_statistics_s3_uri
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                **self._job_input(sagemaker.CfnDataQualityJobDefinition, model.contract)
            ),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=self._kms_key_arn,
                monitoring_outputs=[
                    sagemaker.CfnDataQualityJobDefinition.MonitoringOutputProperty(
                        s3_output=sagemaker.CfnDataQualityJobDefinition.S3OutputProperty(
                            s3_uri=f"{output_s3_uri}/{DATA_QUALITY}",
                            local_path="/opt/ml/processing/output",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=sagemaker.CfnDataQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnDataQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=monitoring.instance_type,
                    volume_size_in_gb=20,
                    volume_kms_key_id=self._kms_key_arn,
                )
            ),
            network_config=sagemaker.CfnDataQualityJobDefinition.NetworkConfigProperty(
                enable_network_isolation=True, enable_inter_container_traffic_encryption=True
            ),
            role_arn=self._role_arn,
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=MONITORING_MAX_RUNTIME_SECONDS
            ),
        )
        data_quality.cfn_options.condition = self.has_baseline
        data_quality.node.add_dependency(self._serving.resource)
        schedule_name = monitoring_schedule_name(name, DATA_QUALITY)
        self.data_quality_schedule = self._schedule(
            "DataQualitySchedule", schedule_name, "DataQuality", data_quality.attr_job_definition_arn
        )
        self.data_quality_schedule.cfn_options.condition = self.has_baseline
        self.drift_alarms = [
            self._drift_alarm(schedule_name, feature, monitoring.drift_threshold) for feature in monitored_features
        ]

    def _job_input(self, job_definition: Any, contract: InferenceContract, **attributes: Any) -> dict[str, Any]:
        """The job input of `job_definition`'s kind: the endpoint's captures, or the batch transform's."""
        serving = self._serving
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

    def _schedule(
        self, construct_id: str, name: str, kind: str, job_definition_arn: str
    ) -> sagemaker.CfnMonitoringSchedule:
        # The job definition's generated name is the last part of its ARN.
        job_definition_name = Fn.select(1, Fn.split("/", job_definition_arn))
        return sagemaker.CfnMonitoringSchedule(
            self,
            construct_id,
            monitoring_schedule_name=name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=job_definition_name,
                monitoring_type=kind,
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=MONITORING_CRON
                ),
            ),
        )

    def _drift_alarm(self, schedule_name: str, feature: str, threshold: float) -> cloudwatch.CfnAlarm:
        name = self._serving.name
        alarm = cloudwatch.CfnAlarm(
            self,
            f"Drift{feature}",
            alarm_name=drift_alarm_name(name, feature),
            alarm_description=f"Baseline drift of feature '{feature}' on {name} above {threshold}",
            namespace=BATCH_DATA_METRICS_NAMESPACE if self._serving.is_batch else DATA_METRICS_NAMESPACE,
            metric_name=drift_metric_name(feature),
            dimensions=self._serving.dimensions(schedule_name),
            statistic="Maximum",
            period=3600,
            evaluation_periods=1,
            threshold=threshold,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
        alarm.cfn_options.condition = self.has_baseline
        _routed_to_the_drift_alert(alarm)
        return alarm

    def _model_quality(self, model: ModelConfig, output_s3_uri: str, ground_truth_s3_uri: str) -> None:
        """Joins captured predictions with the labels in the ground-truth location, hourly, reading the
        answers where the model's inference contract says (labels `ground_truth_delay_hours` late)."""
        contract = model.contract
        attributes: dict[str, Any] = {"inference_attribute": contract.monitor_attribute(contract.prediction_attribute)}
        # Binary classifiers' probabilities give AUC; a multiclass answer's probability is the predicted
        # class's only, which Model Monitor cannot use.
        if contract.probability_attribute is not None and contract.problem_type == "binary_classification":
            attributes["probability_attribute"] = contract.monitor_attribute(contract.probability_attribute)
        job_definition = sagemaker.CfnModelQualityJobDefinition
        job = job_definition(
            self,
            "ModelQualityJob",
            model_quality_app_specification=job_definition.ModelQualityAppSpecificationProperty(
                image_uri=self._image,
                problem_type=MONITOR_PROBLEM_TYPES[model.problem_type],
                environment={"publish_cloudwatch_metrics": "Enabled"},
            ),
            model_quality_job_input=job_definition.ModelQualityJobInputProperty(
                **self._job_input(
                    job_definition,
                    contract,
                    # The hour of predictions whose labels have landed by now.
                    start_time_offset=f"-PT{model.monitoring.ground_truth_delay_hours + 1}H",
                    end_time_offset=f"-PT{model.monitoring.ground_truth_delay_hours}H",
                    **attributes,
                ),
                ground_truth_s3_input=sagemaker.CfnModelQualityJobDefinition.MonitoringGroundTruthS3InputProperty(
                    s3_uri=ground_truth_s3_uri
                ),
            ),
            model_quality_job_output_config=sagemaker.CfnModelQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=self._kms_key_arn,
                monitoring_outputs=[
                    sagemaker.CfnModelQualityJobDefinition.MonitoringOutputProperty(
                        s3_output=sagemaker.CfnModelQualityJobDefinition.S3OutputProperty(
                            s3_uri=f"{output_s3_uri}/{MODEL_QUALITY}", local_path="/opt/ml/processing/output"
                        )
                    )
                ],
            ),
            job_resources=sagemaker.CfnModelQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnModelQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=model.monitoring.instance_type,
                    volume_size_in_gb=20,
                    volume_kms_key_id=self._kms_key_arn,
                )
            ),
            network_config=sagemaker.CfnModelQualityJobDefinition.NetworkConfigProperty(
                enable_network_isolation=True, enable_inter_container_traffic_encryption=True
            ),
            role_arn=self._role_arn,
            stopping_condition=sagemaker.CfnModelQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=MONITORING_MAX_RUNTIME_SECONDS
            ),
        )
        job.node.add_dependency(self._serving.resource)
        schedule_name = monitoring_schedule_name(self._serving.name, MODEL_QUALITY)
        self.model_quality_schedule = self._schedule(
            "ModelQualitySchedule", schedule_name, "ModelQuality", job.attr_job_definition_arn
        )
        self.model_quality_alarm = self._model_quality_alarm(schedule_name, model)

    def _model_quality_alarm(self, schedule_name: str, model: ModelConfig) -> cloudwatch.CfnAlarm:
        """The model's gate metric, as the model-quality schedule measures it in production, worse than
        the gate's threshold in the metric's direction (below it for auc, above it for rmse).

        `model.metric.threshold` may be a token (the serving template's parameter): it is only passed on."""
        metric, name = model.metric, self._serving.name
        higher_is_better = model.metric_direction == HIGHER_IS_BETTER
        alarm = cloudwatch.CfnAlarm(
            self,
            "ModelQualityAlarm",
            alarm_name=model_quality_alarm_name(name, metric.name),
            # The threshold is the template's Number parameter: its token is rendered by CloudFormation,
            # never formatted here.
            alarm_description=(
                f"Model-quality {metric.name} of {name} {'below' if higher_is_better else 'above'}"
                f" the gate's {Token.as_string(metric.threshold)}"
            ),
            namespace=BATCH_MODEL_METRICS_NAMESPACE if self._serving.is_batch else MODEL_METRICS_NAMESPACE,
            metric_name=metric.name,
            dimensions=self._serving.dimensions(schedule_name),
            # The worst hour of the period, in the metric's direction.
            statistic="Minimum" if higher_is_better else "Maximum",
            period=3600,
            evaluation_periods=1,
            threshold=metric.threshold,
            comparison_operator="LessThanThreshold" if higher_is_better else "GreaterThanThreshold",
            # An hour without labels publishes no metric: nothing to judge, not a breach.
            treat_missing_data="notBreaching",
        )
        _routed_to_the_drift_alert(alarm)
        return alarm


def _routed_to_the_drift_alert(alarm: cloudwatch.CfnAlarm) -> None:
    acknowledge_each(
        alarm,
        [
            (
                "NIST.800.53.R5-CloudWatchAlarmAction",
                "EventBridge routes this alarm's state changes to the drift alert Lambda, which alerts with context.",
            )
        ],
    )
