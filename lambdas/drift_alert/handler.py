"""Lambda entry point of the drift alert: wiring only, the logic is in `drift`.

Invoked asynchronously by EventBridge with "CloudWatch Alarm State Change" events of the production
endpoints' (or batch transforms') drift and model-quality alarms (named by
`contracts.alerted_alarm_prefixes`), and with "SageMaker Processing Job State Change" events of the runs
of their Clarify monitors that found violations (`contracts.alerted_run_schedules`; `runs`).
For a change to ALARM it publishes an alert with the alarm's context (model packages and weights,
drifted features or degraded metrics, link to the violations report) and, where the model retrains
on drift, requests retraining at most once per cool-down: a "Retraining Requested" event on the audit
bus, on which the model's build stack starts its build pipeline. Returns normally for every event it
decides on, including those it ignores; raises `RetryableError` (`lambdas.common.aws`) when AWS fails
transiently, so EventBridge retries and finally sends the event to the DLQ.

Each alarm or run event is acted on once (Powertools idempotency on its event id, in the state table): a
redelivery after it was handled returns the stored outcome, marked `replayed`, and does nothing. The
claims that span different events (one alert per monitoring run, one retraining per cool-down) are
`claims`' own conditional writes; its docstring says why.

Environment (validated once, at cold start, by `models.DriftAlertSettings`): MODELS_CONFIG,
ALERT_TOPIC_ARN, STATE_TABLE_NAME, AUDIT_EVENT_BUS_NAME, POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE, and SERVING_ROLE_ARN when production serves in its own account: what
serves is then read as that role (`aws_clients`).
"""

from __future__ import annotations

from lambdas.common import cold_start

cold_start.begin()  # collection paused until the module is set up (cold_start.end below)

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3 import Session

from lambdas.common.accounts import serving_session
from lambdas.common.aws import TRACED_MODULES, client, serving_client
from lambdas.common.idempotency import ActOnce
from lambdas.drift_alert import drift, runs
from lambdas.drift_alert.models import DriftAlertSettings, Outcome, Result, Retraining

SETTINGS = DriftAlertSettings.from_env(os.environ)

logger = Logger(service=SETTINGS.service_name)
metrics = Metrics(namespace=SETTINGS.metrics_namespace, service=SETTINGS.service_name)
tracer = Tracer(service=SETTINGS.service_name, patch_modules=TRACED_MODULES)
cold_start.end()


def aws_clients(serving: Session) -> drift.AwsClients:
    """What serves (endpoints, serving stacks, monitoring runs, their reports) is read through `serving`;
    alerts, events and the state table are this account's."""
    return drift.AwsClients(
        sagemaker=serving_client("sagemaker", serving),
        s3=serving_client("s3", serving),
        sns=client("sns"),
        events=client("events"),
        dynamodb=client("dynamodb"),
        cloudformation=serving_client("cloudformation", serving),
    )


CLIENTS = aws_clients(serving_session(SETTINGS.serving_role_arn, session_name=SETTINGS.service_name))

ALERT_METRIC = "DriftAlertPublished"
IGNORED_METRIC = "DriftEventIgnored"
ALREADY_ALERTED_METRIC = "DriftAlertAlreadySent"
ERROR_METRIC = "DriftAlertError"
METRIC_BY_RETRAINING = {
    Retraining.REQUESTED: "DriftRetrainingRequested",
    Retraining.SKIPPED_COOLDOWN: "DriftRetrainingSkippedCooldown",
    Retraining.FAILED: ERROR_METRIC,
}


# The records' keys are "<prefix>#<hash of the event id>": stable across renames of the module or function.
IDEMPOTENCY_KEY_PREFIX = "drift-alert"
RUN_IDEMPOTENCY_KEY_PREFIX = "drift-alert-run"
# EventBridge redelivers an event with its id; CloudWatch gives each state change an event of its own.
# The state table holds the records next to the claims: its partition key is `pk`, its TTL `expiration`
# (Powertools' default expiry attribute); the records' keys are not claim keys (`claims`).
ACT_ONCE = ActOnce(
    drift.act,
    outcome_type=Outcome,
    data_keyword_argument="alarm",
    event_key_jmespath="event_id",
    key_prefix=IDEMPOTENCY_KEY_PREFIX,
    table_name=SETTINGS.state_table_name,
    key_attr="pk",
)
# The same for a Clarify monitoring run's event; its claim (one alert per run) spans its events.
ACT_ON_RUN_ONCE = ActOnce(
    runs.act_on_run,
    outcome_type=Outcome,
    data_keyword_argument="run",
    event_key_jmespath="event_id",
    key_prefix=RUN_IDEMPOTENCY_KEY_PREFIX,
    table_name=SETTINGS.state_table_name,
    key_attr="pk",
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    ACT_ONCE.register_lambda_context(context)
    ACT_ON_RUN_ONCE.register_lambda_context(context)
    try:
        outcome = drift.process(
            event, settings=SETTINGS, clients=CLIENTS, now=time.time(), perform=ACT_ONCE, perform_run=ACT_ON_RUN_ONCE
        )
    except Exception:
        metrics.add_metric(name=ERROR_METRIC, unit=MetricUnit.Count, value=1)
        logger.exception("drift alert failed; EventBridge will retry the event")
        raise

    fields = outcome.model_dump(mode="json", exclude_none=True)
    if outcome.replayed:
        # Counted when it was handled; this delivery did nothing.
        logger.info(f"duplicate delivery, already handled: {outcome.reason}", extra=fields)
        return fields
    _log(outcome, fields)
    for name in _metric_names(outcome):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    return fields


def _log(outcome: Outcome, fields: dict[str, Any]) -> None:
    if outcome.result is Result.MALFORMED:
        logger.warning(outcome.reason, extra=fields)
    elif outcome.audit is not None and outcome.audit.retraining is Retraining.FAILED:
        logger.error(outcome.reason, extra=fields)
    else:
        logger.info(outcome.reason, extra=fields)


def _metric_names(outcome: Outcome) -> list[str]:
    if outcome.result is Result.ALREADY_ALERTED:
        return [ALREADY_ALERTED_METRIC]
    if outcome.audit is None:
        return [IGNORED_METRIC]
    retraining = outcome.audit.retraining
    # The retry of an alarm whose request is already recorded requested nothing: it is not counted again.
    counted = METRIC_BY_RETRAINING.get(retraining) if not outcome.audit.retraining_replayed else None
    return [ALERT_METRIC, *([counted] if counted else [])]
