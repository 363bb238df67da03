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
   the package, read its evaluation metric from `ModelMetrics.ModelQuality.Statistics.S3Uri`, and its
   governance (`governance`: a model card, and its post-training bias report against the platform's
   bounds, as the model's bias policy says); both reports as they were when the package was registered
   (`documents.RegisteredDocuments`), the decision naming those written again since.
4. `act` (the side effects, made idempotent by the handler): move the model card to Approved and start
   the deploy pipeline; or set the package back to Rejected with its card Archived and alert (metric
   short of the threshold, no card, bias outside the bounds where the model blocks on it); or notify a
   person's rejection, archiving the card; then emit one audit event. The package changes the gate
   makes come back as events, which `screen` recognises as the gate's own and ignores.

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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lambdas.approval_gate import governance
from lambdas.approval_gate.documents import InvalidPackage, RegisteredDocuments, describe_package
from lambdas.approval_gate.models import (
    GATE_REJECTION_PREFIX,
    REJECTED,
    AuditRecord,
    GateSettings,
    GovernanceCheck,
    MetricCheck,
    ModelGate,
    ModelPackageStateChange,
    ModelPackageStateChangeEvent,
    Outcome,
    Result,
    Verdict,
)
from lambdas.approval_gate.registry import InvalidRegistration, ModelRegistry
from lambdas.common.aws import aws_call, emit_audit_event, publish_alert
from lambdas.common.contracts import (
    APPROVAL_GATE_DETAIL_TYPE,
    APPROVAL_GATE_SOURCE,
    APPROVED,
    CARD_APPROVED,
    CARD_ARCHIVED,
    DEPLOY_PIPELINE_VARIABLE,
    threshold_words,
)
from lambdas.common.endpoints import ServingVariant, batch_champion, serving_variants
from lambdas.common.settings import summarize


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the gate calls (the handler's: each created at its first use, then reused)."""

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
    change = screen(raw_event, settings)
    if isinstance(change, Outcome):
        return change
    identified = identify(change, registry=registry, sns=clients.sns, alert_topic_arn=settings.alert_topic_arn)
    if isinstance(identified, Outcome):
        return identified
    verdict = evaluate(identified, clients=clients, alert_topic_arn=settings.alert_topic_arn)
    if isinstance(verdict, Outcome):
        return verdict
    return (perform or act)(verdict=verdict, clients=clients, settings=settings)


def screen(raw_event: object, settings: GateSettings) -> Outcome | ModelPackageStateChange:
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
    if settings.is_own_change(change):
        # Moving the model card (when it deploys, or archives a rejected package's card) changes the package
        # again: that change is the gate's own, and must not deploy or notify a second time.
        return Outcome(result=Result.IGNORED, reason="the gate's own model card update, already audited")
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
    """For an approval, read the package's metric, card and bias report; a package that cannot be
    evaluated is alerted. For a rejection, read whether production still serves the package (its alert
    says so) and whether it has a card to archive."""
    change, model = verdict.change, verdict.model
    serving = serving_in_production(clients, model, change.model_package_arn)
    if change.model_approval_status == REJECTED:
        return verdict.model_copy(update={"serving": serving, "governance": _card_of(clients.sagemaker, verdict)})
    if serving is not None:
        return Outcome(
            result=Result.ALREADY_SERVING,
            reason=f"already serving in production: {where_served(model, serving)}; nothing to deploy",
        )
    documents: RegisteredDocuments | None = None
    try:
        package = describe_package(clients.sagemaker, change.model_package_arn)
        documents = RegisteredDocuments(clients.s3, package)
        value = read_metric(documents, package, model.metric_name)
        checked = governance.check(documents, package, model)
    except InvalidPackage as exc:
        written_again = documents.written_again if documents is not None else []
        reason = f"approved package cannot be evaluated: {exc}{written_again_note(written_again)}"
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
    # Only deploying needs the approval to still stand; a rejection is safe to repeat, which is what a
    # retry after a partial rejection does.
    if metric.passed and checked.blocking_reason is None and current_status != APPROVED:
        return Outcome(result=Result.IGNORED, reason=f"stale event: the package is now {current_status}")
    return verdict.model_copy(
        update={"metric": metric, "governance": checked, "written_again": tuple(documents.written_again)}
    )


def _card_of(sagemaker: Any, verdict: Verdict) -> GovernanceCheck | None:
    """A rejected package's card (to archive); None when the package is gone."""
    try:
        package = describe_package(sagemaker, verdict.change.model_package_arn)
    except InvalidPackage:
        return None
    return GovernanceCheck(card_status=governance.card_status(package), bias_policy=verdict.model.bias_policy)


def act(*, verdict: Verdict, clients: AwsClients, settings: GateSettings) -> Outcome:
    """The side effects of a verdict, each ending with one audit event."""
    if verdict.change.model_approval_status == REJECTED:
        return _note_rejection(verdict, clients=clients, settings=settings)
    metric, checked = verdict.metric, verdict.governance
    if metric is None or checked is None:
        raise ValueError("an approval is acted on only once evaluate() has read its metric and governance")
    if not metric.passed:
        _, failing = threshold_words(metric.direction)
        return _reject(
            verdict,
            Result.REJECTED_BELOW_THRESHOLD,
            f"{metric.name} {metric.value} is {failing} the threshold {metric.threshold}"
            f" of model {verdict.model.model_name}",
            subject=f"Rejected {failing} threshold",
            clients=clients,
            settings=settings,
        )
    if (blocking := checked.blocking_reason) is not None:
        return _reject(
            verdict,
            Result.REJECTED_GOVERNANCE,
            f"{blocking} (model {verdict.model.model_name})",
            subject="Rejected on governance",
            clients=clients,
            settings=settings,
        )
    return _start_deploy(verdict, metric, checked, clients=clients, settings=settings)


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


def read_metric(documents: RegisteredDocuments, package: Mapping[str, Any], metric_name: str) -> float:
    """The value of `metric_name` in the package's model-quality statistics file, as registered."""
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        raise InvalidPackage("it has no ModelMetrics.ModelQuality.Statistics.S3Uri")
    return find_metric(documents.read_json(uri, "metrics file"), metric_name)


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


def written_again_note(uris: Sequence[str]) -> str:
    """What a decision says of the documents written again since the package was registered (none: "")."""
    if not uris:
        return ""
    return f"; written again since registration: the registered version was judged ({', '.join(uris)})"


def deploy_request_token(change: ModelPackageStateChange) -> str:
    """StartPipelineExecution's clientRequestToken for one approval: the same for every retry of it,
    another for a later approval of the same package (a new LastModifiedTime)."""
    return hashlib.sha256(f"{change.model_package_arn}|{change.last_modified_time}".encode()).hexdigest()


def _start_deploy(
    verdict: Verdict, metric: MetricCheck, checked: GovernanceCheck, *, clients: AwsClients, settings: GateSettings
) -> Outcome:
    change, pipeline = verdict.change, verdict.model.deploy_pipeline_name
    # The card first: no deployment starts for a package whose card cannot be approved (SageMaker does not
    # reopen an Archived card: the package was rejected before and must be registered again).
    if checked.card_status != CARD_APPROVED:
        try:
            governance.set_card_status(clients.sagemaker, change.model_package_arn, CARD_APPROVED)
        except governance.CardRefused as refused:
            why = f"{refused} (its card is {checked.card_status}: build the model again to register a new package)"
            return _reject(
                verdict,
                Result.REJECTED_GOVERNANCE,
                why,
                subject="Rejected on governance",
                clients=clients,
                settings=settings,
            )
    with aws_call(f"start the deploy pipeline {pipeline}"):
        execution = clients.codepipeline.start_pipeline_execution(
            name=pipeline,
            variables=[{"name": DEPLOY_PIPELINE_VARIABLE, "value": change.model_package_arn}],
            clientRequestToken=deploy_request_token(change),
        )
    execution_id = execution["pipelineExecutionId"]
    written_again = written_again_note(verdict.written_again)
    if written_again:
        # Only someone with the model's build access writes its pipeline outputs, and nothing should once the
        # package is registered: the deployment goes on (on what was registered), and a person looks.
        publish_alert(
            clients.sns,
            topic_arn=settings.alert_topic_arn,
            subject=f"Deployed, evidence changed: {change.model_package_group_name} v{change.model_package_version}",
            message=(
                f"{change.model_package_arn} (approved by {change.changed_by}) is deploying with {pipeline}"
                f" ({execution_id}) on its documents as registered{written_again}."
            ),
        )
    audit = _audit_record(Result.DEPLOY_STARTED, verdict, card_status=CARD_APPROVED, pipeline_execution_id=execution_id)
    _emit_audit_event(clients.events, settings.audit_event_bus_name, audit)
    passing, _ = threshold_words(metric.direction)
    bias = (
        f"; bias outside the bounds, reported: {'; '.join(checked.bias_violations)}" if checked.bias_violations else ""
    )
    return Outcome(
        result=Result.DEPLOY_STARTED,
        reason=(
            f"{metric.name} {metric.value} {passing} {metric.threshold}{bias}:"
            f" started {pipeline} ({execution_id}){written_again}"
        ),
        audit=audit,
    )


def _reject(
    verdict: Verdict, decision: Result, why: str, *, subject: str, clients: AwsClients, settings: GateSettings
) -> Outcome:
    """Set the approved package back to Rejected (its card, if any, to Archived, in the same call), alert
    and audit: the metric fell short of the threshold in its direction, or its governance does."""
    change, checked = verdict.change, verdict.governance
    reason = f"{GATE_REJECTION_PREFIX} {why}{written_again_note(verdict.written_again)}"
    card_status = checked.card_status if checked is not None else None
    archive = card_status is not None and card_status != CARD_ARCHIVED
    with aws_call("set the package back to Rejected"):
        clients.sagemaker.update_model_package(
            ModelPackageArn=change.model_package_arn,
            ModelApprovalStatus=REJECTED,
            ApprovalDescription=reason[:1024],
            **({"ModelCard": {"ModelCardStatus": CARD_ARCHIVED}} if archive else {}),
        )
    publish_alert(
        clients.sns,
        topic_arn=settings.alert_topic_arn,
        subject=f"{subject}: {change.model_package_group_name} v{change.model_package_version}",
        message=f"{change.model_package_arn} was approved by {change.changed_by} but not deployed. {reason}.",
    )
    audit = _audit_record(decision, verdict, card_status=CARD_ARCHIVED if card_status is not None else None)
    _emit_audit_event(clients.events, settings.audit_event_bus_name, audit)
    return Outcome(result=decision, reason=reason, audit=audit)


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
    card_status = verdict.governance.card_status if verdict.governance else None
    if card_status is not None and card_status != CARD_ARCHIVED:
        try:
            governance.set_card_status(clients.sagemaker, change.model_package_arn, CARD_ARCHIVED)
            card_status = CARD_ARCHIVED
        except governance.CardRefused as refused:
            # The rejection stands (it is the person's); the card keeps its status, and the alert says so.
            message += f" Its model card stays {card_status}: {refused}."
    publish_alert(
        clients.sns,
        topic_arn=settings.alert_topic_arn,
        subject=f"Model package rejected: {change.model_package_group_name} v{change.model_package_version}",
        message=message,
    )
    audit = _audit_record(Result.REJECTION_NOTED, verdict, card_status=card_status)
    _emit_audit_event(clients.events, settings.audit_event_bus_name, audit)
    return Outcome(result=Result.REJECTION_NOTED, reason=reason, audit=audit)


def _audit_record(
    decision: Result, verdict: Verdict, *, card_status: str | None, pipeline_execution_id: str | None = None
) -> AuditRecord:
    change, model, metric, checked = verdict.change, verdict.model, verdict.metric, verdict.governance
    # The bias check is recorded where it was made: for an approval.
    bias_read = checked is not None and metric is not None
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
        model_card_status=card_status,
        bias_policy=model.bias_policy if bias_read else None,
        bias_violations=list(checked.bias_violations) if bias_read and checked else None,
        written_since_registration=list(verdict.written_again) if metric else None,
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
