"""What a stage account holds for the roles of models created from SageMaker Projects.

A project's product (in the tooling account) deploys its model's roles here with a CloudFormation StackSet
of self-managed permissions per remote stage (mlops_constructs/project_accounts.py), whose template is
`mlops_constructs.target.roles_template` rendered. Here:
- the values of this account that template reads, with generated values (the serving key's ARN, the
  permissions boundary's ARN), as SSM parameters named `contracts.serving_parameter_name`;
- the StackSet execution role (`contracts.roles_provisioner_role_name`), trusted by the tooling account's
  StackSet administration role only, which CloudFormation runs the StackSet's stack instances as: it may
  create, change and delete exactly what that template holds, and nothing else:
  - roles named `<platform>-*-<stage code>-*`, created and changed only with this account's boundary
    (`iam:PermissionsBoundary`), never as approvers, never without the boundary afterwards;
  - the managed policies CloudFormation names after the StackSet's stacks (`StackSet-<platform>-...`:
    the StackSets are named `<platform>-<model>-<stage code>-roles`), attached to those roles only;
  - its stack instances' stacks, and reading the two parameters.

The config models' roles share the name pattern: the same policy denies every role write on their exact
ARNs (the target stack knows them), and on the event forwarder's and its own role.

The account's boundary (`personas.workload_boundary`) denies every role tagging roles and writing policy
versions (no role may retag itself out of separation of duties or rewrite its own policies); this role is
exempt (`personas.workload_boundary`'s `guard_exempt_role_arns`), as CloudFormation tags the roles it creates and updates managed
policies by writing versions: its own policy confines it to the StackSets' roles and policies, which are
not its own, and denies removing a boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from lambdas.common.contracts import (
    APPROVER_TAG,
    STAGE_CODES,
    ServingParameterKey,
    TargetRoleKind,
    roles_provisioner_role_name,
    serving_parameter_name,
    stackset_admin_role_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import acknowledge_each

# How CloudFormation names a StackSet's stack instances (`StackSet-<stack set name>-<uuid>`), and so the
# managed policies they create (`<stack name>-<logical id>-<suffix>`).
STACK_INSTANCE_PREFIX = "StackSet-"
# Every IAM action of the provisioner's policy that changes a role (or creates one).
ROLE_WRITE_ACTIONS = [
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:PutRolePermissionsBoundary",
]


class RolesProvisioner(Construct):
    """The provisioner role of `account` and the parameters its roles templates read. `permissions_boundary`:
    the account's boundary, which the role carries like every role of the target stack. `config_model_names`:
    the models whose roles the target stack creates in `account`, which the provisioner may never touch."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        account: ServingAccount,
        encryption_key: kms.IKey,
        permissions_boundary: iam.ManagedPolicy,
        config_model_names: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        platform = account.platform_name
        values: dict[ServingParameterKey, tuple[str, str]] = {
            "key-arn": (encryption_key.key_arn, f"ARN of the {account.stage} serving key"),
            "boundary-arn": (
                permissions_boundary.managed_policy_arn,
                "ARN of the platform roles' permissions boundary",
            ),
        }
        self.parameters = {
            key: ssm.StringParameter(
                self,
                "".join(part.capitalize() for part in key.split("-")),
                parameter_name=serving_parameter_name(platform, key),
                string_value=value,
                description=f"{description}, read by the project models' roles templates",
            )
            for key, (value, description) in values.items()
        }
        self.admin_role_arn = (
            f"arn:{account.partition}:iam::{account.tooling_account}:role/{stackset_admin_role_name(platform)}"
        )
        self.role_arn = provisioner_role_arn(account)
        self.role = iam.Role(
            self,
            "Role",
            role_name=roles_provisioner_role_name(platform, account.stage),
            # By `aws:PrincipalArn`: IAM refuses a trust policy naming a role that does not exist yet.
            assumed_by=iam.AccountPrincipal(account.tooling_account).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": self.admin_role_arn}}
            ),
            description=f"CloudFormation StackSets create project-created models' roles in the {account.stage} account",
        )
        roles = f"arn:{stack.partition}:iam::{account.account}:role/{platform}-*-{STAGE_CODES[account.stage]}-*"
        policies = f"arn:{stack.partition}:iam::{account.account}:policy/{STACK_INSTANCE_PREFIX}{platform}-*"
        stacks = stack.format_arn(
            service="cloudformation", resource="stack", resource_name=f"{STACK_INSTANCE_PREFIX}{platform}-*/*"
        )
        with_the_boundary = {"iam:PermissionsBoundary": permissions_boundary.managed_policy_arn}
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Create the roles of project-created models, only with the account's boundary",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="RunTheStackSetsStacks",
                    actions=["cloudformation:*"],
                    resources=[stacks],
                ),
                iam.PolicyStatement(
                    sid="ReadTheServingParameters",
                    actions=["ssm:GetParameters"],
                    resources=[parameter.parameter_arn for parameter in self.parameters.values()],
                ),
                iam.PolicyStatement(
                    sid="CreateAndChangeRolesOnlyWithTheBoundary",
                    actions=[
                        "iam:CreateRole",
                        "iam:PutRolePermissionsBoundary",
                        "iam:PutRolePolicy",
                        "iam:DeleteRolePolicy",
                    ],
                    resources=[roles],
                    conditions={"StringEquals": with_the_boundary},
                ),
                iam.PolicyStatement(
                    sid="AttachOnlyTheStackSetsPoliciesToRolesWithTheBoundary",
                    actions=["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                    resources=[roles],
                    conditions={"StringEquals": with_the_boundary, "ArnLike": {"iam:PolicyARN": policies}},
                ),
                iam.PolicyStatement(
                    sid="ManageTheRoles",
                    actions=[
                        "iam:GetRole",
                        "iam:GetRolePolicy",
                        "iam:ListRolePolicies",
                        "iam:ListAttachedRolePolicies",
                        "iam:ListRoleTags",
                        "iam:TagRole",
                        "iam:UntagRole",
                        "iam:UpdateRole",
                        "iam:UpdateRoleDescription",
                        "iam:UpdateAssumeRolePolicy",
                        "iam:DeleteRole",
                    ],
                    resources=[roles],
                ),
                iam.PolicyStatement(
                    sid="ManageTheStackSetsPolicies",
                    actions=[
                        "iam:CreatePolicy",
                        "iam:DeletePolicy",
                        "iam:GetPolicy",
                        "iam:GetPolicyVersion",
                        "iam:ListPolicyVersions",
                        "iam:CreatePolicyVersion",
                        "iam:DeletePolicyVersion",
                        "iam:ListEntitiesForPolicy",
                    ],
                    resources=[policies],
                ),
                iam.PolicyStatement(
                    sid="NeverTheTargetStacksRoles",
                    effect=iam.Effect.DENY,
                    actions=ROLE_WRITE_ACTIONS,
                    resources=self._target_stack_roles(account, config_model_names),
                ),
                iam.PolicyStatement(
                    sid="NeverRemoveABoundary",
                    effect=iam.Effect.DENY,
                    actions=["iam:DeleteRolePermissionsBoundary"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="NeverTheApproverTag",
                    effect=iam.Effect.DENY,
                    actions=["iam:CreateRole", "iam:TagRole"],
                    resources=["*"],
                    conditions={"StringLike": {f"aws:RequestTag/{APPROVER_TAG}": "*"}},
                ),
            ],
        )
        self._acknowledge(roles, policies, stacks)

    def _target_stack_roles(self, account: ServingAccount, config_model_names: Sequence[str]) -> list[str]:
        """The roles the target stack creates in `account` whose names match the provisioner's pattern (the
        config models', one pattern per model: the policy stays small however many models config declares),
        and those it creates besides (the event forwarder's, this one)."""
        every_kind = cast(TargetRoleKind, "*")
        models = [account.role_arn(model_name, every_kind) for model_name in config_model_names]
        return [*models, account.event_forwarder_role_arn, self.role_arn]

    def _acknowledge(self, roles: str, policies: str, stacks: str) -> None:
        acknowledge_each(
            self.policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{roles}]",
                    "Project-created models' roles, named when a project is created; only with the account's boundary.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{policies}]",
                    "CloudFormation names the managed policies after the StackSets' stacks (generated ids).",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{stacks}]",
                    "The StackSets' stack instances, named by CloudFormation StackSets with a generated id.",
                ),
                (
                    "AwsSolutions-IAM5[Action::cloudformation:*]",
                    "What a StackSet execution role needs on its stack instances (AWS's self-managed StackSets"
                    " prerequisites), on the platform's StackSets' stacks only.",
                ),
                ("AwsSolutions-IAM5[Resource::*]", "Denies only: no boundary is removed, no approver tag is set."),
                (
                    "NIST.800.53.R5-IAMPolicyNoStatementsWithFullAccess",
                    "cloudformation:* on the platform's StackSets' stack instances only: what AWS documents a"
                    " StackSet execution role needs there.",
                ),
            ],
        )


def provisioner_role_arn(account: ServingAccount) -> str:
    """The stage account's StackSet provisioner role (`contracts.roles_provisioner_role_name`)."""
    name = roles_provisioner_role_name(account.platform_name, account.stage)
    return f"arn:{account.partition}:iam::{account.account}:role/{name}"
