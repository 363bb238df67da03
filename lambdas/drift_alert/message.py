"""What the drift alert says: the SNS alert a person acts on, the audit record, the log line's summary.

A drift alarm (data quality) names drifted features; a model-quality alarm names the model's metrics
that are worse than their threshold (below it for auc, above it for rmse); a Clarify monitoring run
names its bias or feature attribution drift violations. Everything else reads the same for all, and
for an endpoint and a batch transform but what serves them.
"""

from __future__ import annotations

from lambdas.common.aws import sns_subject
from lambdas.common.endpoints import ServingVariant
from lambdas.drift_alert.models import (
    AuditRecord,
    DriftAlarm,
    Enrichment,
    MonitoredEndpoint,
    PackageRecord,
    Retraining,
    RetrainingDecision,
    RunAuditRecord,
    Trigger,
    Violation,
)
from lambdas.drift_alert.run_models import MONITORED_STAGE, MonitoringRun, RunFindings

# Violations listed in the alert; the report has them all (an SNS message is at most 256 KB).
MAX_LISTED_VIOLATIONS = 50

_RETRAINING_WORDS = {
    Retraining.REQUESTED: "requested",
    Retraining.SKIPPED_COOLDOWN: "in cool-down",
    Retraining.DISABLED: "off",
    Retraining.SKIPPED_NO_DRIFT: "not requested",
    Retraining.FAILED: "request FAILED",
}


def compose_alert(alarm: DriftAlarm, enrichment: Enrichment, decision: RetrainingDecision) -> tuple[str, str]:
    """The SNS subject (ASCII, at most 100 characters) and the plain-text message."""
    change, monitoring, model = alarm.change, enrichment.monitoring, alarm.endpoint
    subject = sns_subject(f"{_headline(alarm, enrichment)}, retraining {_RETRAINING_WORDS[decision.retraining]}")

    lines = [
        f"A Model Monitor {_alarm_words(enrichment)} went off for the {_served_by(alarm)} (model {model.model_name}).",
        "",
        f"Alarm:  {change.alarm_name}",
        f"State:  {change.previous_state.value if change.previous_state else 'unknown'} -> {change.state.value}"
        f" at {change.state.timestamp or alarm.event_time or 'an unknown time'}",
        f"Reason: {change.state.reason or 'none given'}",
        "",
        *_serving_lines(model, enrichment.variants, enrichment.endpoint_notes),
    ]

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
    if enrichment.alarm_metrics:
        lines.append(f"  Model-quality metrics in the alarm: {', '.join(enrichment.alarm_metrics)}")
    lines += [f"  ! {note}" for note in monitoring.notes]
    lines += _report_lines(monitoring.report_url, monitoring.report_uri)

    lines += ["", "What happens next:", *(f"  {line}" for line in _alarm_next_steps(alarm, enrichment, decision))]
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
        packages=_packages(enrichment.variants),
        retraining=decision.retraining,
        retraining_request_id=decision.retraining_request_id,
        retraining_replayed=decision.replayed,
    )


def summary_line(alarm: DriftAlarm, enrichment: Enrichment, decision: RetrainingDecision) -> str:
    if enrichment.model_quality:
        found = ", ".join(enrichment.degraded_metrics) or "no degraded metric known"
    else:
        found = ", ".join(enrichment.drifted_features) or "no drifted feature known"
    retraining = _retraining_outcome(decision)
    return (
        f"{_alarm_words(enrichment)} {alarm.change.alarm_name} on {alarm.endpoint_name} alerted [{found}];"
        f" retraining {retraining}"
    )


def compose_run_alert(
    run: MonitoringRun,
    findings: RunFindings,
    serving: tuple[list[ServingVariant], list[str]],
    decision: RetrainingDecision,
) -> tuple[str, str]:
    """The SNS subject and message of a Clarify monitoring run that found violations (`serving`: what
    serves, and what of it could not be read)."""
    model, (variants, serving_notes) = run.endpoint, serving
    count = len(findings.violations)
    found = f"{count} violation{'s' if count != 1 else ''}" if count else "violations"
    subject = sns_subject(
        f"{run.drift_words.capitalize()} on {run.endpoint_name}: {found},"
        f" retraining {_RETRAINING_WORDS[decision.retraining]}"
    )
    lines = [
        f"SageMaker Clarify found {run.drift_words} on the {_served_by(run)} (model {model.model_name},"
        f" stage {MONITORED_STAGE}): a run of its {run.kind} monitor ended with violations.",
        "",
        f"Monitoring schedule: {run.schedule_name}",
        f"Run (processing job): {run.job_name}",
        f"Exit message: {run.exit_message}",
        "",
        *_serving_lines(model, variants, serving_notes),
        "",
        "Violations of the champion's baseline:",
    ]
    lines += _violation_lines(f"{run.drift_words.capitalize()}", findings.violations)
    lines += [f"  ! {note}" for note in findings.notes]
    lines += _report_lines(findings.report_url, findings.report_uri)
    next_steps = _next_steps(
        model,
        decision,
        problem=run.drift_words,
        cause="run",
        no_drift="Retraining not requested: the run shows no drift that retraining could correct.",
    )
    lines += ["", "What happens next:", *(f"  {line}" for line in next_steps)]
    return subject, "\n".join(lines)


def run_audit_record(
    run: MonitoringRun, findings: RunFindings, variants: list[ServingVariant], decision: RetrainingDecision
) -> RunAuditRecord:
    return RunAuditRecord(
        endpoint_name=run.endpoint_name,
        model_name=run.endpoint.model_name,
        stage=MONITORED_STAGE,
        kind=run.kind,
        monitoring_schedule=run.schedule_name,
        processing_job_name=run.job_name,
        run_event_id=run.event_id,
        exit_message=run.exit_message,
        violations=[_violation_text(v) for v in findings.violations[:MAX_LISTED_VIOLATIONS]],
        violations_report=findings.report_uri,
        packages=_packages(variants),
        retraining=decision.retraining,
        retraining_request_id=decision.retraining_request_id,
        retraining_replayed=decision.replayed,
    )


def run_summary_line(run: MonitoringRun, findings: RunFindings, decision: RetrainingDecision) -> str:
    found = ", ".join(v.subject for v in findings.violations[:MAX_LISTED_VIOLATIONS]) or "violations not read"
    retraining = _retraining_outcome(decision)
    return f"{run.drift_words} run {run.job_name} on {run.endpoint_name} alerted [{found}]; retraining {retraining}"


def _report_lines(report_url: str | None, report_uri: str | None) -> list[str]:
    if report_url:
        return ["", f"Violations report: {report_url}", f"  ({report_uri})"]
    return ["", "Violations report: not available (see above)."]


def _retraining_outcome(decision: RetrainingDecision) -> str:
    """The retraining decision, with the request's id when there is one (the summary lines)."""
    return decision.retraining.value + (
        f" ({decision.retraining_request_id})" if decision.retraining_request_id else ""
    )


def _serving_lines(model: MonitoredEndpoint, variants: list[ServingVariant], notes: list[str]) -> list[str]:
    title = (
        "Serving (the champion of its serving stack: model package):"
        if model.is_batch
        else "Serving (variant: model package, share of traffic):"
    )
    lines = [title, *(f"  - {_variant_line(variant)}" for variant in variants)] if variants else [title, "  (unknown)"]
    return lines + [f"  ! {note}" for note in notes]


def _packages(variants: list[ServingVariant]) -> list[PackageRecord]:
    return [
        PackageRecord(variant_name=v.variant_name, model_package_arn=v.model_package_arn, weight=v.weight)
        for v in variants
    ]


def _served_by(alarm: Trigger) -> str:
    kind = "batch transform" if alarm.endpoint.is_batch else "SageMaker endpoint"
    return f"{kind} {alarm.endpoint_name}"


def _alarm_words(enrichment: Enrichment) -> str:
    return "model-quality alarm" if enrichment.model_quality else "drift alarm"


def _problem(enrichment: Enrichment) -> str:
    return "drop in model quality" if enrichment.model_quality else "drift"


def _headline(alarm: DriftAlarm, enrichment: Enrichment) -> str:
    if enrichment.model_quality:
        metrics = enrichment.degraded_metrics
        quality = f"{', '.join(metrics)} worse than threshold" if metrics else "model-quality alarm"
        return f"Model quality on {alarm.endpoint_name}: {quality}"
    features = enrichment.drifted_features
    drift = f"{len(features)} feature{'s' if len(features) != 1 else ''} drifted" if features else "drift alarm"
    return f"Drift on {alarm.endpoint_name}: {drift}"


def _next_steps(
    model: MonitoredEndpoint, decision: RetrainingDecision, *, problem: str, cause: str, no_drift: str
) -> list[str]:
    """What happens next, for `problem` ("drift", ...) found by an alarm or a run (`cause`); `no_drift`: why
    retraining would not help, when the decision says so."""
    review = (
        "The new model package then waits for manual approval; the approval gate and the deploy pipeline"
        " take it to staging and, after another approval, to production as the "
        + ("champion (a batch transform runs one model)." if model.is_batch else "challenger.")
    )
    match decision.retraining:
        case Retraining.REQUESTED:
            again = (
                f" (this {cause} had already requested it; nothing was requested again)" if decision.replayed else ""
            )
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
                f" for {decision.claimed_by or 'an unknown alarm'}; the {model.retrain_cooldown_hours} h cool-down of"
                f" {model.model_name} lasts until {decision.cooldown_until}.",
                f"Check the model package that retraining produces against this {problem} before approving it.",
            ]
        case Retraining.DISABLED:
            return [
                f"Automatic retraining is off for {model.model_name}. Investigate the {problem}; if the"
                " model needs retraining, start its build pipeline."
            ]
        case Retraining.SKIPPED_NO_DRIFT:
            return [no_drift]
        case _:
            return [
                f"Retraining could NOT be requested: {decision.error}. Start the build pipeline of"
                f" {model.model_name} by hand once the cause is fixed."
            ]


def _alarm_next_steps(alarm: DriftAlarm, enrichment: Enrichment, decision: RetrainingDecision) -> list[str]:
    no_drift = (
        "Retraining not requested: neither the alarm nor the report shows a model-quality metric worse"
        " than its threshold (a failed monitoring execution, or no ground truth for the period). Fix the"
        " monitoring or the ground-truth labels."
        if enrichment.model_quality
        else "Retraining not requested: neither the alarm nor the report shows baseline drift (a failed"
        " monitoring execution or a data-quality violation). Fix the monitoring or the incoming data."
    )
    return _next_steps(alarm.endpoint, decision, problem=_problem(enrichment), cause="alarm", no_drift=no_drift)


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
    listed = [f"    - {_violation_text(v)}" for v in violations[:MAX_LISTED_VIOLATIONS]]
    more = len(violations) - MAX_LISTED_VIOLATIONS
    return [f"  {title}:", *listed, *([f"    ... and {more} more in the report"] if more > 0 else [])]


def _violation_text(violation: Violation) -> str:
    return f"{violation.subject} ({violation.constraint_check_type}): {violation.description or 'no description'}"
