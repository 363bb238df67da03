"""Lambda entry point of the traffic shift: wiring only, the logic is in `shift`, the test in `statistics`.

Invoked by an hourly EventBridge schedule, one function per production endpoint. The event's content
does not matter (a few of its fields are logged); anything, malformed or not, starts one run: compare
the endpoint's `champion` and `challenger` variants on CloudWatch evidence, then hold, shift more
traffic to the challenger, promote it or roll it back with UpdateEndpointWeightsAndCapacities.
Returns the outcome; raises `RetryableError` (`lambdas.common.aws`) when AWS fails, so the
invocation is retried (and the next hour runs anyway).

Environment (validated once, at cold start, by `models.ShiftSettings`): ENDPOINT_NAME,
BUSINESS_METRIC_NAMESPACE, BUSINESS_METRIC_NAME, BUSINESS_METRIC_DIRECTION, MIN_SAMPLES_PER_VARIANT,
ALPHA, SHIFT_STEP_PERCENT, MAX_CHALLENGER_PERCENT, LATENCY_RATIO_LIMIT, LOOKBACK_HOURS, ALERT_TOPIC_ARN,
AUDIT_EVENT_BUS_NAME, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, and SERVING_ROLE_ARN when
production serves in its own account: the endpoint and its metrics are then reached as that role
(`aws_clients`).
"""

from __future__ import annotations

from lambdas.common import cold_start

cold_start.begin()  # collection paused until the module is set up (cold_start.end below)

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3 import Session

from lambdas.common.accounts import serving_session
from lambdas.common.aws import TRACED_MODULES, client, serving_client
from lambdas.traffic_shift import shift
from lambdas.traffic_shift.models import Decision, ShiftSettings

SETTINGS = ShiftSettings.from_env(os.environ)

logger = Logger(service=SETTINGS.service_name)
metrics = Metrics(namespace=SETTINGS.metrics_namespace, service=SETTINGS.service_name)
tracer = Tracer(service=SETTINGS.service_name, patch_modules=TRACED_MODULES)
cold_start.end()


def aws_clients(serving: Session) -> shift.AwsClients:
    """The endpoint and its metrics are reached through `serving`; the audit bus and the alert topic are
    this account's."""
    return shift.AwsClients(
        sagemaker=serving_client("sagemaker", serving),
        cloudwatch=serving_client("cloudwatch", serving),
        events=client("events"),
        sns=client("sns"),
    )


CLIENTS = aws_clients(serving_session(SETTINGS.serving_role_arn, session_name=SETTINGS.service_name))

METRIC_BY_DECISION = {
    Decision.HOLD: "TrafficShiftHold",
    Decision.INCREASE: "TrafficShiftIncrease",
    Decision.PROMOTE: "TrafficShiftPromote",
    Decision.ROLLBACK: "TrafficShiftRollback",
    Decision.SKIPPED: "TrafficShiftSkipped",
}
ERROR_METRIC = "TrafficShiftError"


def utc_now() -> datetime:
    return datetime.now(UTC)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    # Per invocation (Powertools clears dimensions at each flush): one function per endpoint, one series each.
    metrics.add_dimension(name="EndpointName", value=SETTINGS.endpoint_name)
    trigger = shift.describe_trigger(event)
    try:
        outcome = shift.run(settings=SETTINGS, clients=CLIENTS, now=utc_now())
    except Exception:
        metrics.add_metric(name=ERROR_METRIC, unit=MetricUnit.Count, value=1)
        logger.exception("traffic shift failed; the invocation is retried", extra={"trigger": trigger})
        raise

    fields = outcome.model_dump(mode="json", exclude_none=True)
    log = logger.warning if outcome.needs_attention else logger.info
    log(outcome.reason, extra={**fields, "trigger": trigger})
    metrics.add_metric(name=METRIC_BY_DECISION[outcome.decision], unit=MetricUnit.Count, value=1)
    return fields
