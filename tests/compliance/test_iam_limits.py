"""IAM's size limits, which synth and cfn-lint do not check and a real deployment hits (CreatePolicy,
PutRolePolicy, AttachRolePolicy fail, and the stack rolls back):

- a managed policy's document: 6,144 characters;
- a role's inline policies, all together: 10,240 characters;
- managed policies attached to a role: 10 (the default quota).

IAM counts the characters of the JSON without white space, with every reference resolved: a template
holds `{"Ref": "AWS::Partition"}` where IAM sees `aws`. Each reference is estimated by what it can
resolve to, conservatively (`resolved_length`): 100 characters for an ARN or anything whose kind the
template does not say, 64 for a name, the longest value for a pseudo parameter or a parameter with
allowed values.

Every template of both configurations the suite synthesizes: the stacks', the products' (SageMaker
Projects) and the serving templates the deploy pipelines render.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CONFIGURATIONS, Synthesized

MANAGED_POLICY_CHARACTERS = 6_144
INLINE_POLICY_CHARACTERS_PER_ROLE = 10_240
MANAGED_POLICIES_PER_ROLE = 10
ARN, NAME = 100, 64
PSEUDO_PARAMETERS = {
    "AWS::Partition": len("aws-us-gov"),
    "AWS::Region": len("ap-southeast-5"),
    "AWS::AccountId": 12,
    "AWS::URLSuffix": len("amazonaws.com.cn"),
    "AWS::StackName": 128,
    "AWS::StackId": ARN + 128,
    "AWS::NoValue": 0,
}
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:[^}]*\}\}")
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def resolved_length(node: Any, parameters: dict[str, Any]) -> int:
    """How many characters `node` takes in the policy IAM receives: JSON without white space, each
    reference by what it can resolve to."""
    if isinstance(node, str):
        # An SSM dynamic reference: by the longest value it holds (an ARN).
        return len(json.dumps(DYNAMIC_REFERENCE.sub("x" * ARN, node)))
    if isinstance(node, dict) and len(node) == 1:
        [(function, argument)] = node.items()
        if function == "Ref":
            return 2 + _reference_length(argument, parameters)
        if function == "Fn::Join" and isinstance(argument[1], list):
            delimiter, parts = argument
            return 2 + len(delimiter) * max(len(parts) - 1, 0) + sum(_text_length(p, parameters) for p in parts)
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            given = {} if isinstance(argument, str) else argument[1]
            variables = SUB_VARIABLE.findall(text)
            literal = len(SUB_VARIABLE.sub("", text))
            return (
                2
                + literal
                + sum(
                    _text_length(given[v], parameters) if v in given else _reference_length(v, parameters)
                    for v in variables
                )
            )
        if function == "Fn::If":
            return max(resolved_length(branch, parameters) for branch in argument[1:])
        if function in ("Fn::Select", "Fn::Base64", "Fn::Cidr"):
            return 2 + NAME
        if function.startswith("Fn::"):  # GetAtt, ImportValue, FindInMap, a Join of a list it computes...
            return 2 + ARN
    if isinstance(node, dict):
        entries = sum(len(json.dumps(key)) + 1 + resolved_length(value, parameters) + 1 for key, value in node.items())
        return 1 + entries + (0 if node else 1)
    if isinstance(node, list):
        return 1 + sum(resolved_length(item, parameters) + 1 for item in node) + (0 if node else 1)
    return len(json.dumps(node))


def _text_length(node: Any, parameters: dict[str, Any]) -> int:
    """A string's length in what a Join or Sub builds: without the quotes."""
    return resolved_length(node, parameters) - 2


def _reference_length(name: str, parameters: dict[str, Any]) -> int:
    if name in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[name]
    if "." in name:  # ${Resource.Attribute} in a Sub
        return ARN
    parameter = parameters.get(name)
    if parameter is None:  # a resource: its Ref may be an ARN
        return ARN
    if parameter.get("AllowedValues") and not parameter["Type"].startswith("AWS::SSM::"):
        return max(len(str(value)) for value in parameter["AllowedValues"])
    if parameter["Type"] == "Number":
        return 24
    return ARN if "Arn" in name or "ARN" in name else NAME


def templates(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Every template of the configuration, by a name saying which."""
    found = {stack.stack_name: stack.template for stack in synthesized.assembly.stacks}
    for path in Path(synthesized.assembly.directory).glob("*.product.template.json"):
        found[path.name] = json.loads(path.read_text())
    projects = synthesized.platform.projects
    pipelines = {name: stack.deploy for name, stack in synthesized.platform.model_deploys.items()} | (
        {f"product {key}": template.deployed.deploy for key, template in projects.templates.items()} if projects else {}
    )
    for name, deploy in pipelines.items():
        for stage, template in deploy.templates.items():
            found[f"{name} {stage} serving"] = template
    return found


def _references(roles: list[Any]) -> list[str]:
    return [json.dumps(role, sort_keys=True) for role in roles]


def violations(template: dict[str, Any]) -> list[str]:
    """Each of the template's policies and roles over a limit, saying by how much."""
    parameters = template.get("Parameters", {})
    resources = template.get("Resources", {})
    found = []
    inline: dict[str, int] = defaultdict(int)
    managed: dict[str, list[str]] = defaultdict(list)
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            size = resolved_length(properties["PolicyDocument"], parameters)
            if size > MANAGED_POLICY_CHARACTERS:
                found.append(f"managed policy {logical_id}: {size} > {MANAGED_POLICY_CHARACTERS} characters")
            for role in _references(properties.get("Roles", [])):
                managed[role].append(logical_id)
        elif resource["Type"] == "AWS::IAM::Policy":
            size = resolved_length(properties["PolicyDocument"], parameters)
            for role in _references(properties.get("Roles", [])):
                inline[role] += size
        elif resource["Type"] == "AWS::IAM::Role":
            [role] = _references([{"Ref": logical_id}])
            for policy in properties.get("Policies", []):
                inline[role] += resolved_length(policy["PolicyDocument"], parameters)
            managed[role] += _references(properties.get("ManagedPolicyArns", []))
    found += [
        f"role {role}: inline policies of {size} > {INLINE_POLICY_CHARACTERS_PER_ROLE} characters"
        for role, size in inline.items()
        if size > INLINE_POLICY_CHARACTERS_PER_ROLE
    ]
    found += [
        f"role {role}: {len(policies)} > {MANAGED_POLICIES_PER_ROLE} managed policies ({', '.join(policies)})"
        for role, policies in managed.items()
        if len(policies) > MANAGED_POLICIES_PER_ROLE
    ]
    return found


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_every_policy_and_role_is_within_iams_limits(configuration: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(configuration)
    checked = templates(synthesized)
    assert any(name.endswith("serving") for name in checked), "no serving template was checked"
    found = {name: violations(template) for name, template in checked.items()}
    assert {name: v for name, v in found.items() if v} == {}


def test_the_estimate_resolves_references_by_what_they_can_hold() -> None:
    """Guards the guard: references count by their resolved length, not their template spelling."""
    parameters = {
        "ProjectName": {"Type": "String"},
        "KeyArn": {"Type": "AWS::SSM::Parameter::Value<String>"},
        "Size": {"Type": "String", "AllowedValues": ["ml.m5.large", "ml.m5.2xlarge"]},
    }
    arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "ProjectName"}, "/*"]]}
    assert resolved_length(arn, parameters) == len(
        json.dumps("arn:" + "p" * PSEUDO_PARAMETERS["AWS::Partition"] + ":s3:::" + "n" * NAME + "/*")
    )
    assert resolved_length({"Ref": "KeyArn"}, parameters) == ARN + 2
    assert resolved_length({"Ref": "Size"}, parameters) == len('"ml.m5.2xlarge"')
    assert resolved_length({"Fn::GetAtt": ["Role", "Arn"]}, parameters) == ARN + 2
    assert resolved_length("{{resolve:ssm:/a/b}}", parameters) == ARN + 2
    assert resolved_length({"Fn::Sub": "arn:${AWS::Partition}:sns:${Topic}"}, parameters) == len(
        json.dumps("arn:" + "p" * PSEUDO_PARAMETERS["AWS::Partition"] + ":sns:" + "t" * ARN)
    )
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["a:B", "c:D"], "Resource": "*"}]}
    assert resolved_length(document, {}) == len(json.dumps(document, separators=(",", ":")))
    assert resolved_length([], {}) == 2
    assert resolved_length({}, {}) == 2


def test_a_role_over_its_managed_policy_quota_is_found() -> None:
    policies = {
        f"Policy{index}": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "PolicyDocument": {"Version": "2012-10-17", "Statement": []},
                "Roles": [{"Ref": "Role"}],
            },
        }
        for index in range(MANAGED_POLICIES_PER_ROLE)
    }
    role = {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}}
    assert violations({"Resources": policies}) == []
    [found] = violations({"Resources": {**policies, "Role": role}})
    assert found.startswith('role {"Ref": "Role"}: 11 > 10 managed policies')


def test_a_policy_over_its_size_is_found() -> None:
    """Counted with its references resolved: 60 ARNs of 100 characters, though each is spelled shorter."""
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": [{"Fn::GetAtt": ["B", "Arn"]}] * 60}
    document = {"Statement": [statement]}
    assert len(json.dumps(document, separators=(",", ":"))) < MANAGED_POLICY_CHARACTERS
    policy = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": document}}
    [found] = violations({"Resources": {"Big": policy}})
    assert found.startswith("managed policy Big: ")
