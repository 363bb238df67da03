"""CloudTrail for the whole account: every region, validated files, KMS, and S3 data events."""

from __future__ import annotations

from typing import Literal

import jsii
from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_events as events_interfaces
from constructs import Construct

from mlops_constructs.compliance import acknowledge
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS, EventDeadLetters
from mlops_constructs.retention import SUPPORTED_RETENTION_DAYS, retention_days
from mlops_constructs.storage import SecureBucket

# Every platform decision is an event whose source starts with this (contracts.*_SOURCE).
PLATFORM_EVENT_SOURCE_PREFIX = "mlops."


class AuditTrail(Construct):
    """A multi-region trail with log file validation, delivered to its own bucket and to Logs.

    Data events are recorded for every S3 object in the account except the trail's own bucket
    and the access-log bucket (recording those would log the logging). Selecting by exclusion
    covers the buckets that later stacks add without this stack having to know them, which would
    make the governance stack depend on every other stack.

    Trail files are immutable: the bucket's default S3 Object Lock retention (`object_lock_*`) makes
    every version undeletable and unchangeable for its period, on top of log file validation,
    which only detects tampering. Its lifecycle never expires anything (files move to Glacier and
    are kept), so no rule can contradict the lock.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        archive_after_days: int,
        object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"],
        object_lock_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = SecureBucket(
            self,
            "TrailBucket",
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            access_log_prefix="cloudtrail-bucket/",
            archive_after_days=archive_after_days,
        ).bucket
        # Only the nested ObjectLockConfiguration, never the bucket's top-level ObjectLockEnabled:
        # CloudFormation updates the former in place (PutObjectLockConfiguration, which has enabled
        # Object Lock on existing versioned buckets since November 2023), while a change of the
        # latter is documented as "Update requires: Replacement". Replacing this bucket would move
        # the trail to a new, empty bucket and leave every earlier trail file behind in a retained,
        # unmanaged one; as it is, existing deployments keep their bucket and new files are locked.
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.object_lock_configuration = s3.CfnBucket.ObjectLockConfigurationProperty(
            object_lock_enabled="Enabled",
            rule=s3.CfnBucket.ObjectLockRuleProperty(
                default_retention=s3.CfnBucket.DefaultRetentionProperty(mode=object_lock_mode, days=object_lock_days)
            ),
        )
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            encryption_key=encryption_key,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_file_validation=True,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=self.log_group,
        )
        acknowledge(
            self.trail,
            "The Trail L2 gives CloudTrail's delivery role an inline policy scoped to this one log group.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        # The L2 only offers basic event selectors; advanced ones can exclude buckets.
        cfn_trail = self.trail.node.default_child
        assert isinstance(cfn_trail, cloudtrail.CfnTrail)
        cfn_trail.add_property_deletion_override("EventSelectors")  # CloudTrail takes one kind, not both
        cfn_trail.advanced_event_selectors = [
            cloudtrail.CfnTrail.AdvancedEventSelectorProperty(
                name="ManagementEvents",
                field_selectors=[
                    cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(field="eventCategory", equal_to=["Management"])
                ],
            ),
            cloudtrail.CfnTrail.AdvancedEventSelectorProperty(
                name="PlatformS3DataEvents",
                field_selectors=[
                    cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(field="eventCategory", equal_to=["Data"]),
                    cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(
                        field="resources.type", equal_to=["AWS::S3::Object"]
                    ),
                    cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(
                        field="resources.ARN",
                        not_starts_with=[self.bucket.arn_for_objects(""), access_log_bucket.arn_for_objects("")],
                    ),
                ],
            ),
        ]


class AuditEventBus(Construct):
    """The bus the platform's handlers publish their decisions to, archived for audit and replay, and
    logged where they can be queried.

    Every approval, deployment, drift alert and traffic shift is one event on this bus (source
    `mlops.*`); the archive keeps them for `retention_days` and can replay them into a rule, but
    cannot be searched. A rule copies each of them, whole, to the log group `log_group_name`
    (encrypted with the platform key, kept at least as long as the archive, retained on stack
    deletion), where `logs:FilterLogEvents` finds a package's decisions: the lineage tool reads who
    approved a package there. Events the rule cannot deliver go, after its retries, to the stack's
    event dead letters (alarmed).

    Bus and archive are named so the key policy can name them: the L2 would add a key-policy
    statement referencing the bus by attribute while the bus references the key, a cycle. The
    platform key's policy already lets CloudWatch Logs encrypt this account's log groups.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus_name: str,
        log_group_name: str,
        encryption_key: kms.Key,
        retention_days: int,
        alert_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        archive_name = f"{bus_name}-archive"
        bus_arn = stack.format_arn(service="events", resource="event-bus", resource_name=bus_name)
        archive_arn = stack.format_arn(service="events", resource="archive", resource_name=archive_name)
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeEncryptsTheAuditBusAndArchive",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceArn": [bus_arn, archive_arn]}},
            )
        )
        cfn_bus = events.CfnEventBus(
            self,
            "Bus",
            name=bus_name,
            description="MLOps platform decisions (audit trail)",
            kms_key_identifier=encryption_key.key_arn,
        )
        cfn_bus.node.add_dependency(encryption_key)
        self.bus = events.EventBus.from_event_bus_arn(self, "BusRef", cfn_bus.attr_arn)
        self.archive = events.CfnArchive(
            self,
            "Archive",
            archive_name=archive_name,
            source_arn=cfn_bus.attr_arn,
            event_pattern={"source": [{"prefix": PLATFORM_EVENT_SOURCE_PREFIX}]},
            description="Every platform decision, for audit and replay",
            retention_days=retention_days,
            kms_key_identifier=encryption_key.key_arn,
        )
        log_retention = covering_retention(retention_days)
        self.log_group = logs.LogGroup(
            self,
            "DecisionLog",
            log_group_name=log_group_name,
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        if log_retention == logs.RetentionDays.INFINITE:
            acknowledge(
                self.log_group,
                f"retention.audit_event_days ({retention_days}) is longer than any CloudWatch Logs retention: "
                "the platform's decisions are kept until a person deletes them.",
                "NIST.800.53.R5-CloudWatchLogGroupRetentionPeriod",
            )
        self.log_rule = events.Rule(
            self,
            "ToDecisionLog",
            event_bus=self.bus,
            event_pattern=events.EventPattern(source=events.Match.prefix(PLATFORM_EVENT_SOURCE_PREFIX)),
            description="Every platform decision, to its queryable log group",
        )
        dead_letters = EventDeadLetters.of(self, encryption_key=encryption_key, alert_topic=alert_topic)
        self.log_rule.add_target(LogGroupTarget(self.log_group, dead_letter_queue=dead_letters.queue))
        dead_letters.accept_events_of(self.log_rule)
        # EventBridge writes with the log group's resource policy, not a role; AWS documents both its own
        # principal and CloudWatch Logs' delivery service for a log group target. CreateLogStream is not
        # called on behalf of a rule (no aws:SourceArn to pin); EventBridge's PutLogEvents is, and only
        # this rule's; the delivery service acts for this account only.
        self.log_group.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeCreatesStreams",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["logs:CreateLogStream"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.log_group.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TheAuditRuleWritesDecisions",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.log_rule.rule_arn}},
            )
        )
        self.log_group.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LogsDeliveryForThisAccount",
                principals=[iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )


def covering_retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch Logs retention that keeps `days` days; forever past the longest one."""
    covering = [supported for supported in SUPPORTED_RETENTION_DAYS if supported >= days]
    return retention_days(min(covering)) if covering else logs.RetentionDays.INFINITE


@jsii.implements(events.IRuleTarget)
class LogGroupTarget:
    """A log group as a rule's target, with the platform's retries and dead letters.

    Not the L2 `CloudWatchLogGroup` target: it writes the log group's resource policy through a
    custom resource (a Lambda function allowed every logs:PutResourcePolicy), where a native
    AWS::Logs::ResourcePolicy does (AuditEventBus adds it, pinned to the rule).
    """

    def __init__(self, log_group: logs.ILogGroup, *, dead_letter_queue: sqs.IQueue) -> None:
        self.log_group = log_group
        self.dead_letter_queue = dead_letter_queue

    def bind(self, rule: events_interfaces.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            # EventBridge takes the log group's ARN without the `:*` of its Arn attribute.
            arn=Stack.of(self.log_group).format_arn(
                service="logs",
                resource="log-group",
                resource_name=self.log_group.log_group_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=EVENT_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=EVENT_MAX_AGE.to_seconds(),
            ),
            target_resource=self.log_group,
        )
