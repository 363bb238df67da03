"""What production serves: a SageMaker endpoint's variants, the model package behind each and their
traffic; or, for a batch model (no endpoint), the champion package of its serving stack."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from lambdas.common.aws import RetryableError, Unavailable, lookup
from lambdas.common.contracts import CHAMPION_PARAMETER, CHAMPION_VARIANT
from lambdas.common.models import Model
from lambdas.common.serving_state import endpoint_missing, read_serving_stack, variant_weights


class ServingVariant(Model):
    """A production variant of the endpoint and the model package it serves (for a batch transform,
    its champion: no variants, weights or traffic)."""

    model_config = ConfigDict(frozen=True)

    variant_name: str
    model_name: str | None = None
    model_package_arn: str | None = None
    weight: float | None = None  # the variant's current weight
    traffic_percent: float | None = None  # its share of the endpoint's traffic


def serving_variants(
    sagemaker: Any, endpoint_name: str, *, strict: bool = False
) -> tuple[list[ServingVariant], list[str]]:
    """The endpoint's variants, each with its model package and current weight, and what could not be read.

    Best effort by default (an alert's context): what cannot be read is noted. `strict` is for a
    decision: only an endpoint that does not exist reads as serving nothing; any other failure raises
    `RetryableError`, so that an unreadable production is never taken for an empty one.
    """
    try:
        with lookup(f"describe the endpoint {endpoint_name}"):
            endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        config_name = endpoint["EndpointConfigName"]
        with lookup(f"describe the endpoint configuration {config_name}"):
            config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    except Unavailable as exc:
        if strict and not endpoint_missing(exc.__cause__):
            raise RetryableError(str(exc)) from exc
        return [], [str(exc)]

    # The endpoint's current weights reflect traffic shifts since the configuration was created.
    current_weights = variant_weights(endpoint)
    notes: list[str] = []
    variants: list[ServingVariant] = []
    for variant in config.get("ProductionVariants", []):
        name, model_name = variant["VariantName"], variant.get("ModelName")
        package_arn = None
        if model_name:
            try:
                package_arn = model_package_of(sagemaker, model_name)
            except Unavailable as exc:
                if strict:
                    raise RetryableError(str(exc)) from exc
                notes.append(str(exc))
        weight = current_weights.get(name)
        variants.append(
            ServingVariant(
                variant_name=name,
                model_name=model_name,
                model_package_arn=package_arn,
                weight=weight if weight is not None else variant.get("InitialVariantWeight"),
            )
        )
    total = sum(v.weight or 0.0 for v in variants)
    if total > 0:
        variants = [
            v.model_copy(update={"traffic_percent": round(100 * (v.weight or 0.0) / total, 1)}) for v in variants
        ]
    return variants, notes


def model_package_of(sagemaker: Any, model_name: str) -> str | None:
    """The model package a SageMaker model was created from (None for a model built from an image)."""
    with lookup(f"describe the model {model_name}"):
        model = sagemaker.describe_model(ModelName=model_name)
    containers = [model.get("PrimaryContainer") or {}, *model.get("Containers", [])]
    packages = [container["ModelPackageName"] for container in containers if container.get("ModelPackageName")]
    return packages[0] if packages else None


def batch_champion(
    cloudformation: Any, stack_name: str, *, strict: bool = False
) -> tuple[ServingVariant | None, list[str]]:
    """What a batch model's production serves: the package in its serving stack's champion parameter
    (a batch transform runs one model, no challenger), and what could not be read.

    As `serving_variants`: best effort by default; with `strict`, only a stack that does not exist
    (the first deployment) reads as serving nothing, and any other failure raises `RetryableError`.
    """
    try:
        with lookup(f"describe the serving stack {stack_name}"):
            stack = read_serving_stack(cloudformation, stack_name)
    except Unavailable as exc:
        if strict:
            raise RetryableError(str(exc)) from exc
        return None, [str(exc)]
    if stack is None:
        return None, [f"the serving stack {stack_name} does not exist (not deployed yet?)"]
    if not stack.champion:
        return None, [f"the serving stack {stack_name} has no {CHAMPION_PARAMETER}"]
    return ServingVariant(variant_name=CHAMPION_VARIANT, model_package_arn=stack.champion), []
