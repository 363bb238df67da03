"""The gate's governance of an approved package: a model card is required, and the post-training bias
report (Clarify's analysis.json, `ModelMetrics.Bias.PostTrainingReport`) is held to the platform's
bounds (contracts.POST_TRAINING_BIAS_BOUNDS) as the model's bias policy says; and the card's status
follows the gate's decision (contracts.CARD_*).

A package registered before the platform required cards has none, and is rejected: it can be
re-registered by its build, which now writes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambdas.approval_gate.documents import InvalidPackage, RegisteredDocuments
from lambdas.approval_gate.models import GovernanceCheck, ModelGate
from lambdas.common.aws import aws_call, error_code
from lambdas.common.contracts import ModelCardStatus, bias_violations
from lambdas.common.errors import error_message


def check(documents: RegisteredDocuments, package: Mapping[str, Any], model: ModelGate) -> GovernanceCheck:
    """The package's card status and, when it has a bias report, its violations (read whatever the
    policy: a model that only reports bias gets its violations in the decision and the alert), as the
    report was when the package was registered."""
    uri = package.get("ModelMetrics", {}).get("Bias", {}).get("PostTrainingReport", {}).get("S3Uri") or None
    violations: tuple[str, ...] = ()
    if uri is not None:
        report = documents.read_json(uri, "bias report")
        if not isinstance(report, Mapping):
            raise InvalidPackage(f"its bias report {uri} is not a JSON object")
        try:
            violations = tuple(bias_violations(report))
        except ValueError as exc:
            raise InvalidPackage(f"its bias report {uri} is not a Clarify post-training bias report: {exc}") from exc
    return GovernanceCheck(
        card_status=card_status(package), bias_policy=model.bias_policy, bias_report_uri=uri, bias_violations=violations
    )


def card_status(package: Mapping[str, Any]) -> str | None:
    """The status of the package's model card; None when it has no card (or an empty one)."""
    card = package.get("ModelCard") or {}
    if not card.get("ModelCardContent"):
        return None
    status: str = card.get("ModelCardStatus") or "Draft"
    return status


class CardRefused(Exception):
    """SageMaker refused the card's new status (an Archived card cannot be reopened); the message says why."""


def set_card_status(sagemaker: Any, model_package_arn: str, status: ModelCardStatus) -> None:
    """Move the package's model card to `status`. A refusal (ValidationException: the card's current state
    does not allow it) is `CardRefused`, not retried; any other failure is retried (`RetryableError`)."""

    def refused(exc: ClientError) -> Exception | None:
        if error_code(exc) != "ValidationException":
            return None
        return CardRefused(f"SageMaker refuses to set its model card to {status}: {error_message(exc)}")

    with aws_call(f"set the model card to {status}", translate=refused):
        sagemaker.update_model_package(ModelPackageArn=model_package_arn, ModelCard={"ModelCardStatus": status})
