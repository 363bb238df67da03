"""The base every other stack builds on: key, buckets, audit trail, alerts, personas, budget."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from config.schema import PlatformConfig
from lambdas.common.contracts import audit_bus_name, audit_log_group_name, platform_key_alias
from mlops_constructs.accounts import admit_serving_events, admit_stage_roles_to_key, serving_accounts
from mlops_constructs.alerts import AlertTopic, alert_on_monitoring_executions
from mlops_constructs.audit import AuditEventBus, AuditTrail
from mlops_constructs.budget import CostBudget
from mlops_constructs.encryption import PlatformKey
from mlops_constructs.personas import PersonaRoles
from mlops_constructs.platform_parameters import publish_platform_values
from mlops_constructs.retention import retention_days
from mlops_constructs.storage import AccessLogBucket, SecureBucket


class GovernanceStack(Stack):
    """Shared, stateful foundations. Later stacks receive these attributes as constructor arguments."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = config.retention

        self.key = PlatformKey(self, "PlatformKey", alias=platform_key_alias(config.name)).key
        self.access_log_bucket = AccessLogBucket(self, "AccessLogs", expiration_days=retention.access_log_days).bucket
        self.artifact_bucket = SecureBucket(
            self,
            "Artifacts",
            encryption_key=self.key,
            access_log_bucket=self.access_log_bucket,
            access_log_prefix="artifacts-bucket/",
            noncurrent_version_days=retention.noncurrent_version_days,
        ).bucket
        self.log_retention = retention_days(retention.log_days)
        self.audit_trail = AuditTrail(
            self,
            "Audit",
            encryption_key=self.key,
            access_log_bucket=self.access_log_bucket,
            log_retention=self.log_retention,
            archive_after_days=retention.audit_log_glacier_after_days,
            object_lock_mode=retention.trail_object_lock_mode,
            object_lock_days=retention.trail_object_lock_days,
        )
        self.alert_topic = AlertTopic(self, "Alerts", encryption_key=self.key, emails=config.alerts.emails).topic
        alert_on_monitoring_executions(self, "MonitoringExecutionAlerts", topic=self.alert_topic)
        # Production deployments wait for a person: the deploy pipelines notify the approvers here.
        self.approval_topic = AlertTopic(
            self,
            "Approvals",
            encryption_key=self.key,
            emails=config.alerts.approver_emails,
            display_name="MLOps model deployment approvals",
        ).topic
        self.audit_bus = AuditEventBus(
            self,
            "AuditEvents",
            bus_name=audit_bus_name(config.name),
            log_group_name=audit_log_group_name(config.name),
            encryption_key=self.key,
            retention_days=retention.audit_event_days,
            alert_topic=self.alert_topic,
        ).bus
        personas = PersonaRoles(self, "Personas", platform_name=config.name)
        self.permissions_boundary = personas.boundary
        self.data_scientist_role = personas.data_scientist
        self.model_approver_role = personas.model_approver
        CostBudget(
            self,
            "MonthlyBudget",
            monthly_limit_usd=config.budget.monthly_limit_usd,
            thresholds_percent=config.budget.alert_thresholds_percent,
            alert_topic=self.alert_topic,
        )

        # Alarms and monitoring runs of the stage accounts reach this account's rules (stacks/target_stack.py).
        admit_serving_events(self, serving_accounts(config))
        admit_stage_roles_to_key(self.key, serving_accounts(config))

        self.platform_parameters = publish_platform_values(
            self,
            platform_name=config.name,
            values={
                "key-arn": self.key.key_arn,
                "access-log-bucket": self.access_log_bucket.bucket_name,
                "artifact-bucket": self.artifact_bucket.bucket_name,
                "alert-topic-arn": self.alert_topic.topic_arn,
                "approval-topic-arn": self.approval_topic.topic_arn,
                "audit-bus-name": self.audit_bus.event_bus_name,
                "permissions-boundary-arn": self.permissions_boundary.managed_policy_arn,
                "data-scientist-role-arn": self.data_scientist_role.role_arn,
                "model-approver-role-arn": self.model_approver_role.role_arn,
                "data-scientist-role-name": self.data_scientist_role.role_name,
                "model-approver-role-name": self.model_approver_role.role_name,
                "log-retention-days": str(retention.log_days),
            },
        )
        for output_id, value, description in [
            ("PlatformKeyArn", self.key.key_arn, "KMS key that encrypts every platform store"),
            ("ArtifactBucketName", self.artifact_bucket.bucket_name, "Bucket for data and pipeline artifacts"),
            ("AlertTopicArn", self.alert_topic.topic_arn, "SNS topic for alarms, budget and handler alerts"),
            (
                "ApprovalTopicArn",
                self.approval_topic.topic_arn,
                "SNS topic where production deployments ask for approval",
            ),
            (
                "AuditEventBusName",
                self.audit_bus.event_bus_name,
                "EventBridge bus of the platform's decisions (archived)",
            ),
            ("DataScientistRoleArn", self.data_scientist_role.role_arn, "Role data scientists assume"),
            ("ModelApproverRoleArn", self.model_approver_role.role_arn, "Role that approves model packages"),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
