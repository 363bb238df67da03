"""The drift alert where production serves in its own account (SERVING_ROLE_ARN set): what serves is read
as the model's ops role there, alerts, events and state stay in the function's account.

The serving account is moto's, beside the function's (tests/lambdas/serving_account.py): the endpoint,
its models, the monitoring runs and their reports are built there, through a session of the role, and
the handler's clients are `handler.aws_clients` of a session of its own (so its AssumeRole is seen).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.common.accounts import serving_session
from lambdas.common.aws import RetryableError
from lambdas.common.contracts import DATA_QUALITY, monitoring_schedule_name
from lambdas.common.endpoints import batch_champion
from tests.lambdas.conftest import REGION, LambdaContext, client
from tests.lambdas.drift_alert_world import (
    CHURN_ENDPOINT,
    CHURN_VIOLATIONS,
    FORECAST_TRANSFORM,
    DriftWorld,
    MonitoringStubber,
    alarm_event,
    load_handler,
)
from tests.lambdas.handler_probes import Telemetry
from tests.lambdas.serving_account import ops_role_arn, signers, sts_refusing, watched_session

handler = load_handler()

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROLE = ops_role_arn()
CHURN_SCHEDULE = monitoring_schedule_name(CHURN_ENDPOINT, DATA_QUALITY)
LAMBDA_CONTEXT = LambdaContext(function_name="drift-alert")


class TwoAccounts:
    """The drift alert's account (topic, bus, state table) and production's (endpoints, monitoring)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        built_as = serving_session(ROLE, session_name="deploy-pipeline", base=boto3.Session())
        self.world = DriftWorld(sagemaker=built_as.client("sagemaker"), s3=built_as.client("s3")).build()
        self.assume_role_requests: list[dict[str, Any]] = []
        base = watched_session(REGION, self.assume_role_requests)
        self.clients = handler.aws_clients(serving_session(ROLE, session_name=handler.SETTINGS.service_name, base=base))
        monkeypatch.setattr(handler, "CLIENTS", self.clients)

    def by_name(self) -> dict[str, Any]:
        names = ("sagemaker", "s3", "sns", "events", "dynamodb", "cloudformation")
        return {name: getattr(self.clients, name) for name in names}


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoAccounts]:
    with mock_aws():
        yield TwoAccounts(monkeypatch)


@pytest.fixture
def monitoring(accounts: TwoAccounts) -> Iterator[MonitoringStubber]:
    with MonitoringStubber(accounts.clients.sagemaker) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_what_serves_is_read_as_the_ops_role_and_the_alert_is_the_functions_own(
    accounts: TwoAccounts, monitoring: MonitoringStubber
) -> None:
    world = accounts.world
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])

    with signers(accounts.by_name()) as signed:
        outcome = handler.handler(alarm_event(f"{CHURN_ENDPOINT}-drift-tenure"), LAMBDA_CONTEXT)

    assert outcome["result"] == "alerted"
    # The endpoint's packages and the report's violations were read in production's account...
    [alert] = world.alerts()
    champion = world.package_arns[CHURN_ENDPOINT][0]
    assert f"champion: {champion}, 90% (weight 90)" in alert["Message"]
    assert "tenure (baseline_drift_check): Baseline drift distance: 0.52" in alert["Message"]
    # ...as the ops role, assumed once by the function's session; the rest with the function's own credentials.
    assert [(r["RoleArn"], r["RoleSessionName"]) for r in accounts.assume_role_requests] == [(ROLE, "drift-alert")]
    assert signed == {
        "sagemaker": {"serving"},
        "s3": {"serving"},
        "sns": {"own"},
        "events": {"own"},
        "dynamodb": {"own"},
        "cloudformation": set(),
    }
    [audit] = world.audit_events()
    assert audit["detail"]["packages"][0]["model_package_arn"] == champion
    [request] = world.retraining_requests("churn")
    assert request["detail"]["alarm_name"] == f"{CHURN_ENDPOINT}-drift-tenure"
    # Nothing that serves is in the function's account.
    assert client("sagemaker").list_endpoints()["Endpoints"] == []


def test_a_batch_models_serving_stack_is_read_as_the_ops_role(accounts: TwoAccounts) -> None:
    with signers({"cloudformation": accounts.clients.cloudformation}) as signed:
        champion, notes = batch_champion(accounts.clients.cloudformation, FORECAST_TRANSFORM)
    # The world built the batch model's stack in the function's account: production's has none.
    assert (champion, notes) == (None, [f"the serving stack {FORECAST_TRANSFORM} does not exist (not deployed yet?)"])
    assert signed == {"cloudformation": {"serving"}}


def test_a_refused_assume_role_fails_the_invocation_for_a_retry_and_does_nothing(
    accounts: TwoAccounts,
    monitoring: MonitoringStubber,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = accounts.world
    # One answer for the two deliveries: the refused one reads nothing of what serves.
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event(f"{CHURN_ENDPOINT}-drift-tenure")
    telemetry = Telemetry(capsys, caplog, handler.logger)

    with sts_refusing(), pytest.raises(RetryableError, match=f"could not assume the serving role {ROLE}"):
        handler.handler(event, LAMBDA_CONTEXT)

    assert (world.alerts(), world.audit_events(), world.retraining_requests("churn")) == ([], [], [])
    assert world.retraining_claim("churn") is None
    assert telemetry.metrics()["DriftAlertError"] == 1
    [failure] = [line for line in telemetry.logs() if line["level"] == "ERROR"]
    assert failure["message"] == "drift alert failed; EventBridge will retry the event"
    assert ROLE in failure["exception"]

    # EventBridge's retry, once the role may be assumed: the alarm is alerted in full, once.
    assert handler.handler(event, LAMBDA_CONTEXT)["result"] == "alerted"
    assert len(world.alerts()) == 1
