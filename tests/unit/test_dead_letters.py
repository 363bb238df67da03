"""Every asynchronous path has retries, a dead-letter queue and an alarm (DESIGN.md convention 9).

The checks run over every stack of the default configuration (and the serving templates the deploy
pipeline renders), so a rule target added anywhere without a retry policy or a DLQ fails here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from mlops_constructs.alerts import send_to_topic
from mlops_constructs.dead_letters import EventDeadLetters
from tests.conftest import Synthesized

ACCOUNT = "123456789012"
KEY = "PlatformKey1C4A1A63"
KEY_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputFnGetAttPlatformKey1C4A1A63Arn1AD0FED1"}
TOPIC_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputRefAlertsTopicCF7C81C9D535FDD6"}
# The stack's queue for events its rules could not deliver (stable: asserted, DESIGN.md convention 8).
STACK_QUEUE = "EventDeliveryDeadLettersQueue88B52422"
# Where each rule's undeliverable events go, per stack: rule logical id prefix -> queue logical id.
ROUTES = {
    "mlops-governance": {"MonitoringExecutionAlerts": STACK_QUEUE, "AuditEventsToDecisionLog": STACK_QUEUE},
    "mlops-churn-build": {
        "ProjectRepositoryPushToMain": STACK_QUEUE,
        "ProjectPipelineFailureAlert": STACK_QUEUE,
        "ProjectRetrainingRequests": STACK_QUEUE,
    },
    "mlops-churn-deploy": {
        "DeployPipelineFailureAlert": STACK_QUEUE,
        "AutomationDriftAlarms": "AutomationDriftAlertEventDeadLetterQueue6AC69E66",
        "AutomationClarifyViolations": "AutomationDriftAlertEventDeadLetterQueue6AC69E66",
        "AutomationTrafficShiftSchedule": "AutomationTrafficShiftEventDeadLetterQueueEEB26D04",
    },
    "mlops-approval": {"ApprovalGatePackageStateChange": "ApprovalGateHandlerEventDeadLetterQueueC0D71672"},
    "mlops-feature-store": {},
}
# Lambda's on-failure destinations: records of invocations that failed after Lambda's retries.
INVOCATION_QUEUES = {
    "mlops-churn-deploy": {
        "AutomationDriftAlertDeadLetterQueue524C8D6E",
        "AutomationTrafficShiftDeadLetterQueueDD0B022B",
    },
    "mlops-approval": {"ApprovalGateHandlerDeadLetterQueueBE61B8DB"},
}


def templates(synthesized: Synthesized, serving_templates: dict[str, dict]) -> Iterator[tuple[str, Template]]:
    for stack in synthesized.assembly.stacks:
        yield stack.stack_name, Template.from_json(stack.template)
    for stage, template in serving_templates.items():
        yield f"serving-{stage}", Template.from_json(template)


def untagged(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A resource's properties without the tags the app puts on everything."""
    return {name: value for name, value in resource["Properties"].items() if name != "Tags"}


def rule_targets(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for rule_id, rule in template.find_resources("AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            yield rule_id, target


def test_every_rule_target_retries_then_dead_letters_to_a_queue_of_its_stack(
    synthesized: Synthesized, serving_templates: dict[str, dict]
) -> None:
    checked = 0
    for stack_name, template in templates(synthesized, serving_templates):
        queues = template.find_resources("AWS::SQS::Queue")
        for rule_id, target in rule_targets(template):
            where = f"{stack_name}/{rule_id} -> {target['Arn']}"
            assert set(target.get("RetryPolicy", {})) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}, where
            assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 8, where
            assert 0 < target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 6 * 3600, where
            queue_id = target.get("DeadLetterConfig", {}).get("Arn", {}).get("Fn::GetAtt", [None])[0]
            assert queue_id in queues, f"{where}: no dead-letter queue of this stack"
            checked += 1
    assert checked == sum(len(routes) for routes in ROUTES.values()) == 10


@pytest.mark.parametrize("stack_name", sorted(ROUTES))
def test_each_rule_dead_letters_where_its_events_can_be_redriven(synthesized: Synthesized, stack_name: str) -> None:
    """Rules that target a function use the function's event queue; the others the stack's queue."""
    template = Template.from_json(synthesized.assembly.get_stack_by_name(stack_name).template)
    routes = {rule_id: target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for rule_id, target in rule_targets(template)}
    expected = {
        rule_id: queue
        for rule_id in routes
        for prefix, queue in ROUTES[stack_name].items()
        if rule_id.startswith(prefix)
    }
    assert routes == expected
    assert len(routes) == len(ROUTES[stack_name])


@pytest.mark.parametrize("stack_name", sorted(ROUTES))
def test_eventbridge_may_send_each_rules_events_to_its_queue_and_nothing_else_may(
    synthesized: Synthesized, stack_name: str
) -> None:
    """The queue policy names the rule (aws:SourceArn): the L2 adds it for Lambda and SNS targets,
    EventDeadLetters.accept_events_of for CodePipeline targets, whose L2 leaves it out."""
    template = Template.from_json(synthesized.assembly.get_stack_by_name(stack_name).template)
    for rule_id, target in rule_targets(template):
        queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            {
                                "Sid": Match.string_like_regexp("^AllowEventRule"),
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
                                "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
                            }
                        ]
                    )
                },
            },
        )


@pytest.mark.parametrize("stack_name", sorted(ROUTES))
def test_every_queue_is_a_kms_encrypted_retained_tls_only_two_week_dead_letter_queue(
    synthesized: Synthesized, stack_name: str
) -> None:
    template = Template.from_json(synthesized.assembly.get_stack_by_name(stack_name).template)
    queues = template.find_resources("AWS::SQS::Queue")
    expected = set(ROUTES[stack_name].values()) | INVOCATION_QUEUES.get(stack_name, set())
    assert set(queues) == expected, "every queue of the platform is one of these dead-letter queues"
    key = {"Fn::GetAtt": [KEY, "Arn"]} if stack_name == "mlops-governance" else KEY_IMPORT
    for queue_id, queue in queues.items():
        assert (queue["DeletionPolicy"], queue["UpdateReplacePolicy"]) == ("Retain", "Retain"), queue_id
        assert untagged(queue) == {"KmsMasterKeyId": key, "MessageRetentionPeriod": 14 * 24 * 3600}, queue_id
        template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "sqs:*",
                                "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    )
                },
            },
        )


@pytest.mark.parametrize("stack_name", sorted(ROUTES))
def test_every_queue_alarms_the_alert_topic_on_its_first_message(synthesized: Synthesized, stack_name: str) -> None:
    template = Template.from_json(synthesized.assembly.get_stack_by_name(stack_name).template)
    topic = (
        {"Ref": next(k for k in template.find_resources("AWS::SNS::Topic") if k.startswith("AlertsTopic"))}
        if stack_name == "mlops-governance"
        else TOPIC_IMPORT
    )
    for queue_id in template.find_resources("AWS::SQS::Queue"):
        alarms = template.find_resources(
            "AWS::CloudWatch::Alarm",
            {
                "Properties": {
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
                }
            },
        )
        assert len(alarms) == 1, f"{stack_name}/{queue_id} needs exactly one alarm"
        (alarm,) = alarms.values()
        assert untagged(alarm) | {"AlarmDescription": "-"} == {
            "AlarmDescription": "-",
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Statistic": "Maximum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [topic],
        }
        assert "runbook-dead-letters.md" in str(alarm["Properties"]["AlarmDescription"])


@pytest.mark.parametrize("stack_name", sorted(INVOCATION_QUEUES))
def test_failed_invocations_and_undelivered_events_land_in_different_queues(
    synthesized: Synthesized, stack_name: str
) -> None:
    """Lambda's on-failure records and EventBridge's raw events redrive differently: never mixed."""
    template = Template.from_json(synthesized.assembly.get_stack_by_name(stack_name).template)
    on_failure = {
        config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        for config in template.find_resources("AWS::Lambda::EventInvokeConfig").values()
    }
    assert on_failure == INVOCATION_QUEUES[stack_name]
    rule_queues = {target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for _, target in rule_targets(template)}
    assert not on_failure & rule_queues


def test_the_key_lets_eventbridge_encrypt_dead_letters_of_this_account_only(governance: Template) -> None:
    """SQS encrypts what EventBridge sends to a queue with the platform key, on EventBridge's behalf."""
    statements = governance.to_json()["Resources"][KEY]["Properties"]["KeyPolicy"]["Statement"]
    allowing_eventbridge = [
        statement
        for statement in statements
        if statement["Effect"] == "Allow"
        and "events.amazonaws.com" in str(statement["Principal"].get("Service", ""))
        and {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(statement["Action"])
    ]
    assert len(allowing_eventbridge) == 1
    assert allowing_eventbridge[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


# --- EventDeadLetters -----------------------------------------------------------------------------


def _stack() -> tuple[Stack, kms.Key, sns.Topic]:
    stack = Stack(App(), "Probe")
    key = kms.Key(stack, "Key")
    return stack, key, sns.Topic(stack, "Topic", master_key=key)


def test_a_stack_has_one_event_dead_letter_queue_whoever_asks_first() -> None:
    stack, key, topic = _stack()
    first = EventDeadLetters.of(stack, encryption_key=key, alert_topic=topic)
    nested = EventDeadLetters.of(topic, encryption_key=key, alert_topic=topic)
    assert nested is first
    assert first.node.scope is stack
    Template.from_stack(stack).resource_count_is("AWS::SQS::Queue", 1)


def test_one_queue_cannot_take_another_key_or_topic() -> None:
    stack, key, topic = _stack()
    EventDeadLetters.of(stack, encryption_key=key, alert_topic=topic)
    with pytest.raises(ValueError, match="another key or alert topic"):
        EventDeadLetters.of(stack, encryption_key=kms.Key(stack, "Other"), alert_topic=topic)


def test_alerts_need_an_encrypted_topic_to_dead_letter() -> None:
    stack, _, _ = _stack()
    rule = events.Rule(stack, "Rule", event_pattern=events.EventPattern(source=["probe"]))
    with pytest.raises(ValueError, match="alert topics are encrypted"):
        send_to_topic(rule, topic=sns.Topic(stack, "Plain"), message=events.RuleTargetInput.from_text("x"))
