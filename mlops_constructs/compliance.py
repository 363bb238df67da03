"""The compliance rule packs applied to the whole app, and the one way to acknowledge a finding.

Acknowledgments live next to the resource they concern and always carry a specific reason: a
finding acknowledged here is a decision, and the reason is its audit record.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, CfnElement, Stack, Validations
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


def nag_ref(construct: IConstruct, attribute: str | None = None) -> str:
    """How cdk-nag spells a reference to `construct` in a finding id: `<LogicalId>` or `<LogicalId.Attr>`.

    Findings on L2-generated policies name the resources they point at this way, so acknowledging
    them precisely needs the same spelling.
    """
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    assert isinstance(element, CfnElement), f"{construct.node.path} has no CloudFormation resource"
    logical_id = Stack.of(element).get_logical_id(element)
    return f"<{logical_id}.{attribute}>" if attribute else f"<{logical_id}>"
