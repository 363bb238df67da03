"""What watches and steers a model's production: the drift alert and the traffic shift Lambdas.

- Drift alert (lambdas/drift_alert): the drift and model-quality alarms of the production endpoint (or
  batch transform), and the runs of its Clarify monitors (bias and feature attribution drift) that
  found violations, reach it through EventBridge (its state table also keeps its Powertools
  idempotency records); it publishes an alert with context and, where config enables it, asks for
  retraining at most once per cool-down by putting a "Retraining Requested" event on the audit bus,
  which the model's build stack routes to its build pipeline (so this stack needs nothing from that
  one). It reads what serves: the endpoint's variants, or a batch model's serving stack champion.
- Traffic shift (lambdas/traffic_shift), real-time models only: on a schedule, compares champion and
  challenger with a sequential test on the business metric (in its direction) and shifts traffic,
  promotes or rolls back with UpdateEndpointWeightsAndCapacities. A batch transform has no challenger.

When production serves in an account of its own, both stay here, next to the alert topic, the audit bus
and the build they ask to retrain, and reach production through its operations role (the production
account's target stack grants that role exactly what they read and change there); the production
account forwards its alarm and monitoring-run events to this account's default bus, where the rules
below match them by that account.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    COMPLETED_WITH_VIOLATIONS,
    SERVING_ROLE_ARN_ENV,
    TargetRoleKind,
    ToolingRoleKind,
    alerted_alarm_prefixes,
    alerted_run_schedules,
    tooling_role_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS
from mlops_constructs.functions import PlatformFunction
from mlops_constructs.model_tags import tagged_for
from mlops_constructs.storage import expiring_state_table


class EndpointAutomation(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelConfig,
        # The production serving name (contracts.serving_name): the endpoint of a real-time model; the
        # serving stack, transform pipeline and alarm prefix of a batch one.
        endpoint_name: str,
        monitoring_reports: s3.IBucket,
        monitoring_reports_prefix: str,
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        audit_bus: events.IEventBus,
        log_retention: logs.RetentionDays,
        serving: ServingAccount | None = None,
    ) -> None:
        """`serving`: production's own account (None: this one)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._serving = serving if serving is not None and serving.remote else None
        self._model_name = model.name
        # The functions' calls to production go through a role of theirs there: the drift alert's reads
        # through the operations role, the traffic shift's reweighting through the steering role.
        reach = self._reach("ops")

        # --- drift alert --------------------------------------------------------------------------
        self.cooldown_table = expiring_state_table(
            self,
            "RetrainingCooldown",
            partition_key="pk",
            encryption_key=encryption_key,
            expiry="after the cool-down",
        )
        monitoring = model.monitoring
        self.drift_alert = PlatformFunction(
            self,
            "DriftAlert",
            handler_directory="drift_alert",
            description=f"Drift alerts (and retraining requests) of {endpoint_name}",
            encryption_key=encryption_key,
            log_retention=log_retention,
            metrics_namespace="MLOps/DriftAlert",
            environment={
                "MODELS_CONFIG": json.dumps(
                    {
                        endpoint_name: {
                            "model_name": model.name,
                            "serving_mode": model.serving.mode,
                            "retrain_on_drift": monitoring.retrain_on_drift,
                            "retrain_cooldown_hours": monitoring.retrain_cooldown_hours,
                        }
                    }
                ),
                "ALERT_TOPIC_ARN": alert_topic.topic_arn,
                "STATE_TABLE_NAME": self.cooldown_table.table_name,
                "AUDIT_EVENT_BUS_NAME": audit_bus.event_bus_name,
                **reach,
            },
            role_name=self._trusted_role_name("drift"),
        )
        drift_role = self.drift_alert.role
        production_reads = (
            [("AwsSolutions-IAM5[Resource::*]", "X-Ray accepts no resource.")]
            if self._assume_the_operations_role(drift_role)
            else self._grant_reading_production(model, endpoint_name, monitoring_reports, monitoring_reports_prefix)
        )
        self.cooldown_table.grant_read_write_data(drift_role)
        encryption_key.grant_encrypt_decrypt(drift_role)
        alert_topic.grant_publish(drift_role)
        audit_bus.grant_put_events_to(drift_role)
        acknowledge_each(
            drift_role,
            [
                *production_reads,
                ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "Encrypted topic, table and reports."),
                ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "L2 grant on the platform key."),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.cooldown_table, 'Arn')}/index/*]",
                    "L2 DynamoDB grant: the table has no index; the statement is the L2's default.",
                ),
            ],
        )
        self.drift_rule = events.Rule(
            self,
            "DriftAlarms",
            description=f"Drift and model-quality alarms of {endpoint_name} going into ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={
                    "alarmName": events.Match.any_of(
                        *(events.Match.prefix(prefix) for prefix in alerted_alarm_prefixes(endpoint_name).values())
                    ),
                    "state": {"value": ["ALARM"]},
                },
                account=self._production_account(),
            ),
            targets=[self._to_the_drift_alert()],
        )
        # Clarify's monitors publish no metric that says a run violated its baseline (the bias metrics
        # carry no verdict; attribution drift has no metric at all): the runs themselves come instead,
        # those that ended with violations, one event per run. The schedules are matched by ARN: the
        # platform's names are lower case, as SageMaker writes them in ARNs.
        self.violations_rule = events.Rule(
            self,
            "ClarifyViolations",
            description=f"Clarify monitoring runs of {endpoint_name} that found violations",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Processing Job State Change"],
                detail={
                    "MonitoringScheduleArn": [
                        self._serving.arn("sagemaker", f"monitoring-schedule/{name}")
                        if self._serving
                        else stack.format_arn(service="sagemaker", resource="monitoring-schedule", resource_name=name)
                        for name in alerted_run_schedules(endpoint_name).values()
                    ],
                    "ExitMessage": events.Match.prefix(COMPLETED_WITH_VIOLATIONS),
                },
                account=self._production_account(),
            ),
            targets=[self._to_the_drift_alert()],
        )

        # --- traffic shift ------------------------------------------------------------------------
        self.traffic_shift: PlatformFunction | None = None
        shift = model.traffic_shift
        # A batch transform has one model and no traffic to shift.
        if not model.is_batch and shift is not None and shift.enabled:
            endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name)
            self.traffic_shift = PlatformFunction(
                self,
                "TrafficShift",
                handler_directory="traffic_shift",
                description=f"Champion/challenger decisions of {endpoint_name}",
                encryption_key=encryption_key,
                log_retention=log_retention,
                metrics_namespace="MLOps/TrafficShift",
                reserved_concurrency=1,  # one decision at a time per endpoint
                environment={
                    "ENDPOINT_NAME": endpoint_name,
                    "BUSINESS_METRIC_NAMESPACE": shift.business_metric.namespace,
                    "BUSINESS_METRIC_NAME": shift.business_metric.name,
                    "BUSINESS_METRIC_DIRECTION": shift.business_metric.direction,
                    "MIN_SAMPLES_PER_VARIANT": str(shift.min_samples_per_variant),
                    "ALPHA": str(shift.alpha),
                    "SHIFT_STEP_PERCENT": str(shift.step_percent),
                    "MAX_CHALLENGER_PERCENT": str(shift.max_challenger_percent),
                    "LATENCY_RATIO_LIMIT": str(shift.latency_ratio_limit),
                    "ALERT_TOPIC_ARN": alert_topic.topic_arn,
                    "AUDIT_EVENT_BUS_NAME": audit_bus.event_bus_name,
                    **self._reach("steer"),
                },
                role_name=self._trusted_role_name("shift"),
            )
            shift_role = self.traffic_shift.role
            if not self._assume_the_operations_role(shift_role, "steer"):
                shift_role.add_to_principal_policy(
                    iam.PolicyStatement(
                        sid="ReadAndReweightTheEndpoint",
                        actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                        resources=[endpoint_arn],
                    )
                )
                shift_role.add_to_principal_policy(
                    iam.PolicyStatement(sid="ReadVariantMetrics", actions=["cloudwatch:GetMetricData"], resources=["*"])
                )
            encryption_key.grant_encrypt_decrypt(shift_role)
            alert_topic.grant_publish(shift_role)
            audit_bus.grant_put_events_to(shift_role)
            acknowledge_each(
                shift_role,
                [
                    ("AwsSolutions-IAM5[Resource::*]", "GetMetricData and X-Ray accept no resource."),
                    ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "Publishing to the encrypted alert topic."),
                    ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "L2 grant on the platform key."),
                ],
            )
            self.shift_schedule = events.Rule(
                self,
                "TrafficShiftSchedule",
                description=f"Champion/challenger decision of {endpoint_name}",
                schedule=events.Schedule.rate(Duration.minutes(shift.schedule_minutes)),
                targets=[
                    targets.LambdaFunction(
                        self.traffic_shift.function,
                        dead_letter_queue=self.traffic_shift.event_dead_letter_queue,
                        retry_attempts=2,
                        max_event_age=Duration.minutes(min(shift.schedule_minutes, 60)),
                    )
                ],
            )

        for function in filter(None, (self.drift_alert, self.traffic_shift)):
            function.alarm_on_failures(alert_topic)

    def _to_the_drift_alert(self) -> targets.LambdaFunction:
        """The drift alert as a rule's target: retried like every event target, then dead-lettered."""
        return targets.LambdaFunction(
            self.drift_alert.function,
            dead_letter_queue=self.drift_alert.event_dead_letter_queue,
            retry_attempts=EVENT_RETRY_ATTEMPTS,
            max_event_age=EVENT_MAX_AGE,
        )

    def _production_account(self) -> list[str] | None:
        """Events of production's own account only, when it has one (forwarded to this account's bus)."""
        return [self._serving.account] if self._serving else None

    def _trusted_role_name(self, kind: ToolingRoleKind) -> str | None:
        """The function role's name that production's operations role trusts (none: generated)."""
        serving = self._serving
        return tooling_role_name(serving.platform_name, self._model_name, kind) if serving else None

    def _reach(self, kind: TargetRoleKind) -> dict[str, str]:
        """The environment that makes a function's production calls assume its role there (none: this account)."""
        return {SERVING_ROLE_ARN_ENV: self._serving.role_arn(self._model_name, kind)} if self._serving else {}

    def _assume_the_operations_role(self, role: iam.IRole, kind: TargetRoleKind = "ops") -> bool:
        """In a production account of its own: the function may assume its role there (`kind`), nothing more."""
        if self._serving is None:
            return False
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReachTheProductionAccount",
                actions=["sts:AssumeRole"],
                resources=[self._serving.role_arn(self._model_name, kind)],
            )
        )
        return True

    def _grant_reading_production(
        self, model: ModelConfig, serving_name: str, monitoring_reports: s3.IBucket, monitoring_reports_prefix: str
    ) -> list[tuple[str, str]]:
        """Let the drift alert read production in this account: what serves, its monitoring runs and reports.
        The cdk-nag acknowledgments it needs."""
        role = self.drift_alert.role
        what_serves = self._grant_reading_what_serves(model, serving_name)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheLatestMonitoringExecution",
                actions=["sagemaker:ListMonitoringExecutions", "sagemaker:DescribeProcessingJob"],
                resources=["*"],
            )
        )
        monitoring_reports.grant_read(role, f"{monitoring_reports_prefix}*")
        return [
            *what_serves,
            (
                "AwsSolutions-IAM5[Resource::*]",
                "ListMonitoringExecutions and DescribeProcessingJob take no schedule-level resource; X-Ray has none.",
            ),
            *[
                (
                    f"AwsSolutions-IAM5[Action::s3:{action}]",
                    "L2 read grant limited to the monitoring reports prefix.",
                )
                for action in ("GetObject*", "GetBucket*", "List*")
            ],
            (
                f"AwsSolutions-IAM5[Resource::{nag_ref(monitoring_reports, 'Arn')}/{monitoring_reports_prefix}*]",
                "Reports are written per schedule and execution under the monitoring prefix.",
            ),
        ]

    def _grant_reading_what_serves(self, model: ModelConfig, serving_name: str) -> list[tuple[str, str]]:
        """Let the drift alert read what production serves: the endpoint, its configs and models, or a
        batch model's serving stack (its champion parameter). The cdk-nag acknowledgments it needs."""
        stack, role = Stack.of(self), self.drift_alert.role
        if model.is_batch:
            serving_stack = stack.format_arn(
                service="cloudformation", resource="stack", resource_name=f"{serving_name}/*"
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DescribeTheServingStack", actions=["cloudformation:DescribeStacks"], resources=[serving_stack]
                )
            )
            return [
                (
                    f"AwsSolutions-IAM5[Resource::{serving_stack}]",
                    "A stack ARN ends in a generated id; the name is this batch model's production serving stack.",
                )
            ]
        endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=serving_name)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeTheEndpoint", actions=["sagemaker:DescribeEndpoint"], resources=[endpoint_arn]
            )
        )
        # Endpoint configs and models have generated names: the serving template tags them with the model.
        generated = [
            stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*"),
            stack.format_arn(service="sagemaker", resource="model", resource_name="*"),
        ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeThisModelsEndpointConfigsAndModels",
                actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                resources=generated,
                conditions=tagged_for(model.name),
            )
        )
        return [
            (
                f"AwsSolutions-IAM5[Resource::{arn}]",
                "Endpoint configs and models are named by CloudFormation; read-only, tagged with this model only.",
            )
            for arn in generated
        ]
