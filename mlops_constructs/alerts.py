"""The encrypted SNS topic that every alarm, budget and handler of the platform alerts to."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from lambdas.common.contracts import COMPLETED_WITH_VIOLATIONS
from mlops_constructs.compliance import acknowledge
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS, EventDeadLetters

# Services that deliver the platform's alerts. They publish on the account's behalf, so their
# statements are pinned to this account with aws:SourceAccount (no confused deputy).
ALERT_PUBLISHING_SERVICES = ("cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com")


class AlertTopic(Construct):
    """An encrypted, TLS-only topic that the platform's alarms, budgets and rules may publish to."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        emails: list[str],
        display_name: str = "MLOps platform alerts",
        topic_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name=display_name,
            master_key=encryption_key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlertPublishingServices",
                principals=[iam.ServicePrincipal(service) for service in ALERT_PUBLISHING_SERVICES],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


def send_to_topic(
    rule: events.Rule,
    *,
    topic: sns.ITopic,
    message: events.RuleTargetInput,
    dead_letter_alerts: sns.ITopic | None = None,
) -> None:
    """Add `topic` as a target of `rule`, with `message` as what subscribers read.

    The topic is imported on purpose: its policy (AlertTopic) already lets EventBridge publish for
    this account only, while the L2 target would append an extra, unconditioned statement to it.
    Rule and topic are in the same account and region by construction. Alerts EventBridge cannot
    publish go, after its retries, to the stack's event dead letters, encrypted with the topic's key and
    alarmed to `dead_letter_alerts` (default: `topic`; the stack's dead letters alarm one topic).
    """
    if topic.master_key is None:
        raise ValueError(f"{topic.node.path}: alert topics are encrypted, and their dead letters with the same key")
    dead_letters = EventDeadLetters.of(rule, encryption_key=topic.master_key, alert_topic=dead_letter_alerts or topic)
    imported = sns.Topic.from_topic_attributes(rule, "AlertTopic", topic_arn=topic.topic_arn)
    rule.add_target(
        targets.SnsTopic(
            imported,
            message=message,
            dead_letter_queue=dead_letters.queue,
            retry_attempts=EVENT_RETRY_ATTEMPTS,
            max_event_age=EVENT_MAX_AGE,
        )
    )
    acknowledge(
        rule,
        "The rule and the alert topic are deployed to the same account and region by the platform.",
        "Annotation::@aws-cdk/aws-events:ruleUnresolvedEnvironment",
    )


def alert_on_monitoring_executions(scope: Construct, construct_id: str, *, topic: sns.ITopic) -> events.Rule:
    """Alert when a Model Monitor execution fails or finds violations.

    Monitoring executions run as processing jobs; Model Monitor marks a run that found violations
    in its exit message. Drift alarms (and the drift alert Lambda) cover the features' drift
    metrics; this rule covers what publishes no metric: failed runs and non-drift violations
    (types, completeness). Jobs of SageMaker Pipelines (`pipelines-*`) are left out: their
    failures already fail, and alert, the build pipeline. Runs of Clarify's monitors (bias and
    feature attribution drift) with violations match too: the drift alert also gets them, and sends
    its own message per run, with the violations and the serving packages.
    """
    rule = events.Rule(
        scope,
        construct_id,
        description="Failed or violating Model Monitor executions",
        event_pattern=events.EventPattern(
            source=["aws.sagemaker"],
            detail_type=["SageMaker Processing Job State Change"],
            detail={
                "ProcessingJobName": [{"anything-but": {"prefix": "pipelines-"}}],
                "$or": [
                    {"ProcessingJobStatus": ["Failed"]},
                    {"ExitMessage": [{"prefix": COMPLETED_WITH_VIOLATIONS}]},
                ],
            },
        ),
    )
    send_to_topic(
        rule,
        topic=topic,
        message=events.RuleTargetInput.from_text(
            f"Model Monitor execution {events.EventField.from_path('$.detail.ProcessingJobName')} ended "
            f"{events.EventField.from_path('$.detail.ProcessingJobStatus')}: "
            f"{events.EventField.from_path('$.detail.ExitMessage')} "
            f"{events.EventField.from_path('$.detail.FailureReason')}"
        ),
    )
    return rule
