"""Screening, without any AWS call: is this EventBridge event an alarm, or a monitoring run, the drift
alert acts on?

An alarm is when it is a transition to ALARM (not ALARM -> ALARM) of an alarm named after a configured
endpoint with one of the prefixes in `contracts.ALERTED_ALARM_INFIXES`: a drift alarm (data
quality) or a model-quality alarm. A run is a processing job state change (its detail type says so)
of a configured endpoint's Clarify monitor (`contracts.alerted_run_schedules`) whose exit message says
it found violations.
Everything else becomes an ignored (or malformed) `Outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from lambdas.common.contracts import ALERTED_ALARM_INFIXES, COMPLETED_WITH_VIOLATIONS, alerted_run_schedules
from lambdas.common.settings import summarize
from lambdas.drift_alert.models import ALARM, AlarmStateChangeEvent, DriftAlarm, MonitoredEndpoint, Outcome, Result
from lambdas.drift_alert.run_models import PROCESSING_JOB_DETAIL_TYPE, MonitoringRun, ProcessingJobStateChangeEvent

# Where a monitoring schedule's ARN has its name (SageMaker writes it in lower case).
SCHEDULE_ARN_INFIX = ":monitoring-schedule/"

_ALERTED_NAMES = " or ".join(f"<endpoint>{infix}..." for infix in ALERTED_ALARM_INFIXES.values())


def screen(raw_event: object, endpoints: Mapping[str, MonitoredEndpoint]) -> Outcome | DriftAlarm | MonitoringRun:
    """Decide without any AWS call whether the event is an alarm or a run to act on, and for which endpoint."""
    if isinstance(raw_event, Mapping) and raw_event.get("detail-type") == PROCESSING_JOB_DETAIL_TYPE:
        return screen_run(raw_event, endpoints)
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
    match = alarm_endpoint(change.alarm_name, endpoints)
    if match is None:
        return Outcome(
            result=Result.IGNORED,
            reason=f"alarm {change.alarm_name!r} is not named {_ALERTED_NAMES} for a configured endpoint",
        )
    endpoint_name, kind = match
    return DriftAlarm(
        event_id=event.id,
        event_time=event.time,
        change=change,
        endpoint_name=endpoint_name,
        endpoint=endpoints[endpoint_name],
        kind=kind,
    )


def alarm_endpoint(alarm_name: str, endpoints: Mapping[str, MonitoredEndpoint]) -> tuple[str, str] | None:
    """The configured endpoint whose alarm this is, by name (the longest name wins), and the kind of
    monitoring the alarm watches."""
    matches = [
        (name, kind)
        for name in endpoints
        for kind, infix in ALERTED_ALARM_INFIXES.items()
        if alarm_name.startswith(f"{name}{infix}")
    ]
    return max(matches, key=lambda match: len(match[0])) if matches else None


def screen_run(raw_event: object, endpoints: Mapping[str, MonitoredEndpoint]) -> Outcome | MonitoringRun:
    """A processing job's state change: a run of a configured endpoint's Clarify monitor that found violations?"""
    try:
        event = ProcessingJobStateChangeEvent.model_validate(raw_event)
    except ValidationError as exc:
        return Outcome(
            result=Result.MALFORMED, reason=f"not a SageMaker processing job state change event: {summarize(exc)}"
        )
    job = event.detail
    schedule_arn = job.monitoring_schedule_arn
    if not schedule_arn:
        return Outcome(result=Result.IGNORED, reason=f"processing job {job.job_name!r} is not a monitoring run")
    if SCHEDULE_ARN_INFIX not in schedule_arn:
        return Outcome(
            result=Result.MALFORMED,
            reason=f"processing job {job.job_name!r}: {schedule_arn!r} is not a monitoring schedule ARN",
        )
    if not job.exit_message.startswith(COMPLETED_WITH_VIOLATIONS):
        return Outcome(
            result=Result.IGNORED,
            reason=f"monitoring run {job.job_name!r} is {job.status} and found no violations ({job.exit_message!r})",
        )
    match = run_schedule(schedule_arn.rpartition(SCHEDULE_ARN_INFIX)[2], endpoints)
    if match is None:
        return Outcome(
            result=Result.IGNORED,
            reason=f"{schedule_arn} is not a bias or explainability monitoring schedule of a configured endpoint",
        )
    endpoint_name, kind, schedule_name = match
    return MonitoringRun(
        event_id=event.id,
        event_time=event.time,
        endpoint_name=endpoint_name,
        endpoint=endpoints[endpoint_name],
        kind=kind,
        schedule_name=schedule_name,
        job_name=job.job_name,
        exit_message=job.exit_message,
    )


def run_schedule(schedule_name: str, endpoints: Mapping[str, MonitoredEndpoint]) -> tuple[str, str, str] | None:
    """The configured endpoint, the kind and the name of the Clarify monitoring schedule named so (in any
    case: SageMaker's ARNs write names in lower case)."""
    wanted = schedule_name.lower()
    for endpoint_name in endpoints:
        for kind, name in alerted_run_schedules(endpoint_name).items():
            if name.lower() == wanted:
                return endpoint_name, kind, name
    return None
