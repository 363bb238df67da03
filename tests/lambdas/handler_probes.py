"""What the handler tests observe and inject around a handler: its EMF metrics and JSON log lines, the
AWS operations it calls, AWS failures (an error answer, a lost answer) on chosen operations, and the
hypothesis inputs the property tests draw from."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Key a `failing` hook leaves in botocore's per-call context for its later hook on the same call.
_LOSE_ANSWER = "lose_the_answer"


def emitted_metrics(stdout: str) -> Counter[str]:
    """Sum of each EMF metric in the captured stdout (Powertools prints one JSON blob per flush)."""
    counts: Counter[str] = Counter()
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                counts[metric["Name"]] += int(sum(values) if isinstance(values, list) else values)
    return counts


@dataclass
class Telemetry:
    """What a handler reported: EMF metrics (printed to stdout) and its structured log lines."""

    capsys: pytest.CaptureFixture[str]
    caplog: pytest.LogCaptureFixture
    logger: Any  # the handler's Powertools Logger

    def metrics(self) -> Counter[str]:
        """Metrics emitted since the last call."""
        return emitted_metrics(self.capsys.readouterr().out)

    def logs(self) -> list[dict[str, Any]]:
        """The handler's log lines, formatted as the function prints them (JSON)."""
        formatter = self.logger.registered_formatter
        return [json.loads(formatter.format(r)) for r in self.caplog.records if r.name == self.logger.service]


def aws_error(code: str, status: int, operation: str = "Operation") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


@contextmanager
def failing(
    aws_client: Any,
    operation: str,
    error: Exception,
    *,
    only: Callable[[Mapping[str, Any]], bool] | None = None,
    answer_lost: bool = False,
) -> Iterator[None]:
    """Make `operation` (e.g. "GetObject") on `aws_client` raise `error`, as AWS or the network would.

    The request fails before it is sent; with `answer_lost`, it reaches AWS (moto), takes effect, and
    then the caller gets `error` instead of the answer. `only` narrows the failure to the calls whose
    parameters it accepts.
    """
    service = aws_client.meta.service_model.service_id.hyphenize()

    def before(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        if only is not None and not only(params):
            return
        if not answer_lost:
            raise error
        context[_LOSE_ANSWER] = True

    def after(context: dict[str, Any], **_: Any) -> None:
        if context.get(_LOSE_ANSWER):
            raise error

    hooks = [(f"before-parameter-build.{service}.{operation}", before), (f"after-call.{service}.{operation}", after)]
    for event_name, hook in hooks:
        aws_client.meta.events.register(event_name, hook)
    try:
        yield
    finally:
        for event_name, hook in hooks:
            aws_client.meta.events.unregister(event_name, hook)


@contextmanager
def recording_calls(clients: list[Any]) -> Iterator[list[str]]:
    """The names of the AWS operations the clients call inside the block, in order."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    for aws_client in clients:
        aws_client.meta.events.register("before-call.*.*", record)
    try:
        yield calls
    finally:
        for aws_client in clients:
            aws_client.meta.events.unregister("before-call.*.*", record)


# Every kind of failure an AWS call can end in: throttling, 5xx, no connection, a timeout, and the
# answers that say the request itself is wrong.
ANY_AWS_FAILURE = [
    aws_error("ThrottlingException", 400),
    aws_error("InternalServerError", 500),
    EndpointConnectionError(endpoint_url="https://aws"),
    ReadTimeoutError(endpoint_url="https://aws"),
    aws_error("AccessDeniedException", 403),
    aws_error("ValidationException", 400),
    aws_error("NoSuchKey", 404),
    aws_error("ResourceNotFound", 400),
]

# Any JSON document, small: what a malformed event may be.
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)

# One fake account per test, shared by its examples on purpose: each example works on its own package
# version or alarm event, and what piles up (claims, audit events) piles up as in production.
PROPERTY_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
