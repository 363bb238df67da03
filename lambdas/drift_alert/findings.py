"""What the alert says beyond the alarm itself (reads only, best effort).

The model packages behind the endpoint's variants and their weights (for a batch transform, the
champion package of its serving stack); the latest execution of the monitoring schedule the alarm
watches and the violations in its constraint_violations.json; the features (data quality) or metrics
(model quality) the alarm's own metrics watch, which Model Monitor publishes in the endpoint
namespaces or, for a batch transform, in the batch ones. What cannot be read for a reason other than a
transient one (no execution yet, report missing, endpoint or stack gone) is noted in the findings
instead of failing the alert; a transient error raises `RetryableError`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlparse

from botocore.exceptions import ClientError
from pydantic import ValidationError

from lambdas.common.aws import Unavailable, error_code, lookup
from lambdas.common.contracts import (
    BATCH_DATA_METRICS_NAMESPACE,
    BATCH_MODEL_METRICS_NAMESPACE,
    COMPLETED_WITH_VIOLATIONS,
    DATA_METRICS_NAMESPACE,
    DATA_QUALITY,
    FEATURE_DRIFT_METRIC_PREFIX,
    MODEL_METRICS_NAMESPACE,
    MODEL_QUALITY,
    VIOLATIONS_REPORT_NAME,
    monitoring_schedule_name,
)
from lambdas.common.endpoints import ServingVariant, batch_champion, serving_variants
from lambdas.drift_alert.models import DriftAlarm, Enrichment, MonitoringFindings, Trigger, Violation
from lambdas.drift_alert.timestamps import iso_utc

# Executions that wrote (or would have written) a violations report.
COMPLETED_STATUSES = frozenset({"Completed", COMPLETED_WITH_VIOLATIONS})
# A violations report is a few kilobytes per feature; refuse to load anything far larger.
MAX_REPORT_BYTES = 5 * 1024 * 1024
# Where Model Monitor publishes an endpoint's metrics and a batch transform's.
DATA_METRICS_NAMESPACES = frozenset({DATA_METRICS_NAMESPACE, BATCH_DATA_METRICS_NAMESPACE})
MODEL_METRICS_NAMESPACES = frozenset({MODEL_METRICS_NAMESPACE, BATCH_MODEL_METRICS_NAMESPACE})


def enrich(alarm: DriftAlarm, *, sagemaker: Any, s3: Any, cloudformation: Any) -> Enrichment:
    variants, endpoint_notes = what_serves(alarm, sagemaker=sagemaker, cloudformation=cloudformation)
    kind, schedule = monitoring_schedule(alarm)
    return Enrichment(
        variants=variants,
        endpoint_notes=endpoint_notes,
        monitoring=latest_findings(sagemaker, s3, schedule_name=schedule, kind=kind),
        alarm_features=alarm_drift_features(alarm),
        alarm_metrics=alarm_quality_metrics(alarm),
    )


def what_serves(alarm: Trigger, *, sagemaker: Any, cloudformation: Any) -> tuple[list[ServingVariant], list[str]]:
    """The endpoint's variants, or a batch transform's champion (its serving stack's parameter), and
    what could not be read."""
    if alarm.endpoint.is_batch:
        champion, notes = batch_champion(cloudformation, alarm.endpoint_name)
        return ([champion] if champion else []), notes
    return serving_variants(sagemaker, alarm.endpoint_name)


def monitoring_schedule(alarm: DriftAlarm) -> tuple[str, str]:
    """The kind and name of the endpoint's schedule the alarm watches: its metric's MonitoringSchedule
    dimension when that is one of the endpoint's two schedules, else the schedule of the alarm's kind."""
    endpoint = alarm.endpoint_name
    own = {monitoring_schedule_name(endpoint, kind): kind for kind in (DATA_QUALITY, MODEL_QUALITY)}
    for metric in alarm.change.metrics:
        schedule = metric.dimensions.get("MonitoringSchedule")
        if schedule in own:
            return own[schedule], schedule
    return alarm.kind, monitoring_schedule_name(endpoint, alarm.kind)


def alarm_drift_features(alarm: DriftAlarm) -> list[str]:
    """Features whose Model Monitor drift metric (feature_baseline_drift_<feature>) the alarm watches."""
    return sorted(
        {
            metric.name.removeprefix(FEATURE_DRIFT_METRIC_PREFIX)
            for metric in alarm.change.metrics
            if metric.namespace in DATA_METRICS_NAMESPACES
            and metric.name
            and metric.name.startswith(FEATURE_DRIFT_METRIC_PREFIX)
            and len(metric.name) > len(FEATURE_DRIFT_METRIC_PREFIX)
        }
    )


def alarm_quality_metrics(alarm: DriftAlarm) -> list[str]:
    """Model Monitor model-quality metrics (auc, rmse, ...) the alarm watches."""
    return sorted(
        {metric.name for metric in alarm.change.metrics if metric.namespace in MODEL_METRICS_NAMESPACES and metric.name}
    )


def latest_findings(sagemaker: Any, s3: Any, *, schedule_name: str, kind: str) -> MonitoringFindings:
    """The latest execution of the schedule and the violations its report lists, as far as readable."""
    findings = MonitoringFindings(kind=kind, schedule_name=schedule_name)
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
            "scheduled_time": iso_utc(scheduled) if isinstance(scheduled, datetime) else None,
            "failure_reason": latest.get("FailureReason"),
        }
    )
    if status not in COMPLETED_STATUSES:
        return findings.model_copy(update={"notes": [f"the latest execution is {status}: it has no violations report"]})
    job_arn = latest.get("ProcessingJobArn")
    if not job_arn:
        return findings.model_copy(update={"notes": ["the latest execution names no processing job"]})
    try:
        report_uri = violations_report_uri(sagemaker, job_arn.rsplit("/", 1)[-1])
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


def violations_report_uri(sagemaker: Any, job_name: str) -> str:
    """Where the monitoring job wrote constraint_violations.json: its (first) S3 output."""
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


def _split_s3_uri(uri: str) -> tuple[str, str]:
    location = urlparse(uri)
    bucket, key = location.netloc, location.path.lstrip("/")
    if location.scheme != "s3" or not bucket or not key:
        raise Unavailable(f"{uri!r} is not an s3:// object URI")
    return bucket, key
