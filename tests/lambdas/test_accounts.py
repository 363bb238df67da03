"""lambdas/common/accounts.py: the session that reaches what serves in its own account (moto's STS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError
from moto import mock_aws

from lambdas.common.accounts import (
    ServingRoleError,
    default_session,
    role_session_name,
    serving_role_arn,
    serving_session,
)
from lambdas.common.aws import RetryableError, aws_call
from lambdas.common.contracts import SERVING_ROLE_ARN_ENV
from tests.lambdas.conftest import ACCOUNT, REGION
from tests.lambdas.serving_account import SERVING_ACCOUNT, ops_role_arn, sts_refusing, watched_session

ROLE = ops_role_arn()


@pytest.fixture
def requests() -> Iterator[list[dict[str, Any]]]:
    """The AssumeRole requests made through `base`'s STS clients, in a fresh fake account."""
    with mock_aws():
        yield []


def base(requests: list[dict[str, Any]]) -> boto3.Session:
    return watched_session(REGION, requests)


def account_of(session: boto3.Session) -> str:
    account: str = session.client("sts").get_caller_identity()["Account"]
    return account


def test_the_session_assumes_the_role_once_for_all_its_clients_at_the_regional_endpoint(
    requests: list[dict[str, Any]],
) -> None:
    session = serving_session(ROLE, session_name="drift-alert", base=base(requests))
    assert requests == []  # nothing is called before the first request

    assert account_of(session) == SERVING_ACCOUNT
    session.client("s3").list_buckets()

    [request] = requests
    assert request["RoleArn"] == ROLE
    assert request["RoleSessionName"] == "drift-alert"
    assert request["url"] == f"https://sts.{REGION}.amazonaws.com/"


def test_credentials_about_to_expire_are_refreshed_by_a_new_assume_role(requests: list[dict[str, Any]]) -> None:
    watched = base(requests)
    # STS answers credentials that expire in 5 minutes: within botocore's refresh window (15 minutes).
    expiring = datetime.now(UTC) + timedelta(minutes=5)

    def expire_soon(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Credentials"]["Expiration"] = expiring

    watched.events.register("after-call.sts.AssumeRole", expire_soon)
    session = serving_session(ROLE, session_name="traffic-shift", base=watched)

    assert account_of(session) == SERVING_ACCOUNT
    assert len(requests) == 1
    assert account_of(session) == SERVING_ACCOUNT
    assert [request["RoleArn"] for request in requests] == [ROLE, ROLE]


def test_a_refused_assume_role_fails_every_call_naming_the_role_and_handlers_retry_it(
    requests: list[dict[str, Any]],
) -> None:
    session = serving_session(ROLE, session_name="drift-alert", base=base(requests))
    sagemaker = session.client("sagemaker")

    with sts_refusing(), pytest.raises(ServingRoleError) as refused:
        sagemaker.describe_endpoint(EndpointName="mlops-churn-production")
    assert isinstance(refused.value, BotoCoreError)
    assert f"could not assume the serving role {ROLE}" in str(refused.value)
    assert "AccessDenied" in str(refused.value)

    # A handler's call fails as a retryable error (aws.py: no answer about the resource is not "not there").
    refused_retryable = pytest.raises(RetryableError, match="could not describe the endpoint: could not assume")
    with sts_refusing(), refused_retryable, aws_call("describe the endpoint"):
        sagemaker.describe_endpoint(EndpointName="mlops-churn-production")

    # Once the role may be assumed again, the same session works: nothing failed is remembered.
    sagemaker.list_endpoints()
    assert [request["RoleArn"] for request in requests] == [ROLE, ROLE, ROLE]


def test_without_a_role_the_session_is_this_accounts_own(requests: list[dict[str, Any]]) -> None:
    own = base(requests)
    assert serving_session(None, session_name="drift-alert", base=own) is own
    assert serving_session("", session_name="drift-alert", base=own) is own
    assert account_of(serving_session(None, session_name="drift-alert")) == ACCOUNT
    assert requests == []


def test_without_a_role_or_a_region_what_serves_is_read_through_the_default_session() -> None:
    """The session `lambdas.common.aws.client` creates its clients from: one set of loaded models for all."""
    assert serving_session(None, session_name="traffic-shift") is default_session() is boto3.DEFAULT_SESSION
    elsewhere = serving_session(None, session_name="rollback", region_name="eu-west-1")
    assert elsewhere is not default_session()
    assert elsewhere.region_name == "eu-west-1"


@pytest.mark.parametrize(
    ("environ", "role_arn"),
    [({}, None), ({SERVING_ROLE_ARN_ENV: ""}, None), ({SERVING_ROLE_ARN_ENV: ROLE}, ROLE)],
)
def test_the_role_comes_from_the_contracts_variable(environ: dict[str, str], role_arn: str | None) -> None:
    assert serving_role_arn(environ) == role_arn


@pytest.mark.parametrize(
    ("name", "session_name"),
    [("drift-alert", "drift-alert"), ("a b/c", "a-b-c"), ("x", "x-"), ("n" * 80, "n" * 64)],
)
def test_session_names_are_made_valid_for_iam(name: str, session_name: str) -> None:
    assert role_session_name(name) == session_name
