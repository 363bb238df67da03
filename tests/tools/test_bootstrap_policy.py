"""tools/bootstrap_policy.py: the least-privilege CloudFormation execution policy of a stage account.

It is computed from the synthesized target stacks (the several-accounts configuration), so these tests
prove it covers what they hold, on their names, and nothing of another platform or account."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.common.contracts import Stage, serving_boundary_name
from tests.conftest import Synthesized
from tests.iam_evaluation import Principal
from tools import bootstrap_policy
from tools.bootstrap_policy import UnknownResourceType, execution_policy

REGION = "eu-west-1"
ACCOUNTS: dict[Stage, str] = {"staging": "222222222222", "production": "333333333333"}


def _template(several_accounts: Synthesized, stage: Stage) -> dict[str, Any]:
    return several_accounts.assembly.get_stack_by_name(f"mlops-target-{stage}").template


def _document(several_accounts: Synthesized, stage: Stage) -> dict[str, Any]:
    return execution_policy(
        _template(several_accounts, stage), platform="mlops", stage=stage, account=ACCOUNTS[stage], region=REGION
    )


def _policy(several_accounts: Synthesized, stage: Stage) -> Principal:
    return Principal(identity_statements=_document(several_accounts, stage)["Statement"], boundary_statements=None)


def _boundary(stage: Stage) -> str:
    return f"arn:aws:iam::{ACCOUNTS[stage]}:policy/{serving_boundary_name('mlops', stage)}"


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_every_resource_type_of_the_target_stack_has_its_actions(several_accounts: Synthesized, stage: Stage) -> None:
    document = _document(several_accounts, stage)
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [action for action in actions if action in ("*", "iam:*", "s3:*", "kms:*")]
        if statement["Effect"] == "Deny":
            assert set(actions) <= {"iam:DeleteRolePermissionsBoundary", "iam:AttachRolePolicy"}, statement
        elif statement["Resource"] == "*":  # only what takes no resource-level permission
            assert set(actions) <= {"kms:CreateKey", "kms:ListAliases"}, statement


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_cloudformation_may_create_what_the_target_stack_names_and_nothing_of_another_platform(
    several_accounts: Synthesized, stage: Stage
) -> None:
    account, policy = ACCOUNTS[stage], _policy(several_accounts, stage)
    resources = _template(several_accounts, stage)["Resources"]
    role_names = [r["Properties"]["RoleName"] for r in resources.values() if "RoleName" in r.get("Properties", {})]
    assert role_names
    with_the_boundary = {"iam:PermissionsBoundary": _boundary(stage)}
    for name in role_names:
        assert policy.is_allowed("iam:CreateRole", f"arn:aws:iam::{account}:role/{name}", **with_the_boundary)
        assert policy.is_allowed(
            "iam:PutRolePermissionsBoundary", f"arn:aws:iam::{account}:role/{name}", **with_the_boundary
        )
    bucket = f"mlops-{'stg' if stage == 'staging' else 'prd'}-serving-{account}-{REGION}"
    assert policy.is_allowed("s3:CreateBucket", f"arn:aws:s3:::{bucket}")
    assert policy.is_allowed("s3:PutBucketPolicy", f"arn:aws:s3:::{bucket}")
    assert policy.is_allowed("sns:CreateTopic", f"arn:aws:sns:{REGION}:{account}:mlops-{stage}-alerts")
    assert policy.is_allowed("kms:CreateKey", "*")
    assert policy.is_allowed("kms:CreateAlias", f"arn:aws:kms:{REGION}:{account}:alias/mlops/{stage}-serving")
    assert policy.is_allowed("events:PutRule", f"arn:aws:events:{REGION}:{account}:rule/mlops-target-{stage}-X")
    assert policy.is_allowed(
        "iam:PassRole",
        f"arn:aws:iam::{account}:role/mlops-stg-events",
        **{"iam:PassedToService": "events.amazonaws.com"},
    )
    # Another platform's, another account's, and what the target stack never does.
    assert not policy.is_allowed(
        "iam:CreateRole", f"arn:aws:iam::{account}:role/other-churn-prd-cfn", **with_the_boundary
    )
    assert not policy.is_allowed(
        "iam:CreateRole", "arn:aws:iam::123456789012:role/mlops-churn-prd-cfn", **with_the_boundary
    )
    assert not policy.is_allowed("s3:CreateBucket", "arn:aws:s3:::other-bucket")
    assert not policy.is_allowed("s3:GetObject", f"arn:aws:s3:::{bucket}/churn/production/x.jsonl")
    assert not policy.is_allowed("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{account}:endpoint/x")
    assert not policy.is_allowed(
        "iam:PassRole",
        f"arn:aws:iam::{account}:role/mlops-churn-prd-serve",
        **{"iam:PassedToService": "sagemaker.amazonaws.com"},
    )


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_every_role_of_the_target_stack_carries_the_boundary_the_policy_requires(
    several_accounts: Synthesized, stage: Stage
) -> None:
    resources = _template(several_accounts, stage)["Resources"]
    (boundary_id,) = [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        and resource["Properties"].get("ManagedPolicyName") == serving_boundary_name("mlops", stage)
    ]
    roles = [resource for resource in resources.values() if resource["Type"] == "AWS::IAM::Role"]
    assert roles
    assert all(role["Properties"]["PermissionsBoundary"] == {"Ref": boundary_id} for role in roles)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_cloudformation_creates_roles_only_with_the_boundary_and_attaches_only_the_platforms_policies(
    several_accounts: Synthesized, stage: Stage
) -> None:
    account, policy = ACCOUNTS[stage], _policy(several_accounts, stage)
    code = "stg" if stage == "staging" else "prd"
    role = f"arn:aws:iam::{account}:role/mlops-churn-{code}-ops"
    assert policy.is_allowed("iam:CreateRole", role, **{"iam:PermissionsBoundary": _boundary(stage)})
    assert not policy.is_allowed("iam:CreateRole", role)
    assert not policy.is_allowed(
        "iam:CreateRole", role, **{"iam:PermissionsBoundary": f"arn:aws:iam::{account}:policy/mlops-other"}
    )
    assert not policy.is_allowed("iam:PutRolePermissionsBoundary", role)
    assert not policy.is_allowed(
        "iam:PutRolePermissionsBoundary", role, **{"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess"}
    )
    stacks_policy = f"arn:aws:iam::{account}:policy/mlops-target-{stage}-ModelchurnOperationsPolicy-ABC"
    assert policy.is_allowed("iam:AttachRolePolicy", role, **{"iam:PolicyARN": stacks_policy})
    assert policy.is_allowed("iam:DetachRolePolicy", role, **{"iam:PolicyARN": stacks_policy})
    for other in ("arn:aws:iam::aws:policy/AdministratorAccess", f"arn:aws:iam::{account}:policy/other-admin"):
        assert not policy.is_allowed("iam:AttachRolePolicy", role, **{"iam:PolicyARN": other})
    assert not policy.is_allowed("iam:AttachRolePolicy", role)
    # The boundary allows whatever it does not deny: never as a role's permissions.
    assert not policy.is_allowed("iam:AttachRolePolicy", role, **{"iam:PolicyARN": _boundary(stage)})
    assert not policy.is_allowed("iam:DeleteRolePermissionsBoundary", role)


def test_a_resource_type_without_actions_is_refused_by_name() -> None:
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function"}, "Key": {"Type": "AWS::KMS::Key"}}}
    with pytest.raises(UnknownResourceType, match="AWS::Lambda::Function"):
        execution_policy(template, platform="mlops", stage="production", account="333333333333", region=REGION)


def test_the_partition_follows_the_region() -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    [statement] = execution_policy(
        template, platform="mlops", stage="production", account="333333333333", region="cn-north-1"
    )["Statement"]
    assert statement["Resource"] == ["arn:aws-cn:sns:cn-north-1:333333333333:mlops-*"]
    roles = {"Resources": {"Role": {"Type": "AWS::IAM::Role"}}}
    document = execution_policy(roles, platform="mlops", stage="production", account="3" * 12, region="cn-north-1")
    (create,) = [s for s in document["Statement"] if s["Sid"] == "CreateRolesOnlyWithTheServingBoundary"]
    assert create["Condition"] == {
        "StringEquals": {"iam:PermissionsBoundary": "arn:aws-cn:iam::333333333333:policy/mlops-prd-boundary"}
    }


def test_the_command_prints_the_policy(
    several_accounts: Synthesized, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    template = _template(several_accounts, "production")
    monkeypatch.setattr(
        bootstrap_policy, "synthesized_target", lambda path, stage: (template, "mlops", ACCOUNTS[stage], REGION)
    )
    assert bootstrap_policy.main(["--stage", "production"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == execution_policy(
        template, platform="mlops", stage="production", account=ACCOUNTS["production"], region=REGION
    )


def test_the_command_fails_on_a_resource_type_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function"}}}
    monkeypatch.setattr(
        bootstrap_policy, "synthesized_target", lambda path, stage: (template, "mlops", "3" * 12, REGION)
    )
    assert bootstrap_policy.main(["--stage", "staging"]) == 1
    assert "AWS::Lambda::Function" in capsys.readouterr().err


def test_a_stage_served_in_the_tooling_account_needs_no_bootstrap_policy() -> None:
    with pytest.raises(SystemExit, match="staging serves in the platform's own account"):
        bootstrap_policy.synthesized_target(bootstrap_policy.Path("config/platform.yaml"), "staging")
