"""Acting once per delivery: Powertools idempotency with the platform's rules, for the handlers that need it.

A handler's `act` runs at most once per key (a redelivered event reads the stored outcome back, marked
`replayed`); a busy or failing idempotency store raises `RetryableError`, so the event is retried
rather than acted on twice or lost. Records expire after a day: longer than EventBridge retries an
event (the rules' maximum event age is 6 hours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from lambdas.common.aws import CLIENT_CONFIG, RetryableError

RECORD_SECONDS = 24 * 60 * 60


OutcomeT = TypeVar("OutcomeT", bound=BaseModel)


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """An outcome read back from the idempotency store: this delivery is a duplicate."""
    return response.model_copy(update={"replayed": True})


class ActOnce(Generic[OutcomeT]):
    """`act` at most once per key (the JMESPath on its `data_keyword_argument`), with records in `table_name`.

    `key_prefix` names the records stably across renames of the module or function. Call it with
    `act`'s keyword arguments; register each invocation's context first (`register_lambda_context`),
    so that a record in progress expires with the invocation that holds it.
    """

    def __init__(
        self,
        act: Callable[..., OutcomeT],
        *,
        outcome_type: type[OutcomeT],
        data_keyword_argument: str,
        event_key_jmespath: str,
        key_prefix: str,
        table_name: str,
        key_attr: str = "id",
    ) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath=event_key_jmespath,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=RECORD_SECONDS,
            response_hook=_mark_replayed,
        )
        self.persistence_store = DynamoDBPersistenceLayer(
            table_name=table_name, key_attr=key_attr, boto_config=CLIENT_CONFIG
        )
        self._acting = idempotent_function(
            act,
            data_keyword_argument=data_keyword_argument,
            persistence_store=self.persistence_store,
            config=self.config,
            output_serializer=PydanticSerializer(outcome_type),
            key_prefix=key_prefix,
        )

    def register_lambda_context(self, context: Any) -> None:
        self.config.register_lambda_context(context)

    def __call__(self, **kwargs: Any) -> OutcomeT:
        try:
            outcome: OutcomeT = self._acting(**kwargs)
        except (
            IdempotencyAlreadyInProgressError,
            IdempotencyInconsistentStateError,
            IdempotencyPersistenceLayerError,
        ) as exc:
            raise RetryableError(f"idempotency store: {exc}") from exc
        return outcome
