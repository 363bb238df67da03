"""A serving account's events that the tooling account acts on, forwarded to its default event bus.

The tooling account's drift alert, monitoring alerts and endpoint automation match these events on its
own default bus (mlops_constructs/endpoint_automation.py, alerts.py `alert_on_monitoring_executions`),
as if the serving account's endpoints were its own: the events keep their source, detail type, account
and detail. Only the platform's are forwarded (names under `<platform>-`; SageMaker writes the names in
its ARNs in lower case, as the platform's are):
- alarm state changes of the platform's serving alarms (drift, model quality, the endpoints' own);
- the processing jobs of the platform's monitoring schedules (Model Monitor and Clarify runs);
- the state changes of the platform's endpoints.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambdas.common.contracts import event_forwarder_role_name
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS, EventDeadLetters


def forwarded_event_patterns(stack: Stack, platform_name: str) -> dict[str, events.EventPattern]:
    """What a serving account forwards, by rule: the platform's alarms, monitoring runs and endpoints."""
    schedules = stack.format_arn(service="sagemaker", resource="monitoring-schedule", resource_name=f"{platform_name}-")
    return {
        "ServingAlarms": events.EventPattern(
            source=["aws.cloudwatch"],
            detail_type=["CloudWatch Alarm State Change"],
            detail={"alarmName": events.Match.prefix(f"{platform_name}-")},
        ),
        "MonitoringRuns": events.EventPattern(
            source=["aws.sagemaker"],
            detail_type=["SageMaker Processing Job State Change"],
            detail={"MonitoringScheduleArn": events.Match.prefix(schedules)},
        ),
        "EndpointStates": events.EventPattern(
            source=["aws.sagemaker"],
            detail_type=["SageMaker Endpoint State Change"],
            detail={"EndpointName": events.Match.prefix(f"{platform_name}-")},
        ),
    }


class ServingEventForwarding(Construct):
    """Rules on the serving account's default bus whose target is the tooling account's default bus, put
    with the forwarder role (`contracts.event_forwarder_role_name`, which the tooling bus's policy names);
    retried, then dead-lettered to the stack's event dead letters (alarmed on `alert_topic`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        account: ServingAccount,
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.tooling_bus_arn = (
            f"arn:{stack.partition}:events:{account.region}:{account.tooling_account}:event-bus/default"
        )
        tooling_bus = events.EventBus.from_event_bus_arn(self, "ToolingBus", self.tooling_bus_arn)
        self.role = iam.Role(
            self,
            "Role",
            role_name=event_forwarder_role_name(account.platform_name, account.stage),
            assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": account.account}}
            ),
            description=f"Forwards the platform's serving events of {account.stage} to the tooling account",
        )
        dead_letters = EventDeadLetters.of(self, encryption_key=encryption_key, alert_topic=alert_topic)
        self.patterns = forwarded_event_patterns(stack, account.platform_name)
        self.rules: dict[str, events.Rule] = {}
        for rule_id, pattern in self.patterns.items():
            rule = events.Rule(
                self,
                rule_id,
                description=f"{rule_id} of the platform's {account.stage} serving, to the tooling account",
                event_pattern=pattern,
                targets=[targets.EventBus(tooling_bus, role=self.role, dead_letter_queue=dead_letters.queue)],
            )
            # The event bus target's L2 takes no retry policy: EventBridge's default (24 hours, 185 attempts)
            # would hide a broken forwarding for a day; the platform's own is set on the target instead.
            cfn_rule = rule.node.default_child
            assert isinstance(cfn_rule, events.CfnRule)
            cfn_rule.add_property_override(
                "Targets.0.RetryPolicy",
                {
                    "MaximumRetryAttempts": EVENT_RETRY_ATTEMPTS,
                    "MaximumEventAgeInSeconds": EVENT_MAX_AGE.to_seconds(),
                },
            )
            self.rules[rule_id] = rule
        acknowledge_each(
            self.role,
            [
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "The event bus target's L2 grants events:PutEvents on the tooling bus as the role's default policy.",
                )
            ],
        )
