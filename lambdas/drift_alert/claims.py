"""The drift alert's two claims: conditional writes to its state table, each atomic in DynamoDB.

Alert claim: one alert per monitoring execution (`pk` = "alerted#<endpoint>#<schedule>#<scheduled time>",
or for a Clarify run "alerted#<endpoint>#<schedule>#<processing job name>")
---------------------------------------------------------------------------------------------------------
One hourly run sets off the alarms of every drifting feature at once. The first alarm event to claim
the run alerts, listing every drifted feature of the run's report; its sibling alarms end as
`already_alerted`. The claim belongs to that event: its own redeliveries and retries pass, so an alert
whose publish failed is sent by the retry, never lost to a sibling that arrived meanwhile. A Clarify
monitoring run comes as its processing job's state change: another event of the same job (a duplicate
EventBridge sends with an id of its own) ends as `already_alerted` the same way.

Retraining claim: one request per model and cool-down (`pk` = "retraining#<model>")
------------------------------------------------------------------------------------
- Claim: PutItem with `attribute_not_exists(pk) OR last_requested < :cutoff` (cutoff = now - cool-down),
  or the claim is this alarm event's own and no request was recorded (the retry of an attempt that
  failed between claiming and recording). Of two concurrent alarms exactly one claims; the other is
  told who holds the claim (ALL_OLD) and skips.
- Record: the request's EventId is written to the claim; from then on a redelivery of the same event is
  a replay (reported as requested, nothing requested again) and a release can no longer delete it.
- Release: if the bus refused the request (nothing was put), the claim is deleted (only if still this
  event's and nothing was recorded), so neither the retry nor the next alarm is blocked by a
  retraining that was never requested.
- `expiration` (TTL) = last_requested + cool-down only tidies up; the condition on `last_requested`
  enforces the cool-down, since TTL deletion can lag by days.

Why these are not Powertools idempotency
----------------------------------------
The handler does use Powertools idempotency (`handler.py`), where its model fits: the same EventBridge
event delivered again after it was handled (same event id, same payload) gets the first delivery's
outcome, and nothing is read, claimed, published or audited twice. Powertools idempotency is "the
first result for duplicates of the same payload": a record per payload key, deleted when the function
raises, returned as is when it returned. The claims need what it does not have:
- An owner. Both claims are held by one alarm event (`claimed_by`) and re-entrant for that event only:
  its retry after a failure passes, other alarms' events do not. Powertools records have no owner,
  and a failure deletes them, so a sibling alarm arriving between the holder's failure and its retry
  would take the alert over; while the holder runs, Powertools answers a sibling with "in progress"
  (a retry), not with a decision.
- Different payloads, one decision. Sibling alarms of one run, and alarms of different features or
  schedules within a cool-down, are different events: their key (the execution, the model) is only
  known after reading the monitoring schedule, and the answer they need (`already_alerted`,
  `skipped_cooldown` naming the holder and its request) is not the holder's result.
- Keep on raise. A retraining request of unknown outcome (5xx, no answer) must keep the claim while the
  invocation raises for a retry (the request may be on the bus); a refused one must release it. A
  Powertools record is either kept with a result (the function returned) or deleted (it raised).
- A cut-off in time per model, and a record written after the side effect: the cool-down is each
  model's own `retrain_cooldown_hours` compared with `last_requested`, and the request's EventId is
  recorded onto the claim after PutEvents answered.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.aws import aws_call
from lambdas.drift_alert.models import DriftAlarm, MonitoringFindings, Trigger
from lambdas.drift_alert.run_models import MonitoringRun

CLAIM_KEY_PREFIX = "retraining#"
ALERT_KEY_PREFIX = "alerted#"
# An alert claim only needs to outlive the alarms of its execution (they fire within minutes), and the
# redeliveries of a run's event (EventBridge gives up on an event after hours).
ALERT_CLAIM_SECONDS = 2 * 24 * 3600

CONDITION_FAILED = "ConditionalCheckFailedException"


def claim_alert(
    dynamodb: Any, table_name: str, *, alarm: DriftAlarm, findings: MonitoringFindings, now: float
) -> str | None:
    """Claim the alert of the monitoring execution the alarm reports on, for this alarm event.

    None when this event alerts: it claimed the execution, or holds the claim already (a redelivery,
    or the retry after a failed publish: the alert goes out at least once). Else the alarm whose
    event holds it. An execution that could not be read is not claimed: its alarms all alert.
    """
    if findings.scheduled_time is None:
        return None
    key = f"{alarm.endpoint_name}#{findings.schedule_name}#{findings.scheduled_time}"
    holder = _claim_alert(dynamodb, table_name, key=key, trigger=alarm, schedule_name=findings.schedule_name, now=now)
    if holder is None:
        return None
    return attribute_string(holder.get("alarm_name")) or "another alarm"


def claim_run_alert(dynamodb: Any, table_name: str, *, run: MonitoringRun, now: float) -> str | None:
    """Claim the alert of a Clarify monitoring run (its processing job), for this event. None when this
    event alerts (it claimed the run, or holds the claim already); else the event that holds it."""
    key = f"{run.endpoint_name}#{run.schedule_name}#{run.job_name}"
    holder = _claim_alert(dynamodb, table_name, key=key, trigger=run, schedule_name=run.schedule_name, now=now)
    if holder is None:
        return None
    return f"event {attribute_string(holder.get('claimed_by')) or 'unknown'}"


def claim_retraining(
    dynamodb: Any, table_name: str, *, model_name: str, alarm: Trigger, now: float, cooldown_seconds: int
) -> dict[str, Any] | None:
    """Claim the model's retraining for this alarm (or monitoring run) event. None when claimed; else the
    holder's item (DynamoDB attribute values) that keeps this event inside the cool-down."""
    requested = int(now)
    return _claim(
        dynamodb,
        table_name,
        action=f"claim the retraining of {model_name}",
        item={
            "pk": {"S": _claim_key(model_name)},
            "claimed_by": {"S": alarm.event_id},
            "alarm_name": {"S": alarm.trigger_name},
            "trigger": {"S": alarm.trigger_label},
            "endpoint_name": {"S": alarm.endpoint_name},
            "last_requested": {"N": str(requested)},
            "expiration": {"N": str(requested + cooldown_seconds)},
        },
        condition=(
            "attribute_not_exists(pk) OR last_requested < :cutoff"
            " OR (claimed_by = :event_id AND attribute_not_exists(retraining_request_id))"
        ),
        values={":cutoff": {"N": str(requested - cooldown_seconds)}, ":event_id": {"S": alarm.event_id}},
    )


def record_retraining(dynamodb: Any, table_name: str, *, model_name: str, alarm: Trigger, request_id: str) -> None:
    """Write the request's EventId onto this event's claim: the claim can no longer be released."""
    try:
        with aws_call(f"record the retraining request of {model_name}", passthrough=(CONDITION_FAILED,)):
            dynamodb.update_item(
                TableName=table_name,
                Key={"pk": {"S": _claim_key(model_name)}},
                UpdateExpression="SET retraining_request_id = :request_id",
                ConditionExpression="claimed_by = :event_id",
                ExpressionAttributeValues={":request_id": {"S": request_id}, ":event_id": {"S": alarm.event_id}},
            )
    except ClientError:
        # Only after the cool-down can another alarm take the claim over; the request stands either way.
        return


def release_retraining(dynamodb: Any, table_name: str, *, model_name: str, alarm: Trigger) -> None:
    """Give up this event's claim after a refused request, unless a request was already recorded on it."""
    try:
        with aws_call(f"release the retraining claim of {model_name}", passthrough=(CONDITION_FAILED,)):
            dynamodb.delete_item(
                TableName=table_name,
                Key={"pk": {"S": _claim_key(model_name)}},
                ConditionExpression="claimed_by = :event_id AND attribute_not_exists(retraining_request_id)",
                ExpressionAttributeValues={":event_id": {"S": alarm.event_id}},
            )
    except ClientError:
        return  # not this event's claim any more, or a request is recorded on it: leave it


def attribute_string(value: Any) -> str | None:
    """A string attribute of a holder's item (DynamoDB attribute value), if it is one."""
    return value.get("S") if isinstance(value, dict) else None


def attribute_number(value: Any) -> int | None:
    """A whole-number attribute of a holder's item (DynamoDB attribute value), if it is one."""
    try:
        return int(value["N"]) if isinstance(value, dict) and "N" in value else None
    except ValueError:
        return None


def _claim_alert(
    dynamodb: Any, table_name: str, *, key: str, trigger: Trigger, schedule_name: str, now: float
) -> dict[str, Any] | None:
    """Claim the alert under "alerted#<key>" for the trigger's event (re-entrant for that event)."""
    return _claim(
        dynamodb,
        table_name,
        action=f"claim the alert of {schedule_name}",
        item={
            "pk": {"S": f"{ALERT_KEY_PREFIX}{key}"},
            "claimed_by": {"S": trigger.event_id},
            "alarm_name": {"S": trigger.trigger_name},
            "expiration": {"N": str(int(now) + ALERT_CLAIM_SECONDS)},
        },
        condition="attribute_not_exists(pk) OR claimed_by = :event_id",
        values={":event_id": {"S": trigger.event_id}},
    )


def _claim(
    dynamodb: Any,
    table_name: str,
    *,
    action: str,
    item: dict[str, Any],
    condition: str,
    values: dict[str, Any],
) -> dict[str, Any] | None:
    """Write the claim `item` if `condition` holds, atomically. None when written; else the item of
    whoever holds the claim (DynamoDB attribute values), which the failed condition returns."""
    try:
        with aws_call(action, passthrough=(CONDITION_FAILED,)):
            dynamodb.put_item(
                TableName=table_name,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
    except ClientError as exc:  # the condition failed: someone holds the claim
        holder: dict[str, Any] = exc.response.get("Item") or {}
        return holder
    return None


def _claim_key(model_name: str) -> str:
    return f"{CLAIM_KEY_PREFIX}{model_name}"
