"""Lambda entry point of the approval gate: wiring only, the logic is in `gate`.

Invoked asynchronously by EventBridge with "SageMaker Model Package State Change" events. For an
Approved package whose metric meets its threshold (in the metric's direction) it starts the model's
deploy pipeline with::

    start_pipeline_execution(name=<deploy pipeline>,
                             variables=[{"name": "ModelPackageArn", "value": <package ARN>}],
                             clientRequestToken=<SHA-256 hex of "<package ARN>|<approval time>">)

(the contract with the deploy pipeline, see `gate` and README.md). A package's model is the one that
registered its group under MODEL_REGISTRY_PREFIX (SSM, see `registry`); a group no model registered
is ignored. Returns normally for every event it decides on, including invalid ones; raises
`RetryableError` (`lambdas.common.aws`) when AWS fails, so EventBridge retries and finally sends the
event to the DLQ.

Environment (validated once, at cold start, by `models.GateSettings`): MODEL_REGISTRY_PREFIX,
ALERT_TOPIC_ARN, IDEMPOTENCY_TABLE_NAME, AUDIT_EVENT_BUS_NAME, POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE.
"""

from __future__ import annotations

from lambdas.common import cold_start

cold_start.begin()  # collection paused until the module is set up (cold_start.end below)

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.approval_gate import gate
from lambdas.approval_gate.models import GateSettings, Outcome, Result
from lambdas.approval_gate.registry import ModelRegistry
from lambdas.common.aws import TRACED_MODULES, client
from lambdas.common.idempotency import ActOnce

SETTINGS = GateSettings.from_env(os.environ)

logger = Logger(service=SETTINGS.service_name)
metrics = Metrics(namespace=SETTINGS.metrics_namespace, service=SETTINGS.service_name)
tracer = Tracer(service=SETTINGS.service_name, patch_modules=TRACED_MODULES)
cold_start.end()

CLIENTS = gate.AwsClients(
    sagemaker=client("sagemaker"),
    s3=client("s3"),
    sns=client("sns"),
    events=client("events"),
    codepipeline=client("codepipeline"),
    cloudformation=client("cloudformation"),
)
# Remembers SSM's answers for a minute, across the invocations this execution environment serves.
REGISTRY = ModelRegistry(client("ssm"), prefix=SETTINGS.model_registry_prefix)

METRIC_BY_RESULT = {
    Result.DEPLOY_STARTED: "ApprovalDeployStarted",
    Result.REJECTED_BELOW_THRESHOLD: "ApprovalRejectedBelowThreshold",
    Result.REJECTED_GOVERNANCE: "ApprovalRejectedGovernance",
    Result.REJECTION_NOTED: "ApprovalRejectionNoted",
    Result.INVALID: "ApprovalInvalidEvent",
    Result.ALREADY_SERVING: "ApprovalAlreadyServing",
}
ERROR_METRIC = "ApprovalError"
# Events of groups no model registered: not the platform's, ignored, counted apart from other ignored events.
UNREGISTERED_GROUP_METRIC = "ApprovalUnregisteredGroup"


# The same approval (or rejection) of the same package version acts once, however often delivered;
# a later approval of that version (another LastModifiedTime) is judged again.
ACT_ONCE = ActOnce(
    gate.act,
    outcome_type=Outcome,
    data_keyword_argument="verdict",
    event_key_jmespath="change.[model_package_arn, model_approval_status, model_package_version, last_modified_time]",
    key_prefix="approval-gate",
    table_name=SETTINGS.idempotency_table_name,
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    ACT_ONCE.register_lambda_context(context)
    try:
        outcome = gate.process(event, settings=SETTINGS, clients=CLIENTS, registry=REGISTRY, perform=ACT_ONCE)
    except Exception:
        metrics.add_metric(name=ERROR_METRIC, unit=MetricUnit.Count, value=1)
        logger.exception("approval gate failed; EventBridge will retry the event")
        raise

    fields = outcome.model_dump(mode="json", exclude_none=True)
    if outcome.replayed:
        logger.info(f"duplicate delivery, already handled: {outcome.reason}", extra=fields)
        return fields
    if outcome.result is Result.INVALID:
        logger.warning(outcome.reason, extra=fields)
    else:
        logger.info(outcome.reason, extra=fields)
    if metric_name := METRIC_BY_RESULT.get(outcome.result):
        metrics.add_metric(name=metric_name, unit=MetricUnit.Count, value=1)
    if outcome.unregistered_group is not None:
        metrics.add_metric(name=UNREGISTERED_GROUP_METRIC, unit=MetricUnit.Count, value=1)
    return fields
