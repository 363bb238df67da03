"""Which model a package group belongs to: the registration its model wrote in SSM Parameter Store.

Each model the platform serves registers itself: the stack that deploys it writes the String
parameter `<MODEL_REGISTRY_PREFIX><model package group>` (contracts.model_registration_parameter;
mlops_constructs/registration.py says why SSM) whose value is a `ModelGate` as JSON. The gate reads it
when an event of the group arrives, so a model created after the gate was deployed (a SageMaker
Project, another account's pipeline) is gated without any change to the gate.

What SSM answers means:
- the parameter: the group's model (a value that is not a `ModelGate` raises `InvalidRegistration`);
- ParameterNotFound: no model registered the group, which is not the platform's (`None`);
- anything else: `RetryableError`, so the event is retried rather than judged without its model.

Answers, a missing parameter included, are kept in memory for `max_age_seconds`: a burst of events
(SageMaker may send several per change; a batch of approvals) reads SSM once per group, and a changed
or new registration is seen within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from lambdas.approval_gate.models import ModelGate
from lambdas.common.aws import aws_call
from lambdas.common.settings import summarize

REGISTRATION_MAX_AGE_SECONDS = 60.0
PARAMETER_NOT_FOUND = "ParameterNotFound"


class InvalidRegistration(Exception):
    """A group's registration exists but does not say what the gate needs; the message says why."""


@dataclass(frozen=True)
class _Answer:
    value: str | None  # None: the parameter does not exist
    read_at: float


class ModelRegistry:
    """The models registered under `prefix`, read from SSM (`ssm`: a boto3 client created once)."""

    def __init__(
        self,
        ssm: Any,
        *,
        prefix: str,
        max_age_seconds: float = REGISTRATION_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ssm = ssm
        self.prefix = prefix
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._answers: dict[str, _Answer] = {}

    def parameter_name(self, group_name: str) -> str:
        return f"{self.prefix}{group_name}"

    def model_of(self, group_name: str) -> ModelGate | None:
        """The model registered for the group, or None when no model registered it.

        Raises `InvalidRegistration` when the registration is not a `ModelGate`, `RetryableError` when
        SSM cannot be read.
        """
        value = self._read(group_name)
        if value is None:
            return None
        try:
            return ModelGate.model_validate_json(value)
        except ValidationError as exc:
            raise InvalidRegistration(f"{self.parameter_name(group_name)}: {summarize(exc)}") from exc

    def forget(self) -> None:
        """Drop every remembered answer: the next lookup of each group reads SSM."""
        self._answers.clear()

    def _read(self, group_name: str) -> str | None:
        now = self._clock()
        remembered = self._answers.get(group_name)
        if remembered is not None and now - remembered.read_at < self.max_age_seconds:
            return remembered.value
        name = self.parameter_name(group_name)
        value: str | None
        try:
            with aws_call(f"read the model registration {name}", passthrough={PARAMETER_NOT_FOUND}):
                value = str(self.ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ClientError:  # only ParameterNotFound gets through aws_call
            value = None
        self._answers[group_name] = _Answer(value=value, read_at=now)
        return value
