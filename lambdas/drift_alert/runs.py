"""Drift alert logic for a run of a Clarify monitor (bias or feature attribution drift) that found
violations: one alert per run, with the violations its report lists, and, where configured, a
retraining request. Plain functions that take their AWS clients as arguments; the handler wires them.

Why runs, not alarms: Clarify's monitors judge each run against the champion's baseline themselves and
list what violates it in the run's constraint_violations.json, but the metrics they publish carry no
verdict (a bias metric's value, with many dimensions; attribution drift has no metric at all). So the
platform's rule takes the runs that ended with violations to the function
(mlops_constructs/endpoint_automation.py), one event per run.

`act_on_run`, once per EventBridge event (the handler wraps it in Powertools idempotency on the event
id), for a run `screen.screen_run` accepted:
1. `run_findings`: the run's report, at its processing job's S3 output + VIOLATIONS_REPORT_NAME. A
   missing report is said in the alert. Access denied raises: without the report the alert would
   say nothing of what drifted, and it is a permission to fix, so the event is retried, then kept in
   the dead-letter queue (whose alarm notifies), from which it is redriven once the access is fixed:
   nothing is claimed before the report is read, so the redrive alerts in full.
2. `claims.claim_run_alert`: one alert per run (its processing job), whichever event brings it.
3. what serves, the retraining decision (a run with violations shows drift: the model's
   `retrain_on_drift` and cool-down decide), the alert and the audit event, as for an alarm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.common.aws import RetryableError, Unavailable, emit_audit_event, error_code, publish_alert
from lambdas.common.contracts import DRIFT_ALERT_DETAIL_TYPE, DRIFT_ALERT_SOURCE
from lambdas.drift_alert.claims import claim_run_alert
from lambdas.drift_alert.findings import read_violations, s3_console_url, violations_report_uri, what_serves
from lambdas.drift_alert.message import compose_run_alert, run_audit_record, run_summary_line
from lambdas.drift_alert.models import DriftAlertSettings, Outcome, Result
from lambdas.drift_alert.retraining import decide_retraining
from lambdas.drift_alert.run_models import MonitoringRun, RunFindings

if TYPE_CHECKING:
    from lambdas.drift_alert.drift import AwsClients

# The answers that say the function may not read what it needs: a permission to fix, not a missing report.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "KMS.AccessDeniedException"})


def act_on_run(*, run: MonitoringRun, settings: DriftAlertSettings, clients: AwsClients, now: float) -> Outcome:
    """Read the run's violations, claim its alert, decide retraining, alert and audit."""
    findings = run_findings(run, sagemaker=clients.sagemaker, s3=clients.s3)
    holder = claim_run_alert(clients.dynamodb, settings.state_table_name, run=run, now=now)
    if holder is not None:
        return Outcome(
            result=Result.ALREADY_ALERTED,
            reason=f"the {run.drift_words} run {run.job_name} of {run.schedule_name} was alerted by {holder}",
        )
    serving = what_serves(run, sagemaker=clients.sagemaker, cloudformation=clients.cloudformation)
    decision = decide_retraining(
        run,
        drift_shown=True,  # Clarify's only checks are drift checks: a run with violations drifted
        dynamodb=clients.dynamodb,
        events=clients.events,
        table_name=settings.state_table_name,
        event_bus_name=settings.audit_event_bus_name,
        now=now,
    )
    subject, message = compose_run_alert(run, findings, serving, decision)
    publish_alert(clients.sns, topic_arn=settings.alert_topic_arn, subject=subject, message=message)
    audit = run_audit_record(run, findings, serving[0], decision)
    emit_audit_event(
        clients.events,
        event_bus_name=settings.audit_event_bus_name,
        source=DRIFT_ALERT_SOURCE,
        detail_type=DRIFT_ALERT_DETAIL_TYPE,
        record=audit,
    )
    return Outcome(result=Result.ALERTED, reason=run_summary_line(run, findings, decision), audit=audit)


def run_findings(run: MonitoringRun, *, sagemaker: Any, s3: Any) -> RunFindings:
    """The violations the run's report lists; what could not be read, noted. Raises RetryableError when
    AWS fails transiently, or denies the function access to the job or its report."""
    report_uri: str | None = None
    try:
        report_uri = violations_report_uri(sagemaker, run.job_name)
        violations, notes = read_violations(s3, report_uri)
    except Unavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and error_code(cause) in ACCESS_DENIED_CODES:
            raise RetryableError(f"{exc}: the drift alert may not read the run's violations") from exc
        return RunFindings(report_uri=report_uri, notes=[str(exc)])
    return RunFindings(
        report_uri=report_uri,
        report_url=s3_console_url(report_uri, region=s3.meta.region_name),
        violations=violations,
        notes=notes,
    )
