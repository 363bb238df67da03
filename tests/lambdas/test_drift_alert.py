"""The drift alert through its Lambda handler, in a fake AWS account (moto, in process).

Start with `test_a_drift_alarm_is_alerted_with_its_context_and_requests_retraining`: it follows one
alarm from the EventBridge event to the alert, the retraining request the model's build stack
receives, the cool-down claim, the audit event and the metrics.

moto models the endpoint, its configuration and models, the model packages, the monitoring job
(DescribeProcessingJob), S3, SNS, DynamoDB (conditional writes, ALL_OLD on failure, and the Powertools
idempotency records the handler keeps in the same state table) and EventBridge:
both events the function puts reach queues through rules on the audit bus, the retraining request
through the rule of the model's build stack, matched on the model's name as the platform matches it.
botocore's Stubber stands in where moto falls short (drift_alert_world.py):
- SageMaker ListMonitoringExecutions, which moto 5.2.5 does not implement: `MonitoringStubber` stubs
  that one operation and lets every other SageMaker call reach moto;
- a retraining request the bus refuses (FailedEntryCount 1), which moto never answers for a
  well-formed entry: `RetrainingRequestStubber` answers that one PutEvents and lets the audit event
  reach moto.
Failures of other calls, and answers lost after moto carried the call out, are raised from botocore
hooks (`failing`).

The environment is set for the import of the handler only (`load_handler`): the folder's conftest
sets the approval gate's values for the session, under some of the same names.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from hypothesis import event as hypothesis_event
from hypothesis import example, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from pydantic import ValidationError

from lambdas.common.aws import RetryableError
from lambdas.common.contracts import (
    DATA_QUALITY,
    MODEL_QUALITY,
    alerted_alarm_prefixes,
    drift_alarm_name,
    model_quality_alarm_name,
    monitoring_schedule_name,
)
from lambdas.drift_alert.claims import claim_retraining
from lambdas.drift_alert.message import compose_alert
from lambdas.drift_alert.models import (
    DriftAlarm,
    DriftAlertSettings,
    Enrichment,
    MonitoredEndpoint,
    MonitoringFindings,
    Result,
    Retraining,
    RetrainingDecision,
    Violation,
)
from lambdas.drift_alert.screen import screen
from tests.lambdas.conftest import LambdaContext, client
from tests.lambdas.drift_alert_world import (
    AUC_VIOLATIONS,
    CHURN_ENDPOINT,
    CHURN_VIOLATIONS,
    DEMAND_ENDPOINT,
    DRIFT_ENVIRONMENT,
    FORECAST_TRANSFORM,
    MONITORED_ENDPOINTS,
    RETRAINING_REQUESTED,
    DriftWorld,
    MonitoringStubber,
    RetrainingRequestStubber,
    alarm_event,
    load_handler,
    model_quality_alarm_event,
    puts,
)
from tests.lambdas.event_edits import DELETE, apply_edits, edit
from tests.lambdas.handler_probes import (
    ANY_AWS_FAILURE,
    PROPERTY_SETTINGS,
    Telemetry,
    aws_error,
    failing,
    json_scalars,
    json_values,
    recording_calls,
)

handler = load_handler()

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CHURN_SCHEDULE = monitoring_schedule_name(CHURN_ENDPOINT, DATA_QUALITY)
CHURN_QUALITY_SCHEDULE = monitoring_schedule_name(CHURN_ENDPOINT, MODEL_QUALITY)
STATE_TABLE = DRIFT_ENVIRONMENT["STATE_TABLE_NAME"]
DAY = 24 * 3600


@pytest.fixture
def world() -> Iterator[DriftWorld]:
    """A fresh fake account per test, with the drift alert's surroundings built."""
    with mock_aws():
        yield DriftWorld().build()


@pytest.fixture
def monitoring(world: DriftWorld) -> Iterator[MonitoringStubber]:
    """Answers ListMonitoringExecutions for the test; every queued answer must have been asked for."""
    with MonitoringStubber(handler.CLIENTS.sagemaker) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(
        function_name="drift-alert",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:drift-alert",
    )


@pytest.fixture
def telemetry(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Telemetry:
    return Telemetry(capsys, caplog, handler.logger)


def all_clients() -> list[Any]:
    clients = handler.CLIENTS
    return [clients.sagemaker, clients.s3, clients.sns, clients.events, clients.dynamodb, clients.cloudformation]


# --- The story: a drift alarm becomes an enriched alert and a retraining request -------------------------


def test_a_drift_alarm_is_alerted_with_its_context_and_requests_retraining(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # Model Monitor's hourly run on the churn endpoint found two features drifted and one type problem,
    # published the drift metrics, and the tenure drift alarm went from OK to ALARM.
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event(f"{CHURN_ENDPOINT}-drift-tenure", features=("tenure",))

    outcome = handler.handler(event, lambda_context)

    # One alert, readable, with the context a person needs to act.
    [alert] = world.alerts()
    champion, challenger = world.package_arns[CHURN_ENDPOINT]
    assert alert["Subject"] == f"Drift on {CHURN_ENDPOINT}: 2 features drifted, retraining requested"
    message = alert["Message"]
    for expected in (
        f"A Model Monitor drift alarm went off for the SageMaker endpoint {CHURN_ENDPOINT} (model churn).",
        f"Alarm:  {CHURN_ENDPOINT}-drift-tenure",
        "State:  OK -> ALARM at 2026-01-01T13:05:00.000+0000",
        "Reason: Threshold Crossed: 1 out of the last 1 datapoints [0.52 (01/01/26 13:00:00)]",
        f"champion: {champion}, 90% (weight 90)",
        f"challenger: {challenger}, 10% (weight 10)",
        f"{CHURN_SCHEDULE}:\n  CompletedWithViolations, scheduled 2026-01-01T13:00:00Z",
        # Drifted features sorted, each with Model Monitor's description; other violations apart.
        "  Drifted features:\n"
        "    - monthly_charges (baseline_drift_check): Baseline drift distance: 0.31 exceeds threshold: 0.1\n"
        "    - tenure (baseline_drift_check): Baseline drift distance: 0.52 exceeds threshold: 0.1\n"
        "  Other violations:\n"
        "    - total_charges (data_type_check): Data type of feature total_charges: 4.2% of values are not Fractional",
        "Violations report: https://us-east-1.console.aws.amazon.com/s3/object/mlops-monitoring?region=us-east-1"
        f"&prefix=monitoring/{CHURN_ENDPOINT}/{CHURN_SCHEDULE}/2026/01/01/13/constraint_violations.json",
        "waits for manual approval",
    ):
        assert expected in message
    # The churn model's build stack receives one request, naming this alarm; the demand model's none.
    [request] = world.retraining_requests("churn")
    assert world.retraining_requests("demand") == []
    assert (request["source"], request["detail-type"]) == ("mlops.drift-alert", "Retraining Requested")
    claim = world.retraining_claim("churn")
    assert claim is not None
    assert request["detail"] == {
        "model_name": "churn",
        "endpoint_name": CHURN_ENDPOINT,
        "alarm_name": f"{CHURN_ENDPOINT}-drift-tenure",
        "alarm_event_id": "alarm-event-1",
        "requested_at": _iso(claim["last_requested"]),
    }
    assert (
        f"Retraining requested: event {request['id']} on the audit bus has the build stack of churn start its"
        " build pipeline." in message
    )
    # The cool-down claim: who requested, when, and a TTL one cool-down later.
    assert claim["claimed_by"] == "alarm-event-1"
    assert claim["retraining_request_id"] == request["id"]
    assert int(claim["expiration"]) == int(claim["last_requested"]) + DAY
    assert f"No other retraining of churn is requested before {_iso(claim['expiration'])} (cool-down)." in message
    # The audit event: what drifted, what was serving, what was done.
    [audit] = world.audit_events()
    assert (audit["source"], audit["detail-type"]) == ("mlops.drift-alert", "Drift Alert")
    assert audit["detail"] == {
        "endpoint_name": CHURN_ENDPOINT,
        "model_name": "churn",
        "alarm_name": f"{CHURN_ENDPOINT}-drift-tenure",
        "alarm_event_id": "alarm-event-1",
        "state_reason": event["detail"]["state"]["reason"],
        "monitoring_schedule": CHURN_SCHEDULE,
        "execution_status": "CompletedWithViolations",
        "features": ["monthly_charges", "tenure"],
        "violations_report": f"s3://mlops-monitoring/monitoring/{CHURN_ENDPOINT}/{CHURN_SCHEDULE}/2026/01/01/13/constraint_violations.json",
        "packages": [
            {"variant_name": "champion", "model_package_arn": champion, "weight": 90.0},
            {"variant_name": "challenger", "model_package_arn": challenger, "weight": 10.0},
        ],
        "retraining": "requested",
        "retraining_request_id": request["id"],
        "retraining_replayed": False,
    }
    # One structured log line carrying the audit record, and the metrics.
    [line] = [line for line in telemetry.logs() if "audit" in line]
    assert line["audit"] == audit["detail"]
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1, "DriftRetrainingRequested": 1})
    assert outcome["result"] == "alerted"


def _iso(epoch_seconds: str) -> str:
    return datetime.fromtimestamp(int(epoch_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Ways the first attempt loses track of its retraining request (see the test below).
LOSING_TRACK_OF_THE_REQUEST: dict[str, Callable[[], AbstractContextManager[None]]] = {
    # The bus answers 5xx: it may have taken the request (here it did not).
    "request-answered-5xx": lambda: failing(
        handler.CLIENTS.events, "PutEvents", aws_error("InternalFailure", 500), only=puts(RETRAINING_REQUESTED)
    ),
    # The bus took the request; its answer never arrives.
    "answer-lost": lambda: failing(
        handler.CLIENTS.events,
        "PutEvents",
        ReadTimeoutError(endpoint_url="https://events"),
        only=puts(RETRAINING_REQUESTED),
        answer_lost=True,
    ),
    # The bus took the request and said so; writing its EventId onto the claim failed.
    "request-not-recorded": lambda: failing(
        handler.CLIENTS.dynamodb, "UpdateItem", aws_error("InternalServerError", 500)
    ),
}


@pytest.mark.parametrize("lost", LOSING_TRACK_OF_THE_REQUEST)
def test_a_request_of_unknown_outcome_keeps_the_claim_and_the_retry_repeats_the_request(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, lost: str
) -> None:
    """The claim is kept, so a second alarm meanwhile requests nothing, and the retry of the same event
    puts the same request again. PutEvents has no idempotency token: where the first request did reach
    the bus, the build stack receives this alarm's request twice, the worst case the README documents."""
    for _lookup in range(3):
        monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event(event_id="alarm-event-1")

    with (
        LOSING_TRACK_OF_THE_REQUEST[lost](),
        pytest.raises(RetryableError, match=r"could not (request|record) the retraining"),
    ):
        handler.handler(event, lambda_context)
    kept = world.retraining_claim("churn")
    assert kept is not None
    assert (kept["claimed_by"], "retraining_request_id" in kept) == ("alarm-event-1", False)
    other = handler.handler(alarm_event(f"{CHURN_ENDPOINT}-drift-charges", event_id="alarm-event-2"), lambda_context)
    retried = handler.handler(event, lambda_context)

    assert other["audit"]["retraining"] == "skipped_cooldown"
    requests = world.retraining_requests("churn")
    assert len(requests) == (1 if lost == "request-answered-5xx" else 2)
    # The same request each time: this alarm's, for this model (only its time says when it was put).
    assert [{key: value for key, value in r["detail"].items() if key != "requested_at"} for r in requests] == [
        {
            "model_name": "churn",
            "endpoint_name": CHURN_ENDPOINT,
            "alarm_name": f"{CHURN_ENDPOINT}-drift-tenure",
            "alarm_event_id": "alarm-event-1",
        }
    ] * len(requests)
    # The retry's request is the one recorded and reported.
    assert (retried["audit"]["retraining"], retried["audit"]["retraining_request_id"]) == (
        "requested",
        requests[-1]["id"],
    )
    claim = world.retraining_claim("churn")
    assert claim is not None
    assert (claim["claimed_by"], claim["retraining_request_id"]) == ("alarm-event-1", requests[-1]["id"])


# --- At most one retraining per cool-down ------------------------------------------------------------------


def test_a_redelivered_alarm_event_gets_its_outcome_back_and_nothing_is_done_again(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """EventBridge delivers at least once: Powertools idempotency on the event id answers the second
    delivery from its record in the state table (the monitoring schedule is read once)."""
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event()

    first = handler.handler(event, lambda_context)
    with recording_calls(all_clients()) as calls:
        again = handler.handler(event, lambda_context)

    assert calls == []  # nothing read, claimed, requested, published or audited again
    assert first["replayed"] is False
    assert again == first | {"replayed": True}
    assert len(world.retraining_requests("churn")) == len(world.alerts()) == len(world.audit_events()) == 1
    [record] = world.idempotency_records(handler.IDEMPOTENCY_KEY_PREFIX)
    assert record["status"] == "COMPLETED"
    [line] = [line for line in telemetry.logs() if line.get("replayed")]
    assert line["message"].startswith("duplicate delivery, already handled: drift alarm")
    # Counted once, when it was handled.
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1, "DriftRetrainingRequested": 1})


def test_the_retry_of_an_alarm_whose_request_is_recorded_alerts_without_requesting_again(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """The first attempt requested retraining and recorded it, then failed to publish the alert: the failure
    leaves no idempotency record, so the retry acts again, and the retraining claim makes it a replay."""
    for _attempt in range(2):
        monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event()

    with failing(handler.CLIENTS.sns, "Publish", aws_error("InternalError", 500)), pytest.raises(RetryableError):
        handler.handler(event, lambda_context)
    assert world.idempotency_records(handler.IDEMPOTENCY_KEY_PREFIX) == []
    retried = handler.handler(event, lambda_context)

    [request] = world.retraining_requests("churn")
    audit = retried["audit"]
    assert (audit["retraining"], audit["retraining_request_id"], audit["retraining_replayed"]) == (
        "requested",
        request["id"],
        True,
    )
    [alert] = world.alerts()
    assert "this alarm had already requested it; nothing was requested again" in alert["Message"]
    assert len(world.audit_events()) == 1
    # The retry is alerted and counted as such, not as a second retraining request.
    assert telemetry.metrics() == Counter({"DriftAlertError": 1, "DriftAlertPublished": 1})


def test_a_duplicate_delivered_while_the_first_is_in_progress_is_retried_later(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    """The duplicate raises RetryableError (EventBridge retries it), and reads nothing meanwhile."""
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event()
    raised: list[RetryableError] = []

    def deliver_again_while_publishing(**_: Any) -> None:
        if not raised:
            with pytest.raises(RetryableError) as duplicate:
                handler.handler(event, lambda_context)
            raised.append(duplicate.value)

    hook = "before-parameter-build.sns.Publish"
    handler.CLIENTS.sns.meta.events.register(hook, deliver_again_while_publishing)
    try:
        first = handler.handler(event, lambda_context)
    finally:
        handler.CLIENTS.sns.meta.events.unregister(hook, deliver_again_while_publishing)

    [error] = raised
    assert str(error).startswith("idempotency store: Execution already in progress")
    assert first["result"] == "alerted"
    assert len(world.alerts()) == len(world.retraining_requests("churn")) == 1
    [record] = world.idempotency_records(handler.IDEMPOTENCY_KEY_PREFIX)
    assert record["status"] == "COMPLETED"
    assert handler.handler(event, lambda_context) == first | {"replayed": True}  # EventBridge's retry


def test_an_idempotency_store_that_fails_stops_the_invocation_before_it_acts(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])  # the retry's
    event = alarm_event()

    throttled = aws_error("ProvisionedThroughputExceededException", 400)
    with (
        failing(handler.ACT_ONCE.persistence_store.client, "PutItem", throttled),
        recording_calls(all_clients()) as calls,
        pytest.raises(RetryableError, match="idempotency store: "),
    ):
        handler.handler(event, lambda_context)

    assert calls == []
    assert world.alerts() == world.retraining_requests("churn") == []
    assert telemetry.metrics() == Counter({"DriftAlertError": 1})
    assert handler.handler(event, lambda_context)["audit"]["retraining"] == "requested"  # EventBridge's retry


# --- One alert per monitoring execution ------------------------------------------------------------------


def alarms_of_one_run(
    world: DriftWorld, monitoring: MonitoringStubber, *, lookups: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tenure and monthly_charges alarms that one hourly run sets off; the schedule's latest execution
    is that run for the next `lookups` reads."""
    execution = world.monitoring_execution(report=CHURN_VIOLATIONS)
    for _lookup in range(lookups):
        monitoring.answer_latest(CHURN_SCHEDULE, [execution])
    tenure = alarm_event(f"{CHURN_ENDPOINT}-drift-tenure", features=("tenure",), event_id="alarm-event-1")
    charges = alarm_event(
        f"{CHURN_ENDPOINT}-drift-monthly-charges", features=("monthly_charges",), event_id="alarm-event-2"
    )
    return tenure, charges


def test_the_feature_alarms_of_one_execution_send_one_alert_naming_every_drifted_feature(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # One hourly run publishes every feature's drift metric: both feature alarms go off with it.
    tenure, charges = alarms_of_one_run(world, monitoring, lookups=2)

    first = handler.handler(tenure, lambda_context)
    second = handler.handler(charges, lambda_context)

    assert (first["result"], second["result"]) == ("alerted", "already_alerted")
    assert second["reason"] == (
        f"{CHURN_ENDPOINT}-drift-monthly-charges: the execution of {CHURN_SCHEDULE} scheduled"
        f" 2026-01-01T13:00:00Z was alerted by {CHURN_ENDPOINT}-drift-tenure, with every drifted feature"
    )
    [alert] = world.alerts()
    assert "monthly_charges" in alert["Message"], "the one alert lists the other alarm's feature (from the report)"
    assert len(world.audit_events()) == len(world.retraining_requests("churn")) == 1
    assert telemetry.metrics() == Counter(
        {"DriftAlertPublished": 1, "DriftRetrainingRequested": 1, "DriftAlertAlreadySent": 1}
    )


def test_an_alert_that_failed_to_publish_is_sent_by_its_retry_even_after_a_sibling_alarm(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    tenure, charges = alarms_of_one_run(world, monitoring, lookups=3)

    with failing(handler.CLIENTS.sns, "Publish", aws_error("InternalError", 500)), pytest.raises(RetryableError):
        handler.handler(tenure, lambda_context)
    sibling = handler.handler(charges, lambda_context)  # the claim is the failed event's: it stays quiet
    retried = handler.handler(tenure, lambda_context)  # EventBridge's retry of the failed event

    assert (sibling["result"], retried["result"]) == ("already_alerted", "alerted")
    assert len(world.alerts()) == 1


def test_a_second_alarm_within_the_cooldown_is_alerted_but_does_not_retrain(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    for _alarm in range(2):
        monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    tenure = alarm_event(f"{CHURN_ENDPOINT}-drift-tenure", features=("tenure",), event_id="alarm-event-1")
    charges = alarm_event(
        f"{CHURN_ENDPOINT}-drift-monthly-charges", features=("monthly_charges",), event_id="alarm-event-2"
    )

    first = handler.handler(tenure, lambda_context)
    second = handler.handler(charges, lambda_context)

    [request] = world.retraining_requests("churn")
    assert first["audit"]["retraining"] == "requested"
    assert second["audit"]["retraining"] == "skipped_cooldown"
    assert second["audit"]["retraining_request_id"] == request["id"]  # the request already made
    [_, alert] = world.alerts()
    assert alert["Subject"] == f"Drift on {CHURN_ENDPOINT}: 2 features drifted, retraining in cool-down"
    assert re.search(
        rf"Retraining not requested again: it was requested at \S+Z \(event {re.escape(request['id'])}\) for alarm"
        rf" {CHURN_ENDPOINT}-drift-tenure; the 24 h cool-down of churn lasts until \S+Z\.",
        alert["Message"],
    )
    assert [audit["detail"]["retraining"] for audit in world.audit_events()] == ["requested", "skipped_cooldown"]
    assert telemetry.metrics() == Counter(
        {"DriftAlertPublished": 2, "DriftRetrainingRequested": 1, "DriftRetrainingSkippedCooldown": 1}
    )


def test_of_two_alarms_racing_for_the_claim_one_requests_retraining(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    """Alarm B is handled entirely while alarm A holds the claim but has not put its request yet: the
    claim, not the request, is what B sees, so B does not request retraining a second time."""
    for _alarm in range(2):
        monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    alarm_a = alarm_event(f"{CHURN_ENDPOINT}-drift-tenure", event_id="alarm-event-a")
    alarm_b = alarm_event(f"{CHURN_ENDPOINT}-drift-monthly-charges", event_id="alarm-event-b")
    outcomes: dict[str, dict[str, Any]] = {}

    def handle_b_in_between(params: dict[str, Any], **_: Any) -> None:
        # A's retraining request, not B's audit event (which goes through the same client).
        if puts(RETRAINING_REQUESTED)(params) and "b" not in outcomes:
            outcomes["b"] = handler.handler(alarm_b, lambda_context)

    hook = "before-parameter-build.eventbridge.PutEvents"
    handler.CLIENTS.events.meta.events.register(hook, handle_b_in_between)
    try:
        outcomes["a"] = handler.handler(alarm_a, lambda_context)
    finally:
        handler.CLIENTS.events.meta.events.unregister(hook, handle_b_in_between)

    [request] = world.retraining_requests("churn")
    assert (outcomes["a"]["audit"]["retraining"], outcomes["a"]["audit"]["retraining_request_id"]) == (
        "requested",
        request["id"],
    )
    assert request["detail"]["alarm_event_id"] == "alarm-event-a"
    assert outcomes["b"]["audit"]["retraining"] == "skipped_cooldown"
    assert "retraining_request_id" not in outcomes["b"]["audit"]  # A had not put it yet
    [_, alert_a] = world.alerts()  # B's alert went out first, while A was requesting
    assert f"event {request['id']}" in alert_a["Message"]


def test_the_same_instant_claim_by_two_alarms_goes_to_one(world: DriftWorld) -> None:
    """The conditional write itself: two claims at the same second, the second sees the first's."""
    settings_ = handler.SETTINGS

    def alarm(event_id: str) -> DriftAlarm:
        screened = screen(alarm_event(event_id=event_id), settings_.endpoints)
        assert isinstance(screened, DriftAlarm)
        return screened

    def claim(event_id: str) -> dict[str, Any] | None:
        return claim_retraining(
            handler.CLIENTS.dynamodb,
            STATE_TABLE,
            model_name="churn",
            alarm=alarm(event_id),
            now=1_767_272_400.0,
            cooldown_seconds=DAY,
        )

    assert claim("alarm-event-a") is None
    holder = claim("alarm-event-b")
    assert holder is not None
    assert holder["claimed_by"] == {"S": "alarm-event-a"}
    # The claim is re-entrant for A's own retry, since no request is recorded on it yet.
    assert claim("alarm-event-a") is None


def test_after_the_cooldown_the_next_alarm_retrains_again(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    for _alarm in range(2):
        monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    handler.handler(alarm_event(event_id="alarm-event-1"), lambda_context)

    world.pass_time_on_claim("churn", hours=25)  # the item may outlive its TTL: the condition decides
    later = handler.handler(alarm_event(event_id="alarm-event-2"), lambda_context)

    assert later["audit"]["retraining"] == "requested"
    requests = world.retraining_requests("churn")
    assert [request["detail"]["alarm_event_id"] for request in requests] == ["alarm-event-1", "alarm-event-2"]
    claim = world.retraining_claim("churn")
    assert claim is not None
    assert (claim["claimed_by"], claim["retraining_request_id"]) == ("alarm-event-2", requests[1]["id"])


# --- When not to retrain ----------------------------------------------------------------------------------


def test_a_model_that_does_not_retrain_on_drift_is_only_alerted(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    monitoring.answer_latest(
        f"{DEMAND_ENDPOINT}-data-quality", [world.monitoring_execution(DEMAND_ENDPOINT, report=CHURN_VIOLATIONS)]
    )

    outcome = handler.handler(alarm_event(f"{DEMAND_ENDPOINT}-drift-tenure", endpoint=DEMAND_ENDPOINT), lambda_context)

    [alert] = world.alerts()
    assert alert["Subject"] == f"Drift on {DEMAND_ENDPOINT}: 2 features drifted, retraining off"
    assert (
        "Automatic retraining is off for demand. Investigate the drift; if the model needs retraining, start"
        " its build pipeline." in alert["Message"]
    )
    assert outcome["audit"]["retraining"] == "disabled"
    assert "retraining_request_id" not in outcome["audit"]  # the handler's answer leaves out nulls
    assert world.retraining_requests("demand") == world.retraining_requests("churn") == []
    assert world.retraining_claim("demand") is None
    [audit] = world.audit_events()
    assert audit["detail"]["retraining"] == "disabled"
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1})


@pytest.mark.parametrize(
    ("status", "report", "failure_reason"),
    [
        ("Failed", None, "Baseline constraints file not found"),
        (
            "CompletedWithViolations",
            {
                "violations": [
                    {"feature_name": "tenure", "constraint_check_type": "data_type_check", "description": "x"}
                ]
            },
            None,
        ),
    ],
    ids=["monitoring-failed", "data-type-violation-only"],
)
def test_an_alarm_without_drift_is_alerted_but_does_not_retrain(
    world: DriftWorld,
    monitoring: MonitoringStubber,
    lambda_context: LambdaContext,
    status: str,
    report: dict[str, Any] | None,
    failure_reason: str | None,
) -> None:
    """The "failed or violating executions" alarm: retraining cannot fix a broken monitoring job or data."""
    execution = world.monitoring_execution(report=report, status=status)
    if failure_reason:
        execution["FailureReason"] = failure_reason
    monitoring.answer_latest(CHURN_SCHEDULE, [execution])
    event = alarm_event(f"{CHURN_ENDPOINT}-drift-violating-executions", features=())

    outcome = handler.handler(event, lambda_context)

    assert outcome["audit"]["retraining"] == "skipped_no_drift"
    [alert] = world.alerts()
    assert alert["Subject"].endswith("retraining not requested")
    assert "Retraining not requested: neither the alarm nor the report shows baseline drift" in alert["Message"]
    if failure_reason:
        assert f"Failure: {failure_reason}" in alert["Message"]
        assert "the latest execution is Failed: it has no violations report" in alert["Message"]
    assert world.retraining_requests("churn") == []
    assert world.retraining_claim("churn") is None


def test_a_model_quality_alarm_reads_the_model_quality_schedule(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    schedule = f"{CHURN_ENDPOINT}-model-quality"
    report = {
        "violations": [
            {"metric_name": "auc", "constraint_check_type": "LessThanThreshold", "description": "auc 0.71 < 0.8"}
        ]
    }
    monitoring.answer_latest(schedule, [world.monitoring_execution(report=report, schedule=schedule)])
    event = alarm_event(f"{CHURN_ENDPOINT}-drift-model-quality", features=("auc",), schedule=schedule)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"].update(
        {"namespace": "aws/sagemaker/Endpoints/model-metrics", "name": "auc"}
    )

    outcome = handler.handler(event, lambda_context)

    # A model-quality violation is the model degrading: retraining is what helps.
    assert (outcome["audit"]["monitoring_schedule"], outcome["audit"]["retraining"]) == (schedule, "requested")
    [alert] = world.alerts()
    assert "  Violations:\n    - auc (LessThanThreshold): auc 0.71 < 0.8" in alert["Message"]


# --- Model quality: the gate metric worse than its threshold in production --------------------------------


def quality_execution(world: DriftWorld, **kwargs: Any) -> list[dict[str, Any]]:
    """The latest run of the churn endpoint's model-quality schedule."""
    return [world.monitoring_execution(schedule=CHURN_QUALITY_SCHEDULE, **kwargs)]


def test_a_model_quality_alarm_is_alerted_with_the_degraded_metric_and_requests_retraining(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # The hourly model-quality run joined predictions with ground truth: AUC fell below the gate's threshold,
    # and the production template's model-quality alarm went from OK to ALARM.
    monitoring.answer_latest(CHURN_QUALITY_SCHEDULE, quality_execution(world, report=AUC_VIOLATIONS))
    alarm_name = model_quality_alarm_name(CHURN_ENDPOINT, "auc")

    outcome = handler.handler(model_quality_alarm_event("auc"), lambda_context)

    [alert] = world.alerts()
    assert alert["Subject"] == f"Model quality on {CHURN_ENDPOINT}: auc worse than threshold, retraining requested"
    message = alert["Message"]
    for expected in (
        f"A Model Monitor model-quality alarm went off for the SageMaker endpoint {CHURN_ENDPOINT} (model churn).",
        f"Alarm:  {alarm_name}",
        "Reason: Threshold Crossed: 1 out of the last 1 datapoints [0.71 (01/01/26 13:00:00)] was less than the"
        " threshold (0.8)",
        f"{CHURN_QUALITY_SCHEDULE}:\n  CompletedWithViolations, scheduled 2026-01-01T13:00:00Z",
        "  Violations:\n    - auc (LessThanThreshold): Metric auc with 0.71 was LessThanThreshold '0.8'",
        "  Model-quality metrics in the alarm: auc",
        f"(s3://mlops-monitoring/monitoring/{CHURN_ENDPOINT}/{CHURN_QUALITY_SCHEDULE}/2026/01/01/13/"
        "constraint_violations.json)",
    ):
        assert expected in message
    assert "Drift" not in message
    [request] = world.retraining_requests("churn")
    assert request["detail"]["alarm_name"] == alarm_name
    assert f"Retraining requested: event {request['id']} on the audit bus" in message
    [audit] = world.audit_events()
    assert {key: audit["detail"][key] for key in ("alarm_name", "monitoring_schedule", "features", "retraining")} == {
        "alarm_name": alarm_name,
        "monitoring_schedule": CHURN_QUALITY_SCHEDULE,
        "features": [],
        "retraining": "requested",
    }
    assert outcome["reason"] == (
        f"model-quality alarm {alarm_name} on {CHURN_ENDPOINT} alerted [auc]; retraining requested ({request['id']})"
    )
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1, "DriftRetrainingRequested": 1})


def test_a_model_quality_alarm_without_a_violations_report_retrains_on_the_alarm_itself(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    """The production template's model-quality job has no baseline constraints: its runs publish the
    metrics the alarm watches but write no violations report. The alarm's own metric is the evidence."""
    monitoring.answer_latest(CHURN_QUALITY_SCHEDULE, quality_execution(world, status="Completed"))

    outcome = handler.handler(model_quality_alarm_event("f1"), lambda_context)

    [alert] = world.alerts()
    assert alert["Subject"] == f"Model quality on {CHURN_ENDPOINT}: f1 worse than threshold, retraining requested"
    assert (
        f"  ! no violations report at s3://mlops-monitoring/monitoring/{CHURN_ENDPOINT}/{CHURN_QUALITY_SCHEDULE}/"
        in alert["Message"]
    )
    assert (outcome["audit"]["retraining"], outcome["audit"].get("violations_report")) == ("requested", None)
    assert len(world.retraining_requests("churn")) == 1


def test_the_model_quality_alarms_of_one_run_send_one_alert(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    execution = quality_execution(world, report=AUC_VIOLATIONS)
    for _alarm in range(2):
        monitoring.answer_latest(CHURN_QUALITY_SCHEDULE, execution)

    first = handler.handler(model_quality_alarm_event("auc", event_id="alarm-event-1"), lambda_context)
    second = handler.handler(model_quality_alarm_event("f1", event_id="alarm-event-2"), lambda_context)

    assert (first["result"], second["result"]) == ("alerted", "already_alerted")
    assert second["reason"] == (
        f"{model_quality_alarm_name(CHURN_ENDPOINT, 'f1')}: the execution of {CHURN_QUALITY_SCHEDULE} scheduled"
        f" 2026-01-01T13:00:00Z was alerted by {model_quality_alarm_name(CHURN_ENDPOINT, 'auc')}, with every"
        " degraded metric"
    )
    assert len(world.alerts()) == len(world.audit_events()) == len(world.retraining_requests("churn")) == 1
    assert telemetry.metrics() == Counter(
        {"DriftAlertPublished": 1, "DriftRetrainingRequested": 1, "DriftAlertAlreadySent": 1}
    )


def test_a_model_quality_alarm_after_a_drift_alarm_is_alerted_within_the_same_cooldown(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    """Two schedules, two runs, two alerts; one retraining per model and cool-down."""
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    monitoring.answer_latest(CHURN_QUALITY_SCHEDULE, quality_execution(world, report=AUC_VIOLATIONS))

    drifted = handler.handler(alarm_event(event_id="alarm-event-1"), lambda_context)
    degraded = handler.handler(model_quality_alarm_event("auc", event_id="alarm-event-2"), lambda_context)

    [request] = world.retraining_requests("churn")
    assert (drifted["audit"]["retraining"], degraded["audit"]["retraining"]) == ("requested", "skipped_cooldown")
    assert degraded["audit"]["retraining_request_id"] == request["id"]
    [_, alert] = world.alerts()
    assert alert["Subject"] == f"Model quality on {CHURN_ENDPOINT}: auc worse than threshold, retraining in cool-down"
    assert (
        "Check the model package that retraining produces against this drop in model quality before approving it."
        in alert["Message"]
    )


def test_a_model_quality_alarm_of_a_model_that_does_not_retrain_is_only_alerted(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    schedule = monitoring_schedule_name(DEMAND_ENDPOINT, MODEL_QUALITY)
    monitoring.answer_latest(
        schedule, [world.monitoring_execution(DEMAND_ENDPOINT, report=AUC_VIOLATIONS, schedule=schedule)]
    )

    outcome = handler.handler(model_quality_alarm_event("auc", endpoint=DEMAND_ENDPOINT), lambda_context)

    assert (outcome["audit"]["monitoring_schedule"], outcome["audit"]["retraining"]) == (schedule, "disabled")
    [alert] = world.alerts()
    assert alert["Subject"] == f"Model quality on {DEMAND_ENDPOINT}: auc worse than threshold, retraining off"
    assert "Investigate the drop in model quality; if the model needs retraining" in alert["Message"]
    assert world.retraining_requests("demand") == []


# --- Batch transforms: the same alarms in the batch namespaces; what serves is the stack's champion ------

FORECAST_SCHEDULE = monitoring_schedule_name(FORECAST_TRANSFORM, DATA_QUALITY)
FORECAST_QUALITY_SCHEDULE = monitoring_schedule_name(FORECAST_TRANSFORM, MODEL_QUALITY)


def test_a_batch_transforms_drift_alarm_is_alerted_with_its_champion_and_requests_retraining(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # Model Monitor's run over last night's transform found drift; its metric is in the batch namespace.
    monitoring.answer_latest(
        FORECAST_SCHEDULE, [world.monitoring_execution(FORECAST_TRANSFORM, report=CHURN_VIOLATIONS)]
    )
    alarm_name = drift_alarm_name(FORECAST_TRANSFORM, "tenure")
    event = alarm_event(alarm_name, endpoint=FORECAST_TRANSFORM)
    assert event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] == {
        "namespace": "aws/sagemaker/ModelMonitoring/data-metrics",
        "name": "feature_baseline_drift_tenure",
        "dimensions": {"MonitoringSchedule": FORECAST_SCHEDULE},
    }

    with recording_calls([handler.CLIENTS.sagemaker]) as sagemaker_calls:
        outcome = handler.handler(event, lambda_context)

    [champion] = world.package_arns[FORECAST_TRANSFORM]
    [alert] = world.alerts()
    assert alert["Subject"] == f"Drift on {FORECAST_TRANSFORM}: 2 features drifted, retraining requested"
    message = alert["Message"]
    for expected in (
        f"A Model Monitor drift alarm went off for the batch transform {FORECAST_TRANSFORM} (model forecast).",
        f"Serving (the champion of its serving stack: model package):\n  - champion: {champion}\n",
        f"{FORECAST_SCHEDULE}:\n  CompletedWithViolations, scheduled 2026-01-01T13:00:00Z",
        "  Drift metrics in the alarm: tenure",
        "to production as the champion (a batch transform runs one model).",
    ):
        assert expected in message
    assert "endpoint" not in message
    assert not {"DescribeEndpoint", "DescribeEndpointConfig", "DescribeModel"} & set(sagemaker_calls)
    [request] = world.retraining_requests("forecast")
    assert request["detail"]["endpoint_name"] == FORECAST_TRANSFORM
    [audit] = world.audit_events()
    assert {
        key: audit["detail"][key] for key in ("endpoint_name", "model_name", "monitoring_schedule", "features")
    } == {
        "endpoint_name": FORECAST_TRANSFORM,
        "model_name": "forecast",
        "monitoring_schedule": FORECAST_SCHEDULE,
        "features": ["monthly_charges", "tenure"],
    }
    assert audit["detail"]["packages"] == [{"variant_name": "champion", "model_package_arn": champion, "weight": None}]
    assert outcome["reason"] == (
        f"drift alarm {alarm_name} on {FORECAST_TRANSFORM} alerted [monthly_charges, tenure];"
        f" retraining requested ({request['id']})"
    )
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1, "DriftRetrainingRequested": 1})


@pytest.mark.parametrize(
    ("event", "schedule", "found"),
    [
        (
            alarm_event(drift_alarm_name(FORECAST_TRANSFORM, "tenure"), endpoint=FORECAST_TRANSFORM),
            FORECAST_SCHEDULE,
            "tenure",
        ),
        (model_quality_alarm_event("mae", endpoint=FORECAST_TRANSFORM), FORECAST_QUALITY_SCHEDULE, "mae"),
    ],
    ids=["drift", "model-quality"],
)
def test_a_batch_transforms_alarm_metric_alone_is_evidence_enough_to_retrain(
    world: DriftWorld,
    monitoring: MonitoringStubber,
    lambda_context: LambdaContext,
    event: dict[str, Any],
    schedule: str,
    found: str,
) -> None:
    """Without a violations report, the feature or metric of the alarm's own metric, in the batch
    namespace, is what names the problem and what justifies retraining."""
    monitoring.answer_latest(
        schedule, [world.monitoring_execution(FORECAST_TRANSFORM, status="Completed", schedule=schedule)]
    )

    outcome = handler.handler(event, lambda_context)

    assert outcome["result"] == "alerted"
    assert found in outcome["reason"]
    assert (outcome["audit"]["monitoring_schedule"], outcome["audit"]["retraining"]) == (schedule, "requested")
    [alert] = world.alerts()
    assert alert["Subject"].startswith(
        f"Model quality on {FORECAST_TRANSFORM}: mae worse than threshold"
        if found == "mae"
        else f"Drift on {FORECAST_TRANSFORM}: 1 feature drifted"
    )
    assert len(world.retraining_requests("forecast")) == 1


def test_a_batch_transform_whose_serving_stack_cannot_be_read_is_noted(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    monitoring.answer_latest(FORECAST_SCHEDULE, [world.monitoring_execution(FORECAST_TRANSFORM)])

    with failing(handler.CLIENTS.cloudformation, "DescribeStacks", aws_error("AccessDenied", 403)):
        outcome = handler.handler(
            alarm_event(drift_alarm_name(FORECAST_TRANSFORM, "tenure"), endpoint=FORECAST_TRANSFORM), lambda_context
        )

    [alert] = world.alerts()
    assert (
        f"  (unknown)\n  ! could not describe the serving stack {FORECAST_TRANSFORM} (AccessDenied)" in alert["Message"]
    )
    assert outcome["audit"]["packages"] == []
    assert outcome["audit"]["retraining"] == "requested"


def test_a_batch_transform_not_deployed_yet_is_noted(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    monitoring.answer_latest(FORECAST_SCHEDULE, [world.monitoring_execution(FORECAST_TRANSFORM)])
    client("cloudformation").delete_stack(StackName=FORECAST_TRANSFORM)

    handler.handler(
        alarm_event(drift_alarm_name(FORECAST_TRANSFORM, "tenure"), endpoint=FORECAST_TRANSFORM), lambda_context
    )

    [alert] = world.alerts()
    assert f"  ! the serving stack {FORECAST_TRANSFORM} does not exist (not deployed yet?)" in alert["Message"]


def test_a_throttled_serving_stack_read_raises_for_a_retry(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    event = alarm_event(drift_alarm_name(FORECAST_TRANSFORM, "tenure"), endpoint=FORECAST_TRANSFORM)

    with (
        failing(handler.CLIENTS.cloudformation, "DescribeStacks", aws_error("Throttling", 400)),
        pytest.raises(RetryableError, match=f"could not describe the serving stack {FORECAST_TRANSFORM}"),
    ):
        handler.handler(event, lambda_context)

    assert world.alerts() == world.audit_events() == world.retraining_requests("forecast") == []


def test_the_subject_fits_sns_limit_for_the_longest_endpoint_name() -> None:
    longest = "e" * 63  # SageMaker's limit on endpoint names
    endpoints = {longest: MonitoredEndpoint.model_validate(MONITORED_ENDPOINTS[CHURN_ENDPOINT])}
    alarm = screen(alarm_event(f"{longest}-drift-x", endpoint=longest), endpoints)
    assert isinstance(alarm, DriftAlarm)
    findings = MonitoringFindings(
        kind=DATA_QUALITY,
        schedule_name=f"{longest}-data-quality",
        violations=[
            Violation(feature_name=f"f{i}", constraint_check_type="baseline_drift_check", description="d")
            for i in range(12)
        ],
    )
    decision = RetrainingDecision(retraining=Retraining.SKIPPED_COOLDOWN)

    subject, _ = compose_alert(alarm, Enrichment(monitoring=findings), decision)

    assert subject == f"Drift on {longest}: 12 features drifted, re..."
    assert len(subject) == 100  # the retraining decision is in the message


# --- Context that cannot be read: noted in the alert, which still goes out --------------------------------


REPORT_URI = (
    f"s3://mlops-monitoring/monitoring/{CHURN_ENDPOINT}/{CHURN_SCHEDULE}/2026/01/01/13/constraint_violations.json"
)


def _missing_report(world: DriftWorld) -> list[dict[str, Any]]:
    return [world.monitoring_execution(report=None)]


def _unreadable_report(world: DriftWorld) -> list[dict[str, Any]]:
    return [world.monitoring_execution(report=b"{not json")]


def _no_execution_yet(world: DriftWorld) -> list[dict[str, Any]]:
    return []


@pytest.mark.parametrize(
    ("prepare", "note"),
    [
        (_missing_report, f"no violations report at {REPORT_URI}"),
        (_unreadable_report, f"the violations report {REPORT_URI} is not valid JSON (JSONDecodeError)"),
        (_no_execution_yet, f"the monitoring schedule {CHURN_SCHEDULE} has no execution yet"),
    ],
    ids=["report-missing", "report-not-json", "no-execution-yet"],
)
def test_a_missing_violations_report_is_noted_and_the_drift_still_alerted_and_retrained(
    world: DriftWorld,
    monitoring: MonitoringStubber,
    lambda_context: LambdaContext,
    telemetry: Telemetry,
    prepare: Callable[[DriftWorld], list[dict[str, Any]]],
    note: str,
) -> None:
    monitoring.answer_latest(CHURN_SCHEDULE, prepare(world))

    outcome = handler.handler(alarm_event(features=("tenure",)), lambda_context)

    [alert] = world.alerts()
    assert f"  ! {note}" in alert["Message"]
    assert "Violations report: not available (see above)." in alert["Message"]
    # The alarm's own drift metric names the feature, and is evidence enough to retrain.
    assert alert["Subject"] == f"Drift on {CHURN_ENDPOINT}: 1 feature drifted, retraining requested"
    assert "  Drift metrics in the alarm: tenure" in alert["Message"]
    assert (outcome["audit"]["features"], outcome["audit"].get("violations_report")) == (["tenure"], None)
    assert outcome["audit"]["retraining"] == "requested"
    assert len(world.retraining_requests("churn")) == 1
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1, "DriftRetrainingRequested": 1})


def test_entries_of_the_report_that_do_not_fit_are_counted_and_the_rest_listed(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    report = {
        "violations": [
            {"feature_name": "tenure", "constraint_check_type": "baseline_drift_check", "description": "0.52 > 0.1"},
            {"feature_name": 7, "constraint_check_type": "baseline_drift_check"},
            "tenure drifted",
        ]
    }
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=report)])

    outcome = handler.handler(alarm_event(features=()), lambda_context)

    [alert] = world.alerts()
    assert "    - tenure (baseline_drift_check): 0.52 > 0.1\n" in alert["Message"]
    assert "  ! 2 entries of the violations report were not understood" in alert["Message"]
    assert (outcome["audit"]["features"], outcome["audit"]["retraining"]) == (["tenure"], "requested")


def test_an_endpoint_that_cannot_be_described_is_noted(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    world.sagemaker.delete_endpoint(EndpointName=CHURN_ENDPOINT)

    outcome = handler.handler(alarm_event(), lambda_context)

    [alert] = world.alerts()
    assert (
        f"  (unknown)\n  ! could not describe the endpoint {CHURN_ENDPOINT} (ValidationException)" in alert["Message"]
    )
    assert outcome["audit"]["packages"] == []
    assert outcome["audit"]["features"] == ["monthly_charges", "tenure"]


def test_a_report_that_cannot_be_read_for_lack_of_access_is_noted(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext
) -> None:
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])

    with failing(handler.CLIENTS.s3, "GetObject", aws_error("AccessDenied", 403, "GetObject")):
        handler.handler(alarm_event(), lambda_context)

    [alert] = world.alerts()
    assert "  ! could not read the violations report s3://mlops-monitoring/" in alert["Message"]
    assert "constraint_violations.json (AccessDenied)" in alert["Message"]


# --- Events that are not for the drift alert: ignored with a log line, never retried -----------------------


@pytest.mark.parametrize(
    ("change", "result", "reason"),
    [
        (edit("detail.state.value", "OK"), "ignored", "changed to OK; only a change to ALARM is acted on"),
        (edit("detail.state.value", "INSUFFICIENT_DATA"), "ignored", "changed to INSUFFICIENT_DATA"),
        (edit("detail.previousState.value", "ALARM"), "ignored", "was already in ALARM"),
        (
            edit("detail.alarmName", "mlops-fraud-production-drift-tenure"),
            "ignored",
            "is not named <endpoint>-drift-... or <endpoint>-model-quality-... for a configured endpoint",
        ),
        (edit("detail.alarmName", f"{CHURN_ENDPOINT}-latency-p99"), "ignored", "is not named <endpoint>-drift-"),
        (edit("detail.alarmName", f"{CHURN_ENDPOINT}-driftwood"), "ignored", "is not named <endpoint>-drift-"),
        (
            edit("detail.alarmName", f"{CHURN_ENDPOINT}-model-quality"),
            "ignored",
            "or <endpoint>-model-quality-... for a configured endpoint",
        ),
        (edit("source", "aws.sagemaker"), "malformed", "source: Input should be 'aws.cloudwatch'"),
        (edit("detail-type", "CloudWatch Alarm Configuration Change"), "malformed", "detail-type:"),
        (lambda event: None, "malformed", "not a CloudWatch alarm state change event"),
        (lambda event: [event], "malformed", "not a CloudWatch alarm state change event"),
        (lambda event: {}, "malformed", "id: Field required"),
        (edit("detail", delete=True), "malformed", "detail: Field required"),
        (edit("detail.alarmName", delete=True), "malformed", "detail.alarmName: Field required"),
        (edit("detail.state", "ALARM"), "malformed", "detail.state:"),
        (edit("detail.state.value", 1), "malformed", "detail.state.value:"),
        (edit("detail.configuration.metrics", "feature_baseline_drift_tenure"), "malformed", "metrics"),
    ],
    ids=[
        "ok",
        "insufficient-data",
        "alarm-to-alarm",
        "unknown-endpoint",
        "not-a-drift-alarm",
        "drift-not-a-word-of-its-own",
        "model-quality-without-a-metric",
        "other-source",
        "other-detail-type",
        "none",
        "a-list",
        "empty",
        "no-detail",
        "no-alarm-name",
        "state-not-an-object",
        "state-value-not-a-string",
        "metrics-not-a-list",
    ],
)
def test_an_event_that_is_not_a_drift_alarm_of_a_configured_endpoint_is_ignored(
    world: DriftWorld,
    monitoring: MonitoringStubber,
    lambda_context: LambdaContext,
    telemetry: Telemetry,
    change: Callable[[dict[str, Any]], Any],
    result: str,
    reason: str,
) -> None:
    event = change(alarm_event())

    with recording_calls(all_clients()) as calls:
        outcome = handler.handler(event, lambda_context)

    assert outcome["result"] == result
    assert reason in outcome["reason"]
    assert calls == []  # decided without a single AWS call
    [line] = [line for line in telemetry.logs() if line.get("result") == result]
    assert line["level"] == ("WARNING" if result == "malformed" else "INFO")
    assert telemetry.metrics() == Counter({"DriftEventIgnored": 1})


# --- AWS failing: raise, so EventBridge retries; the retry completes the job once --------------------------


def test_a_throttled_monitoring_lookup_raises_and_the_retry_alerts_and_retrains(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    monitoring.add_client_error("list_monitoring_executions", "ThrottlingException", "Rate exceeded", 400)
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event()

    with pytest.raises(RetryableError, match="could not list the executions of the monitoring schedule"):
        handler.handler(event, lambda_context)

    assert world.alerts() == world.audit_events() == world.retraining_requests("churn") == []
    assert world.retraining_claim("churn") is None
    assert telemetry.metrics() == Counter({"DriftAlertError": 1})
    assert handler.handler(event, lambda_context)["audit"]["retraining"] == "requested"  # EventBridge's retry
    assert len(world.retraining_requests("churn")) == len(world.alerts()) == 1


def test_a_request_the_bus_refuses_for_now_raises_and_leaves_no_claim_in_the_way_of_the_retry(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """Stubber, because moto takes every well-formed entry: EventBridge answers 200 with the entry
    refused (FailedEntryCount 1), retryably. Nothing was put, so the claim must not stay."""
    for _delivery in range(2):
        monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event()

    with RetrainingRequestStubber(handler.CLIENTS.events) as bus:
        bus.refuse("ThrottlingException", "Rate exceeded")
        with pytest.raises(RetryableError, match=r"could not request the retraining of churn: .*ThrottlingException"):
            handler.handler(event, lambda_context)
        bus.assert_no_pending_responses()

    # Nothing requested, nothing claimed, nothing alerted or audited yet.
    assert world.retraining_claim("churn") is None
    assert world.alerts() == world.audit_events() == world.retraining_requests("churn") == []
    assert telemetry.metrics() == Counter({"DriftAlertError": 1})
    retried = handler.handler(event, lambda_context)
    assert (retried["audit"]["retraining"], retried["audit"]["retraining_replayed"]) == ("requested", False)
    assert len(world.retraining_requests("churn")) == len(world.audit_events()) == 1


def test_a_request_the_bus_refuses_for_good_is_reported_in_the_alert(
    world: DriftWorld, monitoring: MonitoringStubber, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """Stubber, as above. Not transient: the function's role may put audit events on the bus but not
    this detail type (an events:detail-type condition). Retrying would not help, so the alert says so
    instead, and the audit event (which reaches moto) records it."""
    monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])

    with RetrainingRequestStubber(handler.CLIENTS.events) as bus:
        bus.refuse("NotAuthorizedForDetailTypeException", "Not authorized for the detail type Retraining Requested")
        outcome = handler.handler(alarm_event(), lambda_context)
        bus.assert_no_pending_responses()

    assert outcome["audit"]["retraining"] == "failed"
    [alert] = world.alerts()
    assert alert["Subject"].endswith("retraining request FAILED")
    assert (
        "Retraining could NOT be requested: An error occurred (NotAuthorizedForDetailTypeException)" in alert["Message"]
    )
    assert "Start the build pipeline of churn by hand once the cause is fixed." in alert["Message"]
    assert world.retraining_claim("churn") is None  # the next alarm tries again
    assert world.retraining_requests("churn") == []
    assert [audit["detail"]["retraining"] for audit in world.audit_events()] == ["failed"]
    assert [line["level"] for line in telemetry.logs() if "audit" in line] == ["ERROR"]
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1, "DriftAlertError": 1})


def failing_call(call: str, failure: Exception) -> AbstractContextManager[None]:
    """Make one of the function's calls fail: "<client>.<Operation>", or "events.PutEvents:<detail-type>"
    for one of the two events it puts (a PutEvents each)."""
    target, _, detail_type = call.partition(":")
    service, operation = target.split(".")
    only = puts(detail_type) if detail_type else None
    return failing(getattr(handler.CLIENTS, service), operation, failure, only=only)


@pytest.mark.parametrize(
    ("call", "failure", "lookups"),
    [
        ("sagemaker.DescribeEndpoint", aws_error("ThrottlingException", 400), 1),
        ("sagemaker.DescribeModel", aws_error("ServiceUnavailable", 503), 1),
        ("sagemaker.DescribeProcessingJob", EndpointConnectionError(endpoint_url="https://sagemaker"), 2),
        ("s3.GetObject", aws_error("SlowDown", 503), 2),
        ("dynamodb.PutItem", aws_error("ProvisionedThroughputExceededException", 400), 2),
        (f"events.PutEvents:{RETRAINING_REQUESTED}", aws_error("ThrottlingException", 400), 2),
        ("sns.Publish", ReadTimeoutError(endpoint_url="https://sns"), 2),
        ("events.PutEvents:Drift Alert", aws_error("InternalFailure", 500), 2),
    ],
    ids=[
        "endpoint-throttled",
        "model-5xx",
        "job-unreachable",
        "report-slow-down",
        "claim-throttled",
        "request-throttled",
        "alert-timeout",
        "audit-5xx",
    ],
)
def test_a_transient_failure_anywhere_raises_and_the_retry_requests_retraining_exactly_once(
    world: DriftWorld,
    monitoring: MonitoringStubber,
    lambda_context: LambdaContext,
    call: str,
    failure: Exception,
    lookups: int,
) -> None:
    """`lookups`: how often the monitoring schedule is looked up, i.e. whether the first attempt got that far."""
    for _lookup in range(lookups):
        monitoring.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=CHURN_VIOLATIONS)])
    event = alarm_event()

    with failing_call(call, failure), pytest.raises(RetryableError):
        handler.handler(event, lambda_context)
    retried = handler.handler(event, lambda_context)

    assert retried["audit"]["retraining"] == "requested"
    assert len(world.retraining_requests("churn")) == 1
    assert len(world.audit_events()) == 1  # an alert may have gone out twice: at least once, by design


# --- Configuration ------------------------------------------------------------------------------------


def _models_config(**overrides: Any) -> dict[str, str]:
    return {"MODELS_CONFIG": json.dumps({CHURN_ENDPOINT: MONITORED_ENDPOINTS[CHURN_ENDPOINT] | overrides})}


def _without(entry: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in entry.items() if name != key}


@pytest.mark.parametrize(
    "change",
    [
        {"MODELS_CONFIG": "{not json"},
        {"MODELS_CONFIG": "{}"},
        {"MODELS_CONFIG": json.dumps({"churn production!": MONITORED_ENDPOINTS[CHURN_ENDPOINT]})},
        _models_config(retrain_on_drift="yes"),
        _models_config(retrain_cooldown_hours=0),
        _models_config(retrain_cooldown_hours=1.5),
        _models_config(model_name=""),
        _models_config(serving_mode="streaming"),
        {"MODELS_CONFIG": json.dumps({CHURN_ENDPOINT: _without(MONITORED_ENDPOINTS[CHURN_ENDPOINT], "serving_mode")})},
        # The build pipeline is no longer the function's to start: a config naming it is out of date.
        _models_config(build_pipeline_name="churn-build"),
        _models_config(unexpected="field"),
        {"ALERT_TOPIC_ARN": "mlops-drift-alerts"},
        {"STATE_TABLE_NAME": ""},
    ],
    ids=[
        "config-not-json",
        "no-endpoint",
        "bad-endpoint-name",
        "flag-not-a-bool",
        "no-cooldown",
        "cooldown-not-whole-hours",
        "no-model-name",
        "unknown-serving-mode",
        "no-serving-mode",
        "build-pipeline-named",
        "unknown-field",
        "topic-not-an-arn",
        "empty-table-name",
    ],
)
def test_a_bad_environment_fails_the_cold_start(change: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        DriftAlertSettings.from_env(DRIFT_ENVIRONMENT | change)


@pytest.mark.parametrize("variable", ["STATE_TABLE_NAME", "AUDIT_EVENT_BUS_NAME"])
def test_a_missing_variable_fails_the_cold_start(variable: str) -> None:
    environment = dict(DRIFT_ENVIRONMENT)
    del environment[variable]
    with pytest.raises(ValidationError, match=variable):
        DriftAlertSettings.from_env(environment)


# --- Properties: no event shape and no AWS failure makes the handler fail uncontrolled ---------------------


@PROPERTY_SETTINGS
@given(event=json_values)
def test_any_json_value_is_ignored_not_a_crash(world: DriftWorld, lambda_context: LambdaContext, event: Any) -> None:
    assert handler.handler(event, lambda_context)["result"] in {Result.MALFORMED, Result.IGNORED}


EDITABLE_FIELDS = [
    ("id",),
    ("source",),
    ("detail-type",),
    ("time",),
    ("detail",),
    ("detail", "alarmName"),
    ("detail", "state"),
    ("detail", "state", "value"),
    ("detail", "state", "reason"),
    ("detail", "state", "timestamp"),
    ("detail", "previousState"),
    ("detail", "previousState", "value"),
    ("detail", "configuration"),
    ("detail", "configuration", "metrics"),
]
alarm_names = st.sampled_from(
    [
        f"{CHURN_ENDPOINT}-drift-tenure",
        f"{CHURN_ENDPOINT}-drift-violating-executions",
        f"{DEMAND_ENDPOINT}-drift-tenure",
        f"{FORECAST_TRANSFORM}-drift-tenure",
        f"{CHURN_ENDPOINT}-latency",
        "mlops-fraud-production-drift-tenure",
        f"{CHURN_ENDPOINT}-drift-",
        model_quality_alarm_name(CHURN_ENDPOINT, "auc"),
        model_quality_alarm_name(DEMAND_ENDPOINT, "f1"),
        model_quality_alarm_name(FORECAST_TRANSFORM, "mae"),
    ]
)


@st.composite
def alarm_events(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible alarm state change (of configured and unknown endpoints, drift alarms and others, in
    any state, with or without drift metrics), then maybe fields deleted or replaced by any JSON value."""
    endpoint = draw(st.sampled_from([CHURN_ENDPOINT, DEMAND_ENDPOINT, FORECAST_TRANSFORM]))
    event = alarm_event(
        draw(alarm_names),
        state=draw(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])),
        previous=draw(st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"])),
        features=tuple(draw(st.lists(st.sampled_from(["tenure", "", "monthly_charges"]), max_size=2))),
        endpoint=endpoint,
        schedule=draw(st.sampled_from([None, f"{endpoint}-model-quality", "someone-elses-schedule"])),
        event_id=draw(st.sampled_from(["alarm-event-1", "alarm-event-2", "alarm-event-3"])),
    )
    edit = st.tuples(st.sampled_from(EDITABLE_FIELDS), st.just(DELETE) | json_values)
    # Half the events as CloudWatch sends them, half with one or two fields broken.
    return apply_edits(event, draw(st.just([]) | st.lists(edit, min_size=1, max_size=2)))


monitoring_answers = st.sampled_from(["drifted", "no-report", "failed", "none", "report-not-json"])


def _latest_executions(world: DriftWorld, endpoint: str, answer: str) -> list[dict[str, Any]]:
    match answer:
        case "drifted":
            return [world.monitoring_execution(endpoint, report=CHURN_VIOLATIONS)]
        case "no-report":
            return [world.monitoring_execution(endpoint)]
        case "failed":
            return [world.monitoring_execution(endpoint, status="Failed")]
        case "report-not-json":
            return [world.monitoring_execution(endpoint, report=b"[")]
        case _:
            return []


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(event=alarm_events(), answer=monitoring_answers)
@example(event=alarm_event(), answer="drifted")
def test_any_alarm_shaped_event_ends_in_an_outcome(
    world: DriftWorld, lambda_context: LambdaContext, event: dict[str, Any], answer: str
) -> None:
    with MonitoringStubber(handler.CLIENTS.sagemaker) as stubber:
        # Answers whichever schedule is asked for; only an alarm that is acted on asks at all.
        stubber.add_response(
            "list_monitoring_executions",
            {"MonitoringExecutionSummaries": _latest_executions(world, CHURN_ENDPOINT, answer)},
        )
        outcome = handler.handler(event, lambda_context)

    hypothesis_event(f"{outcome['result']} {outcome.get('audit', {}).get('retraining', '')}")
    assert outcome["result"] in set(Result)
    if outcome["result"] == Result.ALERTED:
        audit = outcome["audit"]
        assert audit["endpoint_name"] in MONITORED_ENDPOINTS
        assert audit["alarm_name"].startswith(tuple(alerted_alarm_prefixes(audit["endpoint_name"]).values()))
        if audit["retraining"] == Retraining.REQUESTED and not audit["retraining_replayed"]:
            # The request goes to the model of the alarm's endpoint (a batch model's too).
            requests = world.retraining_requests(audit["model_name"])
            assert audit["retraining_request_id"] in [r["id"] for r in requests]
    # Whatever arrived, retraining of a model is never requested twice within its cool-down.
    assert len(world.retraining_requests("churn")) <= 1
    assert len(world.retraining_requests("forecast")) <= 1
    assert world.retraining_requests("demand") == []


reports = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.lists(
        st.fixed_dictionaries(
            {"feature_name": json_scalars, "constraint_check_type": json_scalars},
            optional={"description": json_scalars, "metric_name": json_scalars},
        ),
        max_size=4,
    ).map(lambda violations: json.dumps({"violations": violations}).encode()),
)


EVENT_NUMBERS = itertools.count(1)


@settings(PROPERTY_SETTINGS, max_examples=30)
@given(report=reports)
def test_any_violations_report_still_ends_in_the_alert(
    world: DriftWorld, lambda_context: LambdaContext, report: bytes
) -> None:
    with MonitoringStubber(handler.CLIENTS.sagemaker) as stubber:
        stubber.answer_latest(CHURN_SCHEDULE, [world.monitoring_execution(report=report)])
        # A new alarm event each time: a redelivered one would be answered from the idempotency store.
        event = alarm_event(features=("tenure",), event_id=f"alarm-event-{next(EVENT_NUMBERS)}")
        outcome = handler.handler(event, lambda_context)

    hypothesis_event(outcome["audit"]["retraining"])
    assert outcome["result"] == Result.ALERTED
    assert "tenure" in outcome["audit"]["features"]
    [alert] = world.alerts()
    assert len(alert["Subject"]) <= 100


FLOW_CALLS = [
    "sagemaker.DescribeEndpoint",
    "sagemaker.DescribeEndpointConfig",
    "sagemaker.DescribeModel",
    "sagemaker.ListMonitoringExecutions",
    "sagemaker.DescribeProcessingJob",
    "s3.GetObject",
    "dynamodb.PutItem",
    f"events.PutEvents:{RETRAINING_REQUESTED}",
    "dynamodb.UpdateItem",
    "dynamodb.DeleteItem",
    "sns.Publish",
    "events.PutEvents:Drift Alert",
]


@settings(PROPERTY_SETTINGS, max_examples=30)
@given(call=st.sampled_from(FLOW_CALLS), failure=st.sampled_from(ANY_AWS_FAILURE), event_number=st.integers(1, 10**6))
def test_any_aws_failure_ends_in_an_outcome_or_the_retryable_error(
    world: DriftWorld, lambda_context: LambdaContext, call: str, failure: Exception, event_number: int
) -> None:
    with MonitoringStubber(handler.CLIENTS.sagemaker) as stubber:
        stubber.add_response(
            "list_monitoring_executions",
            {"MonitoringExecutionSummaries": _latest_executions(world, CHURN_ENDPOINT, "drifted")},
        )
        if world.retraining_claim("churn"):  # each example is a new alarm after the cool-down
            world.pass_time_on_claim("churn", hours=25)
        with failing_call(call, failure):
            try:
                outcome = handler.handler(alarm_event(event_id=f"alarm-event-{event_number}"), lambda_context)
            except RetryableError:
                hypothesis_event("raised RetryableError")
                return
    hypothesis_event(f"{outcome['result']} {outcome['audit']['retraining']}")
    assert outcome["result"] == Result.ALERTED
