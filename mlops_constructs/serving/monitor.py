"""Model Monitor on a production endpoint, and the drift and model-quality alarms on what it publishes."""

from __future__ import annotations

from aws_cdk import CfnCondition, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.regions import model_monitor_image_uri
from config.schema import MetricConfig, ModelConfig
from lambdas.common.contracts import (
    DATA_METRICS_NAMESPACE,
    DATA_QUALITY,
    MODEL_METRICS_NAMESPACE,
    MODEL_QUALITY,
    drift_alarm_name,
    drift_metric_name,
    model_quality_alarm_name,
    monitoring_schedule_name,
)
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.serving.endpoint import MultiVariantEndpoint

# The monitor runs hourly and must finish before the next run starts.
MONITORING_CRON = "cron(0 * ? * * *)"
MONITORING_MAX_RUNTIME_SECONDS = 3300


class EndpointMonitor(Construct):
    """Model Monitor on a production endpoint, and the drift and model-quality alarms on what it publishes.

    An hourly data-quality schedule compares captured requests with the deployed champion's
    baseline (created only when the package carries one) and publishes a drift metric per
    feature; each monitored feature has an alarm. Where config names a ground-truth location, an
    hourly model-quality schedule joins captured predictions with the labels and publishes the
    model's metrics; the model's gate metric has an alarm on falling below the gate's threshold.
    Jobs run network isolated, with KMS on volumes and outputs.

    The alarms have no action of their own: EventBridge routes their state changes to the drift
    alert Lambda, which publishes one message with context (and can start retraining).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: MultiVariantEndpoint,
        model: ModelConfig,
        monitored_features: list[str],
        role_arn: str,
        output_s3_uri: str,
        baseline_statistics_s3_uri: str,
        baseline_constraints_s3_uri: str,
        record_preprocessor_s3_uri: str,
        kms_key_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The configuration accepts only regions with a Model Monitor image (config/regions.py).
        self._image = model_monitor_image_uri(stack.region)
        self._role_arn, self._kms_key_arn = role_arn, kms_key_arn
        monitoring = model.monitoring
        self.has_baseline = CfnCondition(
            self, "HasBaseline", expression=Fn.condition_not(Fn.condition_equals(baseline_constraints_s3_uri, ""))
        )
        endpoint_name = endpoint.endpoint_name
        data_quality = sagemaker.CfnDataQualityJobDefinition(
            self,
            "DataQualityJob",
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=self._image,
                environment={"publish_cloudwatch_metrics": "Enabled"},
                # Captured {"instances": [...]} bodies -> the flat records the baseline profiles.
                record_preprocessor_source_uri=record_preprocessor_s3_uri,
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=baseline_constraints_s3_uri
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=baseline_statistics_s3_uri
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint_name,
                    local_path="/opt/ml/processing/input/endpoint",
                    s3_data_distribution_type="FullyReplicated",
                    s3_input_mode="File",
                )
            ),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=kms_key_arn,
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
                    volume_kms_key_id=kms_key_arn,
                )
            ),
            network_config=sagemaker.CfnDataQualityJobDefinition.NetworkConfigProperty(
                enable_network_isolation=True, enable_inter_container_traffic_encryption=True
            ),
            role_arn=role_arn,
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=MONITORING_MAX_RUNTIME_SECONDS
            ),
        )
        data_quality.cfn_options.condition = self.has_baseline
        data_quality.node.add_dependency(endpoint.endpoint)
        self.data_quality_schedule_name = monitoring_schedule_name(endpoint_name, DATA_QUALITY)
        self.data_quality_schedule = self._schedule(
            "DataQualitySchedule", self.data_quality_schedule_name, "DataQuality", data_quality.attr_job_definition_arn
        )
        self.data_quality_schedule.cfn_options.condition = self.has_baseline
        self.drift_alarms = [
            self._drift_alarm(endpoint_name, feature, monitoring.drift_threshold) for feature in monitored_features
        ]
        self.model_quality_alarm: cloudwatch.CfnAlarm | None = None
        if monitoring.ground_truth_s3_uri:
            self._model_quality(
                endpoint, monitoring.instance_type, output_s3_uri, monitoring.ground_truth_s3_uri, model.metric
            )

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

    def _drift_alarm(self, endpoint_name: str, feature: str, threshold: float) -> cloudwatch.CfnAlarm:
        alarm = cloudwatch.CfnAlarm(
            self,
            f"Drift{feature}",
            alarm_name=drift_alarm_name(endpoint_name, feature),
            alarm_description=f"Baseline drift of feature '{feature}' on {endpoint_name} above {threshold}",
            namespace=DATA_METRICS_NAMESPACE,
            metric_name=drift_metric_name(feature),
            dimensions=[
                cloudwatch.CfnAlarm.DimensionProperty(name="Endpoint", value=endpoint_name),
                cloudwatch.CfnAlarm.DimensionProperty(name="MonitoringSchedule", value=self.data_quality_schedule_name),
            ],
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

    def _model_quality(
        self,
        endpoint: MultiVariantEndpoint,
        instance_type: str,
        output_s3_uri: str,
        ground_truth_s3_uri: str,
        metric: MetricConfig,
    ) -> None:
        """Joins captured predictions with the labels in the ground-truth location, hourly."""
        job = sagemaker.CfnModelQualityJobDefinition(
            self,
            "ModelQualityJob",
            model_quality_app_specification=sagemaker.CfnModelQualityJobDefinition.ModelQualityAppSpecificationProperty(
                image_uri=self._image,
                problem_type="BinaryClassification",
                environment={"publish_cloudwatch_metrics": "Enabled"},
            ),
            model_quality_job_input=sagemaker.CfnModelQualityJobDefinition.ModelQualityJobInputProperty(
                endpoint_input=sagemaker.CfnModelQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint.endpoint_name,
                    local_path="/opt/ml/processing/input/endpoint",
                    # The seed's serving script answers {"predictions": [{"churn_probability", "churned"}]}.
                    probability_attribute="predictions[0].churn_probability",
                    probability_threshold_attribute=0.5,
                    start_time_offset="-PT2H",
                    end_time_offset="-PT1H",
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
                    instance_type=instance_type,
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
        job.node.add_dependency(endpoint.endpoint)
        schedule_name = monitoring_schedule_name(endpoint.endpoint_name, MODEL_QUALITY)
        self.model_quality_schedule = self._schedule(
            "ModelQualitySchedule", schedule_name, "ModelQuality", job.attr_job_definition_arn
        )
        self.model_quality_alarm = self._model_quality_alarm(endpoint.endpoint_name, schedule_name, metric)

    def _model_quality_alarm(self, endpoint_name: str, schedule_name: str, metric: MetricConfig) -> cloudwatch.CfnAlarm:
        """The model's gate metric, as the model-quality schedule measures it in production, below the
        gate's threshold (every gate metric is higher-is-better: config.schema.MetricConfig)."""
        alarm = cloudwatch.CfnAlarm(
            self,
            "ModelQualityAlarm",
            alarm_name=model_quality_alarm_name(endpoint_name, metric.name),
            alarm_description=f"Model-quality {metric.name} of {endpoint_name} below the gate's {metric.threshold}",
            namespace=MODEL_METRICS_NAMESPACE,
            metric_name=metric.name,
            dimensions=[
                cloudwatch.CfnAlarm.DimensionProperty(name="Endpoint", value=endpoint_name),
                cloudwatch.CfnAlarm.DimensionProperty(name="MonitoringSchedule", value=schedule_name),
            ],
            statistic="Minimum",
            period=3600,
            evaluation_periods=1,
            threshold=metric.threshold,
            comparison_operator="LessThanThreshold",
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
