"""Approval gate logic: from a model package approval to a started deploy pipeline.

Plain functions that take their AWS clients as arguments; the handler only wires them.

Flow of one event (`process`):
1. `screen` (no AWS calls): parse the event, drop statuses that need no action and the Rejected
   event caused by the gate's own rejection.
2. `identify` (one SSM read, remembered for a minute: `registry`): find the model that registered the
   package's group. A group no model registered is not the platform's: ignored (logged and counted,
   no alert, no retry). A registration the gate cannot read as a model is alerted.
3. `evaluate` (reads only): for an approval, leave a package that production already serves alone
   (an endpoint variant with traffic; for a batch model, its serving stack's champion), else describe
   the package and read its evaluation metric from `ModelMetrics.ModelQuality.Statistics.S3Uri`.
4. `act` (the side effects, made idempotent by the handler): start the deploy pipeline, or set the
   package back to Rejected and alert, or notify a rejection; then emit one audit event.

Contract with the deploy pipeline
---------------------------------
For an Approved package whose metric is at least as good as its model's threshold (>= it when higher
is better, <= it when lower is better) the gate calls::

    codepipeline.start_pipeline_execution(
        name=<deploy_pipeline_name in the registration of the package's group>,
        variables=[{"name": "ModelPackageArn", "value": <the approved model package ARN>}],
        clientRequestToken=<SHA-256 hex digest of "<that ARN>|<the approval's LastModifiedTime>">,
    )

The deploy pipeline (CodePipeline V2) declares a pipeline-level variable `ModelPackageArn` and deploys
exactly that package. The token is derived from the approval (ARN and the time it was set) so that a
retried start of the same approval is recognised by CodePipeline as the same request rather than
starting a second execution, while a later approval of the same package deploys again.

Errors: an event or package that cannot be acted on becomes `Outcome(result=INVALID)` (logged,
counted, alerted where an approver would otherwise wait for a deployment) and the invocation ends
normally. Any other AWS failure raises `RetryableError`, so EventBridge retries the event and, after
its retry policy, sends it to the DLQ.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from pydantic import ValidationError

from lambdas.approval_gate.models import (
    GATE_REJECTION_PREFIX,
    REJECTED,
    AuditRecord,
    GateSettings,
    MetricCheck,
    ModelGate,
    ModelPackageStateChange,
    ModelPackageStateChangeEvent,
    Outcome,
    Result,
    Verdict,
)
from lambdas.approval_gate.registry import InvalidRegistration, ModelRegistry
from lambdas.common.aws import aws_call, emit_audit_event, error_code, is_transient, publish_alert
from lambdas.common.contracts import (
    APPROVAL_GATE_DETAIL_TYPE,
    APPROVAL_GATE_SOURCE,
    APPROVED,
    DEPLOY_PIPELINE_VARIABLE,
    threshold_words,
)
from lambdas.common.endpoints import ServingVariant, batch_champion, serving_variants
from lambdas.common.settings import summarize

# A model-metrics file is a few kilobytes; refuse to load anything far larger into memory.
MAX_METRICS_BYTES = 1024 * 1024

# What DescribeModelPackage answers for a package that was deleted (or never existed).
PACKAGE_GONE_ERROR_CODES = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})


class InvalidPackage(Exception):
    """The approved package cannot be evaluated; the message says why."""


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the gate calls (created once per execution environment by the handler)."""

    sagemaker: Any
    s3: Any
    sns: Any
    events: Any
    codepipeline: Any
    cloudformation: Any


def process(
    raw_event: object,
    *,
    settings: GateSettings,
    clients: AwsClients,
    registry: ModelRegistry,
    perform: Callable[..., Outcome] | None = None,
) -> Outcome:
    """Screen, identify, evaluate and act on one EventBridge event.

    `perform` replaces `act`: the handler passes `act` wrapped in Powertools idempotency.
    """
    change = screen(raw_event)
    if isinstance(change, Outcome):
        return change
    identified = identify(change, registry=registry, sns=clients.sns, alert_topic_arn=settings.alert_topic_arn)
    if isinstance(identified, Outcome):
        return identified
    verdict = evaluate(identified, clients=clients, alert_topic_arn=settings.alert_topic_arn)
    if isinstance(verdict, Outcome):
        return verdict
    return (perform or act)(verdict=verdict, clients=clients, settings=settings)


def screen(raw_event: object) -> Outcome | ModelPackageStateChange:
    """Decide without any AWS call whether the event needs action."""
    try:
        change = ModelPackageStateChangeEvent.model_validate(raw_event).detail
    except ValidationError as exc:
        return Outcome(result=Result.INVALID, reason=f"not a model package state change event: {summarize(exc)}")

    status = change.model_approval_status
    if status not in (APPROVED, REJECTED):
        return Outcome(result=Result.IGNORED, reason=f"approval status {status!r} needs no action")
    if status == REJECTED and (change.approval_description or "").startswith(GATE_REJECTION_PREFIX):
        return Outcome(result=Result.IGNORED, reason="the gate's own rejection, already alerted and audited")
    return change


def identify(
    change: ModelPackageStateChange, *, registry: ModelRegistry, sns: Any, alert_topic_arn: str
) -> Outcome | Verdict:
    """The model that registered the package's group; a group no model registered is ignored, and an
    unreadable registration alerted (whoever approved or rejected waits for something to happen)."""
    group = change.model_package_group_name
    try:
        model = registry.model_of(group)
    except InvalidRegistration as exc:
        reason = f"the registration of model package group {group!r} is invalid: {exc}"
        publish_alert(
            sns,
            topic_arn=alert_topic_arn,
            subject=f"Invalid model registration: {group} v{change.model_package_version}",
            message=(
                f"{change.model_package_arn} was {change.model_approval_status} by {change.changed_by}; the"
                f" approval gate did not act on it: {reason}. The model's deploy stack writes the registration."
            ),
        )
        return Outcome(result=Result.INVALID, reason=reason)
    if model is None:
        return Outcome(
            result=Result.IGNORED,
            reason=(
                f"model package group {group!r} is not the platform's: no model registered it"
                f" ({registry.parameter_name(group)} does not exist)"
            ),
            unregistered_group=group,
        )
    return Verdict(change=change, model=model)


def evaluate(verdict: Verdict, *, clients: AwsClients, alert_topic_arn: str) -> Outcome | Verdict:
    """For an approval, read the package's metric; a package that cannot be evaluated is alerted.
    For a rejection, read whether production still serves the package (its alert says so)."""
    change, model = verdict.change, verdict.model
    serving = serving_in_production(clients, model, change.model_package_arn)
    if change.model_approval_status == REJECTED:
        return verdict.model_copy(update={"serving": serving})
    if serving is not None:
        return Outcome(
            result=Result.ALREADY_SERVING,
            reason=f"already serving in production: {where_served(model, serving)}; nothing to deploy",
        )
    try:
        package = describe_package(clients.sagemaker, change.model_package_arn)
        value = read_metric(clients.s3, package, model.metric_name)
    except InvalidPackage as exc:
        reason = f"approved package cannot be evaluated: {exc}"
        publish_alert(
            clients.sns,
            topic_arn=alert_topic_arn,
            subject=f"Approval not deployed: {change.model_package_group_name} v{change.model_package_version}",
            message=f"{change.model_package_arn} (approved by {change.changed_by}) was not deployed: {reason}.",
        )
        return Outcome(result=Result.INVALID, reason=reason)

    metric = MetricCheck(
        name=model.metric_name, value=value, threshold=model.threshold, direction=model.metric_direction
    )
    current_status = package.get("ModelApprovalStatus")
    # Only deploying needs the approval to still stand; a rejection short of the threshold is safe to repeat,
    # which is what a retry after a partial rejection does.
    if metric.passed and current_status != APPROVED:
        return Outcome(result=Result.IGNORED, reason=f"stale event: the package is now {current_status}")
    return verdict.model_copy(update={"metric": metric})


def act(*, verdict: Verdict, clients: AwsClients, settings: GateSettings) -> Outcome:
    """The side effects of a verdict, each ending with one audit event."""
    if verdict.change.model_approval_status == REJECTED:
        return _note_rejection(verdict, clients=clients, settings=settings)
    if verdict.metric is None:
        raise ValueError("an approval is acted on only once evaluate() has read its metric")
    if verdict.metric.passed:
        return _start_deploy(verdict, verdict.metric, clients=clients, settings=settings)
    return _reject_below_threshold(verdict, verdict.metric, clients=clients, settings=settings)


def serving_in_production(clients: AwsClients, model: ModelGate, model_package_arn: str) -> ServingVariant | None:
    """Where production serves the package, if it does: the endpoint variant serving it with some
    traffic, or, for a batch model, its serving stack's champion (a batch transform has no variants).

    A serving package's later updates (its ModelLifeCycle stage, for one, is announced with the same
    "Model Package State Change" event) arrive as approvals again, and SageMaker may send several
    events per change: none of them deploys the package again. Only an endpoint or stack that does not
    exist (the first deployment) serves nothing; any other failure to read it is retried
    (`RetryableError`): an unreadable production taken for an empty one would redeploy a serving package.
    """
    name = model.production_serving_name
    if model.is_batch:
        champion, _ = batch_champion(clients.cloudformation, name, strict=True)
        return champion if champion is not None and champion.model_package_arn == model_package_arn else None
    variants, _ = serving_variants(clients.sagemaker, name, strict=True)
    return next((v for v in variants if v.model_package_arn == model_package_arn and (v.weight or 0) > 0), None)


def where_served(model: ModelGate, serving: ServingVariant) -> str:
    """Where production serves a package, in words."""
    if model.is_batch:
        return f"batch transform {model.production_serving_name}, as the champion of its serving stack"
    return f"{model.production_serving_name} variant {serving.variant_name} ({serving.traffic_percent:g} % of traffic)"


def describe_package(sagemaker: Any, model_package_arn: str) -> dict[str, Any]:
    def gone(exc: ClientError) -> str | None:
        return "the model package no longer exists" if error_code(exc) in PACKAGE_GONE_ERROR_CODES else None

    with aws_call("describe the model package", translate=_invalid_package_when(gone)):
        package: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    return package


def read_metric(s3: Any, package: Mapping[str, Any], metric_name: str) -> float:
    """The value of `metric_name` in the package's model-quality statistics file."""
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        raise InvalidPackage("it has no ModelMetrics.ModelQuality.Statistics.S3Uri")
    location = urlparse(uri)
    bucket, key = location.netloc, location.path.lstrip("/")
    if location.scheme != "s3" or not bucket or not key:
        raise InvalidPackage(f"its metrics location {uri!r} is not an s3:// object URI")

    def unreadable(exc: ClientError) -> str | None:
        return None if is_transient(exc) else f"its metrics file {uri} cannot be read ({error_code(exc)})"

    with aws_call(f"read {uri}", translate=_invalid_package_when(unreadable)):
        content = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_METRICS_BYTES + 1)
    if len(content) > MAX_METRICS_BYTES:
        raise InvalidPackage(f"its metrics file {uri} is larger than {MAX_METRICS_BYTES} bytes")
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise InvalidPackage(f"its metrics file {uri} is not valid JSON ({type(exc).__name__})") from exc
    return find_metric(document, metric_name)


def find_metric(document: object, metric_name: str) -> float:
    """Look `metric_name` up in every `*_metrics` section of a SageMaker model-metrics document.

    `{"binary_classification_metrics": {"auc": {"value": 0.91, "standard_deviation": "NaN"}}}` -> 0.91
    """
    if not isinstance(document, dict):
        raise InvalidPackage("its metrics file is not a JSON object")
    values = {
        _finite_number(section[metric_name], metric_name)
        for section_name, section in document.items()
        if section_name.endswith("_metrics") and isinstance(section, dict) and metric_name in section
    }
    if not values:
        raise InvalidPackage(f"metric {metric_name!r} is in no *_metrics section of its metrics file")
    if len(values) > 1:
        raise InvalidPackage(f"metric {metric_name!r} has conflicting values {sorted(values)}")
    return values.pop()


def deploy_request_token(change: ModelPackageStateChange) -> str:
    """StartPipelineExecution's clientRequestToken for one approval: the same for every retry of it,
    another for a later approval of the same package (a new LastModifiedTime)."""
    return hashlib.sha256(f"{change.model_package_arn}|{change.last_modified_time}".encode()).hexdigest()


def _start_deploy(verdict: Verdict, metric: MetricCheck, *, clients: AwsClients, settings: GateSettings) -> Outcome:
    change, pipeline = verdict.change, verdict.model.deploy_pipeline_name
    with aws_call(f"start the deploy pipeline {pipeline}"):
        execution = clients.codepipeline.start_pipeline_execution(
            name=pipeline,
            variables=[{"name": DEPLOY_PIPELINE_VARIABLE, "value": change.model_package_arn}],
            clientRequestToken=deploy_request_token(change),
        )
    audit = _audit_record(Result.DEPLOY_STARTED, verdict, pipeline_execution_id=execution["pipelineExecutionId"])
    _emit_audit_event(clients.events, settings.audit_event_bus_name, audit)
    passing, _ = threshold_words(metric.direction)
    return Outcome(
        result=Result.DEPLOY_STARTED,
        reason=(
            f"{metric.name} {metric.value} {passing} {metric.threshold}:"
            f" started {pipeline} ({audit.pipeline_execution_id})"
        ),
        audit=audit,
    )


def _reject_below_threshold(
    verdict: Verdict, metric: MetricCheck, *, clients: AwsClients, settings: GateSettings
) -> Outcome:
    """Short of the threshold in the metric's direction: below it (auc), or above it (rmse)."""
    change = verdict.change
    _, failing = threshold_words(metric.direction)
    reason = (
        f"{GATE_REJECTION_PREFIX} {metric.name} {metric.value} is {failing} the threshold {metric.threshold}"
        f" of model {verdict.model.model_name}"
    )
    with aws_call("set the package back to Rejected"):
        clients.sagemaker.update_model_package(
            ModelPackageArn=change.model_package_arn,
            ModelApprovalStatus=REJECTED,
            ApprovalDescription=reason[:1024],
        )
    publish_alert(
        clients.sns,
        topic_arn=settings.alert_topic_arn,
        subject=f"Rejected {failing} threshold: {change.model_package_group_name} v{change.model_package_version}",
        message=f"{change.model_package_arn} was approved by {change.changed_by} but not deployed. {reason}.",
    )
    audit = _audit_record(Result.REJECTED_BELOW_THRESHOLD, verdict)
    _emit_audit_event(clients.events, settings.audit_event_bus_name, audit)
    return Outcome(result=Result.REJECTED_BELOW_THRESHOLD, reason=reason, audit=audit)


def _note_rejection(verdict: Verdict, *, clients: AwsClients, settings: GateSettings) -> Outcome:
    change = verdict.change
    reason = f"rejected by {change.changed_by}: {change.approval_description or 'no reason given'}"
    message = f"{change.model_package_arn} was {reason}."
    if verdict.serving is not None:
        # A rejection stops future deployments only: what production serves stays until someone acts.
        message += (
            f" It still serves production: {where_served(verdict.model, verdict.serving)}. To take it out, roll"
            f" production back to another approved package: make rollback MODEL={verdict.model.model_name}"
            " PACKAGE=<model package ARN> (docs/runbook-rollback.md)."
        )
    publish_alert(
        clients.sns,
        topic_arn=settings.alert_topic_arn,
        subject=f"Model package rejected: {change.model_package_group_name} v{change.model_package_version}",
        message=message,
    )
    audit = _audit_record(Result.REJECTION_NOTED, verdict)
    _emit_audit_event(clients.events, settings.audit_event_bus_name, audit)
    return Outcome(result=Result.REJECTION_NOTED, reason=reason, audit=audit)


def _audit_record(decision: Result, verdict: Verdict, *, pipeline_execution_id: str | None = None) -> AuditRecord:
    change, model, metric = verdict.change, verdict.model, verdict.metric
    return AuditRecord(
        decision=decision,
        changed_by=change.changed_by,
        model_package_arn=change.model_package_arn,
        model_package_group_name=change.model_package_group_name,
        model_package_version=change.model_package_version,
        model_name=model.model_name,
        metric_name=metric.name if metric else None,
        metric_value=metric.value if metric else None,
        threshold=metric.threshold if metric else None,
        metric_direction=metric.direction if metric else None,
        deploy_pipeline_name=model.deploy_pipeline_name if pipeline_execution_id else None,
        pipeline_execution_id=pipeline_execution_id,
    )


def _emit_audit_event(events: Any, event_bus_name: str, audit: AuditRecord) -> None:
    emit_audit_event(
        events,
        event_bus_name=event_bus_name,
        source=APPROVAL_GATE_SOURCE,
        detail_type=APPROVAL_GATE_DETAIL_TYPE,
        record=audit,
        resources=[audit.model_package_arn],
    )


def _invalid_package_when(explain: Callable[[ClientError], str | None]) -> Callable[[ClientError], Exception | None]:
    """An `aws_call` translation: the errors `explain` gives a reason for make the package invalid."""

    def translate(exc: ClientError) -> Exception | None:
        reason = explain(exc)
        return InvalidPackage(reason) if reason else None

    return translate


def _finite_number(entry: object, metric_name: str) -> float:
    value = entry.get("value") if isinstance(entry, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer beyond float range
            number = math.inf
        if math.isfinite(number):
            return number
    raise InvalidPackage(f"metric {metric_name!r} has no finite numeric value (got {entry!r:.100})")
