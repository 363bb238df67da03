"""The traffic shift where production serves in its own account (SERVING_ROLE_ARN set): the endpoint is
read and steered, and its metrics read, as the model's ops role there; the audit event and the alert
stay in the function's account (tests/lambdas/serving_account.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.common.accounts import serving_session
from lambdas.common.aws import RetryableError
from tests.lambdas.conftest import REGION, LambdaContext, client
from tests.lambdas.serving_account import SERVING_ACCOUNT, ops_role_arn, signers, sts_refusing, watched_session
from tests.lambdas.traffic_shift_world import ENDPOINT, ProductionAccount, Traffic, evidence, load_handler

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROLE = ops_role_arn()
SCHEDULED_EVENT = {"id": "tick-1", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
# At the 50 % cap, 10.0 % against 12.5 % successes on 5000 invocations each: the challenger is promoted.
BETTER = Traffic.at(5000, 0.100), Traffic.at(5000, 0.125)


@pytest.fixture(scope="module")
def traffic_shift() -> ModuleType:
    return load_handler()


class TwoAccounts:
    def __init__(self, handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
        built_as = serving_session(ROLE, session_name="deploy-pipeline", base=boto3.Session())
        self.production = ProductionAccount(sagemaker=built_as.client("sagemaker")).build()
        self.production.deploy(champion=50, challenger=50)
        self.assume_role_requests: list[dict[str, Any]] = []
        base = watched_session(REGION, self.assume_role_requests)
        self.clients = handler.aws_clients(serving_session(ROLE, session_name=handler.SETTINGS.service_name, base=base))
        monkeypatch.setattr(handler, "CLIENTS", self.clients)
        later = self.production.last_modified() + timedelta(hours=30)
        monkeypatch.setattr(handler, "utc_now", lambda: later)


@pytest.fixture
def accounts(traffic_shift: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoAccounts]:
    with mock_aws():
        yield TwoAccounts(traffic_shift, monkeypatch)


def test_the_endpoint_is_steered_as_the_ops_role_and_the_decision_audited_in_the_functions_account(
    traffic_shift: ModuleType, accounts: TwoAccounts
) -> None:
    clients = accounts.clients
    by_name = {"sagemaker": clients.sagemaker, "events": clients.events, "sns": clients.sns}

    with evidence(traffic_shift, *BETTER), signers(by_name) as signed:
        outcome = traffic_shift.handler(SCHEDULED_EVENT, LambdaContext(function_name="traffic-shift"))

    assert outcome["decision"] == "promote"
    assert accounts.production.weights() == {"champion": 0.0, "challenger": 1.0}
    [audit] = accounts.production.audit_events()
    assert audit["resources"] == [f"arn:aws:sagemaker:{REGION}:{SERVING_ACCOUNT}:endpoint/{ENDPOINT}"]
    [alert] = accounts.production.alerts()
    assert alert["Subject"] == f"Challenger promoted on {ENDPOINT}"
    assert [(r["RoleArn"], r["RoleSessionName"]) for r in accounts.assume_role_requests] == [(ROLE, "traffic-shift")]
    # DescribeEndpoint and UpdateEndpointWeightsAndCapacities as the role; PutEvents and Publish as the function.
    assert signed == {"sagemaker": {"serving"}, "events": {"own"}, "sns": {"own"}}
    assert client("sagemaker").list_endpoints()["Endpoints"] == []
    # GetMetricData (stubbed above) goes to production's CloudWatch too.
    with signers({"cloudwatch": clients.cloudwatch}) as signed:
        clients.cloudwatch.list_metrics(Namespace="AWS/SageMaker")
    assert signed == {"cloudwatch": {"serving"}}


def test_a_refused_assume_role_fails_the_invocation_for_a_retry_and_changes_nothing(
    traffic_shift: ModuleType, accounts: TwoAccounts
) -> None:
    refused = pytest.raises(RetryableError, match=f"could not assume the serving role {ROLE}")
    # Nothing queued on CloudWatch: no metrics may be asked for.
    with sts_refusing(), Stubber(accounts.clients.cloudwatch), refused:
        traffic_shift.handler(SCHEDULED_EVENT, LambdaContext(function_name="traffic-shift"))

    assert accounts.production.weights() == {"champion": 50.0, "challenger": 50.0}
    assert (accounts.production.audit_events(), accounts.production.alerts()) == ([], [])
