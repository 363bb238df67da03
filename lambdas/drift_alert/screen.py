"""Screening, without any AWS call: is this EventBridge event an alarm the drift alert acts on?

It is when it is a transition to ALARM (not ALARM -> ALARM) of an alarm named after a configured
endpoint with one of the prefixes in `contracts.ALERTED_ALARM_INFIXES`: a drift alarm (data
quality) or a model-quality alarm.
Everything else becomes an ignored (or malformed) `Outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from lambdas.common.contracts import ALERTED_ALARM_INFIXES
from lambdas.common.settings import summarize
from lambdas.drift_alert.models import ALARM, AlarmStateChangeEvent, DriftAlarm, MonitoredEndpoint, Outcome, Result

_ALERTED_NAMES = " or ".join(f"<endpoint>{infix}..." for infix in ALERTED_ALARM_INFIXES.values())


def screen(raw_event: object, endpoints: Mapping[str, MonitoredEndpoint]) -> Outcome | DriftAlarm:
    """Decide without any AWS call whether the event is an alarm to act on, and for which endpoint."""
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
