"""Drift alert logic: from a CloudWatch drift alarm to an enriched alert and, where configured, retraining.

Plain functions that take their AWS clients as arguments; the handler only wires them.

Flow of one event (`process`):
1. `screen` (no AWS calls): parse the event; keep only a transition to ALARM of a drift alarm
   ("<endpoint>-drift-...") of a configured endpoint. Everything else becomes an ignored `Outcome`.
2. `enrich` (reads only, best effort): the model packages behind the endpoint's variants and their
   weights; the latest execution of the endpoint's monitoring schedule and the violations in its
   constraint_violations.json. What cannot be read (no execution yet, report missing, endpoint gone)
   is noted in the alert instead of failing it.
3. `decide_retraining`: request retraining if the model retrains on drift, the alarm shows drift, and
   no retraining was requested within the model's cool-down (a DynamoDB claim). The request is one
   "Retraining Requested" event on the audit bus; a rule in the model's build stack starts the build
   pipeline on it. (This function cannot be given the pipeline: the build stack depends on its stack.)
4. Publish the alert, then put one audit event on the audit bus.

Retraining claim (one item per model in the state table, `pk` = "retraining#<model>")
----------------------------------------------------------------------------------------
- Claim: PutItem with `attribute_not_exists(pk) OR last_requested < :cutoff` (cutoff = now - cool-down),
  or the claim is this alarm event's own and no request was recorded (the retry of an attempt that
  failed between claiming and recording). DynamoDB evaluates the condition atomically, so of two
  concurrent alarms exactly one claims; the other is told who holds the claim (ALL_OLD) and skips.
- Request: PutEvents of the "Retraining Requested" event. PutEvents has no idempotency token, so a retry
  after a lost answer puts the request again: at worst the build stack gets two requests for one
  alarm (never for two alarms: the claim stops those). The build pipeline runs in SUPERSEDED mode, so
  the second run waits behind the first in each stage, and a newer run supersedes it while it waits.
- Record: the request's EventId is written to the claim; from then on a redelivery of the same event is
  a replay (reported as requested, nothing requested again) and a release can no longer delete the claim.
- Release: if the bus refuses the request (an error answer below 500, or a failed entry: nothing was
  put), the claim is deleted (only if still this event's and nothing was recorded), so neither the
  retry nor the next alarm is blocked by a retraining that was never requested.
- `expiration` (TTL) = last_requested + cool-down: DynamoDB's TTL only tidies up; the condition on
  `last_requested` is what enforces the cool-down, since TTL deletion can lag by days.

Errors: a transient AWS error (throttling, 5xx, timeouts, connection errors) raises `RetryableError`,
so EventBridge/Lambda retry and finally dead-letter the event. Reads for the alert's context degrade
on other errors; a retraining request the bus refuses (not transiently) is reported in the alert as a
failed retraining. Publishing the alert and the audit event must succeed, or the invocation raises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

from botocore.exceptions import ClientError
from pydantic import ValidationError

from lambdas.common.aws import (
    RetryableError,
    Unavailable,
    aws_call,
    emit_audit_event,
    error_code,
    is_transient,
    lookup,
    outcome_unknown,
    publish_alert,
    put_event,
    sns_subject,
)
from lambdas.common.endpoints import ServingVariant, serving_variants
from lambdas.common.settings import summarize
from lambdas.drift_alert.models import (
    ALARM,
    DRIFT_ALARM_INFIX,
    FEATURE_DRIFT_METRIC_PREFIX,
    AlarmStateChangeEvent,
    AuditRecord,
    DriftAlarm,
    DriftAlertSettings,
    Enrichment,
    MonitoredEndpoint,
    MonitoringFindings,
    Outcome,
    PackageRecord,
    Result,
    Retraining,
    RetrainingDecision,
    RetrainingRequest,
    Violation,
)

# Both events the function puts on the audit bus come from this source.
EVENT_SOURCE = "mlops.drift-alert"
AUDIT_DETAIL_TYPE = "Drift Alert"
# Matched, with the model's name, by the rule in each model's build stack that starts its build pipeline.
RETRAINING_DETAIL_TYPE = "Retraining Requested"
DATA_QUALITY_SCHEDULE_SUFFIX = "-data-quality"
MODEL_QUALITY_SCHEDULE_SUFFIX = "-model-quality"
DATA_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MODEL_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
VIOLATIONS_REPORT_NAME = "constraint_violations.json"
# Executions that wrote (or would have written) a violations report.
COMPLETED_STATUSES = frozenset({"Completed", "CompletedWithViolations"})
# A violations report is a few kilobytes per feature; refuse to load anything far larger.
MAX_REPORT_BYTES = 5 * 1024 * 1024
# Violations listed in the alert; the report has them all (an SNS message is at most 256 KB).
MAX_LISTED_VIOLATIONS = 50
CLAIM_KEY_PREFIX = "retraining#"
ALERT_KEY_PREFIX = "alerted#"
# An alert claim only needs to outlive the alarms of its execution (they fire within minutes).
ALERT_CLAIM_SECONDS = 2 * 24 * 3600

CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the drift alert calls (created once per execution environment by the handler)."""

    sagemaker: Any
    s3: Any
    sns: Any
    events: Any
    dynamodb: Any


def process(raw_event: object, *, settings: DriftAlertSettings, clients: AwsClients, now: float) -> Outcome:
    """Screen, enrich, decide and alert on one EventBridge event; `now` is the epoch time in seconds."""
    screened = screen(raw_event, settings.endpoints)
    if isinstance(screened, Outcome):
        return screened
    alarm = screened
    enrichment = enrich(alarm, clients=clients)
    holder = claim_alert(
        clients.dynamodb, settings.state_table_name, alarm=alarm, findings=enrichment.monitoring, now=now
    )
    if holder is not None:
        return Outcome(
            result=Result.ALREADY_ALERTED,
            reason=(
                f"{alarm.change.alarm_name}: the execution of {enrichment.monitoring.schedule_name} scheduled"
                f" {enrichment.monitoring.scheduled_time} was alerted by {holder}, with every drifted feature"
            ),
        )
    decision = decide_retraining(
        alarm,
        enrichment,
        clients=clients,
        table_name=settings.state_table_name,
        event_bus_name=settings.audit_event_bus_name,
        now=now,
    )
    subject, message = compose_alert(alarm, enrichment, decision, region=clients.s3.meta.region_name)
    publish_alert(clients.sns, topic_arn=settings.alert_topic_arn, subject=subject, message=message)
    audit = audit_record(alarm, enrichment, decision)
    emit_audit_event(
        clients.events,
        event_bus_name=settings.audit_event_bus_name,
        source=EVENT_SOURCE,
        detail_type=AUDIT_DETAIL_TYPE,
        record=audit,
    )
    return Outcome(result=Result.ALERTED, reason=_summary_line(alarm, enrichment, decision), audit=audit)


# --- 1. Screening -------------------------------------------------------------------------------------


def screen(raw_event: object, endpoints: Mapping[str, MonitoredEndpoint]) -> Outcome | DriftAlarm:
    """Decide without any AWS call whether the event is a drift alarm to act on, and for which endpoint."""
    try:
        event = AlarmStateChangeEvent.model_validate(raw_event)
    except ValidationError as exc:
        return Outcome(result=Result.MALFORMED, reason=f"not a CloudWatch alarm state change event: {summarize(exc)}")
    change = event.detail
    if change.state.value != ALARM:
        return Outcome(
            result=Result.IGNORED,
            reason=f"alarm {change.alarm_name!r} changed to {change.state.value}; only a change to ALARM is acted on",
        )
    if change.previous_state is not None and change.previous_state.value == ALARM:
        return Outcome(result=Result.IGNORED, reason=f"alarm {change.alarm_name!r} was already in ALARM")
    endpoint_name = drift_alarm_endpoint(change.alarm_name, endpoints)
    if endpoint_name is None:
        return Outcome(
            result=Result.IGNORED,
            reason=f"alarm {change.alarm_name!r} is not named <endpoint>{DRIFT_ALARM_INFIX}... for a configured endpoint",
        )
    return DriftAlarm(
        event_id=event.id,
        event_time=event.time,
        change=change,
        endpoint_name=endpoint_name,
        endpoint=endpoints[endpoint_name],
    )


def drift_alarm_endpoint(alarm_name: str, endpoints: Mapping[str, MonitoredEndpoint]) -> str | None:
    """The configured endpoint whose drift alarm this is, by name; the longest name wins."""
    matches = [name for name in endpoints if alarm_name.startswith(f"{name}{DRIFT_ALARM_INFIX}")]
    return max(matches, key=len) if matches else None


# --- 2. Enrichment ------------------------------------------------------------------------------------


def enrich(alarm: DriftAlarm, *, clients: AwsClients) -> Enrichment:
    variants, endpoint_notes = serving_variants(clients.sagemaker, alarm.endpoint_name)
    schedule = monitoring_schedule(alarm)
    return Enrichment(
        variants=variants,
        endpoint_notes=endpoint_notes,
        monitoring=latest_findings(clients.sagemaker, clients.s3, schedule),
        alarm_features=alarm_drift_features(alarm),
    )


def monitoring_schedule(alarm: DriftAlarm) -> str:
    """The endpoint's schedule the alarm watches: its metric's MonitoringSchedule dimension when that is
    one of the endpoint's two schedules, else the data-quality schedule."""
    endpoint = alarm.endpoint_name
    own = {f"{endpoint}{DATA_QUALITY_SCHEDULE_SUFFIX}", f"{endpoint}{MODEL_QUALITY_SCHEDULE_SUFFIX}"}
    for metric in alarm.change.metrics:
        if metric.dimensions.get("MonitoringSchedule") in own:
            return metric.dimensions["MonitoringSchedule"]
    return f"{endpoint}{DATA_QUALITY_SCHEDULE_SUFFIX}"


def alarm_drift_features(alarm: DriftAlarm) -> list[str]:
    """Features whose Model Monitor drift metric (feature_baseline_drift_<feature>) the alarm watches."""
    return sorted(
        {
            metric.name.removeprefix(FEATURE_DRIFT_METRIC_PREFIX)
            for metric in alarm.change.metrics
            if metric.namespace == DATA_METRICS_NAMESPACE
            and metric.name
            and metric.name.startswith(FEATURE_DRIFT_METRIC_PREFIX)
            and len(metric.name) > len(FEATURE_DRIFT_METRIC_PREFIX)
        }
    )


def latest_findings(sagemaker: Any, s3: Any, schedule_name: str) -> MonitoringFindings:
    """The latest execution of the schedule and the violations its report lists, as far as readable."""
    findings = MonitoringFindings(schedule_name=schedule_name)
    try:
        with lookup(f"list the executions of the monitoring schedule {schedule_name}"):
            summaries = sagemaker.list_monitoring_executions(
                MonitoringScheduleName=schedule_name, SortBy="ScheduledTime", SortOrder="Descending", MaxResults=1
            ).get("MonitoringExecutionSummaries", [])
    except Unavailable as exc:
        return findings.model_copy(update={"notes": [str(exc)]})
    if not summaries:
        return findings.model_copy(update={"notes": [f"the monitoring schedule {schedule_name} has no execution yet"]})

    latest = summaries[0]
    status = latest.get("MonitoringExecutionStatus")
    scheduled = latest.get("ScheduledTime")
    findings = findings.model_copy(
        update={
            "execution_status": status,
            "scheduled_time": _iso(scheduled) if isinstance(scheduled, datetime) else None,
            "failure_reason": latest.get("FailureReason"),
        }
    )
    if status not in COMPLETED_STATUSES:
        return findings.model_copy(update={"notes": [f"the latest execution is {status}: it has no violations report"]})
    job_arn = latest.get("ProcessingJobArn")
    if not job_arn:
        return findings.model_copy(update={"notes": ["the latest execution names no processing job"]})
    try:
        report_uri = violations_report_uri(sagemaker, job_arn)
        violations, notes = read_violations(s3, report_uri)
    except Unavailable as exc:
        return findings.model_copy(update={"notes": [str(exc)]})
    return findings.model_copy(
        update={
            "report_uri": report_uri,
            "report_url": s3_console_url(report_uri, region=s3.meta.region_name),
            "violations": violations,
            "notes": notes,
        }
    )


def violations_report_uri(sagemaker: Any, processing_job_arn: str) -> str:
    """Where the monitoring job wrote constraint_violations.json: its (first) S3 output."""
    job_name = processing_job_arn.rsplit("/", 1)[-1]
    with lookup(f"describe the monitoring job {job_name}"):
        job = sagemaker.describe_processing_job(ProcessingJobName=job_name)
    outputs = job.get("ProcessingOutputConfig", {}).get("Outputs", [])
    uris = [output["S3Output"]["S3Uri"] for output in outputs if output.get("S3Output", {}).get("S3Uri")]
    if not uris:
        raise Unavailable(f"the monitoring job {job_name} has no S3 output")
    return f"{uris[0].rstrip('/')}/{VIOLATIONS_REPORT_NAME}"


def read_violations(s3: Any, report_uri: str) -> tuple[list[Violation], list[str]]:
    """The report's violations, sorted by feature and check; notes on what was not understood."""
    bucket, key = _split_s3_uri(report_uri)

    def missing(exc: ClientError) -> str | None:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return f"no violations report at {report_uri}"
        return None

    with lookup(f"read the violations report {report_uri}", explain=missing):
        content = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_REPORT_BYTES + 1)
    if len(content) > MAX_REPORT_BYTES:
        raise Unavailable(
            f"the violations report {report_uri} is larger than {MAX_REPORT_BYTES} bytes: open it in S3"
            f" ({s3_console_url(report_uri, region=s3.meta.region_name)})"
        )
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise Unavailable(f"the violations report {report_uri} is not valid JSON ({type(exc).__name__})") from exc
    entries = document.get("violations") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise Unavailable(f"the violations report {report_uri} has no list of violations")

    violations: list[Violation] = []
    for entry in entries:
        try:
            violations.append(Violation.model_validate(entry))
        except ValidationError:
            continue
    skipped = len(entries) - len(violations)
    notes = [f"{skipped} entries of the violations report were not understood"] if skipped else []
    return sorted(violations, key=lambda v: (v.subject, v.constraint_check_type, v.description)), notes


def s3_console_url(s3_uri: str, *, region: str) -> str:
    bucket, key = _split_s3_uri(s3_uri)
    return (
        f"https://{region}.console.aws.amazon.com/s3/object/{quote(bucket, safe='')}"
        f"?region={region}&prefix={quote(key, safe='/')}"
    )


def shows_drift(enrichment: Enrichment) -> bool:
    """Whether retraining can help: a feature drift metric alarmed, or the report shows baseline drift
    (data quality) or a model-quality violation. A failed monitoring execution or a data-type or
    completeness violation is a problem with data or monitoring that retraining would not fix."""
    monitoring = enrichment.monitoring
    if monitoring.schedule_name.endswith(MODEL_QUALITY_SCHEDULE_SUFFIX):
        return bool(monitoring.violations)
    return bool(enrichment.alarm_features or monitoring.drift_violations)


# --- 3. Retraining ------------------------------------------------------------------------------------


def decide_retraining(
    alarm: DriftAlarm,
    enrichment: Enrichment,
    *,
    clients: AwsClients,
    table_name: str,
    event_bus_name: str,
    now: float,
) -> RetrainingDecision:
    model = alarm.endpoint
    if not model.retrain_on_drift:
        return RetrainingDecision(retraining=Retraining.DISABLED)
    if not shows_drift(enrichment):
        return RetrainingDecision(retraining=Retraining.SKIPPED_NO_DRIFT)

    cooldown_seconds = model.retrain_cooldown_hours * 3600
    holder = claim_retraining(
        clients.dynamodb,
        table_name,
        model_name=model.model_name,
        alarm=alarm,
        now=now,
        cooldown_seconds=cooldown_seconds,
    )
    if holder is not None:
        last_requested = _number(holder.get("last_requested"))
        held = RetrainingDecision(
            retraining=Retraining.SKIPPED_COOLDOWN,
            retraining_request_id=_string(holder.get("retraining_request_id")),
            last_requested_at=_iso_epoch(last_requested) if last_requested is not None else None,
            cooldown_until=_iso_epoch(last_requested + cooldown_seconds) if last_requested is not None else None,
            claimed_by_alarm=_string(holder.get("alarm_name")),
        )
        if _string(holder.get("claimed_by")) == alarm.event_id:
            # This very alarm event requested it and recorded the request: a redelivery, not a new request.
            return held.model_copy(update={"retraining": Retraining.REQUESTED, "replayed": True})
        return held

    try:
        with aws_call(f"request the retraining of {model.model_name}"):
            request_id = request_retraining(clients.events, event_bus_name, alarm=alarm, now=now)
    except RetryableError as exc:
        failure = exc.__cause__
        if outcome_unknown(failure):
            # The request may be on the bus: keep the claim, so that no other alarm requests retraining
            # too. The retry of this event re-enters the claim and puts the request again.
            raise
        # The bus refused the request: nothing was put, so nothing may block the retry or the next alarm.
        release_retraining(clients.dynamodb, table_name, model_name=model.model_name, alarm=alarm)
        if is_transient(failure):
            raise
        return RetrainingDecision(retraining=Retraining.FAILED, error=str(failure))
    record_retraining(clients.dynamodb, table_name, model_name=model.model_name, alarm=alarm, request_id=request_id)
    return RetrainingDecision(
        retraining=Retraining.REQUESTED,
        retraining_request_id=request_id,
        last_requested_at=_iso_epoch(now),
        cooldown_until=_iso_epoch(now + cooldown_seconds),
    )


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
    key = f"{ALERT_KEY_PREFIX}{alarm.endpoint_name}#{findings.schedule_name}#{findings.scheduled_time}"
    holder = _claim(
        dynamodb,
        table_name,
        action=f"claim the alert of {findings.schedule_name}",
        item={
            "pk": {"S": key},
            "claimed_by": {"S": alarm.event_id},
            "alarm_name": {"S": alarm.change.alarm_name},
            "expiration": {"N": str(int(now) + ALERT_CLAIM_SECONDS)},
        },
        condition="attribute_not_exists(pk) OR claimed_by = :event_id",
        values={":event_id": {"S": alarm.event_id}},
    )
    if holder is None:
        return None
    return _string(holder.get("alarm_name")) or "another alarm"


def claim_retraining(
    dynamodb: Any, table_name: str, *, model_name: str, alarm: DriftAlarm, now: float, cooldown_seconds: int
) -> dict[str, Any] | None:
    """Claim the model's retraining for this alarm event. None when claimed; else the holder's item
    (DynamoDB attribute values) that keeps this alarm inside the cool-down."""
    requested = int(now)
    return _claim(
        dynamodb,
        table_name,
        action=f"claim the retraining of {model_name}",
        item={
            "pk": {"S": _claim_key(model_name)},
            "claimed_by": {"S": alarm.event_id},
            "alarm_name": {"S": alarm.change.alarm_name},
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


def request_retraining(events: Any, event_bus_name: str, *, alarm: DriftAlarm, now: float) -> str:
    """Put the "Retraining Requested" event of this alarm on the bus; its EventId."""
    request = RetrainingRequest(
        model_name=alarm.endpoint.model_name,
        endpoint_name=alarm.endpoint_name,
        alarm_name=alarm.change.alarm_name,
        alarm_event_id=alarm.event_id,
        requested_at=_iso_epoch(now),
    )
    return put_event(
        events,
        event_bus_name=event_bus_name,
        source=EVENT_SOURCE,
        detail_type=RETRAINING_DETAIL_TYPE,
        detail=request.model_dump_json(),
    )


def record_retraining(dynamodb: Any, table_name: str, *, model_name: str, alarm: DriftAlarm, request_id: str) -> None:
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


def release_retraining(dynamodb: Any, table_name: str, *, model_name: str, alarm: DriftAlarm) -> None:
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


# --- 4. Alert and audit -------------------------------------------------------------------------------


def compose_alert(
    alarm: DriftAlarm, enrichment: Enrichment, decision: RetrainingDecision, *, region: str
) -> tuple[str, str]:
    """The SNS subject (ASCII, at most 100 characters) and the plain-text message."""
    change, monitoring, model = alarm.change, enrichment.monitoring, alarm.endpoint
    features = enrichment.drifted_features
    drift = f"{len(features)} feature{'s' if len(features) != 1 else ''} drifted" if features else "drift alarm"
    subject = sns_subject(
        f"Drift on {alarm.endpoint_name}: {drift}, retraining {_RETRAINING_WORDS[decision.retraining]}"
    )

    lines = [
        f"A Model Monitor drift alarm went off for the SageMaker endpoint {alarm.endpoint_name} (model {model.model_name}).",
        "",
        f"Alarm:  {change.alarm_name}",
        f"State:  {change.previous_state.value if change.previous_state else 'unknown'} -> {change.state.value}"
        f" at {change.state.timestamp or alarm.event_time or 'an unknown time'}",
        f"Reason: {change.state.reason or 'none given'}",
        "",
        "Serving (variant: model package, share of traffic):",
    ]
    lines += [f"  - {_variant_line(variant)}" for variant in enrichment.variants] or ["  (unknown)"]
    lines += [f"  ! {note}" for note in enrichment.endpoint_notes]

    lines += ["", f"Latest execution of the monitoring schedule {monitoring.schedule_name}:"]
    if monitoring.execution_status:
        scheduled = f", scheduled {monitoring.scheduled_time}" if monitoring.scheduled_time else ""
        lines.append(f"  {monitoring.execution_status}{scheduled}")
    if monitoring.failure_reason:
        lines.append(f"  Failure: {monitoring.failure_reason}")
    lines += _violation_lines("Drifted features", monitoring.drift_violations)
    others_title = "Other violations" if monitoring.drift_violations else "Violations"
    lines += _violation_lines(others_title, monitoring.other_violations)
    if enrichment.alarm_features:
        lines.append(f"  Drift metrics in the alarm: {', '.join(enrichment.alarm_features)}")
    lines += [f"  ! {note}" for note in monitoring.notes]
    if monitoring.report_url:
        lines += ["", f"Violations report: {monitoring.report_url}", f"  ({monitoring.report_uri})"]
    else:
        lines += ["", "Violations report: not available (see above)."]

    lines += ["", "What happens next:", *(f"  {line}" for line in _next_steps(alarm, decision))]
    return subject, "\n".join(lines)


def audit_record(alarm: DriftAlarm, enrichment: Enrichment, decision: RetrainingDecision) -> AuditRecord:
    return AuditRecord(
        endpoint_name=alarm.endpoint_name,
        model_name=alarm.endpoint.model_name,
        alarm_name=alarm.change.alarm_name,
        alarm_event_id=alarm.event_id,
        state_reason=alarm.change.state.reason,
        monitoring_schedule=enrichment.monitoring.schedule_name,
        execution_status=enrichment.monitoring.execution_status,
        features=enrichment.drifted_features,
        violations_report=enrichment.monitoring.report_uri,
        packages=[
            PackageRecord(variant_name=v.variant_name, model_package_arn=v.model_package_arn, weight=v.weight)
            for v in enrichment.variants
        ],
        retraining=decision.retraining,
        retraining_request_id=decision.retraining_request_id,
        retraining_replayed=decision.replayed,
    )


_RETRAINING_WORDS = {
    Retraining.REQUESTED: "requested",
    Retraining.SKIPPED_COOLDOWN: "in cool-down",
    Retraining.DISABLED: "off",
    Retraining.SKIPPED_NO_DRIFT: "not requested",
    Retraining.FAILED: "request FAILED",
}


def _next_steps(alarm: DriftAlarm, decision: RetrainingDecision) -> list[str]:
    model = alarm.endpoint
    review = (
        "The new model package then waits for manual approval; the approval gate and the deploy pipeline"
        " take it to staging and, after another approval, to production as the challenger."
    )
    match decision.retraining:
        case Retraining.REQUESTED:
            again = " (this alarm had already requested it; nothing was requested again)" if decision.replayed else ""
            return [
                f"Retraining requested: event {decision.retraining_request_id} on the audit bus has the build stack"
                f" of {model.model_name} start its build pipeline{again}.",
                review,
                f"No other retraining of {model.model_name} is requested before {decision.cooldown_until} (cool-down).",
            ]
        case Retraining.SKIPPED_COOLDOWN:
            request = f" (event {decision.retraining_request_id})" if decision.retraining_request_id else ""
            return [
                f"Retraining not requested again: it was requested at {decision.last_requested_at}{request}"
                f" for alarm {decision.claimed_by_alarm}; the {model.retrain_cooldown_hours} h cool-down of"
                f" {model.model_name} lasts until {decision.cooldown_until}.",
                "Check the model package that retraining produces against this drift before approving it.",
            ]
        case Retraining.DISABLED:
            return [
                f"Automatic retraining is off for {model.model_name}. Investigate the drift; if the model needs"
                " retraining, start its build pipeline."
            ]
        case Retraining.SKIPPED_NO_DRIFT:
            return [
                "Retraining not requested: neither the alarm nor the report shows baseline drift (a failed"
                " monitoring execution or a data-quality violation). Fix the monitoring or the incoming data."
            ]
        case _:
            return [
                f"Retraining could NOT be requested: {decision.error}. Start the build pipeline of"
                f" {model.model_name} by hand once the cause is fixed."
            ]


def _variant_line(variant: ServingVariant) -> str:
    package = variant.model_package_arn or (
        f"model {variant.model_name} (not from a model package)" if variant.model_name else "unknown"
    )
    share = (
        f", {variant.traffic_percent:g}% (weight {variant.weight:g})"
        if variant.traffic_percent is not None and variant.weight is not None
        else ""
    )
    return f"{variant.variant_name}: {package}{share}"


def _violation_lines(title: str, violations: list[Violation]) -> list[str]:
    if not violations:
        return []
    listed = [
        f"    - {v.subject} ({v.constraint_check_type}): {v.description or 'no description'}"
        for v in violations[:MAX_LISTED_VIOLATIONS]
    ]
    more = len(violations) - MAX_LISTED_VIOLATIONS
    return [f"  {title}:", *listed, *([f"    ... and {more} more in the report"] if more > 0 else [])]


def _summary_line(alarm: DriftAlarm, enrichment: Enrichment, decision: RetrainingDecision) -> str:
    features = ", ".join(enrichment.drifted_features) or "no drifted feature known"
    retraining = decision.retraining.value + (
        f" ({decision.retraining_request_id})" if decision.retraining_request_id else ""
    )
    return (
        f"drift alarm {alarm.change.alarm_name} on {alarm.endpoint_name} alerted [{features}]; retraining {retraining}"
    )


# --- AWS call helpers ---------------------------------------------------------------------------------


def _split_s3_uri(uri: str) -> tuple[str, str]:
    location = urlparse(uri)
    bucket, key = location.netloc, location.path.lstrip("/")
    if location.scheme != "s3" or not bucket or not key:
        raise Unavailable(f"{uri!r} is not an s3:// object URI")
    return bucket, key


def _claim_key(model_name: str) -> str:
    return f"{CLAIM_KEY_PREFIX}{model_name}"


def _string(value: Any) -> str | None:
    return value.get("S") if isinstance(value, dict) else None


def _number(value: Any) -> int | None:
    try:
        return int(value["N"]) if isinstance(value, dict) and "N" in value else None
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_epoch(seconds: float) -> str:
    return _iso(datetime.fromtimestamp(seconds, UTC))
