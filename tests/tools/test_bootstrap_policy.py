"""tools/bootstrap_policy.py: the least-privilege CloudFormation execution policy of a stage account.

It is computed from the synthesized target stacks (the several-accounts configuration), so these tests
prove it covers what they hold, on their names, and nothing of another platform or account."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Synthesized
from tests.iam_evaluation import Principal
from tools import bootstrap_policy
from tools.bootstrap_policy import UnknownResourceType, execution_policy

REGION = "eu-west-1"
ACCOUNTS = {"staging": "222222222222", "production": "333333333333"}


def _template(several_accounts: Synthesized, stage: str) -> dict[str, Any]:
    return several_accounts.assembly.get_stack_by_name(f"mlops-target-{stage}").template


def _policy(several_accounts: Synthesized, stage: str) -> Principal:
    document = execution_policy(
        _template(several_accounts, stage), platform="mlops", account=ACCOUNTS[stage], region=REGION
    )
    return Principal(identity_statements=document["Statement"], boundary_statements=None)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_every_resource_type_of_the_target_stack_has_its_actions(several_accounts: Synthesized, stage: str) -> None:
    document = execution_policy(
        _template(several_accounts, stage), platform="mlops", account=ACCOUNTS[stage], region=REGION
    )
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [action for action in actions if action in ("*", "iam:*", "s3:*", "kms:*")]
        if statement["Resource"] == "*":  # only what takes no resource-level permission
            assert set(actions) <= {"kms:CreateKey", "kms:ListAliases"}, statement


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_cloudformation_may_create_what_the_target_stack_names_and_nothing_of_another_platform(
    several_accounts: Synthesized, stage: str
) -> None:
    account, policy = ACCOUNTS[stage], _policy(several_accounts, stage)
    resources = _template(several_accounts, stage)["Resources"]
    role_names = [r["Properties"]["RoleName"] for r in resources.values() if "RoleName" in r.get("Properties", {})]
    assert role_names
    for name in role_names:
        assert policy.is_allowed("iam:CreateRole", f"arn:aws:iam::{account}:role/{name}")
        assert policy.is_allowed("iam:PutRolePermissionsBoundary", f"arn:aws:iam::{account}:role/{name}")
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
    assert not policy.is_allowed("iam:CreateRole", f"arn:aws:iam::{account}:role/other-churn-prd-cfn")
    assert not policy.is_allowed("iam:CreateRole", "arn:aws:iam::123456789012:role/mlops-churn-prd-cfn")
    assert not policy.is_allowed("s3:CreateBucket", "arn:aws:s3:::other-bucket")
    assert not policy.is_allowed("s3:GetObject", f"arn:aws:s3:::{bucket}/churn/production/x.jsonl")
    assert not policy.is_allowed("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{account}:endpoint/x")
    assert not policy.is_allowed(
        "iam:PassRole",
        f"arn:aws:iam::{account}:role/mlops-churn-prd-serve",
        **{"iam:PassedToService": "sagemaker.amazonaws.com"},
    )


def test_a_resource_type_without_actions_is_refused_by_name() -> None:
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function"}, "Key": {"Type": "AWS::KMS::Key"}}}
    with pytest.raises(UnknownResourceType, match="AWS::Lambda::Function"):
        execution_policy(template, platform="mlops", account="333333333333", region=REGION)


def test_the_partition_follows_the_region() -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    [statement] = execution_policy(template, platform="mlops", account="333333333333", region="cn-north-1")["Statement"]
    assert statement["Resource"] == ["arn:aws-cn:sns:cn-north-1:333333333333:mlops-*"]


def test_the_command_prints_the_policy(
    several_accounts: Synthesized, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    template = _template(several_accounts, "production")
    monkeypatch.setattr(
        bootstrap_policy, "synthesized_target", lambda path, stage: (template, "mlops", ACCOUNTS[stage], REGION)
    )
    assert bootstrap_policy.main(["--stage", "production"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == execution_policy(template, platform="mlops", account=ACCOUNTS["production"], region=REGION)


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
