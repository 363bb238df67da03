"""Model Monitor and Clarify on what production serves (an endpoint, or a scheduled batch transform), and
the drift and model-quality alarms on what Model Monitor publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnCondition, Fn, Stack, Token
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
    MODEL_METRICS_NAMESPACE,
    MODEL_QUALITY,
    MONITOR_PROBLEM_TYPES,
    drift_alarm_name,
    drift_metric_name,
    model_quality_alarm_name,
    monitoring_schedule_name,
)
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.serving.clarify import ClarifyInputs, ClarifyMonitor
from mlops_constructs.serving.monitoring_jobs import (
    PUBLISH_METRICS,
    MonitoredServing,
    MonitoringJobs,
    monitoring_schedule,
)


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

    Clarify's monitors (`ClarifyMonitor`: feature attribution drift, and bias drift with ground truth)
    run against the champion's Clarify baselines where `clarify` is given.
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
        clarify: ClarifyInputs | None,
        kms_key_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The configuration accepts only regions with a Model Monitor image (config/regions.py).
        self._image = model_monitor_image_uri(Stack.of(self).region)
        self._serving = serving
        monitoring = model.monitoring
        self._jobs = MonitoringJobs(
            serving=serving,
            role_arn=role_arn,
            output_s3_uri=output_s3_uri,
            kms_key_arn=kms_key_arn,
            instance_type=monitoring.instance_type,
        )
        self.drift_alarms: list[cloudwatch.CfnAlarm] = []
        self.data_quality_schedule: sagemaker.CfnMonitoringSchedule | None = None
        if data_quality is not None:
            self._data_quality(model, monitored_features, inputs=data_quality)
        self.model_quality_alarm: cloudwatch.CfnAlarm | None = None
        if monitoring.ground_truth_s3_uri:
            self._model_quality(model, monitoring.ground_truth_s3_uri)
        self.clarify: ClarifyMonitor | None = None
        if clarify is not None:
            self.clarify = ClarifyMonitor(self, "Clarify", jobs=self._jobs, model=model, inputs=clarify)

    def _data_quality(self, model: ModelConfig, monitored_features: list[str], *, inputs: DataQualityInputs) -> None:
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
                environment=PUBLISH_METRICS,
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
                **self._jobs.job_input(sagemaker.CfnDataQualityJobDefinition, model.contract)
            ),
            data_quality_job_output_config=self._jobs.output_config(
                sagemaker.CfnDataQualityJobDefinition, DATA_QUALITY, upload_mode="EndOfJob"
            ),
            **self._jobs.runtime(sagemaker.CfnDataQualityJobDefinition),
        )
        data_quality.cfn_options.condition = self.has_baseline
        data_quality.node.add_dependency(self._serving.resource)
        schedule_name = monitoring_schedule_name(name, DATA_QUALITY)
        self.data_quality_schedule = monitoring_schedule(
            self,
            "DataQualitySchedule",
            name=schedule_name,
            kind="DataQuality",
            job_definition_arn=data_quality.attr_job_definition_arn,
        )
        self.data_quality_schedule.cfn_options.condition = self.has_baseline
        self.drift_alarms = [
            self._drift_alarm(schedule_name, feature, monitoring.drift_threshold) for feature in monitored_features
        ]

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

    def _model_quality(self, model: ModelConfig, ground_truth_s3_uri: str) -> None:
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
                environment=PUBLISH_METRICS,
            ),
            model_quality_job_input=job_definition.ModelQualityJobInputProperty(
                **self._jobs.job_input(
                    job_definition,
                    contract,
                    # The hour of predictions whose labels have landed by now.
                    start_time_offset=f"-PT{model.monitoring.ground_truth_delay_hours + 1}H",
                    end_time_offset=f"-PT{model.monitoring.ground_truth_delay_hours}H",
                    **attributes,
                ),
                ground_truth_s3_input=job_definition.MonitoringGroundTruthS3InputProperty(s3_uri=ground_truth_s3_uri),
            ),
            model_quality_job_output_config=self._jobs.output_config(job_definition, MODEL_QUALITY),
            **self._jobs.runtime(job_definition),
        )
        job.node.add_dependency(self._serving.resource)
        schedule_name = monitoring_schedule_name(self._serving.name, MODEL_QUALITY)
        self.model_quality_schedule = monitoring_schedule(
            self,
            "ModelQualitySchedule",
            name=schedule_name,
            kind="ModelQuality",
            job_definition_arn=job.attr_job_definition_arn,
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
