"""The environment every handler reads, validated once at cold start: a bad value fails the init loudly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
TopicArn = Annotated[StrictStr, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:\S+$")]


class FunctionSettings(BaseModel):
    """What `PlatformFunction` and every handler's wiring provide; each handler's settings extend it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    alert_topic_arn: TopicArn = Field(alias="ALERT_TOPIC_ARN")
    audit_event_bus_name: NonEmptyStr = Field(alias="AUDIT_EVENT_BUS_NAME")
    service_name: NonEmptyStr = Field(alias="POWERTOOLS_SERVICE_NAME")
    metrics_namespace: NonEmptyStr = Field(alias="POWERTOOLS_METRICS_NAMESPACE")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        return cls.model_validate(dict(environ))


def summarize(exc: ValidationError) -> str:
    """The first few validation problems, without echoing the (possibly large) input."""
    problems = [f"{'.'.join(map(str, error['loc'])) or 'event'}: {error['msg']}" for error in exc.errors()[:3]]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
