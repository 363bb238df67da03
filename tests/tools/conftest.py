"""Fixtures for the tools' tests: a fake AWS account (moto, in process) in the platform's region.

Clients are created with explicit fake credentials and region, and only ever used inside `mock_aws`,
so nothing here can reach AWS. They are created once per run: creating clients anew for every test
would dominate the suite's time.
"""

from __future__ import annotations

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
