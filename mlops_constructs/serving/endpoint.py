"""A multi-variant SageMaker endpoint with its alarms, guardrails, autoscaling and dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, CfnCondition, Duration, Fn
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ModelConfig, StageServingConfig
from lambdas.common.contracts import CHALLENGER_VARIANT as CHALLENGER
from lambdas.common.contracts import CHAMPION_VARIANT as CHAMPION
from lambdas.common.contracts import CSV_CONTENT_TYPE, JSON_CONTENT_TYPE
from mlops_constructs.compliance import acknowledge_each


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
            self._variant(
                CHAMPION, champion_model, model.endpoint_variants.champion_percent if self.has_challenger else 100
            )
        ]
        if self.has_challenger is not None and challenger_package_arn is not None:
            challenger_model = self._model(CHALLENGER, challenger_package_arn, execution_role_arn)
            challenger_model.cfn_options.condition = self.has_challenger
            variants.append(
                Fn.condition_if(
                    self.has_challenger.logical_id,
                    self._variant(CHALLENGER, challenger_model, model.endpoint_variants.challenger_percent),
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
        return package_model(
            self, f"{variant.capitalize()}Model", package_arn=package_arn, execution_role_arn=execution_role_arn
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
                json_content_types=[JSON_CONTENT_TYPE], csv_content_types=[CSV_CONTENT_TYPE]
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


def package_model(
    scope: Construct, construct_id: str, *, package_arn: str, execution_role_arn: str, model_name: str | None = None
) -> sagemaker.CfnModel:
    """A SageMaker model of a model package, run as `execution_role_arn` (named `model_name` where the name is
    a contract; CloudFormation names it otherwise)."""
    return sagemaker.CfnModel(
        scope,
        construct_id,
        model_name=model_name,
        execution_role_arn=execution_role_arn,
        containers=[sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=package_arn)],
        # The serving container needs no network: its code and model are in model.tar.gz.
        enable_network_isolation=True,
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
