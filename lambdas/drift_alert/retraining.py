"""Whether an alarm (or a Clarify monitoring run) requests retraining of its model, and the request itself.

Retraining is requested if the model retrains on drift, the alarm shows drift (or degraded model
quality; a Clarify run with violations shows bias or feature attribution drift), and no retraining of
the model was requested within its cool-down (`claims`). The request
is one "Retraining Requested" event on the audit bus; a rule in the model's build stack starts the
build pipeline on it (the function cannot be given the pipeline: the build stack depends on its stack).

PutEvents has no idempotency token, so a retry after a lost answer puts the request again: at worst the
build stack gets two requests for one alarm (never for two alarms: the claim stops those). The build
pipeline runs in SUPERSEDED mode, so the second run waits behind the first in each stage, and a newer
run supersedes it while it waits.
"""

from __future__ import annotations

from typing import Any

from lambdas.common.aws import RetryableError, aws_call, is_transient, outcome_unknown, put_event
from lambdas.common.contracts import RETRAINING_DETAIL_TYPE, RETRAINING_SOURCE
from lambdas.drift_alert.claims import (
    attribute_number,
    attribute_string,
    claim_retraining,
    record_retraining,
    release_retraining,
)
from lambdas.drift_alert.models import Enrichment, Retraining, RetrainingDecision, RetrainingRequest, Trigger
from lambdas.drift_alert.timestamps import iso_epoch


def shows_drift(enrichment: Enrichment) -> bool:
    """Whether retraining can help: a feature drift metric alarmed or the report shows baseline drift
    (data quality); a model-quality metric alarmed or the report shows a violation (model quality). A
    failed monitoring execution or a data-type or completeness violation is a problem with data or
    monitoring that retraining would not fix."""
    monitoring = enrichment.monitoring
    if enrichment.model_quality:
        return bool(enrichment.alarm_metrics or monitoring.violations)
    return bool(enrichment.alarm_features or monitoring.drift_violations)


def decide_retraining(
    alarm: Trigger,
    *,
    drift_shown: bool,
    dynamodb: Any,
    events: Any,
    table_name: str,
    event_bus_name: str,
    now: float,
) -> RetrainingDecision:
    """Request retraining for this alarm's (or run's) event, per its model's policy; `drift_shown`: whether
    what it reports is something retraining can help with (`shows_drift`)."""
    model = alarm.endpoint
    if not model.retrain_on_drift:
        return RetrainingDecision(retraining=Retraining.DISABLED)
    if not drift_shown:
        return RetrainingDecision(retraining=Retraining.SKIPPED_NO_DRIFT)

    cooldown_seconds = model.retrain_cooldown_hours * 3600
    holder = claim_retraining(
        dynamodb, table_name, model_name=model.model_name, alarm=alarm, now=now, cooldown_seconds=cooldown_seconds
    )
    if holder is not None:
        last_requested = attribute_number(holder.get("last_requested"))
        held = RetrainingDecision(
            retraining=Retraining.SKIPPED_COOLDOWN,
            retraining_request_id=attribute_string(holder.get("retraining_request_id")),
            last_requested_at=iso_epoch(last_requested) if last_requested is not None else None,
            cooldown_until=iso_epoch(last_requested + cooldown_seconds) if last_requested is not None else None,
            claimed_by=_holder(holder),
        )
        if attribute_string(holder.get("claimed_by")) == alarm.event_id:
            # This very alarm event requested it and recorded the request: its retry, not a new request.
            return held.model_copy(update={"retraining": Retraining.REQUESTED, "replayed": True})
        return held

    try:
        with aws_call(f"request the retraining of {model.model_name}"):
            request_id = request_retraining(events, event_bus_name, alarm=alarm, now=now)
    except RetryableError as exc:
        failure = exc.__cause__
        if outcome_unknown(failure):
            # The request may be on the bus: keep the claim, so that no other alarm requests retraining
            # too. The retry of this event re-enters the claim and puts the request again.
            raise
        # The bus refused the request: nothing was put, so nothing may block the retry or the next alarm.
        release_retraining(dynamodb, table_name, model_name=model.model_name, alarm=alarm)
        if is_transient(failure):
            raise
        return RetrainingDecision(retraining=Retraining.FAILED, error=str(failure))
    record_retraining(dynamodb, table_name, model_name=model.model_name, alarm=alarm, request_id=request_id)
    return RetrainingDecision(
        retraining=Retraining.REQUESTED,
        retraining_request_id=request_id,
        last_requested_at=iso_epoch(now),
        cooldown_until=iso_epoch(now + cooldown_seconds),
    )


def request_retraining(events: Any, event_bus_name: str, *, alarm: Trigger, now: float) -> str:
    """Put the "Retraining Requested" event of this alarm (or run) on the bus; its EventId."""
    request = RetrainingRequest(
        model_name=alarm.endpoint.model_name,
        endpoint_name=alarm.endpoint_name,
        requested_at=iso_epoch(now),
        **alarm.retraining_fields(),
    )
    return put_event(
        events,
        event_bus_name=event_bus_name,
        source=RETRAINING_SOURCE,
        detail_type=RETRAINING_DETAIL_TYPE,
        detail=request.detail(),
    )


def _holder(item: dict[str, Any]) -> str | None:
    """What holds the cool-down, in words (a claim written before runs were alerted names its alarm only)."""
    trigger = attribute_string(item.get("trigger"))
    if trigger:
        return trigger
    alarm_name = attribute_string(item.get("alarm_name"))
    return f"alarm {alarm_name}" if alarm_name else None
