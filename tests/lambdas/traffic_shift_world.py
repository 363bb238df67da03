"""The traffic shift's surroundings in a fake AWS account (moto, in process), for test_traffic_shift.py.

The conftest of this folder sets the approval gate's environment for the whole session; the traffic
shift reads other values under some of the same names (ALERT_TOPIC_ARN, POWERTOOLS_SERVICE_NAME,
...), so its handler is imported with its own environment patched in only for the import
(`load_handler`), which leaves the session's environment, and the other handlers' tests, as they were.

moto models every call the function makes but one: SageMaker's CreateEndpoint (InService at once),
DescribeEndpoint and UpdateEndpointWeightsAndCapacities (the weights can be read back), SNS and
EventBridge (read through SQS queues). CloudWatch's GetMetricData is answered by botocore's Stubber
(`evidence`): moto 5.2.5 computes no percentile statistic (a `p99` query gets no value), and the
tests need exact counts per variant without publishing thousands of datapoints.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.lambdas.conftest import ACCOUNT, REGION, client, service_role
from tests.sqs_queues import drain, rule_queue, topic_queue

ENDPOINT = "mlops-churn-production"
BUSINESS_NAMESPACE, BUSINESS_METRIC = "MLOps/Business", "RetainedCustomers"
ALERT_TOPIC = "mlops-traffic-alerts"
AUDIT_BUS = "mlops-audit"

SHIFT_ENVIRONMENT = {
    "ENDPOINT_NAME": ENDPOINT,
    "BUSINESS_METRIC_NAMESPACE": BUSINESS_NAMESPACE,
    "BUSINESS_METRIC_NAME": BUSINESS_METRIC,
    "MIN_SAMPLES_PER_VARIANT": "1000",
    "ALPHA": "0.05",
    "SHIFT_STEP_PERCENT": "10",
    "MAX_CHALLENGER_PERCENT": "50",
    "LATENCY_RATIO_LIMIT": "1.5",
    "LOOKBACK_HOURS": "168",
    "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{ALERT_TOPIC}",
    "AUDIT_EVENT_BUS_NAME": AUDIT_BUS,
    "POWERTOOLS_SERVICE_NAME": "traffic-shift",
    "POWERTOOLS_METRICS_NAMESPACE": "MLOps/TrafficShift",
}
HANDLER_MODULE = "lambdas.traffic_shift.handler"


def load_handler() -> ModuleType:
    """The handler module, imported (once) with the traffic shift's environment in place."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SHIFT_ENVIRONMENT.items():
            patch.setenv(name, value)
        return importlib.import_module(HANDLER_MODULE)


@dataclass(frozen=True)
class Traffic:
    """What CloudWatch recorded for one variant over the evidence window.

    `successes=None` means the business metric has no datapoints at all; `p99_ms=None` no latency.
    """

    invocations: int
    successes: int | None
    errors_5xx: int = 0
    p99_ms: float | None = 80.0

    @classmethod
    def at(cls, invocations: int, success_rate: float, error_rate: float = 0.001, p99_ms: float = 80.0) -> Traffic:
        return cls(invocations, round(invocations * success_rate), round(invocations * error_rate), p99_ms)


def metric_data(champion: Traffic, challenger: Traffic, *, at: datetime) -> dict[str, Any]:
    """The GetMetricData answer for the function's eight queries: one datapoint per query (or none)."""
    results = []
    for variant, traffic in (("champion", champion), ("challenger", challenger)):
        for key, value in (
            ("invocations", traffic.invocations or None),
            ("errors", traffic.errors_5xx),
            ("latency", None if traffic.p99_ms is None else traffic.p99_ms * 1000),
            ("successes", traffic.successes),
        ):
            values = [] if value is None else [float(value)]
            results.append(
                {
                    "Id": f"{variant}_{key}",
                    "Label": key,
                    "Timestamps": [at] * len(values),
                    "Values": values,
                    "StatusCode": "Complete",
                }
            )
    return {"MetricDataResults": results, "Messages": []}


@contextmanager
def evidence(
    handler: ModuleType, champion: Traffic, challenger: Traffic, expected: dict[str, Any] | None = None
) -> Iterator[Stubber]:
    """CloudWatch answers the function's one GetMetricData request with these counts (and, given
    `expected`, checks the request against it); the request must have been made."""
    with Stubber(handler.CLIENTS.cloudwatch) as cloudwatch:
        cloudwatch.add_response("get_metric_data", metric_data(champion, challenger, at=datetime.now()), expected)
        yield cloudwatch
        cloudwatch.assert_no_pending_responses()


@dataclass
class ProductionAccount:
    """The traffic shift's surroundings in moto: the endpoint, the alert topic and the audit bus."""

    sagemaker: Any = field(default_factory=lambda: client("sagemaker"))
    sqs: Any = field(default_factory=lambda: client("sqs"))
    alert_queue: str = ""
    audit_queue: str = ""
    role_arn: str = ""

    def build(self) -> ProductionAccount:
        # Alerts: the topic, read through a subscribed queue.
        self.alert_queue = topic_queue(client("sns"), self.sqs, topic=ALERT_TOPIC, queue="traffic-alerts")
        # Audit trail: the bus, read through a rule that forwards the function's events to a queue.
        events = client("events")
        events.create_event_bus(Name=AUDIT_BUS)
        self.audit_queue = rule_queue(
            events,
            self.sqs,
            bus=AUDIT_BUS,
            rule="traffic-shift-decisions",
            pattern={"source": ["mlops.traffic-shift"]},
            queue="traffic-audit",
        )
        self.role_arn = service_role("sagemaker-execution", "sagemaker.amazonaws.com")
        return self

    def deploy(self, **weights: float) -> datetime:
        """What the deploy pipeline does: the production endpoint with these variants and initial weights
        (in percent, as the serving stack sets them). Returns the endpoint's LastModifiedTime."""
        for variant in weights:
            self.sagemaker.create_model(
                ModelName=f"{ENDPOINT}-{variant}",
                ExecutionRoleArn=self.role_arn,
                PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/churn:{variant}"},
            )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=f"{ENDPOINT}-config",
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": f"{ENDPOINT}-{variant}",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": weight,
                }
                for variant, weight in weights.items()
            ],
        )
        self.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")
        endpoint = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        assert endpoint["EndpointStatus"] == "InService"  # moto's endpoints are in service at once
        return self.last_modified()

    def described(self, **changes: Any) -> dict[str, Any]:
        """The DescribeEndpoint answer, with `changes`, fit for a Stubber (moto adds an empty
        DataCaptureConfig that the API's schema does not allow)."""
        described = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        return {key: value for key, value in described.items() if key != "ResponseMetadata" and value != {}} | changes

    def last_modified(self) -> datetime:
        modified: datetime = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"]
        return modified

    def weights(self) -> dict[str, float]:
        """The variants' CurrentWeight."""
        endpoint = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        return {variant["VariantName"]: variant["CurrentWeight"] for variant in endpoint["ProductionVariants"]}

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts published since the last call: SNS envelopes with Subject and Message."""
        return [json.loads(body) for body in self._drain(self.alert_queue)]

    def audit_events(self) -> list[dict[str, Any]]:
        """Audit events put on the bus since the last call."""
        return [json.loads(body) for body in self._drain(self.audit_queue)]

    def _drain(self, queue_url: str) -> list[str]:
        return drain(self.sqs, queue_url)
