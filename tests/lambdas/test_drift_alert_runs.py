"""The drift alert on Clarify's monitoring runs, through its Lambda handler, in a fake account (moto).

Clarify's bias and feature attribution drift monitors publish no metric that says a run violated the
champion's baseline, so the runs that ended with violations come to the drift alert as "SageMaker
Processing Job State Change" events (the rule: tests/unit/test_endpoint_automation.py). moto models the
run's processing job (DescribeProcessingJob), its report in S3, what serves, SNS, DynamoDB and the
audit bus; AWS failures are raised from botocore hooks (`failing`), as in test_drift_alert.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event as hypothesis_event
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from lambdas.common.aws import RetryableError
from lambdas.common.contracts import (
    DATA_QUALITY,
    MODEL_BIAS,
    MODEL_EXPLAINABILITY,
    alerted_run_schedules,
    monitoring_schedule_name,
)
from lambdas.drift_alert.models import Result, Retraining
from lambdas.drift_alert.screen import run_schedule
from tests.lambdas.conftest import LambdaContext
from tests.lambdas.drift_alert_world import (
    ATTRIBUTION_VIOLATIONS,
    BIAS_VIOLATIONS,
    CHURN_ENDPOINT,
    CHURN_VIOLATIONS,
    DEMAND_ENDPOINT,
    FORECAST_TRANSFORM,
    MONITORED_ENDPOINTS,
    DriftWorld,
    MonitoringStubber,
    alarm_event,
    load_handler,
)
from tests.lambdas.event_edits import DELETE, apply_edits
from tests.lambdas.handler_probes import (
    PROPERTY_SETTINGS,
    Telemetry,
    aws_error,
    failing,
    json_values,
    recording_calls,
)

handler = load_handler()

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

BIAS_SCHEDULE = monitoring_schedule_name(CHURN_ENDPOINT, MODEL_BIAS)
BIAS_OUTPUT = f"s3://mlops-monitoring/monitoring/{CHURN_ENDPOINT}/{MODEL_BIAS}/{BIAS_SCHEDULE}/2026/01/01/13"
BIAS_REPORT = f"{BIAS_OUTPUT}/constraint_violations.json"


@pytest.fixture
def world() -> Iterator[DriftWorld]:
    with mock_aws():
        yield DriftWorld().build()


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


# --- A bias drift run: one alert with its violations, a retraining request, an audit event -------------------


def test_a_bias_drift_run_is_alerted_with_its_violations_and_requests_retraining(
    world: DriftWorld, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # The hourly bias drift run on the churn endpoint found its predictions' bias outside the champion's
    # baseline; its processing job ended CompletedWithViolations.
    event = world.clarify_run(report=BIAS_VIOLATIONS)
    job_name = event["detail"]["ProcessingJobName"]

    outcome = handler.handler(event, lambda_context)

    [alert] = world.alerts()
    champion, challenger = world.package_arns[CHURN_ENDPOINT]
    assert alert["Subject"] == f"Bias drift on {CHURN_ENDPOINT}: 2 violations, retraining requested"
    message = alert["Message"]
    for expected in (
        f"SageMaker Clarify found bias drift on the SageMaker endpoint {CHURN_ENDPOINT} (model churn, stage"
        f" production): a run of its {MODEL_BIAS} monitor ended with violations.",
        f"Monitoring schedule: {BIAS_SCHEDULE}",
        f"Run (processing job): {job_name}",
        "Exit message: CompletedWithViolations: Job completed successfully with 2 violations.",
        f"champion: {champion}, 90% (weight 90)",
        f"challenger: {challenger}, 10% (weight 10)",
        # Sorted by subject; each facet value's metric with Clarify's description.
        "  Bias drift:\n"
        "    - CI of age=40 (bias_drift_check): Value 0.0751544567666083 does not meet the constraint requirement\n"
        "    - DPPL of age=40 (bias_drift_check): Value -0.3 does not meet the constraint requirement",
        f"Violations report: https://us-east-1.console.aws.amazon.com/s3/object/mlops-monitoring?region=us-east-1"
        f"&prefix={BIAS_REPORT.removeprefix('s3://mlops-monitoring/')}\n  ({BIAS_REPORT})",
        "waits for manual approval",
    ):
        assert expected in message
    # The churn model retrains on drift: its build stack receives one request, naming the run.
    [request] = world.retraining_requests("churn")
    claim = world.retraining_claim("churn")
    assert claim is not None
    assert {key: value for key, value in request["detail"].items() if key != "requested_at"} == {
        "model_name": "churn",
        "endpoint_name": CHURN_ENDPOINT,
        "monitoring_schedule": BIAS_SCHEDULE,
        "processing_job_name": job_name,
        "run_event_id": "run-event-1",
    }
    assert (claim["claimed_by"], claim["retraining_request_id"]) == ("run-event-1", request["id"])
    assert claim["trigger"] == f"monitoring run {job_name} of {BIAS_SCHEDULE}"
    assert f"Retraining requested: event {request['id']} on the audit bus" in message
    # The audit event names the model, stage, serving, packages, kind and violations.
    [audit] = world.audit_events()
    assert (audit["source"], audit["detail-type"]) == ("mlops.drift-alert", "Drift Alert")
    assert audit["detail"] == {
        "endpoint_name": CHURN_ENDPOINT,
        "model_name": "churn",
        "stage": "production",
        "kind": MODEL_BIAS,
        "monitoring_schedule": BIAS_SCHEDULE,
        "processing_job_name": job_name,
        "run_event_id": "run-event-1",
        "exit_message": "CompletedWithViolations: Job completed successfully with 2 violations.",
        "violations": [
            "CI of age=40 (bias_drift_check): Value 0.0751544567666083 does not meet the constraint requirement",
            "DPPL of age=40 (bias_drift_check): Value -0.3 does not meet the constraint requirement",
        ],
        "violations_report": BIAS_REPORT,
        "packages": [
            {"variant_name": "champion", "model_package_arn": champion, "weight": 90.0},
            {"variant_name": "challenger", "model_package_arn": challenger, "weight": 10.0},
        ],
        "retraining": "requested",
        "retraining_request_id": request["id"],
        "retraining_replayed": False,
    }
    assert outcome["result"] == "alerted"
    assert outcome["audit"] == audit["detail"]
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1, "DriftRetrainingRequested": 1})


def test_an_alarm_within_the_cooldown_of_a_runs_request_names_the_run(
    world: DriftWorld, lambda_context: LambdaContext
) -> None:
    """Runs and alarms share the model's cool-down: one retraining per model, whatever asked first."""
    handler.handler(world.clarify_run(report=BIAS_VIOLATIONS), lambda_context)
    world.alerts()

    with MonitoringStubber(handler.CLIENTS.sagemaker) as monitoring:
        monitoring.answer_latest(
            monitoring_schedule_name(CHURN_ENDPOINT, DATA_QUALITY),
            [world.monitoring_execution(report=CHURN_VIOLATIONS)],
        )
        outcome = handler.handler(alarm_event(event_id="alarm-event-9"), lambda_context)

    assert outcome["audit"]["retraining"] == "skipped_cooldown"
    [alert] = world.alerts()
    assert "for monitoring run model-model-bias-monitoring-202601011300-00000001 of" in alert["Message"]
    assert len(world.retraining_requests("churn")) == 1


# --- A feature attribution drift run ----------------------------------------------------------------------


def test_a_feature_attribution_drift_run_is_alerted_and_a_model_that_does_not_retrain_is_not_retrained(
    world: DriftWorld, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    event = world.clarify_run(
        DEMAND_ENDPOINT,
        MODEL_EXPLAINABILITY,
        report=ATTRIBUTION_VIOLATIONS,
        exit_message="CompletedWithViolations: Job completed successfully with 1 violations.",
    )

    outcome = handler.handler(event, lambda_context)

    [alert] = world.alerts()
    assert alert["Subject"] == f"Feature attribution drift on {DEMAND_ENDPOINT}: 1 violation, retraining off"
    assert (
        "  Feature attribution drift:\n"
        "    - shap of label0 (feature_attribution_drift_check): Feature attribution drift 0.73 exceeds threshold 0.9"
    ) in alert["Message"]
    assert f"a run of its {MODEL_EXPLAINABILITY} monitor ended with violations" in alert["Message"]
    assert "Automatic retraining is off for demand. Investigate the feature attribution drift" in alert["Message"]
    assert world.retraining_requests("demand") == []
    assert (outcome["audit"]["kind"], outcome["audit"]["retraining"]) == (MODEL_EXPLAINABILITY, "disabled")
    assert outcome["audit"]["monitoring_schedule"] == monitoring_schedule_name(DEMAND_ENDPOINT, MODEL_EXPLAINABILITY)
    assert telemetry.metrics() == Counter({"DriftAlertPublished": 1})


def test_a_batch_transforms_run_names_its_serving_stacks_champion(
    world: DriftWorld, lambda_context: LambdaContext
) -> None:
    event = world.clarify_run(FORECAST_TRANSFORM, MODEL_EXPLAINABILITY, report=ATTRIBUTION_VIOLATIONS)

    outcome = handler.handler(event, lambda_context)

    [alert] = world.alerts()
    [champion] = world.package_arns[FORECAST_TRANSFORM]
    assert f"feature attribution drift on the batch transform {FORECAST_TRANSFORM} (model forecast" in alert["Message"]
    assert f"Serving (the champion of its serving stack: model package):\n  - champion: {champion}" in alert["Message"]
    assert "to production as the champion (a batch transform runs one model)." in alert["Message"]
    assert outcome["audit"]["packages"] == [{"variant_name": "champion", "model_package_arn": champion}]
    assert len(world.retraining_requests("forecast")) == 1


# --- One alert per run ------------------------------------------------------------------------------------------


def test_a_redelivered_run_event_gets_its_outcome_back_and_nothing_is_done_again(
    world: DriftWorld, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    event = world.clarify_run(report=BIAS_VIOLATIONS)
    first = handler.handler(event, lambda_context)
    telemetry.metrics()

    with recording_calls(all_clients()) as calls:
        again = handler.handler(event, lambda_context)

    assert calls == []  # nothing read, claimed, requested, published or audited again
    assert again == first | {"replayed": True}
    [record] = world.idempotency_records(handler.RUN_IDEMPOTENCY_KEY_PREFIX)
    assert record["status"] == "COMPLETED"
    assert len(world.alerts()) == 1
    assert len(world.audit_events()) == 1
    assert len(world.retraining_requests("churn")) == 1
    assert telemetry.metrics() == Counter()


def test_another_event_of_the_same_run_is_already_alerted(
    world: DriftWorld, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """EventBridge may deliver the same run under two event ids: the claim on its processing job decides."""
    first = world.clarify_run(report=BIAS_VIOLATIONS, event_id="run-event-1")
    duplicate = first | {"id": "run-event-2"}

    handler.handler(first, lambda_context)
    telemetry.metrics()
    outcome = handler.handler(duplicate, lambda_context)

    assert outcome["result"] == "already_alerted"
    job_name = first["detail"]["ProcessingJobName"]
    assert outcome["reason"] == f"the bias drift run {job_name} of {BIAS_SCHEDULE} was alerted by event run-event-1"
    assert len(world.alerts()) == 1
    assert len(world.audit_events()) == 1
    assert len(world.retraining_requests("churn")) == 1
    assert telemetry.metrics() == Counter({"DriftAlertAlreadySent": 1})


def test_the_next_run_alerts_again(world: DriftWorld, lambda_context: LambdaContext) -> None:
    handler.handler(world.clarify_run(report=BIAS_VIOLATIONS, event_id="run-event-1"), lambda_context)
    later = handler.handler(world.clarify_run(report=BIAS_VIOLATIONS, event_id="run-event-2"), lambda_context)

    assert later["result"] == "alerted"
    assert later["audit"]["retraining"] == "skipped_cooldown"
    assert len(world.alerts()) == 2


# --- The report: missing is said, access denied fails loudly ------------------------------------------------


def test_a_missing_report_is_said_in_the_alert(world: DriftWorld, lambda_context: LambdaContext) -> None:
    outcome = handler.handler(world.clarify_run(report=None), lambda_context)

    [alert] = world.alerts()
    assert alert["Subject"] == f"Bias drift on {CHURN_ENDPOINT}: violations, retraining requested"
    assert f"  ! no violations report at {BIAS_REPORT}" in alert["Message"]
    assert "Violations report: not available (see above)." in alert["Message"]
    assert (outcome["audit"]["violations"], outcome["audit"]["violations_report"]) == ([], BIAS_REPORT)
    assert outcome["audit"]["retraining"] == "requested", "the exit message says the run found violations"


@pytest.mark.parametrize(
    ("client_name", "operation", "code"),
    [("s3", "GetObject", "AccessDenied"), ("sagemaker", "DescribeProcessingJob", "AccessDeniedException")],
    ids=["report", "processing-job"],
)
def test_access_denied_to_the_run_fails_loudly_and_the_redrive_alerts_in_full(
    world: DriftWorld,
    lambda_context: LambdaContext,
    telemetry: Telemetry,
    client_name: str,
    operation: str,
    code: str,
) -> None:
    """Without the report the alert would say nothing of what drifted: the invocation fails (retried by
    EventBridge, then dead-lettered and alarmed), and nothing is claimed, published or requested."""
    event = world.clarify_run(report=BIAS_VIOLATIONS)

    with (
        failing(getattr(handler.CLIENTS, client_name), operation, aws_error(code, 403, operation)),
        pytest.raises(RetryableError, match="the drift alert may not read the run's violations"),
    ):
        handler.handler(event, lambda_context)

    assert world.alerts() == world.audit_events() == world.retraining_requests("churn") == []
    assert world.retraining_claim("churn") is None
    assert telemetry.metrics() == Counter({"DriftAlertError": 1})
    [line] = [line for line in telemetry.logs() if line["level"] == "ERROR"]
    assert "EventBridge will retry the event" in line["message"]
    # Access fixed, the event redriven from the dead-letter queue: the full alert.
    outcome = handler.handler(event, lambda_context)
    assert outcome["result"] == "alerted"
    assert len(outcome["audit"]["violations"]) == 2


def test_a_throttled_report_read_raises_for_a_retry(world: DriftWorld, lambda_context: LambdaContext) -> None:
    event = world.clarify_run(report=BIAS_VIOLATIONS)
    with (
        failing(handler.CLIENTS.s3, "GetObject", aws_error("SlowDown", 503, "GetObject")),
        pytest.raises(RetryableError, match="could not read the violations report"),
    ):
        handler.handler(event, lambda_context)
    assert world.alerts() == []


def test_a_report_that_is_not_json_is_said_in_the_alert(world: DriftWorld, lambda_context: LambdaContext) -> None:
    event = world.clarify_run(report=None)
    world.s3.put_object(
        Bucket="mlops-monitoring", Key=BIAS_REPORT.removeprefix("s3://mlops-monitoring/"), Body=b"{not json"
    )

    handler.handler(event, lambda_context)

    [alert] = world.alerts()
    assert f"  ! the violations report {BIAS_REPORT} is not valid JSON (JSONDecodeError)" in alert["Message"]


# --- Screening: what is not a violating run of a configured endpoint's Clarify monitor -----------------------


OTHER_SCHEDULE = "arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{}"


@pytest.mark.parametrize(
    ("edits", "result", "reason"),
    [
        ([(("detail", "ExitMessage"), "Completed: Job completed successfully with no violations.")], "ignored",
         "found no violations"),
        ([(("detail", "ProcessingJobStatus"), "Failed"), (("detail", "ExitMessage"), "")], "ignored",
         "is Failed and found no violations"),
        ([(("detail", "MonitoringScheduleArn"), DELETE)], "ignored", "is not a monitoring run"),
        ([(("detail", "MonitoringScheduleArn"), OTHER_SCHEDULE.format(monitoring_schedule_name(CHURN_ENDPOINT, DATA_QUALITY)))], "ignored",
         "is not a bias or explainability monitoring schedule of a configured endpoint"),
        ([(("detail", "MonitoringScheduleArn"), OTHER_SCHEDULE.format("mlops-fraud-production-model-bias"))],
         "ignored", "is not a bias or explainability monitoring schedule of a configured endpoint"),
        ([(("detail", "MonitoringScheduleArn"), BIAS_SCHEDULE)], "malformed", "is not a monitoring schedule ARN"),
        ([(("detail", "ProcessingJobName"), DELETE)], "malformed", "detail.ProcessingJobName: Field required"),
        ([(("detail", "ExitMessage"), 7)], "malformed", "detail.ExitMessage:"),
        ([(("detail",), DELETE)], "malformed", "not a SageMaker processing job state change event"),
        ([(("source",), "aws.cloudwatch")], "malformed", "source: Input should be 'aws.sagemaker'"),
        ([(("id",), DELETE)], "malformed", "id: Field required"),
    ],
    ids=[
        "no-violations",
        "failed",
        "not-a-monitoring-run",
        "data-quality-run",
        "unknown-endpoint",
        "schedule-not-an-arn",
        "no-job-name",
        "exit-message-not-a-string",
        "no-detail",
        "other-source",
        "no-id",
    ],
)  # fmt: skip
def test_an_event_that_is_not_a_violating_clarify_run_of_a_configured_endpoint_is_not_acted_on(
    world: DriftWorld,
    lambda_context: LambdaContext,
    telemetry: Telemetry,
    edits: list[tuple[tuple[str, ...], Any]],
    result: str,
    reason: str,
) -> None:
    """Decided without an AWS call; a malformed event is logged as a warning and returned, never retried."""
    event = apply_edits(world.clarify_run(report=BIAS_VIOLATIONS), edits)

    with recording_calls(all_clients()) as calls:
        outcome = handler.handler(event, lambda_context)

    assert (outcome["result"], calls) == (result, [])
    assert reason in outcome["reason"]
    [line] = [line for line in telemetry.logs() if line.get("result") == result]
    assert line["level"] == ("WARNING" if result == "malformed" else "INFO")
    assert telemetry.metrics() == Counter({"DriftEventIgnored": 1})
    assert world.alerts() == []


def test_a_schedule_arn_in_sagemakers_lower_case_matches_the_configured_name() -> None:
    endpoints = handler.SETTINGS.endpoints
    assert run_schedule("MLOPS-CHURN-PRODUCTION-MODEL-BIAS".lower(), endpoints) == (
        CHURN_ENDPOINT,
        MODEL_BIAS,
        BIAS_SCHEDULE,
    )
    assert run_schedule(f"{CHURN_ENDPOINT}-model-quality", endpoints) is None


# --- Properties: no run-shaped event makes the handler fail uncontrolled -------------------------------------

RUN_FIELDS = [
    ("id",),
    ("source",),
    ("time",),
    ("detail",),
    ("detail", "ProcessingJobName"),
    ("detail", "ProcessingJobStatus"),
    ("detail", "ExitMessage"),
    ("detail", "MonitoringScheduleArn"),
    ("detail", "ProcessingOutputConfig"),
]


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(
    endpoint=st.sampled_from(list(MONITORED_ENDPOINTS)),
    kind=st.sampled_from([MODEL_BIAS, MODEL_EXPLAINABILITY]),
    report=st.sampled_from([BIAS_VIOLATIONS, ATTRIBUTION_VIOLATIONS, None, {"violations": "none"}]),
    event_id=st.sampled_from(["run-event-1", "run-event-2"]),
    edits=st.just([]) | st.lists(st.tuples(st.sampled_from(RUN_FIELDS), st.just(DELETE) | json_values), max_size=2),
)
def test_any_run_shaped_event_ends_in_an_outcome(
    world: DriftWorld,
    lambda_context: LambdaContext,
    endpoint: str,
    kind: str,
    report: dict[str, Any] | None,
    event_id: str,
    edits: list[tuple[tuple[str, ...], Any]],
) -> None:
    event = apply_edits(world.clarify_run(endpoint, kind, report=report, event_id=event_id), edits)

    outcome = handler.handler(event, lambda_context)

    hypothesis_event(f"{outcome['result']} {outcome.get('audit', {}).get('retraining', '')}")
    assert outcome["result"] in set(Result)
    if outcome["result"] == Result.ALERTED:
        audit = outcome["audit"]
        assert audit["monitoring_schedule"] in alerted_run_schedules(audit["endpoint_name"]).values()
        assert audit["model_name"] == MONITORED_ENDPOINTS[audit["endpoint_name"]]["model_name"]
        if audit["retraining"] == Retraining.REQUESTED and not audit["retraining_replayed"]:
            requests = world.retraining_requests(audit["model_name"])
            assert audit["retraining_request_id"] in [r["id"] for r in requests]
    # Whatever arrived, a model's retraining is requested at most once within its cool-down.
    assert len(world.retraining_requests("churn")) <= 1
    assert len(world.retraining_requests("forecast")) <= 1
    assert world.retraining_requests("demand") == []
