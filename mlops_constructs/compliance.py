"""The compliance rule packs applied to the whole app, and the one way to acknowledge a finding.

Acknowledgments live next to the resource they concern and always carry a specific reason: a
finding acknowledged here is a decision, and the reason is its audit record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, CfnElement, Stack, Token, Validations
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
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=nag_spelling(scope, rule_id), reason=reason) for rule_id in rule_ids)
    )


def acknowledge_each(scope: IConstruct, reasons: Iterable[tuple[str, str]]) -> None:
    """Acknowledge several findings on `scope`, each `(rule_id, reason)` with its own reason."""
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=nag_spelling(scope, rule_id), reason=reason) for rule_id, reason in reasons)
    )


def nag_spelling(scope: IConstruct, value: str) -> str:
    """`value` as cdk-nag writes it in a finding id (its utils/flatten-cfn-reference): a literal as it is;
    in what holds tokens, a reference reads `<LogicalId>` (`<AWS::Partition>`, `<SageMakerProjectName>`),
    an attribute `<LogicalId.Attribute>`, `${...}` of Fn::Sub `<...>`.

    Every acknowledgment goes through it, so that ids built from ARNs and names hold in any stack: one
    with its account and region (where CDK knows the partition), and a region-agnostic one (a SageMaker
    Projects product's template), where the partition, the region, the account and the model's name are
    references. An id holding an unresolved token would match nothing and fail the synthesis.
    """
    if not Token.is_unresolved(value):
        return value
    return _flatten(Stack.of(scope).resolve(value))


def _flatten(node: object) -> str:
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def nag_ref(construct: IConstruct, attribute: str | None = None) -> str:
    """How cdk-nag spells a reference to `construct` in a finding id: `<LogicalId>` or `<LogicalId.Attr>`.

    Findings on L2-generated policies name the resources they point at this way, so acknowledging
    them precisely needs the same spelling.
    """
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    assert isinstance(element, CfnElement), f"{construct.node.path} has no CloudFormation resource"
    logical_id = Stack.of(element).get_logical_id(element)
    return f"<{logical_id}.{attribute}>" if attribute else f"<{logical_id}>"
