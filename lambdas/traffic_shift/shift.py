"""Traffic shift logic: from the variants' metrics to new weights on the production endpoint.

Plain functions that take their AWS clients as arguments; the handler only wires them.

One scheduled run (`run`):
1. `read_endpoint`: DescribeEndpoint. A missing endpoint, one that is not InService, one without
   exactly the variants `champion` and `challenger`, or one where either has weight 0 (a concluded
   experiment: promoted or rolled back) is a logged no-op (`SKIPPED`).
2. `evidence_window`: from the later of now - LOOKBACK_HOURS and the endpoint's LastModifiedTime to
   now. A weight change moves LastModifiedTime, so each window has constant traffic shares (README,
   "Known limits", on what else may move it).
3. `read_evidence`: one GetMetricData call: per variant Invocations (Sum), Invocation5XXErrors (Sum),
   ModelLatency (p99) and the business success metric (Sum), each over the whole window as a single
   period. A variant without invocations or without business-metric datapoints is a no-op.
4. `decide` (no AWS calls): the sequential test of `sequential_test.assess`, in the business metric's
   direction (BUSINESS_METRIC_DIRECTION: a higher rate is better, or a lower one), and the shift
   policy: rollback on harm; promotion only at the traffic cap and while the window still starts at
   the endpoint's last modification; otherwise one step up to the cap, or hold.
5. `apply`: UpdateEndpointWeightsAndCapacities (only when the weights change), then the audit event,
   then, for a promotion or a rollback, the alert.

Errors: any AWS failure raises `RetryableError` (the scheduled rule's retry or the next hour runs
again). Decisions are idempotent: promote and rollback set absolute weights, and after any change the
endpoint is Updating (skipped) and then starts a new evidence window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lambdas.common.aws import RetryableError, aws_call, emit_audit_event, publish_alert
from lambdas.common.contracts import (
    CHALLENGER_VARIANT,
    CHAMPION_VARIANT,
    HIGHER_IS_BETTER,
    TRAFFIC_SHIFT_DETAIL_TYPE,
    TRAFFIC_SHIFT_SOURCE,
    VARIANTS,
)
from lambdas.common.serving_state import endpoint_missing, variant_weights
from lambdas.traffic_shift.models import (
    AuditRecord,
    Decision,
    DecisionTests,
    Outcome,
    SequentialTestResult,
    ShiftSettings,
    VariantEvidence,
    Weights,
)
from lambdas.traffic_shift.sequential_test import (
    Assessment,
    Direction,
    SequentialTest,
    VariantSample,
    Verdict,
    assess,
)

IN_SERVICE = "InService"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# Every window is queried as one period; a multiple of an hour is valid at any age of the data.
PERIOD_UNIT_SECONDS = 3600
# GetMetricData answers that no retry would change; anything else incomplete is read on (NextToken).
FAILED_QUERY_STATUSES = frozenset({"InternalError", "Forbidden"})
# Shares are compared and set at this precision, so that re-applying a decision sets the same weights.
SHARE_DIGITS = 6
MAX_TRIGGER_FIELD_CHARS = 200
# The decisions that also alert a person, and how the alert words them.
ALERTED = {Decision.PROMOTE: "promoted", Decision.ROLLBACK: "rolled back"}


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the traffic shift calls (the handler's: each created at its first use, then reused)."""

    sagemaker: Any
    cloudwatch: Any
    events: Any
    sns: Any


@dataclass(frozen=True)
class Endpoint:
    """The production endpoint as DescribeEndpoint shows it, reduced to what the decision needs."""

    name: str
    arn: str
    last_modified: datetime
    shares: Weights  # CurrentWeight of each variant, as a fraction of their sum


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    # True while the window starts at the endpoint's last modification, False once the lookback cuts
    # it: then it slides with every run, and its looks are no longer one growing sequence.
    anchored: bool

    @property
    def period_seconds(self) -> int:
        seconds = (self.end - self.start).total_seconds()
        return max(1, math.ceil(seconds / PERIOD_UNIT_SECONDS)) * PERIOD_UNIT_SECONDS


@dataclass(frozen=True)
class Plan:
    """A decision before it is applied: `apply` turns it into side effects and the audit record."""

    decision: Decision
    reason: str
    old: Weights
    new: Weights
    assessment: Assessment


def run(*, settings: ShiftSettings, clients: AwsClients, now: datetime) -> Outcome:
    """One scheduled run: read the endpoint and its evidence, decide, apply."""
    endpoint = read_endpoint(clients.sagemaker, settings.endpoint_name)
    if isinstance(endpoint, Outcome):
        return endpoint
    window = evidence_window(endpoint.last_modified, now, settings.lookback_hours)
    if window.end <= window.start:
        return _skipped(f"the endpoint was modified at {endpoint.last_modified.isoformat()}: no evidence yet")
    evidence = read_evidence(clients.cloudwatch, settings, window)
    if isinstance(evidence, Outcome):
        return evidence
    plan = decide(endpoint, evidence, window, settings)
    return apply(plan, endpoint=endpoint, evidence=evidence, window=window, settings=settings, clients=clients)


def read_endpoint(sagemaker: Any, endpoint_name: str) -> Endpoint | Outcome:
    """The endpoint, or a SKIPPED outcome saying why there is no experiment to decide on."""
    try:
        with aws_call(f"describe the endpoint {endpoint_name}"):
            described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except RetryableError as exc:
        if endpoint_missing(exc.__cause__):
            return _skipped(f"endpoint {endpoint_name} does not exist (not deployed yet?)", needs_attention=True)
        raise

    status = described.get("EndpointStatus")
    if status != IN_SERVICE:
        return _skipped(f"endpoint {endpoint_name} is {status}, not {IN_SERVICE}")
    weights = variant_weights(described)
    if set(weights) != set(VARIANTS):
        return _skipped(f"endpoint {endpoint_name} serves {sorted(map(str, weights))}, not a champion and a challenger")
    if not all(isinstance(weight, int | float) and weight >= 0 for weight in weights.values()):
        return _skipped(f"endpoint {endpoint_name} reports no usable CurrentWeight: {weights}", needs_attention=True)
    if weights[CHALLENGER_VARIANT] == 0:
        return _skipped(f"the challenger of {endpoint_name} has weight 0 (rolled back, or not started)")
    if weights[CHAMPION_VARIANT] == 0:
        return _skipped(f"the challenger of {endpoint_name} serves all traffic (promoted)")
    total = weights[CHAMPION_VARIANT] + weights[CHALLENGER_VARIANT]
    return Endpoint(
        name=endpoint_name,
        arn=described["EndpointArn"],
        last_modified=described["LastModifiedTime"],
        shares=Weights(
            champion=round(weights[CHAMPION_VARIANT] / total, SHARE_DIGITS),
            challenger=round(weights[CHALLENGER_VARIANT] / total, SHARE_DIGITS),
        ),
    )


def evidence_window(last_modified: datetime, now: datetime, lookback_hours: int) -> Window:
    """From the later of now - lookback and the last modification, in whole minutes inside that span.

    The start is rounded up (CloudWatch would round it down, into the time before the change) and
    the end down; an empty window (end <= start) means no evidence yet.
    """
    earliest = now - timedelta(hours=lookback_hours)
    return Window(
        start=_ceil_to_minute(max(earliest, last_modified)),
        end=now.replace(second=0, microsecond=0),
        anchored=last_modified >= earliest,
    )


def metric_queries(settings: ShiftSettings, window: Window) -> list[dict[str, Any]]:
    """Per variant: Invocations, Invocation5XXErrors, ModelLatency p99, and the business successes."""
    queries = []
    for variant in VARIANTS:
        dimensions = [
            {"Name": "EndpointName", "Value": settings.endpoint_name},
            {"Name": "VariantName", "Value": variant},
        ]
        for key, namespace, metric_name, stat in (
            ("invocations", SAGEMAKER_NAMESPACE, "Invocations", "Sum"),
            ("errors", SAGEMAKER_NAMESPACE, "Invocation5XXErrors", "Sum"),
            ("latency", SAGEMAKER_NAMESPACE, "ModelLatency", "p99"),
            ("successes", settings.business_metric_namespace, settings.business_metric_name, "Sum"),
        ):
            queries.append(
                {
                    "Id": f"{variant}_{key}",
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": metric_name, "Dimensions": dimensions},
                        "Period": window.period_seconds,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
            )
    return queries


def read_evidence(cloudwatch: Any, settings: ShiftSettings, window: Window) -> dict[str, VariantSample] | Outcome:
    """Each variant's counts over the window (one GetMetricData request), or SKIPPED without data."""
    values: dict[str, list[float]] = {}
    request: dict[str, Any] = {
        "MetricDataQueries": metric_queries(settings, window),
        "StartTime": window.start,
        "EndTime": window.end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        with aws_call("read the variants' metrics"):
            response = cloudwatch.get_metric_data(**request)
        for result in response.get("MetricDataResults", []):
            if result.get("StatusCode") in FAILED_QUERY_STATUSES:
                raise RetryableError(f"GetMetricData answered {result['StatusCode']} for {result.get('Id')}")
            values.setdefault(result["Id"], []).extend(result.get("Values", []))
        if not response.get("NextToken"):
            break
        request["NextToken"] = response["NextToken"]

    samples = {}
    business_metric = f"{settings.business_metric_namespace}/{settings.business_metric_name}"
    for variant in VARIANTS:
        invocations = round(sum(values.get(f"{variant}_invocations", [])))
        if invocations <= 0:
            return _skipped(f"no invocations of the {variant} since {window.start.isoformat()}")
        if not values.get(f"{variant}_successes"):
            return _skipped(
                f"no {business_metric} datapoints for the {variant} since {window.start.isoformat()}:"
                " is the business metric published with dimensions EndpointName and VariantName?",
                needs_attention=True,
            )
        successes = round(sum(values[f"{variant}_successes"]))
        errors = round(sum(values.get(f"{variant}_errors", [])))
        if not (0 <= successes <= invocations and 0 <= errors <= invocations):
            return _skipped(
                f"inconsistent metrics for the {variant}: {successes} successes ({business_metric}) and"
                f" {errors} 5xx errors for {invocations} invocations",
                needs_attention=True,
            )
        latencies = values.get(f"{variant}_latency")
        # One period spans the window, so there is one p99; should CloudWatch split it, take the worst.
        samples[variant] = VariantSample(
            invocations=invocations,
            errors_5xx=errors,
            successes=successes,
            p99_latency_us=max(latencies) if latencies else None,
        )
    return samples


def decide(endpoint: Endpoint, evidence: Mapping[str, VariantSample], window: Window, settings: ShiftSettings) -> Plan:
    """The decision for this look; no AWS calls.

    Promotion is tested only at the traffic cap (where the experiment waits for a decision, and its
    one sequential test runs) and only while the window is anchored at the endpoint's last
    modification: a sliding window would be a new test at every look, and its false-positive rate
    would grow with them. Harm is tested at every level.
    """
    old = endpoint.shares
    share = round(old.challenger * 100, SHARE_DIGITS - 2)
    cap = settings.max_challenger_percent
    at_cap = share >= cap
    assessment = assess(
        evidence[CHAMPION_VARIANT],
        evidence[CHALLENGER_VARIANT],
        settings.design,
        test_promotion=at_cap and window.anchored,
        direction=settings.business_metric_direction,
    )
    evidence_text = "; ".join(assessment.reasons)

    def plan(decision: Decision, reason: str, challenger_percent: float | None = None) -> Plan:
        """The plan of a decision; without `challenger_percent` the weights stay as they are."""
        if challenger_percent is None:
            return Plan(decision, reason, old, old, assessment)
        challenger = round(challenger_percent / 100, SHARE_DIGITS)
        new = Weights(champion=round(1 - challenger, SHARE_DIGITS), challenger=challenger)
        return Plan(decision, reason, old, new, assessment)

    if assessment.verdict is Verdict.INSUFFICIENT:
        return plan(Decision.HOLD, f"hold at {share:g} %: {evidence_text}")
    if assessment.verdict is Verdict.HARMFUL:
        return plan(Decision.ROLLBACK, f"roll back the challenger: {evidence_text}", 0)
    if assessment.verdict is Verdict.BETTER:
        return plan(Decision.PROMOTE, f"promote the challenger: {evidence_text}", 100)
    if not at_cap:
        target = min(share + settings.shift_step_percent, cap)
        return plan(Decision.INCREASE, f"shift the challenger {share:g} % -> {target:g} %: {evidence_text}", target)
    if not window.anchored:
        return plan(
            Decision.HOLD,
            f"hold at {share:g} %: no decision within {settings.lookback_hours} hours at this weight, and the"
            " evidence window now slides, so promotion is no longer tested (harm still is); a person decides"
            f" (promote, roll back or redeploy): {evidence_text}",
        )
    return plan(Decision.HOLD, f"hold at the {cap:g} % cap until a decision: {evidence_text}")


def apply(
    plan: Plan,
    *,
    endpoint: Endpoint,
    evidence: Mapping[str, VariantSample],
    window: Window,
    settings: ShiftSettings,
    clients: AwsClients,
) -> Outcome:
    """Set the weights (when they change), then audit, then alert a promotion or a rollback.

    The audit event follows the change it records: it never claims weights the endpoint does not
    have. Should it (or the alert) fail after the update, the invocation fails, its log line keeps
    the record, and the retry finds the endpoint Updating or concluded and does nothing more.
    """
    if plan.new != plan.old:
        with aws_call(f"update the weights of {endpoint.name}"):
            clients.sagemaker.update_endpoint_weights_and_capacities(
                EndpointName=endpoint.name,
                DesiredWeightsAndCapacities=[
                    {"VariantName": CHAMPION_VARIANT, "DesiredWeight": plan.new.champion},
                    {"VariantName": CHALLENGER_VARIANT, "DesiredWeight": plan.new.challenger},
                ],
            )
    audit = audit_record(plan, endpoint=endpoint, evidence=evidence, window=window, settings=settings)
    emit_audit_event(
        clients.events,
        event_bus_name=settings.audit_event_bus_name,
        source=TRAFFIC_SHIFT_SOURCE,
        detail_type=TRAFFIC_SHIFT_DETAIL_TYPE,
        record=audit,
        resources=[endpoint.arn],
    )
    if plan.decision in ALERTED:
        publish_alert(
            clients.sns, topic_arn=settings.alert_topic_arn, subject=alert_subject(audit), message=alert_message(audit)
        )
    return Outcome(decision=plan.decision, reason=plan.reason, audit=audit)


def audit_record(
    plan: Plan,
    *,
    endpoint: Endpoint,
    evidence: Mapping[str, VariantSample],
    window: Window,
    settings: ShiftSettings,
) -> AuditRecord:
    assessment = plan.assessment
    return AuditRecord(
        endpoint_name=endpoint.name,
        decision=plan.decision,
        reason=plan.reason,
        old_weights=plan.old,
        new_weights=plan.new,
        window_start=window.start,
        window_end=window.end,
        variants={variant: _variant_evidence(evidence[variant]) for variant in VARIANTS},
        tests=DecisionTests(
            alpha=settings.alpha,
            min_samples_per_variant=settings.min_samples_per_variant,
            promotion_tested=assessment.promotion_tested,
            business_metric_direction=assessment.direction,
            success_rate_higher=_test_result(assessment.rate_test(Direction.GREATER)),
            success_rate_lower=_test_result(assessment.rate_test(Direction.LESS)),
            error_rate_5xx_higher=_test_result(assessment.more_errors),
            p99_latency_ratio=assessment.latency_ratio,
            p99_latency_ratio_limit=settings.latency_ratio_limit,
        ),
    )


def alert_subject(audit: AuditRecord) -> str:
    return f"Challenger {ALERTED[audit.decision]} on {audit.endpoint_name}"


def alert_message(audit: AuditRecord) -> str:
    """A readable account of a promotion or a rollback: what changed, why, on which evidence, what next."""
    tests = audit.tests
    hours = (audit.window_end - audit.window_start).total_seconds() / 3600
    higher_is_better = tests.business_metric_direction == HIGHER_IS_BETTER
    rate = "success rate" if higher_is_better else "business metric rate"
    lines = [
        f"The traffic shift {ALERTED[audit.decision]} the challenger of {audit.endpoint_name}.",
        "",
        f"Weights: champion {audit.old_weights.champion:.0%} -> {audit.new_weights.champion:.0%},"
        f" challenger {audit.old_weights.challenger:.0%} -> {audit.new_weights.challenger:.0%}.",
        f"Why: {audit.reason}.",
        "",
        f"Evidence from {audit.window_start:%Y-%m-%d %H:%M} to {audit.window_end:%Y-%m-%d %H:%M} UTC ({hours:.1f} h):",
    ]
    for name, variant in audit.variants.items():
        latency = f"{variant.p99_latency_ms:.0f} ms" if variant.p99_latency_ms is not None else "n/a"
        lines.append(
            f"  {name:<10} {variant.invocations:>10,} invocations, {rate} {variant.success_rate:.2%},"
            f" 5xx rate {variant.error_rate_5xx:.2%}, p99 latency {latency}"
        )
    lines += [
        "",
        f"Sequential tests (mSPRT, always-valid p-values, alpha {tests.alpha:g};"
        f" a {'higher' if higher_is_better else 'lower'} {rate} is better):",
        f"  {rate} higher: p = {tests.success_rate_higher.p_value:.3g} (z = {tests.success_rate_higher.z:.2f})",
        f"  {rate} lower:  p = {tests.success_rate_lower.p_value:.3g} (z = {tests.success_rate_lower.z:.2f})",
        f"  5xx rate higher:     p = {tests.error_rate_5xx_higher.p_value:.3g} (z = {tests.error_rate_5xx_higher.z:.2f})",
        f"  p99 latency ratio:   {tests.p99_latency_ratio:.2f} (limit {tests.p99_latency_ratio_limit:g})"
        if tests.p99_latency_ratio is not None
        else "  p99 latency ratio:   n/a",
        "",
        "The variant at weight 0 keeps its instances until the next deployment replaces it; the deploy"
        " pipeline takes the variant with the larger weight as the champion.",
    ]
    return "\n".join(lines)


def describe_trigger(event: object) -> dict[str, Any]:
    """What the log line says about the invoking event: a few string fields, whatever was sent."""
    if not isinstance(event, dict):
        return {"type": type(event).__name__}
    return {
        key: value[:MAX_TRIGGER_FIELD_CHARS]
        for key in ("id", "source", "detail-type", "time")
        if isinstance(value := event.get(key), str)
    }


def _variant_evidence(sample: VariantSample) -> VariantEvidence:
    return VariantEvidence(
        invocations=sample.invocations,
        successes=sample.successes,
        success_rate=sample.success.rate,
        errors_5xx=sample.errors_5xx,
        error_rate_5xx=sample.errors.rate,
        p99_latency_ms=None if sample.p99_latency_us is None else sample.p99_latency_us / 1000,
    )


def _test_result(test: SequentialTest) -> SequentialTestResult:
    return SequentialTestResult(difference=test.difference, z=test.z, e_value=test.e_value, p_value=test.p_value)


def _skipped(reason: str, *, needs_attention: bool = False) -> Outcome:
    return Outcome(decision=Decision.SKIPPED, reason=reason, needs_attention=needs_attention)


def _ceil_to_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)
