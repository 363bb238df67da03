"""The launch role Service Catalog provisions model projects with, through the IAM evaluator: what it may
create, and the guardrails it cannot get around (mlops_constructs/launch_role.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from lambdas.common.contracts import APPROVER_TAG
from mlops_constructs.launch_role import POWERTOOLS_LAYER_ACCOUNT, PROVISIONED_STACK_PREFIX
from tests.conftest import Synthesized
from tests.iam_evaluation import Principal, role_principal

ACCOUNT, REGION = "123456789012", "eu-west-1"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/mlops-governance-PersonasWorkloadBoundary-ABC"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PROJECT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{PROVISIONED_STACK_PREFIX}{ACCOUNT}-pp-abc123-ProjectRole-XYZ"
PROJECT_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/{PROVISIONED_STACK_PREFIX}{ACCOUNT}-pp-abc123-Access-XYZ"
DATA_SCIENTIST_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-governance-PersonasDataScientist-XYZ"
GATE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-approval-ApprovalGateHandlerRole-XYZ"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
WITH_BOUNDARY = {"iam:PermissionsBoundary": BOUNDARY_ARN}


def _export_of(template: Template, value: Any) -> str:
    return next(
        output["Export"]["Name"]
        for output in template.to_json()["Outputs"].values()
        if output.get("Value") == value and "Export" in output
    )


def _rendered(node: Any, imports: dict[str, str]) -> Any:
    if isinstance(node, dict) and set(node) == {"Fn::ImportValue"}:
        return imports.get(node["Fn::ImportValue"], node)
    if isinstance(node, dict):
        return {key: _rendered(value, imports) for key, value in node.items()}
    if isinstance(node, list):
        return [_rendered(item, imports) for item in node]
    return node


@pytest.fixture(scope="module")
def launch_role(synthesized: Synthesized, governance: Template) -> Principal:
    assert synthesized.platform.projects is not None
    projects = synthesized.template(synthesized.platform.projects)
    resources = governance.to_json()["Resources"]
    [boundary_id] = [key for key in resources if key.startswith("PersonasWorkloadBoundary")]
    [key_id] = [key for key, value in resources.items() if value["Type"] == "AWS::KMS::Key"]
    imports = {
        _export_of(governance, {"Ref": boundary_id}): BOUNDARY_ARN,
        _export_of(governance, {"Fn::GetAtt": [key_id, "Arn"]}): KEY_ARN,
    }
    [role_id] = [key for key in projects.find_resources("AWS::IAM::Role") if key.startswith("LaunchRole")]
    principal = role_principal(projects, role_id)
    # Resources and conditions import the governance stack's boundary and key: render them as their ARNs.
    principal.identity_statements = [_rendered(statement, imports) for statement in principal.identity_statements]
    return principal


def test_it_creates_the_projects_roles_only_with_the_platforms_boundary(launch_role: Principal) -> None:
    for action in ("iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"):
        assert launch_role.is_allowed(action, PROJECT_ROLE, **WITH_BOUNDARY), action
        assert not launch_role.is_allowed(action, PROJECT_ROLE), f"{action} without a boundary"
        other = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/Permissive"}
        assert not launch_role.is_allowed(action, PROJECT_ROLE, **other), f"{action} with another boundary"
        # Only the roles of provisioned products' stacks.
        assert not launch_role.is_allowed(action, f"arn:aws:iam::{ACCOUNT}:role/admin", **WITH_BOUNDARY), action


def test_it_never_creates_or_tags_an_approver(launch_role: Principal) -> None:
    approver = {f"aws:RequestTag/{APPROVER_TAG}": "true"}
    assert not launch_role.is_allowed("iam:CreateRole", PROJECT_ROLE, **WITH_BOUNDARY, **approver)
    assert not launch_role.is_allowed("iam:TagRole", PROJECT_ROLE, **approver)
    assert launch_role.is_allowed("iam:TagRole", PROJECT_ROLE, **{"aws:RequestTag/team": "fraud"})


def test_it_attaches_only_a_projects_own_policies_to_the_platforms_shared_roles(launch_role: Principal) -> None:
    for role in (DATA_SCIENTIST_ROLE, GATE_ROLE, PROJECT_ROLE):
        own = {**WITH_BOUNDARY, "iam:PolicyARN": PROJECT_POLICY}
        assert launch_role.is_allowed("iam:AttachRolePolicy", role, **own), role
        assert not launch_role.is_allowed(
            "iam:AttachRolePolicy", role, **WITH_BOUNDARY, **{"iam:PolicyARN": ADMIN_POLICY}
        )
        assert not launch_role.is_allowed("iam:AttachRolePolicy", role, **{"iam:PolicyARN": PROJECT_POLICY})
    # No inline policy, no deletion, no passing of the platform's roles.
    for action in ("iam:PutRolePolicy", "iam:DeleteRole", "iam:PassRole", "iam:UpdateAssumeRolePolicy"):
        assert not launch_role.is_allowed(action, DATA_SCIENTIST_ROLE, **WITH_BOUNDARY), action
    assert launch_role.is_allowed("iam:PassRole", PROJECT_ROLE)


def test_it_cannot_escape_the_boundary_or_make_people(launch_role: Principal) -> None:
    assert not launch_role.is_allowed("iam:DeleteRolePermissionsBoundary", PROJECT_ROLE)
    for action in ("iam:CreateUser", "iam:CreateAccessKey", "iam:CreateGroup", "iam:AttachUserPolicy"):
        assert not launch_role.is_allowed(action, f"arn:aws:iam::{ACCOUNT}:user/someone"), action


def test_it_runs_only_service_catalogs_stacks(launch_role: Principal) -> None:
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack"
    assert launch_role.is_allowed("cloudformation:CreateStack", f"{stack}/SC-{ACCOUNT}-pp-abc/1")
    assert not launch_role.is_allowed("cloudformation:DeleteStack", f"{stack}/mlops-governance/1")


def test_it_writes_a_projects_registration_never_the_platforms_values(launch_role: Principal) -> None:
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mlops"
    assert launch_role.is_allowed("ssm:PutParameter", f"{parameter}/models/fraud")
    assert launch_role.is_allowed("ssm:PutParameter", f"{parameter}/fraud/data-bucket")
    assert launch_role.is_allowed("ssm:GetParameters", f"{parameter}/platform/key-arn")
    # A project named "platform" would write /mlops/platform/data-bucket: refused.
    for name in ("key-arn", "permissions-boundary-arn", "data-bucket"):
        assert not launch_role.is_allowed("ssm:PutParameter", f"{parameter}/platform/{name}"), name
    assert not launch_role.is_allowed("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/other/value")


def test_it_uses_the_platform_key_only_through_the_services_that_encrypt_a_project(launch_role: Principal) -> None:
    for service in ("codecommit", "lambda", "s3"):
        via = {"kms:ViaService": f"{service}.{REGION}.amazonaws.com"}
        assert launch_role.is_allowed("kms:GenerateDataKey", KEY_ARN, **via), service
    assert not launch_role.is_allowed("kms:Decrypt", KEY_ARN)
    assert launch_role.is_allowed("kms:CreateGrant", KEY_ARN, **{"kms:GrantIsForAWSResource": "true"})
    assert not launch_role.is_allowed("kms:CreateGrant", KEY_ARN)


def test_it_passes_a_projects_connection_to_codepipeline_only(launch_role: Principal) -> None:
    connection_id = "0f4c8e2a-5b7d-4e1a-9c3f-2d6b8a1e7f90"
    for prefix in ("codeconnections", "codestar-connections"):
        connection = f"arn:aws:{prefix}:{REGION}:{ACCOUNT}:connection/{connection_id}"
        to_pipeline = {f"{prefix}:PassedToService": "codepipeline.amazonaws.com"}
        assert launch_role.is_allowed(f"{prefix}:PassConnection", connection, **to_pipeline), prefix
        elsewhere = {f"{prefix}:PassedToService": "codebuild.amazonaws.com"}
        assert not launch_role.is_allowed(f"{prefix}:PassConnection", connection, **elsewhere), prefix
        assert not launch_role.is_allowed(f"{prefix}:UseConnection", connection), prefix
    # The other prefix's condition key does not count.
    codestar = f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/{connection_id}"
    assert not launch_role.is_allowed(
        "codestar-connections:PassConnection",
        codestar,
        **{"codeconnections:PassedToService": "codepipeline.amazonaws.com"},
    )


def test_its_functions_may_use_aws_powertools_layer_and_no_other(launch_role: Principal) -> None:
    layer = f"arn:aws:lambda:{REGION}:{POWERTOOLS_LAYER_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:27"
    assert launch_role.is_allowed("lambda:GetLayerVersion", layer)
    assert not launch_role.is_allowed("lambda:GetLayerVersion", f"arn:aws:lambda:{REGION}:999999999999:layer:evil:1")
