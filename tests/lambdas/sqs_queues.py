"""SQS queues as the tests' window on what the handlers publish (SNS and EventBridge route into them)."""

from __future__ import annotations

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
