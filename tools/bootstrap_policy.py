"""The least-privilege policy CloudFormation deploys a stage account's target stack with.

`cdk bootstrap --cloudformation-execution-policies` gives the bootstrap's CloudFormation execution role
AdministratorAccess unless told otherwise. In a stage account that role deploys one stack of this
platform, `<name>-target-<stage>` (the serving stacks are deployed by the target stack's own `cfn`
roles), so it needs exactly the actions on the resource types that stack holds, on names under the
platform's prefix. It creates roles only with the stack's permissions boundary (named by
`contracts.serving_boundary_name`), attaches only the platform's managed policies (CloudFormation names
them after the stack) and never removes a boundary. This tool synthesizes the stage's target stack from the configuration (no AWS
account needed) and prints that policy; it refuses a resource type it has no actions for, so the
policy cannot silently fall behind the stack (tests/tools/test_bootstrap_policy.py).

    python -m tools.bootstrap_policy --stage production [--config config/platform.yaml] > policy.json

README, "Several accounts", shows the commands that create the policy and bootstrap the account with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lambdas.common.contracts import STAGES, Stage, serving_boundary_name
from mlops_constructs.accounts import partition_of

# What CloudFormation does to each resource type of a target stack (create, update, read, tag, delete),
# and on which ARNs: `{account}`, `{region}`, `{platform}` are filled in. Names the platform chooses
# start with the platform's name; names CloudFormation generates start with the stack's, which does too.
PLATFORM_ROLES = "arn:{partition}:iam::{account}:role/{platform}-*"
# The target stack's managed policies: its boundary (`contracts.serving_boundary_name`) and those
# CloudFormation names after the stack (`<platform>-target-<stage>-...`).
PLATFORM_POLICIES = "arn:{partition}:iam::{account}:policy/{platform}-*"
RESOURCE_TYPE_ACTIONS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Creating a role, setting its boundary and attaching policies: only with conditions (`_role_guards`).
    "AWS::IAM::Role": (
        (
            "iam:DeleteRole",
            "iam:GetRole",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "iam:UpdateAssumeRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:ListRoleTags",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
        ),
        (PLATFORM_ROLES,),
    ),
    "AWS::IAM::Policy": (
        ("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
        (PLATFORM_ROLES,),
    ),
    "AWS::IAM::ManagedPolicy": (
        (
            "iam:CreatePolicy",
            "iam:DeletePolicy",
            "iam:GetPolicy",
            "iam:GetPolicyVersion",
            "iam:CreatePolicyVersion",
            "iam:DeletePolicyVersion",
            "iam:ListPolicyVersions",
            "iam:ListEntitiesForPolicy",
            "iam:TagPolicy",
            "iam:UntagPolicy",
        ),
        (PLATFORM_POLICIES,),
    ),
    "AWS::KMS::Key": (
        (
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:PutKeyPolicy",
            "kms:EnableKeyRotation",
            "kms:GetKeyRotationStatus",
            "kms:UpdateKeyDescription",
            "kms:ListResourceTags",
            "kms:TagResource",
            "kms:UntagResource",
        ),
        ("arn:{partition}:kms:{region}:{account}:key/*",),
    ),
    "AWS::KMS::Alias": (
        ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"),
        ("arn:{partition}:kms:{region}:{account}:alias/{platform}/*", "arn:{partition}:kms:{region}:{account}:key/*"),
    ),
    "AWS::S3::Bucket": (
        (
            "s3:CreateBucket",
            "s3:GetBucket*",
            "s3:PutBucket*",
            "s3:GetEncryptionConfiguration",
            "s3:PutEncryptionConfiguration",
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:ListBucket",
        ),
        ("arn:{partition}:s3:::{platform}-*",),
    ),
    "AWS::S3::BucketPolicy": (
        ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
        ("arn:{partition}:s3:::{platform}-*",),
    ),
    "AWS::SNS::Topic": (
        (
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            "sns:ListTagsForResource",
            "sns:TagResource",
            "sns:UntagResource",
        ),
        ("arn:{partition}:sns:{region}:{account}:{platform}-*",),
    ),
    "AWS::SNS::TopicPolicy": (
        ("sns:GetTopicAttributes", "sns:SetTopicAttributes"),
        ("arn:{partition}:sns:{region}:{account}:{platform}-*",),
    ),
    "AWS::SNS::Subscription": (
        ("sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"),
        ("arn:{partition}:sns:{region}:{account}:{platform}-*",),
    ),
    "AWS::SQS::Queue": (
        (
            "sqs:CreateQueue",
            "sqs:DeleteQueue",
            "sqs:GetQueueAttributes",
            "sqs:SetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ListQueueTags",
            "sqs:TagQueue",
            "sqs:UntagQueue",
        ),
        ("arn:{partition}:sqs:{region}:{account}:{platform}-*",),
    ),
    "AWS::SQS::QueuePolicy": (
        ("sqs:GetQueueAttributes", "sqs:SetQueueAttributes"),
        ("arn:{partition}:sqs:{region}:{account}:{platform}-*",),
    ),
    "AWS::Events::Rule": (
        (
            "events:PutRule",
            "events:DeleteRule",
            "events:DescribeRule",
            "events:EnableRule",
            "events:DisableRule",
            "events:PutTargets",
            "events:RemoveTargets",
            "events:ListTargetsByRule",
            "events:ListTagsForResource",
            "events:TagResource",
            "events:UntagResource",
        ),
        ("arn:{partition}:events:{region}:{account}:rule/{platform}-*",),
    ),
    "AWS::CloudWatch::Alarm": (
        (
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
        ),
        ("arn:{partition}:cloudwatch:{region}:{account}:alarm:{platform}-*",),
    ),
    "AWS::Budgets::Budget": (
        ("budgets:ModifyBudget", "budgets:ViewBudget"),
        ("arn:{partition}:budgets::{account}:budget/*",),
    ),
    "AWS::SSM::Parameter": (
        (
            "ssm:PutParameter",
            "ssm:DeleteParameter",
            "ssm:GetParameters",
            "ssm:AddTagsToResource",
            "ssm:RemoveTagsFromResource",
            "ssm:ListTagsForResource",
        ),
        ("arn:{partition}:ssm:{region}:{account}:parameter/{platform}/serving/*",),
    ),
    "AWS::CDK::Metadata": ((), ()),
}
# Actions that take no resource-level permission (or create what has no ARN yet).
UNSCOPED_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "AWS::KMS::Key": ("kms:CreateKey",),
    "AWS::KMS::Alias": ("kms:ListAliases",),
}
# The roles a target stack's resources are given: an event rule's target role, passed to EventBridge.
PASSED_ROLES = ("events.amazonaws.com",)


class UnknownResourceType(Exception):
    """The target stack holds a resource type this policy has no actions for."""


def execution_policy(
    template: Mapping[str, Any], *, platform: str, stage: Stage, account: str, region: str
) -> dict[str, Any]:
    """The policy document for the resource types of `template` (the synthesized target stack of `stage`)."""
    types = sorted({resource["Type"] for resource in template["Resources"].values()})
    unknown = [t for t in types if t not in RESOURCE_TYPE_ACTIONS]
    if unknown:
        raise UnknownResourceType(
            f"no actions known for {', '.join(unknown)}: add them to tools/bootstrap_policy.py RESOURCE_TYPE_ACTIONS"
        )
    partition = partition_of(region)
    values = {"partition": partition, "account": account, "region": region, "platform": platform}
    statements: list[dict[str, Any]] = []
    for resource_type in types:
        actions, resources = RESOURCE_TYPE_ACTIONS[resource_type]
        if actions:
            statements.append(
                {
                    "Sid": _sid(resource_type),
                    "Effect": "Allow",
                    "Action": list(actions),
                    "Resource": [pattern.format(**values) for pattern in resources],
                }
            )
        if resource_type in UNSCOPED_ACTIONS:
            statements.append(
                {
                    "Sid": f"{_sid(resource_type)}Unscoped",
                    "Effect": "Allow",
                    "Action": list(UNSCOPED_ACTIONS[resource_type]),
                    "Resource": "*",
                }
            )
    if "AWS::IAM::Role" in types:
        boundary = f"arn:{partition}:iam::{account}:policy/{serving_boundary_name(platform, stage)}"
        statements += _role_guards(
            roles=PLATFORM_ROLES.format(**values), policies=PLATFORM_POLICIES.format(**values), boundary=boundary
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _role_guards(*, roles: str, policies: str, boundary: str) -> list[dict[str, Any]]:
    """What makes a role of the platform: created and bounded only with the stack's boundary; given only the
    platform's managed policies, never the boundary itself (which allows everything it does not deny);
    passed to EventBridge only; and its boundary never removed."""
    return [
        {
            "Sid": "CreateRolesOnlyWithTheServingBoundary",
            "Effect": "Allow",
            "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}},
        },
        {
            "Sid": "AttachOnlyThePlatformsPolicies",
            "Effect": "Allow",
            "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            "Resource": roles,
            "Condition": {"ArnLike": {"iam:PolicyARN": policies}},
        },
        {
            "Sid": "PassThePlatformsRolesToEventBridge",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_ROLES)}},
        },
        {
            "Sid": "NeverTheBoundaryAsAPermissionsPolicy",
            "Effect": "Deny",
            "Action": "iam:AttachRolePolicy",
            "Resource": "*",
            "Condition": {"ArnLike": {"iam:PolicyARN": boundary}},
        },
        {
            "Sid": "NeverRemoveABoundary",
            "Effect": "Deny",
            "Action": "iam:DeleteRolePermissionsBoundary",
            "Resource": "*",
        },
    ]


def _sid(resource_type: str) -> str:
    return "".join(part for part in resource_type.split("::")[1:])


def synthesized_target(config_path: Path, stage: Stage) -> tuple[dict[str, Any], str, str, str]:
    """The stage's target stack template, the platform's name, the stage's account and the region."""
    from aws_cdk import App

    from config import ConfigError, load_config
    from stacks.target_stack import build_targets

    try:
        config = load_config(config_path)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from error
    if stage not in config.environment.remote_stages():
        raise SystemExit(
            f"error: {stage} serves in the platform's own account: set environment.deployment_accounts.{stage}"
        )
    app = App(context=json.loads(Path("cdk.json").read_text())["context"])
    targets = build_targets({each: app for each in config.environment.remote_stages()}, config)
    stack = targets[stage]
    template = app.synth().get_stack_by_name(stack.stack_name).template
    return template, config.name, config.environment.stage_account(stage), config.environment.region


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--config", type=Path, default=Path("config/platform.yaml"))
    args = parser.parse_args(argv)
    template, platform, account, region = synthesized_target(args.config, args.stage)
    try:
        policy = execution_policy(template, platform=platform, stage=args.stage, account=account, region=region)
    except UnknownResourceType as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(policy, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
