"""Who serves a model in a stage: its serving stack's package parameters and its endpoint's weights.

The one reader of "who is the champion", for everything that asks: the deploy pipeline's champion
resolution (`tools/resolve_champion.py`), the rollback tool, the traffic shift (the variants' current
weights) and the approval gate's already-serving check (`lambdas.common.endpoints`, which adds the
package behind each variant).

Only the answer that means "nothing deployed yet" is an answer: a stack or endpoint that does not
exist reads as None. Every other failure (throttling, access denied, a network error) raises, so a
caller never mistakes an unreadable production for an empty one.

Standard library and botocore only: this module ships in the deploy bundle, where the platform's
other dependencies are not installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.contracts import (
    BASELINE_PARAMETERS,
    CHALLENGER_PARAMETER,
    CHALLENGER_VARIANT,
    CHAMPION_PARAMETER,
    CHAMPION_VARIANT,
)
from lambdas.common.errors import error_code, error_message

# The states from which CloudFormation accepts an update. Anything else is either an operation in
# progress (a deploy pipeline run, a rollback) or a failure a person must look at first.
UPDATABLE_STATUSES = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
)


@dataclass(frozen=True)
class ServingStack:
    """A serving stack as CloudFormation describes it."""

    name: str
    stack_id: str
    status: str
    parameters: Mapping[str, str]
    capabilities: tuple[str, ...] = ()
    role_arn: str | None = None

    @property
    def champion(self) -> str:
        """The champion parameter ("" when the stack has none)."""
        return self.parameters.get(CHAMPION_PARAMETER, "")

    @property
    def challenger(self) -> str | None:
        """The challenger parameter: "" for no challenger, None when the template has none (staging)."""
        return self.parameters.get(CHALLENGER_PARAMETER)


@dataclass(frozen=True)
class Serving:
    """The packages a stage serves, by role: the champion, and the challenger on trial (or None)."""

    champion: str | None
    challenger: str | None


def stack_missing(error: BaseException | None) -> bool:
    """CloudFormation's answer for a stack that does not exist (a ValidationError that says so)."""
    return (
        isinstance(error, ClientError)
        and error_code(error) == "ValidationError"
        and "does not exist" in error_message(error)
    )


def endpoint_missing(error: BaseException | None) -> bool:
    """SageMaker's answer for an endpoint that does not exist (a ValidationException that says so)."""
    return (
        isinstance(error, ClientError)
        and error_code(error) == "ValidationException"
        and "Could not find endpoint" in error_message(error)
    )


def read_serving_stack(cloudformation: Any, stack_name: str) -> ServingStack | None:
    """The stack, or None when it does not exist; any other failure raises."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if stack_missing(error):
            return None
        raise
    stack = stacks[0]
    return ServingStack(
        name=stack["StackName"],
        stack_id=stack["StackId"],
        status=stack["StackStatus"],
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
        capabilities=tuple(stack.get("Capabilities", [])),
        role_arn=stack.get("RoleARN"),
    )


def variant_weights(described_endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """Each variant's current weight (traffic shifts change it; the endpoint config keeps the initial one)."""
    return {
        variant.get("VariantName"): variant.get("CurrentWeight")
        for variant in described_endpoint.get("ProductionVariants", [])
    }


def read_variant_weights(sagemaker: Any, endpoint_name: str) -> dict[str, Any] | None:
    """The endpoint's variants' current weights, or None when the endpoint does not exist; other failures raise."""
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if endpoint_missing(error):
            return None
        raise
    return variant_weights(described)


def not_updatable(stack: ServingStack) -> str | None:
    """Why the stack cannot be updated now (what to do about it), or None when it can."""
    if stack.status in UPDATABLE_STATUSES:
        return None
    if stack.status.endswith("_IN_PROGRESS"):
        return "wait for the operation in progress (a deploy pipeline run, a rollback?) to finish"
    if stack.status == "ROLLBACK_COMPLETE":
        return "its first deployment failed and nothing is served: delete the stack, then deploy again"
    return "it needs attention in the CloudFormation console first"


def who_serves(stack: ServingStack, weights: Mapping[str, Any] | None) -> Serving:
    """The champion is the stack's champion parameter, unless the challenger carries more traffic than
    the champion variant (the traffic shift promoted it): then the two swap roles."""
    champion, challenger = stack.champion or None, stack.challenger or None
    current = weights or {}
    if challenger and _weight(current.get(CHALLENGER_VARIANT)) > _weight(current.get(CHAMPION_VARIANT)):
        return Serving(champion=challenger, challenger=champion)
    return Serving(champion=champion, challenger=challenger)


def package_baselines(package: Mapping[str, Any]) -> dict[str, str]:
    """The package's baselines (a DescribeModelPackage answer's DriftCheckBaselines) as the serving
    template's parameters, `contracts.BASELINE_PARAMETERS`: "" for each one it has none of.

    Model Monitor and Clarify compare production with the champion's baselines (data quality,
    explainability, bias), so whoever makes a package the champion brings its baselines along.
    """
    baselines = package.get("DriftCheckBaselines") or {}
    return {
        parameter: str(((baselines.get(section) or {}).get(kind) or {}).get("S3Uri", ""))
        for parameter, (section, kind) in BASELINE_PARAMETERS.items()
    }


def _weight(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
