"""What every handler relies on in `lambdas.common`: which AWS failures are retried, how a refused
event surfaces, what SNS accepts as a subject, the shared settings, and what a batch model serves."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from pydantic import ValidationError

from lambdas.common.accounts import default_session
from lambdas.common.aws import (
    CLIENT_CONFIG,
    LazyClient,
    RetryableError,
    aws_call,
    client,
    is_transient,
    outcome_unknown,
    publish_alert,
    put_event,
    sns_subject,
)
from lambdas.common.contracts import CHAMPION_PARAMETER
from lambdas.common.endpoints import ServingVariant, batch_champion
from lambdas.common.idempotency import ActOnce
from lambdas.common.settings import FunctionSettings
from tests.lambdas.conftest import GATE_ENVIRONMENT, REGION

TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:mlops-alerts"


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


class Refused(Exception):
    pass


def test_an_aws_failure_becomes_retryable_naming_the_action() -> None:
    with (
        pytest.raises(RetryableError, match=r"could not publish the alert: .*AccessDenied"),
        aws_call("publish the alert"),
    ):
        raise client_error("AccessDenied", 403)
    with pytest.raises(RetryableError, match="could not publish the alert"), aws_call("publish the alert"):
        raise EndpointConnectionError(endpoint_url="https://sns")


def test_passthrough_codes_and_translations_take_precedence_over_the_retry() -> None:
    with (
        pytest.raises(ClientError, match="ConditionalCheckFailed"),
        aws_call("claim", passthrough=("ConditionalCheckFailedException",)),
    ):
        raise client_error("ConditionalCheckFailedException")

    def refused_when_denied(exc: ClientError) -> Exception | None:
        return Refused("denied") if exc.response["Error"]["Code"] == "AccessDenied" else None

    with pytest.raises(Refused), aws_call("read", translate=refused_when_denied):
        raise client_error("AccessDenied", 403)
    with pytest.raises(RetryableError), aws_call("read", translate=refused_when_denied):
        raise client_error("ThrottlingException")
    # Other exceptions are not the helper's business.
    with pytest.raises(ValueError, match="not an AWS error"), aws_call("read"):
        raise ValueError("not an AWS error")


@pytest.mark.parametrize(
    ("failure", "transient", "unknown"),
    [
        (client_error("ThrottlingException"), True, False),
        (client_error("InternalFailure", 500), True, True),
        (client_error("ValidationException"), False, False),
        (EndpointConnectionError(endpoint_url="https://x"), True, True),
        (None, False, True),
    ],
)
def test_transient_and_unknown_outcomes(failure: BaseException | None, transient: bool, unknown: bool) -> None:
    assert is_transient(failure) is transient
    assert outcome_unknown(failure) is unknown


def test_a_refused_entry_raises_the_client_error_it_names() -> None:
    events = boto3.client("events", region_name=REGION)
    with Stubber(events) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "AccessDeniedException", "ErrorMessage": "no"}]},
        )
        with pytest.raises(ClientError) as refused:
            put_event(events, event_bus_name="audit", source="mlops.test", detail_type="T", detail="{}")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert not outcome_unknown(refused.value), "a refused entry was certainly not put"


def test_put_event_sends_resources_only_when_given_and_returns_the_event_id() -> None:
    events = boto3.client("events", region_name=REGION)
    entry = {"Source": "mlops.test", "DetailType": "T", "Detail": "{}", "EventBusName": "audit"}
    with Stubber(events) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}, {"Entries": [entry]})
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "e-2"}]},
            {"Entries": [entry | {"Resources": ["arn:x"]}]},
        )
        assert put_event(events, event_bus_name="audit", source="mlops.test", detail_type="T", detail="{}") == "e-1"
        assert (
            put_event(
                events, event_bus_name="audit", source="mlops.test", detail_type="T", detail="{}", resources=["arn:x"]
            )
            == "e-2"
        )


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("Drift on churn", "Drift on churn"),
        ("Modèle\nrejeté", "Mod?le rejet?"),  # SNS subjects are ASCII on one line
        ("x" * 150, "x" * 97 + "..."),
        ("y" * 100, "y" * 100),
    ],
)
def test_subjects_fit_what_sns_accepts(text: str, subject: str) -> None:
    assert sns_subject(text) == subject


def test_function_settings_name_the_missing_variable() -> None:
    settings = FunctionSettings.from_env(GATE_ENVIRONMENT)
    assert (settings.service_name, settings.audit_event_bus_name) == ("approval-gate", "mlops-audit")
    with pytest.raises(ValidationError, match="ALERT_TOPIC_ARN"):
        FunctionSettings.from_env(GATE_ENVIRONMENT | {"ALERT_TOPIC_ARN": "not-an-arn"})


def _described_stack(**parameters: str) -> dict:
    stack = {"StackName": "forecast-production", "StackId": "id", "StackStatus": "UPDATE_COMPLETE"}
    listed = [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()]
    return {"Stacks": [stack | {"CreationTime": datetime(2026, 1, 1, tzinfo=UTC), "Parameters": listed}]}


def test_a_batch_model_serves_its_serving_stacks_champion_and_nothing_without_one() -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/forecast/3"
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", _described_stack(**{CHAMPION_PARAMETER: package}))
        stub.add_response("describe_stacks", _described_stack(**{CHAMPION_PARAMETER: ""}))
        stub.add_response("describe_stacks", _described_stack())
        assert batch_champion(cloudformation, "forecast-production") == (
            ServingVariant(variant_name="champion", model_package_arn=package),
            [],
        )
        for _no_champion in range(2):
            assert batch_champion(cloudformation, "forecast-production", strict=True) == (
                None,
                [f"the serving stack forecast-production has no {CHAMPION_PARAMETER}"],
            )


def test_an_unreadable_serving_stack_is_noted_or_raised_for_a_decision() -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(cloudformation) as stub:
        for _attempt in range(2):
            stub.add_client_error("describe_stacks", "AccessDenied", "no", 403)
        assert batch_champion(cloudformation, "forecast-production") == (
            None,
            ["could not describe the serving stack forecast-production (AccessDenied)"],
        )
        with pytest.raises(RetryableError, match="could not describe the serving stack forecast-production"):
            batch_champion(cloudformation, "forecast-production", strict=True)


# --- clients created at first use, once --------------------------------------------------------------


def test_a_lazy_client_is_created_at_its_first_use_then_reused() -> None:
    created: list[Any] = []

    def create() -> Any:
        created.append(boto3.client("sns", region_name=REGION))
        return created[-1]

    sns = LazyClient(create)
    assert not sns.created
    assert created == []
    with Stubber(sns) as stub:
        for message_id in ("m-1", "m-2"):
            stub.add_response("publish", {"MessageId": message_id})
        for _invocation in range(2):
            publish_alert(sns, topic_arn=TOPIC_ARN, subject="drift", message="...")
    assert sns.created
    assert len(created) == 1
    assert sns.meta is created[0].meta
    assert copy.copy(sns).meta is created[0].meta


def recording_clients(session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """The clients `session` creates from now on: (service name, config)."""
    made: list[tuple[str, Any]] = []
    create = session.client

    def recorded(service_name: str, **kwargs: Any) -> Any:
        made.append((service_name, kwargs.get("config")))
        return create(service_name, **kwargs)

    monkeypatch.setattr(session, "client", recorded)
    return made


def test_the_handlers_clients_come_from_the_default_session_with_the_platforms_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = recording_clients(default_session(), monkeypatch)
    sns = client("sns")
    assert made == []
    assert sns.meta.service_model.service_name == "sns"
    assert (sns.meta.config.connect_timeout, sns.meta.config.read_timeout) == (5, 10)
    sns.meta.region_name  # noqa: B018 - a second use
    assert made == [("sns", CLIENT_CONFIG)]


def test_the_idempotency_store_and_its_client_are_created_at_first_use_from_the_default_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = recording_clients(default_session(), monkeypatch)
    act_once = ActOnce(
        lambda **_: ServingVariant(variant_name="champion"),
        outcome_type=ServingVariant,
        data_keyword_argument="event",
        event_key_jmespath="id",
        key_prefix="test",
        table_name="idempotency",
    )
    assert made == []
    store = act_once.persistence_store
    assert (store.table_name, store.key_attr) == ("idempotency", "id")
    assert act_once.persistence_store is store
    assert made == [("dynamodb", CLIENT_CONFIG)]
