"""The compliance rule packs applied to the whole app, and the one way to acknowledge a finding.

Acknowledgments live next to the resource they concern and always carry a specific reason: a
finding acknowledged here is a decision, and the reason is its audit record.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks
from constructs import IConstruct


def rule_packs(app: App) -> list[NagPack]:
    """The rule packs every stack of the platform must pass."""
    return [AwsSolutionsChecks(app), NIST80053R5Checks(app)]


def add_compliance_checks(app: App) -> None:
    """Run the rule packs at synth: any unacknowledged finding fails `cdk synth`."""
    Validations.of(app).add_plugins(*rule_packs(app))


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge findings on `scope` and everything below it, all for the same `reason`."""
    if not reason.strip():
        raise ValueError("an acknowledgment needs a reason")
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids))


def acknowledge_each(scope: IConstruct, reasons: Iterable[tuple[str, str]]) -> None:
    """Acknowledge several findings on `scope`, each `(rule_id, reason)` with its own reason."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id, reason in reasons))
