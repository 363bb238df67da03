"""Fixtures for the tools' tests: a fake AWS account (moto, in process) in the platform's region.

Clients are created with explicit fake credentials and region, and only ever used inside `mock_aws`,
so nothing here can reach AWS. They are created once per run: creating clients anew for every test
would dominate the suite's time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config import load_config

# The fake account is in the platform's region, under the platform's name: what `rollback.main`
# reads from config/platform.yaml when --region and --platform-name are not given.
_PLATFORM_CONFIG = load_config()
REGION = _PLATFORM_CONFIG.environment.region
PLATFORM = _PLATFORM_CONFIG.name
ACCOUNT = "123456789012"  # moto's default account

_SESSION = boto3.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing", region_name=REGION
)


@cache
def client(service: str) -> Any:
    return _SESSION.client(service)


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh, empty fake account for one test."""
    with mock_aws():
        yield


def create_queue(name: str) -> tuple[str, str]:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(queue_url: str) -> list[dict[str, Any]]:
    """The JSON messages waiting in a queue, removed from it."""
    sqs = client("sqs")
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [json.loads(message["Body"]) for message in messages]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return bodies
