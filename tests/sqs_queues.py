"""SQS queues as the tests' window on what handlers and tools publish (SNS and EventBridge route into them)."""

from __future__ import annotations

import json
from typing import Any


def create_queue(sqs: Any, name: str) -> tuple[str, str]:
    """A queue's URL and ARN."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs: Any, queue_url: str) -> list[str]:
    """Every message body waiting in the queue, which is left empty."""
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [message["Body"] for message in messages]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return bodies


def topic_queue(sns: Any, sqs: Any, *, topic: str, queue: str) -> str:
    """Create the SNS topic and a queue subscribed to it (what the topic publishes lands there); the queue's URL."""
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    url, arn = create_queue(sqs, queue)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def rule_queue(events: Any, sqs: Any, *, bus: str, rule: str, pattern: dict[str, Any], queue: str) -> str:
    """A rule on the bus that forwards the events matching `pattern` to a new queue; the queue's URL."""
    url, arn = create_queue(sqs, queue)
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return url
