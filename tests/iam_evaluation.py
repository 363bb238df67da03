"""A small IAM policy evaluator for the synthesized templates, so tests can prove who may do what.

It implements the parts of IAM's evaluation logic the platform's policies use: explicit deny wins;
an action is allowed only when an identity policy allows it and the permissions boundary allows it;
Action/Resource wildcards; the condition operators StringEquals, StringNotEquals, StringLike,
ArnLike and Bool, each also as ...IfExists, with IAM's rule that a missing key fails a positive
operator and passes a negated one (and passes any ...IfExists operator). For KMS keys it adds the
key policy (`Principal.is_allowed_on_key`): same-account access only, where a key-policy statement
for the account delegates to IAM. The principal is an IAM role: `aws:PrincipalIsAWSService` is false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from aws_cdk.assertions import Template


def render(value: Any, imports: Mapping[str, str]) -> Any:
    """Replace Fn::ImportValue of known exports by their value and join Fn::Join that become plain strings."""
    if isinstance(value, dict) and set(value) == {"Fn::ImportValue"}:
        return imports.get(value["Fn::ImportValue"], value)
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        rendered = [render(part, imports) for part in parts]
        return separator.join(rendered) if all(isinstance(part, str) for part in rendered) else value
    if isinstance(value, list):
        return [render(item, imports) for item in value]
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _key_holds(operator: str, actual: str | None, patterns: list[str]) -> bool:
    if operator.endswith("IfExists"):
        return actual is None or _key_holds(operator.removesuffix("IfExists"), actual, patterns)
    if operator == "StringEquals":
        return actual is not None and actual in patterns
    if operator == "StringNotEquals":
        return actual is None or actual not in patterns
    if operator in ("StringLike", "ArnLike"):
        return actual is not None and any(fnmatchcase(actual, pattern) for pattern in patterns)
    if operator == "Bool":
        return actual is not None and actual.lower() in [pattern.lower() for pattern in patterns]
    raise NotImplementedError(f"condition operator {operator} is not modelled")


def _condition_holds(operator: str, key_values: dict[str, Any], context: dict[str, str]) -> bool:
    return all(
        _key_holds(operator, context.get(key), [str(value) for value in _as_list(expected)])
        for key, expected in key_values.items()
    )


def _statement_applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    actions = [a.lower() for a in _as_list(statement.get("Action", []))]
    if not any(fnmatchcase(action.lower(), pattern) for pattern in actions):
        return False
    resources = _as_list(statement.get("Resource", "*"))
    if not any(isinstance(pattern, str) and fnmatchcase(resource, pattern) for pattern in resources):
        return False
    return all(
        _condition_holds(operator, values, context) for operator, values in statement.get("Condition", {}).items()
    )


def _names_account(principal: Any, account: str) -> bool:
    """Whether a key-policy statement's Principal covers the IAM principals of `account`."""
    if principal == "*" or principal == {"AWS": "*"}:
        return True
    if set(principal) == {"Service"}:
        return False
    if set(principal) != {"AWS"}:
        raise NotImplementedError(f"principal {principal} is not modelled")
    names = _as_list(principal["AWS"])
    if not all(isinstance(name, str) and (name.endswith(":root") or name.isdigit()) for name in names):
        raise NotImplementedError(f"principal {principal} is not modelled: only accounts and '*' are")
    return any(name == account or name.split(":")[4] == account for name in names)


@dataclass
class Principal:
    identity_statements: list[dict[str, Any]]
    boundary_statements: list[dict[str, Any]] | None
    tags: dict[str, str] = field(default_factory=dict)

    def _context(self, context: dict[str, str]) -> dict[str, str]:
        tags = {f"aws:PrincipalTag/{key}": value for key, value in self.tags.items()}
        return {"aws:PrincipalIsAWSService": "false"} | tags | context

    def is_allowed(self, action: str, resource: str = "*", **context: str) -> bool:
        full_context = self._context(context)
        documents = [self.identity_statements] + ([self.boundary_statements] if self.boundary_statements else [])
        for statements in documents:
            for statement in statements:
                if statement["Effect"] == "Deny" and _statement_applies(statement, action, resource, full_context):
                    return False

        def allows(statements: list[dict[str, Any]]) -> bool:
            return any(
                statement["Effect"] == "Allow" and _statement_applies(statement, action, resource, full_context)
                for statement in statements
            )

        return allows(self.identity_statements) and (
            self.boundary_statements is None or allows(self.boundary_statements)
        )

    def is_allowed_on_key(self, key_policy: list[dict[str, Any]], action: str, key_arn: str, **context: str) -> bool:
        """KMS's rule for a key of the principal's own account: a deny in the key policy wins; otherwise
        the key policy must let the account's IAM policies decide (the root statement), and they must allow."""
        account = key_arn.split(":")[4]
        full_context = self._context(context)
        statements = [statement for statement in key_policy if _names_account(statement["Principal"], account)]
        if any(
            statement["Effect"] == "Deny" and _statement_applies(statement, action, key_arn, full_context)
            for statement in statements
        ):
            return False
        delegates = any(
            statement["Effect"] == "Allow" and _statement_applies(statement, action, key_arn, full_context)
            for statement in statements
        )
        return delegates and self.is_allowed(action, key_arn, **context)


def key_policy(template: Template, key_logical_id: str) -> list[dict[str, Any]]:
    """The statements of a synthesized AWS::KMS::Key's key policy."""
    return template.to_json()["Resources"][key_logical_id]["Properties"]["KeyPolicy"]["Statement"]


def role_principal(
    template: Template,
    role_logical_id: str,
    boundary_from: Template | None = None,
    imports: Mapping[str, str] | None = None,
) -> Principal:
    """The role's identity statements (inline and attached managed policies), boundary and tags.

    A boundary imported from another stack is looked up in `boundary_from`, the exporting template;
    resources that import other stacks' values are rendered with `imports` (export name -> value).
    """
    resources = template.to_json()["Resources"]
    role = resources[role_logical_id]["Properties"]
    role_ref = {"Ref": role_logical_id}
    statements: list[dict[str, Any]] = []
    for policy in role.get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy") and role_ref in resource[
            "Properties"
        ].get("Roles", []):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    if imports:
        statements = [
            statement | {"Resource": render(statement.get("Resource", "*"), imports)} for statement in statements
        ]
    boundary = None
    if "PermissionsBoundary" in role:
        reference = role["PermissionsBoundary"]
        if "Ref" in reference:
            boundary_id, owner = reference["Ref"], resources
        else:
            assert boundary_from is not None, f"{role_logical_id}'s boundary is imported: pass boundary_from"
            # Export names look like "<stack>:ExportsOutputRef<LogicalId><8-character hash>".
            boundary_id = reference["Fn::ImportValue"].split("ExportsOutputRef", 1)[1][:-8]
            owner = boundary_from.to_json()["Resources"]
        boundary = owner[boundary_id]["Properties"]["PolicyDocument"]["Statement"]
    tags = {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}
    return Principal(identity_statements=statements, boundary_statements=boundary, tags=tags)
