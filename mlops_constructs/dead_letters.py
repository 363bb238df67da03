"""Dead-letter queues: what could not be delivered waits here, alarmed, until a person redrives it.

Two kinds of message land in them, and they redrive differently (docs/runbook-dead-letters.md):
- events EventBridge could not deliver to a rule's target, after the target's retry policy: the
  event itself, with the rule, target and error as message attributes. Each stack with rules has
  one such queue (`EventDeadLetters.of`), in the stack itself: EventBridge may only write to it
  under a queue policy naming the rule's ARN, which a queue in another stack could only get
  through a dependency cycle. A PlatformFunction has its own (`event_dead_letter_queue`).
- records of asynchronous Lambda invocations that still failed after Lambda's retries (the
  function's on-failure destination, PlatformFunction.dead_letter_queue).
"""

from __future__ import annotations

from aws_cdk import Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_constructs.compliance import acknowledge_each

# SQS keeps a message at most 14 days: the time a person has to redrive it.
DEAD_LETTER_RETENTION = Duration.days(14)
# How long EventBridge keeps trying a rule's target before the event is dead-lettered. Errors that
# retrying cannot fix (a missing permission, a deleted target) are dead-lettered at once.
EVENT_RETRY_ATTEMPTS = 8
EVENT_MAX_AGE = Duration.hours(6)


def dead_letter_queue(scope: Construct, construct_id: str, *, encryption_key: kms.IKey) -> sqs.Queue:
    """An SQS queue for undeliverable messages: KMS-encrypted, TLS-only, retained, 14 days' retention."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=encryption_key,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge_each(queue, [("AwsSolutions-SQS3", "This queue is a dead-letter queue; it needs none of its own.")])
    return queue


def alarm_when_any(
    scope: Construct, construct_id: str, *, metric: cloudwatch.IMetric, alert_topic: sns.ITopic, description: str
) -> cloudwatch.Alarm:
    """An alarm to `alert_topic` as soon as `metric` reaches 1 in a period (missing data is no alarm)."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(alert_topic))
    return alarm


def alarm_on_dead_letters(
    scope: Construct, construct_id: str, *, queue: sqs.IQueue, alert_topic: sns.ITopic, description: str
) -> cloudwatch.Alarm:
    """An alarm to `alert_topic` as soon as one message is visible in `queue`."""
    return alarm_when_any(
        scope,
        construct_id,
        metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5), statistic="Maximum"),
        alert_topic=alert_topic,
        description=description,
    )


class EventDeadLetters(Construct):
    """The stack's queue for events its rules could not deliver to their targets, and its alarm.

    One per stack, created by the first rule that needs it: use `EventDeadLetters.of(scope, ...)`.
    """

    CONSTRUCT_ID = "EventDeliveryDeadLetters"

    def __init__(
        self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, alert_topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        # What `of` checks a later caller against: one queue cannot have two keys or alert two topics.
        self._identity = (encryption_key.key_arn, alert_topic.topic_arn)
        self.queue = dead_letter_queue(self, "Queue", encryption_key=encryption_key)
        self.alarm = alarm_on_dead_letters(
            self,
            "Alarm",
            queue=self.queue,
            alert_topic=alert_topic,
            description=(
                f"EventBridge could not deliver events of {Stack.of(self).stack_name} to their targets: "
                "see docs/runbook-dead-letters.md to inspect and redrive them"
            ),
        )

    def accept_events_of(self, rule: events.IRule) -> None:
        """Let EventBridge dead-letter `rule`'s events here.

        Only for targets whose L2 leaves the statement out (CodePipeline); the Lambda and SNS
        targets add this same statement (same sid) themselves.
        """
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"AllowEventRule{Names.node_unique_id(rule.node)}",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )

    @classmethod
    def of(cls, scope: Construct, *, encryption_key: kms.IKey, alert_topic: sns.ITopic) -> EventDeadLetters:
        """The dead letters of `scope`'s stack, created on first use."""
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(cls.CONSTRUCT_ID)
        if existing is None:
            return cls(stack, cls.CONSTRUCT_ID, encryption_key=encryption_key, alert_topic=alert_topic)
        assert isinstance(existing, EventDeadLetters)
        if existing._identity != (encryption_key.key_arn, alert_topic.topic_arn):
            raise ValueError(f"{stack.stack_name} already has event dead letters with another key or alert topic")
        return existing
