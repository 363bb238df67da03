"""A model created from SageMaker Studio, serving in the stage accounts.

A config-declared model's roles in a stage account come with that account's target stack
(stacks/target_stack.py). A project's model is named only when a data scientist creates the project,
so its product's template creates them: one CloudFormation StackSet per remote stage (self-managed
permissions) deploys the same roles (`ModelTargetRoles`, rendered with the model's name as its
parameter) into the stage's account, as that account's provisioner role (`contracts.
roles_provisioner_role_name`: roles and policies under the platform's names only, only with the
account's permissions boundary), administered by this account's StackSet administration role.

Everything of the product that names those roles (its buckets' and registry group's policies, its deploy
pipeline's cross-account actions) is created after the StackSets: IAM refuses a policy naming a role
that does not exist yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    MODEL_NAME_PARAMETER,
    STAGE_CODES,
    TOOLING_ROLE_KINDS,
    Stage,
    roles_provisioner_role_name,
    stackset_admin_role_name,
    tooling_role_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.launch_role import ROLE_MANAGEMENT_ACTIONS
from mlops_constructs.target.provisioner import provisioner_role_arn
from mlops_constructs.target.render import model_roles_template_body, render_model_roles_template

# What names the stage accounts' roles of a model: created only once the roles exist.
NAMING_RESOURCE_TYPES = (
    "AWS::S3::BucketPolicy",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::CodePipeline::Pipeline",
)
CLOUDFORMATION = "cloudformation.amazonaws.com"
# The services a project's named tooling roles are passed to: its deploy pipeline, checks and functions.
NAMED_ROLE_SERVICES = ("codepipeline.amazonaws.com", "codebuild.amazonaws.com", "lambda.amazonaws.com")


def roles_stack_set_name(platform_name: str, model_name: str, stage: Stage) -> str:
    return f"{platform_name}-{model_name}-{STAGE_CODES[stage]}-roles"


def stackset_admin_role(scope: Construct, *, platform_name: str, accounts: Iterable[ServingAccount]) -> iam.Role:
    """The StackSet administration role of the tooling account: CloudFormation assumes it to run a
    project's roles StackSets, and it may assume only the stage accounts' provisioner roles."""
    remote = [account for account in accounts if account.remote]
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "StackSetAdministration",
        role_name=stackset_admin_role_name(platform_name),
        # Only for this account's StackSets of the platform (the confused-deputy guard AWS recommends).
        assumed_by=iam.ServicePrincipal(CLOUDFORMATION).with_conditions(
            {
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="cloudformation", resource="stackset", resource_name=f"{platform_name}-*", region="*"
                    )
                },
            }
        ),
        description="CloudFormation StackSets create project-created models' roles in the stage accounts",
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="AssumeTheStageAccountsProvisioners",
            actions=["sts:AssumeRole"],
            resources=[provisioner_role_arn(account) for account in remote],
        )
    )
    acknowledge_each(
        role,
        [
            (
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "One statement: assume the stage accounts' provisioner roles, named exactly.",
            )
        ],
    )
    return role


def provision_target_roles(
    scope: Construct,
    *,
    model: ModelConfig,
    accounts: Mapping[Stage, ServingAccount],
    context: dict[str, Any],
) -> list[cloudformation.CfnStackSet]:
    """One StackSet per remote stage deploying the model's roles there; `model.name` may be a token."""
    stack_sets = []
    for stage, account in accounts.items():
        if not account.remote:
            continue
        template = render_model_roles_template(account=account, model=model, context=context)
        stack_sets.append(
            cloudformation.CfnStackSet(
                scope,
                f"{stage.capitalize()}AccountRoles",
                stack_set_name=roles_stack_set_name(account.platform_name, model.name, stage),
                description=f"The model's roles in the {stage} account (deploy, CloudFormation, serving, operations)",
                permission_model="SELF_MANAGED",
                administration_role_arn=(
                    f"arn:{account.partition}:iam::{account.tooling_account}:role/"
                    f"{stackset_admin_role_name(account.platform_name)}"
                ),
                execution_role_name=roles_provisioner_role_name(account.platform_name, stage),
                capabilities=["CAPABILITY_NAMED_IAM"],
                template_body=model_roles_template_body(template),
                parameters=[
                    cloudformation.CfnStackSet.ParameterProperty(
                        parameter_key=MODEL_NAME_PARAMETER, parameter_value=model.name
                    )
                ],
                stack_instances_group=[
                    cloudformation.CfnStackSet.StackInstancesProperty(
                        deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                            accounts=[account.account]
                        ),
                        regions=[account.region],
                    )
                ],
                operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                    failure_tolerance_count=0, max_concurrent_count=1
                ),
            )
        )
    return stack_sets


def roles_first(scope: Construct, stack_sets: Sequence[cloudformation.CfnStackSet]) -> None:
    """Make everything under `scope` that names the stage accounts' roles wait for them."""
    if not stack_sets:
        return
    for child in scope.node.find_all():
        if isinstance(child, CfnResource) and child.cfn_resource_type in NAMING_RESOURCE_TYPES:
            for stack_set in stack_sets:
                child.node.add_dependency(stack_set)


def acknowledge_launch_role_statements(launch_role: Construct, statements: Sequence[iam.PolicyStatement]) -> None:
    """The findings of `launch_role_statements`, next to the launch role: patterns of names chosen when a
    project is created (its roles, its StackSets)."""
    stack = Stack.of(launch_role)
    resources = sorted(
        {
            resource
            for statement in statements
            for resource in stack.resolve(statement.to_statement_json()).get("Resource", [])
            if isinstance(resource, str) and "*" in resource
        }
    )
    acknowledge_each(
        launch_role,
        [
            (
                f"AwsSolutions-IAM5[Resource::{resource}]",
                "A project's roles and StackSets are named after the project when it is created; under the"
                " platform's prefix, roles only with its boundary.",
            )
            for resource in resources
        ],
    )


def launch_role_statements(
    scope: Construct,
    *,
    platform_name: str,
    accounts: Iterable[ServingAccount],
    boundary_arn: str,
    config_model_names: Sequence[str],
) -> list[iam.PolicyStatement]:
    """What Service Catalog's launch role needs for a project serving in the stage accounts: the project's
    roles the stage accounts trust by name (`contracts.tooling_role_name`: only with the platform's
    boundary), and its roles StackSets (passing the administration role to CloudFormation only)."""
    if not any(account.remote for account in accounts):
        return []
    stack = Stack.of(scope)
    named_roles = [
        f"arn:{stack.partition}:iam::{stack.account}:role/{platform_name}-*-{kind}" for kind in TOOLING_ROLE_KINDS
    ]
    # The same names' config-declared models' roles (the stage accounts trust them): never a project's to touch.
    config_roles = [
        f"arn:{stack.partition}:iam::{stack.account}:role/{tooling_role_name(platform_name, name, kind)}"
        for name in config_model_names
        for kind in TOOLING_ROLE_KINDS
    ]
    return [
        *(
            [
                iam.PolicyStatement(
                    sid="NeverTheConfigModelsNamedRoles",
                    effect=iam.Effect.DENY,
                    actions=sorted(
                        {
                            "iam:CreateRole",
                            "iam:PutRolePermissionsBoundary",
                            "iam:PutRolePolicy",
                            "iam:DeleteRolePolicy",
                        }
                        | {"iam:PassRole", "iam:AttachRolePolicy", "iam:DetachRolePolicy"}
                        | set(ROLE_MANAGEMENT_ACTIONS)
                    ),
                    resources=config_roles,
                )
            ]
            if config_roles
            else []
        ),
        iam.PolicyStatement(
            sid="CreateTheProjectsNamedRolesOnlyWithTheBoundary",
            actions=["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
            resources=named_roles,
            conditions={"StringEquals": {"iam:PermissionsBoundary": boundary_arn}},
        ),
        iam.PolicyStatement(
            sid="ManageTheProjectsNamedRoles",
            actions=ROLE_MANAGEMENT_ACTIONS,
            resources=named_roles,
        ),
        iam.PolicyStatement(
            sid="PassTheProjectsNamedRolesToTheirServices",
            actions=["iam:PassRole"],
            resources=named_roles,
            conditions={"StringEquals": {"iam:PassedToService": list(NAMED_ROLE_SERVICES)}},
        ),
        iam.PolicyStatement(
            sid="RunTheProjectsRolesStackSets",
            actions=[
                "cloudformation:CreateStackSet",
                "cloudformation:UpdateStackSet",
                "cloudformation:DeleteStackSet",
                "cloudformation:DescribeStackSet",
                "cloudformation:DescribeStackSetOperation",
                "cloudformation:ListStackSetOperations",
                "cloudformation:ListStackSetOperationResults",
                "cloudformation:CreateStackInstances",
                "cloudformation:UpdateStackInstances",
                "cloudformation:DeleteStackInstances",
                "cloudformation:DescribeStackInstance",
                "cloudformation:ListStackInstances",
                "cloudformation:TagResource",
                "cloudformation:UntagResource",
            ],
            resources=[
                stack.format_arn(service="cloudformation", resource="stackset", resource_name=f"{platform_name}-*"),
                stack.format_arn(
                    service="cloudformation", resource="stackset-target", resource_name=f"{platform_name}-*"
                ),
                stack.format_arn(service="cloudformation", resource="type", resource_name="resource/*"),
            ],
        ),
        iam.PolicyStatement(
            sid="PassTheStackSetAdministrationRole",
            actions=["iam:PassRole"],
            resources=[f"arn:{stack.partition}:iam::{stack.account}:role/{stackset_admin_role_name(platform_name)}"],
            conditions={"StringEquals": {"iam:PassedToService": CLOUDFORMATION}},
        ),
    ]
