"""How the handlers call AWS: one client configuration, and one rule for what a failure means.

A failed call raises `RetryableError`, the one exception a handler raises on purpose: the invocation
fails and its caller (EventBridge, Lambda's asynchronous retries) delivers the event again, finally to
the dead-letter queue. A handler narrows the rule where it knows better (`aws_call`'s `passthrough`
and `translate`): an error that says the input is wrong becomes a decision, not a retry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Annotated, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, StrictStr

from lambdas.common.accounts import default_session
from lambdas.common.errors import error_code

# Standard retries inside the call (throttling, 5xx), and short timeouts: a hung call must fail well
# within the function's own timeout, so that the invocation fails and is retried as a whole.
CLIENT_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=10)

# Error codes that say AWS is busy or unwell rather than that the request is wrong; any 5xx counts too.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
    }
)
SNS_SUBJECT_LIMIT = 100
# What Powertools' Tracer patches (`patch_modules`): the handlers reach AWS through botocore only. Its
# default, every library X-Ray can patch, imports each one installed at cold start just to wrap it.
TRACED_MODULES = ("botocore",)


class RetryableError(Exception):
    """An AWS call failed in a way a later attempt may not: raised on purpose so the event is retried."""


class Unavailable(Exception):
    """What a read was for cannot be had (not transiently); the message says what and why."""


class LazyClient:
    """A boto3 client created at its first use, then reused by every later call (and invocation).

    A handler declares its clients at module level, once per execution environment, but creating one
    loads its service model (sagemaker's is megabytes of JSON): created at import, a cold start paid
    for every client, including those its event never calls. Anything asked of a `LazyClient` (an
    operation, `meta`, a paginator) is asked of the client, which is created then.
    """

    def __init__(self, create: Callable[[], Any]) -> None:
        self._create = create
        self._client: Any = None

    @property
    def created(self) -> bool:
        return self._client is not None

    def __getattr__(self, name: str) -> Any:
        if name in ("_create", "_client"):  # asked before __init__ set them (copy, pickle): not the client's
            raise AttributeError(name)
        if self._client is None:
            self._client = self._create()
        return getattr(self._client, name)


def client(service_name: str) -> Any:
    """A boto3 client of the default session with the platform's retry and timeout settings, created at its
    first use (`LazyClient`)."""
    return LazyClient(lambda: default_session().client(service_name, config=CLIENT_CONFIG))


def serving_client(service_name: str, session: boto3.Session) -> Any:
    """A client of what serves, with `client`'s settings, from `accounts.serving_session` (the serving
    account's role, or this account's session when there is none), created at its first use."""
    return LazyClient(partial(session.client, service_name, config=CLIENT_CONFIG))


# A handler's SERVING_ROLE_ARN (`contracts.SERVING_ROLE_ARN_ENV`): an IAM role's ARN, or "" for none.
ServingRoleArn = Annotated[StrictStr, Field(pattern=r"^(arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+)?$")]


@contextmanager
def aws_call(
    action: str,
    *,
    passthrough: Collection[str] = (),
    translate: Callable[[ClientError], Exception | None] | None = None,
) -> Iterator[None]:
    """Turn an AWS failure during the block into `RetryableError("could not <action>: ...")`.

    A ClientError whose code is in `passthrough` propagates unchanged (the caller handles it); one that
    `translate` maps to an exception raises that exception instead. Connection errors and timeouts
    (BotoCoreError) are always retryable.
    """
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in passthrough:
            raise
        translated = translate(exc) if translate else None
        if translated is not None:
            raise translated from exc
        raise RetryableError(f"could not {action}: {exc}") from exc
    except BotoCoreError as exc:  # connection errors, timeouts, broken response streams
        raise RetryableError(f"could not {action}: {exc}") from exc


def lookup(action: str, *, explain: Callable[[ClientError], str | None] | None = None) -> AbstractContextManager[None]:
    """An `aws_call` for a read the handler can do without: transient errors raise RetryableError,
    others `Unavailable` (with `explain`'s reason, or the error code)."""

    def translate(exc: ClientError) -> Exception | None:
        if is_transient(exc):
            return None
        reason = explain(exc) if explain else None
        return Unavailable(reason or f"could not {action} ({error_code(exc) or 'error'})")

    return aws_call(action, translate=translate)


def is_transient(exc: BaseException | None) -> bool:
    """Whether a later attempt may succeed: no answer at all, a throttling or timeout code, or a 5xx."""
    if isinstance(exc, BotoCoreError):
        return True
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(exc) in TRANSIENT_ERROR_CODES or status >= 500


def outcome_unknown(exc: BaseException | None) -> bool:
    """Whether a failed request may still have taken effect: no answer, or a server error."""
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
    return True


def put_event(
    events: Any, *, event_bus_name: str, source: str, detail_type: str, detail: str, resources: Sequence[str] = ()
) -> str:
    """Put one event on the bus; its EventId.

    PutEvents reports a refused entry in its answer, not as an error. It is raised here as the
    ClientError its error code names, with the answer's status (200): like an error answer below 500,
    it says for certain that nothing was put.
    """
    entry: dict[str, Any] = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": detail,
        "EventBusName": event_bus_name,
    }
    if resources:
        entry["Resources"] = list(resources)
    response = events.put_events(Entries=[entry])
    answer = response["Entries"][0]
    if response.get("FailedEntryCount") or not answer.get("EventId"):
        error = {"Code": answer.get("ErrorCode", ""), "Message": answer.get("ErrorMessage", "the entry was not put")}
        raise ClientError({"Error": error, "ResponseMetadata": response.get("ResponseMetadata", {})}, "PutEvents")
    return str(answer["EventId"])


def emit_audit_event(
    events: Any, *, event_bus_name: str, source: str, detail_type: str, record: BaseModel, resources: Sequence[str] = ()
) -> str:
    """Put a handler's audit record (one per decision) on the audit bus; its EventId."""
    with aws_call("emit the audit event"):
        return put_event(
            events,
            event_bus_name=event_bus_name,
            source=source,
            detail_type=detail_type,
            detail=record.model_dump_json(),
            resources=resources,
        )


def publish_alert(sns: Any, *, topic_arn: str, subject: str, message: str) -> None:
    """Publish to the alert topic; the subject made fit for SNS (ASCII, one line, 100 characters)."""
    with aws_call("publish the alert"):
        sns.publish(TopicArn=topic_arn, Subject=sns_subject(subject), Message=message)


def sns_subject(text: str) -> str:
    ascii_text = text.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")
    if len(ascii_text) <= SNS_SUBJECT_LIMIT:
        return ascii_text
    return ascii_text[: SNS_SUBJECT_LIMIT - 3] + "..."
