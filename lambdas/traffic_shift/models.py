"""Typed shapes of the traffic shift: its configuration, its decisions and the audit record of each.

The environment is validated once, at cold start (`ShiftSettings`); the scheduled event is not
parsed at all (its content does not matter, see `shift.describe_trigger`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StrictStr

from lambdas.common.aws import ServingRoleArn
from lambdas.common.contracts import HIGHER_IS_BETTER, SAGEMAKER_NAME_PATTERN, SERVING_ROLE_ARN_ENV, Direction
from lambdas.common.models import Model
from lambdas.common.settings import FunctionSettings
from lambdas.traffic_shift.sequential_test import Design


class ShiftSettings(FunctionSettings):
    """The traffic shift's environment (and the common one, see `FunctionSettings`)."""

    # SageMaker's constraint on endpoint names.
    endpoint_name: Annotated[StrictStr, Field(pattern=f"^{SAGEMAKER_NAME_PATTERN}$")] = Field(alias="ENDPOINT_NAME")
    # CloudWatch's constraints on custom namespaces and metric names.
    business_metric_namespace: Annotated[StrictStr, Field(pattern=r"^[^:][^:]{0,254}$")] = Field(
        alias="BUSINESS_METRIC_NAMESPACE"
    )
    business_metric_name: Annotated[StrictStr, Field(min_length=1, max_length=255)] = Field(
        alias="BUSINESS_METRIC_NAME"
    )
    # Whether more of the business metric per invocation is better (conversions) or worse (refunds).
    business_metric_direction: Direction = Field(default=HIGHER_IS_BETTER, alias="BUSINESS_METRIC_DIRECTION")
    # The normal approximation of the test needs some hundreds of trials per variant.
    min_samples_per_variant: Annotated[int, Field(ge=100)] = Field(default=1000, alias="MIN_SAMPLES_PER_VARIANT")
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = Field(default=0.05, alias="ALPHA")
    shift_step_percent: Annotated[float, Field(gt=0, le=100)] = Field(default=10, alias="SHIFT_STEP_PERCENT")
    max_challenger_percent: Annotated[float, Field(gt=0, lt=100)] = Field(default=50, alias="MAX_CHALLENGER_PERCENT")
    latency_ratio_limit: Annotated[float, Field(gt=1, allow_inf_nan=False)] = Field(
        default=1.5, alias="LATENCY_RATIO_LIMIT"
    )
    # CloudWatch keeps 1-minute SageMaker data for 15 days and 5-minute data for 63: stay within the latter.
    lookback_hours: Annotated[int, Field(ge=1, le=62 * 24)] = Field(default=168, alias="LOOKBACK_HOURS")
    # The role that reads and steers the endpoint (and reads its metrics) in the production account; "":
    # this account serves.
    serving_role_arn: ServingRoleArn = Field(default="", alias=SERVING_ROLE_ARN_ENV)

    @property
    def design(self) -> Design:
        return Design(
            min_samples=self.min_samples_per_variant,
            alpha=self.alpha,
            latency_ratio_limit=self.latency_ratio_limit,
        )


class Decision(StrEnum):
    # Decisions, each audited:
    HOLD = "hold"  # weights unchanged
    INCREASE = "increase"  # challenger + one step, up to the cap
    PROMOTE = "promote"  # challenger 1.0, champion 0.0
    ROLLBACK = "rollback"  # challenger 0.0, champion 1.0
    # Not a decision, only logged and counted: nothing to decide on.
    SKIPPED = "skipped"


class Weights(Model):
    """The traffic shares of the two variants (fractions summing to 1)."""

    model_config = ConfigDict(frozen=True)

    champion: float
    challenger: float


class VariantEvidence(Model):
    """One variant over the evidence window, as the audit record shows it."""

    invocations: int
    successes: int
    success_rate: float
    errors_5xx: int
    error_rate_5xx: float
    p99_latency_ms: float | None


class SequentialTestResult(Model):
    """One look of a one-sided sequential test (mSPRT) on challenger - champion."""

    difference: float  # rate difference, challenger - champion
    z: float
    e_value: float  # the mixture likelihood ratio; decisive at >= 1 / alpha
    p_value: float  # always valid: min(1, 1 / e_value)


class DecisionTests(Model):
    """The tests behind a decision, and their parameters."""

    alpha: float
    min_samples_per_variant: int
    promotion_tested: bool  # False below the cap and once the window slides (see shift.decide)
    # Which of the two business-metric tests promotes: "success_rate_higher" when higher is better,
    # "success_rate_lower" when lower is; the other is a guardrail.
    business_metric_direction: Direction
    success_rate_higher: SequentialTestResult  # the challenger's business-metric rate higher
    success_rate_lower: SequentialTestResult  # the challenger's business-metric rate lower
    error_rate_5xx_higher: SequentialTestResult  # guardrail
    p99_latency_ratio: float | None  # guardrail: challenger p99 / champion p99
    p99_latency_ratio_limit: float


class AuditRecord(Model):
    """The detail of the "Traffic Shift Decision" event, and the fields of its log line."""

    endpoint_name: str
    decision: Decision
    reason: str
    old_weights: Weights
    new_weights: Weights
    window_start: datetime
    window_end: datetime
    variants: dict[str, VariantEvidence]  # "champion", "challenger"
    tests: DecisionTests


class Outcome(Model):
    """What one invocation did. `needs_attention` marks a no-op a person should look at."""

    decision: Decision
    reason: str
    audit: AuditRecord | None = None
    needs_attention: bool = False
