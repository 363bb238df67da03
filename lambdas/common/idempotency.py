"""Acting once per delivery: Powertools idempotency with the platform's rules, for the handlers that need it.

A handler's `act` runs at most once per key (a redelivered event reads the stored outcome back, marked
`replayed`); a busy or failing idempotency store raises `RetryableError`, so the event is retried
rather than acted on twice or lost. Records expire after a day: longer than EventBridge retries an
event (the rules' maximum event age is 6 hours).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, partial
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

from lambdas.common.accounts import default_session
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
        self._table_name, self._key_attr = table_name, key_attr
        # Wrapped at the first call, with the persistence store then created.
        self._idempotent = partial(
            idempotent_function,
            act,
            data_keyword_argument=data_keyword_argument,
            config=self.config,
            output_serializer=PydanticSerializer(outcome_type),
            key_prefix=key_prefix,
        )

    @cached_property
    def persistence_store(self) -> DynamoDBPersistenceLayer:
        """The records' table. Its DynamoDB client is created at first use, as the handlers' clients are, and
        from their session: Powertools' default, a session of its own, would load every model again."""
        return DynamoDBPersistenceLayer(
            table_name=self._table_name,
            key_attr=self._key_attr,
            boto_config=CLIENT_CONFIG,
            boto3_session=default_session(),
        )

    @cached_property
    def _acting(self) -> Callable[..., OutcomeT]:
        acting: Callable[..., OutcomeT] = self._idempotent(persistence_store=self.persistence_store)
        return acting

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
