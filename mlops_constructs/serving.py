"""Serving: a multi-variant SageMaker endpoint, its alarms, autoscaling and dashboard.

The deploy pipeline deploys this as a CloudFormation template that the app synthesizes (one per
stage, stage settings decided here in Python) and that takes only what is known at deploy time as
parameters: the model package ARNs, and the platform resources the deploy stack owns. So no step
of the pipeline needs the platform's source code, and nothing calls AWS at synth time.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any, Literal

from aws_cdk import App as CdkApp
from aws_cdk import (
    Aws,
    BootstraplessSynthesizer,
    CfnCondition,
    CfnOutput,
    CfnParameter,
    Duration,
    Environment,
    Fn,
    Stack,
)
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ModelConfig, StageServingConfig
from mlops_constructs.compliance import acknowledge_each, add_compliance_checks

Stage = Literal["staging", "production"]
# AWS accounts that publish the Model Monitor analyzer image (sagemaker-model-monitor-analyzer) per
# region, as listed by the SageMaker Python SDK's image_uri_config/model-monitor.json.
MODEL_MONITOR_IMAGE_ACCOUNTS = {
    "af-south-1": "875698925577", "ap-east-1": "001633400207", "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524", "ap-northeast-3": "990339680094", "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676", "ap-southeast-2": "563025443158", "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234", "cn-north-1": "453000072557", "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253", "eu-central-2": "590183933784", "eu-north-1": "895015795356",
    "eu-south-1": "933208885752", "eu-south-2": "437450045455", "eu-west-1": "468650794304",
    "eu-west-2": "749857270468", "eu-west-3": "680080141114", "il-central-1": "843974653677",
    "me-central-1": "588750061953", "me-south-1": "607024016150", "sa-east-1": "539772159869",
    "us-east-1": "156813124566", "us-east-2": "777275614652", "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}  # fmt: skip
DATA_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
# The monitor runs hourly and must finish before the next run starts.
MONITORING_CRON = "cron(0 * ? * * *)"
MONITORING_MAX_RUNTIME_SECONDS = 3300
CHAMPION, CHALLENGER = "champion", "challenger"
PACKAGE_ARN_PATTERN = r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+/\d+"
# The template's parameters the deploy pipeline and the rollback tool set, and its one output.
CHAMPION_PARAMETER, CHALLENGER_PARAMETER, ENDPOINT_OUTPUT = (
    "ChampionModelPackageArn",
    "ChallengerModelPackageArn",
    "EndpointName",
)
BASELINE_STATISTICS_PARAMETER = "BaselineStatisticsS3Uri"
BASELINE_CONSTRAINTS_PARAMETER = "BaselineConstraintsS3Uri"


def endpoint_name(platform_name: str, model_name: str, stage: Stage) -> str:
    return f"{platform_name}-{model_name}-{stage}"


def serving_stack_name(platform_name: str, model_name: str, stage: Stage) -> str:
    return f"{platform_name}-{model_name}-{stage}"


@dataclass(frozen=True)
class VariantAlarms:
    latency: cloudwatch.Alarm
    errors_5xx: cloudwatch.Alarm
    errors_4xx: cloudwatch.Alarm
    no_invocations: cloudwatch.Alarm | None


class MultiVariantEndpoint(Construct):
    """A champion variant, an optional challenger variant, and everything that watches them.

    - SageMaker models from model package ARNs (network isolated), an endpoint config with named
      variants and their initial weights, KMS on volumes and data capture;
    - per variant: target-tracking autoscaling, alarms (p99 latency, 5xx and 4xx rates, no
      invocations) to the alert topic;
    - blue/green updates with canary or linear traffic shifting that roll back on the 5xx and
      latency alarms;
    - a dashboard.
    The challenger exists when `challenger_package_arn` is not empty (decided at deploy time).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        model: ModelConfig,
        stage_config: StageServingConfig,
        champion_package_arn: str,
        challenger_package_arn: str | None,
        execution_role_arn: str,
        kms_key_arn: str | None,
        data_capture_s3_uri: str | None,
        alert_topic_arn: str,
        guardrails: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        serving = model.serving
        self.endpoint_name = endpoint_name
        self.kms_key_arn = kms_key_arn
        self._stage_config = stage_config
        self._period = Duration.minutes(serving.alarms.period_minutes)
        self._alarm_action = cloudwatch_actions.SnsAction(sns.Topic.from_topic_arn(self, "AlertTopic", alert_topic_arn))
        self.has_challenger: CfnCondition | None = None
        if challenger_package_arn is not None:
            self.has_challenger = CfnCondition(
                self, "HasChallenger", expression=Fn.condition_not(Fn.condition_equals(challenger_package_arn, ""))
            )

        champion_model = self._model(CHAMPION, champion_package_arn, execution_role_arn)
        # Variants are written in CloudFormation's shape, because the challenger sits inside an Fn::If.
        variants: list[Any] = [
            self._variant(CHAMPION, champion_model, model.variants.champion_percent if self.has_challenger else 100)
        ]
        if self.has_challenger is not None and challenger_package_arn is not None:
            challenger_model = self._model(CHALLENGER, challenger_package_arn, execution_role_arn)
            challenger_model.cfn_options.condition = self.has_challenger
            variants.append(
                Fn.condition_if(
                    self.has_challenger.logical_id,
                    self._variant(CHALLENGER, challenger_model, model.variants.challenger_percent),
                    Aws.NO_VALUE,
                )
            )

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[],  # set below: the L1 validates typed variants and cannot take an Fn::If
            kms_key_id=kms_key_arn,
            data_capture_config=self._data_capture(serving.data_capture_percent, data_capture_s3_uri, kms_key_arn),
        )
        self.endpoint_config.add_property_override("ProductionVariants", variants)
        if stage_config.serverless:
            acknowledge_each(
                self.endpoint_config,
                [
                    (
                        "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
                        "Serverless endpoints have no instance volumes to encrypt; SageMaker rejects a KMS key for them.",
                    )
                ],
            )

        self.alarms = {CHAMPION: self._variant_alarms(CHAMPION, model, production=data_capture_s3_uri is not None)}
        if self.has_challenger is not None:
            self.alarms[CHALLENGER] = self._variant_alarms(CHALLENGER, model, production=True)
            for alarm in _all_alarms(self.alarms[CHALLENGER]):
                _conditional(alarm, self.has_challenger)

        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=self._guardrails(model) if guardrails else None,
        )
        if guardrails:
            self.endpoint.add_property_override(
                "DeploymentConfig.AutoRollbackConfiguration.Alarms", self._rollback_alarms()
            )
        if stage_config.autoscaling is not None:
            self._autoscale(CHAMPION, None)
            if self.has_challenger is not None:
                self._autoscale(CHALLENGER, self.has_challenger)
        self.dashboard = self._dashboard()

    # --- models and variants ----------------------------------------------------------------------

    def _model(self, variant: str, package_arn: str, execution_role_arn: str) -> sagemaker.CfnModel:
        return sagemaker.CfnModel(
            self,
            f"{variant.capitalize()}Model",
            execution_role_arn=execution_role_arn,
            containers=[sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=package_arn)],
            # The serving container needs no network: its code and model are in model.tar.gz.
            enable_network_isolation=True,
        )

    def _variant(self, name: str, model: sagemaker.CfnModel, weight: float) -> dict[str, Any]:
        """A production variant in CloudFormation's shape (it may sit inside an Fn::If)."""
        variant: dict[str, Any] = {
            "VariantName": name,
            "ModelName": model.attr_model_name,
            "InitialVariantWeight": weight,
        }
        serverless = self._stage_config.serverless
        if serverless is not None:
            variant["ServerlessConfig"] = {
                "MemorySizeInMB": serverless.memory_mb,
                "MaxConcurrency": serverless.max_concurrency,
            }
        else:
            variant["InstanceType"] = self._stage_config.instance_type
            variant["InitialInstanceCount"] = self._stage_config.initial_instance_count
        return variant

    def _data_capture(
        self, percent: int, destination: str | None, kms_key_arn: str | None
    ) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None:
        if destination is None or percent == 0:
            return None
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=percent,
            destination_s3_uri=destination,
            kms_key_id=kms_key_arn,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
            ],
            capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                json_content_types=["application/json"], csv_content_types=["text/csv"]
            ),
        )

    # --- alarms, guardrails, autoscaling, dashboard ---------------------------------------------------

    def _metric(self, variant: str, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": variant},
            statistic=statistic,
            period=self._period,
        )

    def _variant_alarms(self, variant: str, model: ModelConfig, *, production: bool) -> VariantAlarms:
        thresholds = model.serving.alarms
        invocations = self._metric(variant, "Invocations", "Sum")

        def alarm(
            kind: str, description: str, metric: cloudwatch.IMetric, threshold: float, **options: Any
        ) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self,
                f"{variant.capitalize()}{kind}",
                alarm_description=f"{self.endpoint_name} {variant}: {description}",
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=options.pop("comparison", cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD),
                treat_missing_data=options.pop("missing", cloudwatch.TreatMissingData.NOT_BREACHING),
            )
            created.add_alarm_action(self._alarm_action)
            return created

        return VariantAlarms(
            latency=alarm(
                "LatencyP99",
                f"model latency p99 above {thresholds.latency_p99_ms} ms",
                self._metric(variant, "ModelLatency", "p99"),
                thresholds.latency_p99_ms * 1000,  # ModelLatency is in microseconds
            ),
            errors_5xx=alarm(
                "Errors5xx",
                f"5xx rate above {thresholds.error_5xx_percent} %",
                self._error_rate(variant, "Invocation5XXErrors"),
                thresholds.error_5xx_percent,
            ),
            errors_4xx=alarm(
                "Errors4xx",
                f"4xx rate above {thresholds.error_4xx_percent} %",
                self._error_rate(variant, "Invocation4XXErrors"),
                thresholds.error_4xx_percent,
            ),
            # Staging has no steady traffic; in production silence means clients cannot reach the model.
            no_invocations=alarm(
                "NoInvocations",
                "no invocations (traffic dropped to zero)",
                invocations,
                1,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing=cloudwatch.TreatMissingData.BREACHING,
            )
            if production
            else None,
        )

    def _guardrails(self, model: ModelConfig) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
        rollout = model.serving.rollout
        step = sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=rollout.step_percent)
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                    type=rollout.mode.upper(),
                    wait_interval_in_seconds=rollout.wait_minutes * 60,
                    canary_size=step if rollout.mode == "canary" else None,
                    linear_step_size=step if rollout.mode == "linear" else None,
                ),
                termination_wait_in_seconds=rollout.baking_minutes * 60,
                maximum_execution_timeout_in_seconds=_rollout_timeout_seconds(model),
            ),
        )

    def _rollback_alarms(self) -> list[Any]:
        """The 5xx and latency alarms of every variant, in CloudFormation's shape (inside Fn::If)."""
        rollback_alarms: list[Any] = []
        for variant, alarms in self.alarms.items():
            for alarm in (alarms.errors_5xx, alarms.latency):
                entry = {"AlarmName": alarm.alarm_name}
                rollback_alarms.append(
                    Fn.condition_if(self.has_challenger.logical_id, entry, Aws.NO_VALUE)
                    if variant == CHALLENGER and self.has_challenger is not None
                    else entry
                )
        return rollback_alarms

    def _autoscale(self, variant: str, condition: CfnCondition | None) -> None:
        scaling = self._stage_config.autoscaling
        assert scaling is not None
        target = autoscaling.CfnScalableTarget(
            self,
            f"{variant.capitalize()}ScalableTarget",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{self.endpoint_name}/variant/{variant}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=scaling.min_instances,
            max_capacity=scaling.max_instances,
        )
        target.node.add_dependency(self.endpoint)
        policy = autoscaling.CfnScalingPolicy(
            self,
            f"{variant.capitalize()}ScalingPolicy",
            policy_name=f"{self.endpoint_name}-{variant}-invocations",
            policy_type="TargetTrackingScaling",
            scaling_target_id=target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=scaling.target_invocations_per_instance,
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
        )
        if condition is not None:
            target.cfn_options.condition = condition
            policy.cfn_options.condition = condition

    def _dashboard(self) -> cloudwatch.Dashboard:
        """Traffic, latency and error rates of both variants; the champion's alarms.

        The challenger's alarms are conditional resources, so the dashboard graphs its metrics
        instead of referencing them (a dashboard cannot reference a resource that may not exist).
        """
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self.endpoint_name)
        variants = [CHAMPION, CHALLENGER] if self.has_challenger is not None else [CHAMPION]

        def graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=metrics, width=12)

        dashboard.add_widgets(
            graph("Invocations", [self._metric(v, "Invocations", "Sum") for v in variants]),
            graph("Model latency p99 (microseconds)", [self._metric(v, "ModelLatency", "p99") for v in variants]),
        )
        dashboard.add_widgets(
            graph("5xx rate (%)", [self._error_rate(v, "Invocation5XXErrors") for v in variants]),
            graph("4xx rate (%)", [self._error_rate(v, "Invocation4XXErrors") for v in variants]),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Champion alarms", alarms=_all_alarms(self.alarms[CHAMPION]), width=24)
        )
        return dashboard

    def _error_rate(self, variant: str, metric_name: str) -> cloudwatch.MathExpression:
        # Ids are per variant: graphs put both variants' expressions side by side.
        errors, invocations = f"errors_{variant}", f"invocations_{variant}"
        return cloudwatch.MathExpression(
            expression=f"IF({invocations} > 0, 100 * {errors} / {invocations}, 0)",
            using_metrics={
                errors: self._metric(variant, metric_name, "Sum"),
                invocations: self._metric(variant, "Invocations", "Sum"),
            },
            label=f"{variant} {metric_name} (%)",
            period=self._period,
        )


def _all_alarms(alarms: VariantAlarms) -> list[cloudwatch.Alarm]:
    return [a for a in (alarms.latency, alarms.errors_5xx, alarms.errors_4xx, alarms.no_invocations) if a is not None]


def _conditional(alarm: cloudwatch.Alarm, condition: CfnCondition) -> None:
    cfn_alarm = alarm.node.default_child
    assert isinstance(cfn_alarm, cloudwatch.CfnAlarm)
    cfn_alarm.cfn_options.condition = condition


def _rollout_timeout_seconds(model: ModelConfig) -> int:
    """Enough for every traffic step plus baking, with an hour of margin for provisioning."""
    rollout = model.serving.rollout
    steps = 1 if rollout.mode == "canary" else -(-100 // rollout.step_percent)
    return min(28800, (steps * rollout.wait_minutes + rollout.baking_minutes + 60) * 60)


class EndpointMonitor(Construct):
    """Model Monitor on a production endpoint, and the drift alarms on what it publishes.

    An hourly data-quality schedule compares captured requests with the deployed champion's
    baseline (created only when the package carries one) and publishes a drift metric per
    feature; each monitored feature has an alarm. Where config names a ground-truth location, an
    hourly model-quality schedule joins captured predictions with the labels. Jobs run network
    isolated, with KMS on volumes and outputs.

    The drift alarms have no action of their own: EventBridge routes their state changes to the
    drift alert Lambda, which publishes one message with context (and can start retraining).
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
        if stack.region not in MODEL_MONITOR_IMAGE_ACCOUNTS:
            raise ValueError(f"SageMaker Model Monitor is not available in {stack.region}")
        domain = "amazonaws.com.cn" if stack.region.startswith("cn-") else "amazonaws.com"
        self._image = f"{MODEL_MONITOR_IMAGE_ACCOUNTS[stack.region]}.dkr.ecr.{stack.region}.{domain}/sagemaker-model-monitor-analyzer"
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
                            s3_uri=f"{output_s3_uri}/data-quality",
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
        self.data_quality_schedule_name = f"{endpoint_name}-data-quality"
        self.data_quality_schedule = self._schedule(
            "DataQualitySchedule", self.data_quality_schedule_name, "DataQuality", data_quality.attr_job_definition_arn
        )
        self.data_quality_schedule.cfn_options.condition = self.has_baseline
        self.drift_alarms = [
            self._drift_alarm(endpoint_name, feature, monitoring.drift_threshold) for feature in monitored_features
        ]
        if monitoring.ground_truth_s3_uri:
            self._model_quality(endpoint, monitoring.instance_type, output_s3_uri, monitoring.ground_truth_s3_uri)

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
            alarm_name=f"{endpoint_name}-drift-{feature}",
            alarm_description=f"Baseline drift of feature '{feature}' on {endpoint_name} above {threshold}",
            namespace=DATA_METRICS_NAMESPACE,
            metric_name=f"feature_baseline_drift_{feature}",
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
        acknowledge_each(
            alarm,
            [
                (
                    "NIST.800.53.R5-CloudWatchAlarmAction",
                    "EventBridge routes this alarm's state changes to the drift alert Lambda, which alerts with context.",
                )
            ],
        )
        return alarm

    def _model_quality(
        self, endpoint: MultiVariantEndpoint, instance_type: str, output_s3_uri: str, ground_truth_s3_uri: str
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
                            s3_uri=f"{output_s3_uri}/model-quality", local_path="/opt/ml/processing/output"
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
        self.model_quality_schedule = self._schedule(
            "ModelQualitySchedule",
            f"{endpoint.endpoint_name}-model-quality",
            "ModelQuality",
            job.attr_job_definition_arn,
        )


class ServingTemplateStack(Stack):
    """The template the deploy pipeline deploys for one stage of one model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        stage: Stage,
        monitored_features: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        production = stage == "production"
        stage_config = model.serving.production if production else model.serving.staging
        if stage_config.instance_type is None and stage_config.serverless is None:
            stage_config = stage_config.model_copy(update={"instance_type": model.instance_types.inference})

        def parameter(name: str, description: str, **options: Any) -> str:
            return CfnParameter(self, name, type="String", description=description, **options).value_as_string

        champion = parameter(
            CHAMPION_PARAMETER, "Model package served as champion", allowed_pattern=f"^{PACKAGE_ARN_PATTERN}$"
        )
        challenger = (
            parameter(
                CHALLENGER_PARAMETER,
                "Model package served as challenger, or empty for none",
                default="",
                allowed_pattern=f"^({PACKAGE_ARN_PATTERN})?$",
            )
            if production
            else None
        )
        self.endpoint = MultiVariantEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name(platform_name, model.name, stage),
            model=model,
            stage_config=stage_config,
            champion_package_arn=champion,
            challenger_package_arn=challenger,
            execution_role_arn=parameter("ExecutionRoleArn", "Role the models run as"),
            # Serverless variants have no volumes and staging captures no data: no key to pass.
            kms_key_arn=parameter("KmsKeyArn", "Platform key for volumes and data capture")
            if stage_config.serverless is None
            else None,
            data_capture_s3_uri=parameter("DataCaptureS3Uri", "Where production requests are captured")
            if production
            else None,
            alert_topic_arn=parameter("AlertTopicArn", "Topic the alarms notify"),
            guardrails=production,
        )
        if production:
            self.monitor = EndpointMonitor(
                self,
                "Monitor",
                endpoint=self.endpoint,
                model=model,
                monitored_features=monitored_features,
                role_arn=parameter("MonitoringRoleArn", "Role the Model Monitor jobs run as"),
                record_preprocessor_s3_uri=parameter(
                    "RecordPreprocessorS3Uri", "Script that flattens captured requests for the monitor"
                ),
                output_s3_uri=parameter("MonitoringOutputS3Uri", "Where monitoring reports are written"),
                # No default: the deploy pipeline always passes the champion's (possibly empty) baseline.
                baseline_statistics_s3_uri=parameter(
                    BASELINE_STATISTICS_PARAMETER,
                    "Champion's data-quality baseline statistics, or empty",
                    allowed_pattern=r"^(s3://\S+)?$",
                ),
                baseline_constraints_s3_uri=parameter(
                    BASELINE_CONSTRAINTS_PARAMETER,
                    "Champion's data-quality baseline constraints, or empty",
                    allowed_pattern=r"^(s3://\S+)?$",
                ),
                kms_key_arn=self.endpoint.kms_key_arn,
            )
        CfnOutput(self, ENDPOINT_OUTPUT, value=self.endpoint.endpoint.attr_endpoint_name)


def render_serving_template(
    *,
    platform_name: str,
    model: ModelConfig,
    stage: Stage,
    monitored_features: list[str],
    env: Environment,
    context: dict[str, Any],
) -> dict[str, Any]:
    """Synthesize one stage's serving template in an app of its own, compliance checks included."""
    # An output directory of its own: under the CDK CLI, CDK_OUTDIR would point it at the main app's.
    with tempfile.TemporaryDirectory(prefix="serving-template-") as outdir:
        app = CdkApp(context=context, analytics_reporting=False, outdir=outdir)
        stack = ServingTemplateStack(
            app,
            serving_stack_name(platform_name, model.name, stage),
            platform_name=platform_name,
            model=model,
            stage=stage,
            monitored_features=monitored_features,
            env=env,
            synthesizer=BootstraplessSynthesizer(),
            description=f"Serving of model '{model.name}' ({stage}), deployed by its deploy pipeline",
        )
        add_compliance_checks(app)
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template
