"""Drift alert logic: from a CloudWatch drift or model-quality alarm to an enriched alert and, where
configured, a retraining request. Plain functions that take their AWS clients as arguments; the
handler only wires them. A run of a Clarify monitor that found violations takes its own path
(`runs.act_on_run`) after the same screening.

Flow of one event (`process`):
1. `screen.screen` (no AWS calls): keep only a transition to ALARM of an alarm the function acts on
   (named by `contracts.alerted_alarm_prefixes`) of a configured endpoint or batch transform, or a run
   with violations of one of their Clarify monitors (`runs`). Everything else becomes an ignored
   `Outcome`.
2. `act`, once per EventBridge event (the handler wraps it in Powertools idempotency, keyed by the
   event id: a redelivery of a handled event gets its outcome back and nothing is done again):
   a. `findings.enrich` (reads only, best effort): what serves the endpoint (or the batch transform),
      the latest execution of the monitoring schedule the alarm watches and its violations;
   b. `claims.claim_alert`: one alert per monitoring execution; sibling alarms of the same run end
      as `already_alerted`;
   c. `retraining.decide_retraining`: a "Retraining Requested" event at most once per cool-down;
   d. publish the alert (`message`), then put one audit event on the audit bus.
   `claims` says why its claims are conditional writes of their own, not Powertools idempotency.

Errors: a transient AWS error (throttling, 5xx, timeouts, connection errors) raises `RetryableError`,
so EventBridge/Lambda retry and finally dead-letter the event. Reads for the alert's context degrade
on other errors; a retraining request the bus refuses (not transiently) is reported in the alert as a
failed retraining. Publishing the alert and the audit event must succeed, or the invocation raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdas.common.aws import emit_audit_event, publish_alert
from lambdas.common.contracts import DRIFT_ALERT_DETAIL_TYPE, DRIFT_ALERT_SOURCE
from lambdas.drift_alert.claims import claim_alert
from lambdas.drift_alert.findings import enrich
from lambdas.drift_alert.message import audit_record, compose_alert, summary_line
from lambdas.drift_alert.models import DriftAlarm, DriftAlertSettings, Outcome, Result
from lambdas.drift_alert.retraining import decide_retraining, shows_drift
from lambdas.drift_alert.run_models import MonitoringRun
from lambdas.drift_alert.runs import act_on_run
from lambdas.drift_alert.screen import screen


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the drift alert calls (the handler's: each created at its first use, then reused)."""

    sagemaker: Any
    s3: Any
    sns: Any
    events: Any
    dynamodb: Any
    cloudformation: Any


def process(
    raw_event: object,
    *,
    settings: DriftAlertSettings,
    clients: AwsClients,
    now: float,
    perform: Callable[..., Outcome] | None = None,
    perform_run: Callable[..., Outcome] | None = None,
) -> Outcome:
    """Screen one EventBridge event and act on it; `now` is the epoch time in seconds.

    `perform` replaces `act`, `perform_run` `runs.act_on_run`: the handler passes them wrapped in
    Powertools idempotency.
    """
    screened = screen(raw_event, settings.endpoints)
    if isinstance(screened, Outcome):
        return screened
    if isinstance(screened, MonitoringRun):
        return (perform_run or act_on_run)(run=screened, settings=settings, clients=clients, now=now)
    return (perform or act)(alarm=screened, settings=settings, clients=clients, now=now)


def act(*, alarm: DriftAlarm, settings: DriftAlertSettings, clients: AwsClients, now: float) -> Outcome:
    """Enrich, claim the execution's alert, decide retraining, alert and audit one alarm."""
    enrichment = enrich(alarm, sagemaker=clients.sagemaker, s3=clients.s3, cloudformation=clients.cloudformation)
    monitoring = enrichment.monitoring
    holder = claim_alert(clients.dynamodb, settings.state_table_name, alarm=alarm, findings=monitoring, now=now)
    if holder is not None:
        listed = "degraded metric" if enrichment.model_quality else "drifted feature"
        return Outcome(
            result=Result.ALREADY_ALERTED,
            reason=(
                f"{alarm.change.alarm_name}: the execution of {monitoring.schedule_name} scheduled"
                f" {monitoring.scheduled_time} was alerted by {holder}, with every {listed}"
            ),
        )
    decision = decide_retraining(
        alarm,
        drift_shown=shows_drift(enrichment),
        dynamodb=clients.dynamodb,
        events=clients.events,
        table_name=settings.state_table_name,
        event_bus_name=settings.audit_event_bus_name,
        now=now,
    )
    subject, message = compose_alert(alarm, enrichment, decision)
    publish_alert(clients.sns, topic_arn=settings.alert_topic_arn, subject=subject, message=message)
    audit = audit_record(alarm, enrichment, decision)
    emit_audit_event(
        clients.events,
        event_bus_name=settings.audit_event_bus_name,
        source=DRIFT_ALERT_SOURCE,
        detail_type=DRIFT_ALERT_DETAIL_TYPE,
        record=audit,
    )
    return Outcome(result=Result.ALERTED, reason=summary_line(alarm, enrichment, decision), audit=audit)
