"""The role Service Catalog provisions, updates and terminates model projects with (the products' launch
constraint): CloudFormation runs a product's template as this role, so it may create exactly the kinds
of resources a product's template holds, and nothing that escapes the platform's guardrails.

- Roles: it creates and changes only the roles of provisioned products' stacks (CloudFormation names
  them after the stack, `SC-<account>-pp-<id>-...`), each only with the platform's permissions boundary
  (`iam:PermissionsBoundary`), never with the approver tag (the boundary's separation of duties keys
  on it). On the platform's shared roles (the personas, the approval gate: roles of the governance and
  approval stacks, which carry the boundary) it may only attach and detach the managed policies a
  provisioned product created (`iam:PolicyARN`), never write inline policies. It cannot remove a
  boundary, nor create users, groups or access keys (tests/unit/test_launch_role.py proves it with the
  IAM evaluator).
- Everything else it changes is what Service Catalog's stacks create: the resources CloudFormation
  names after the stack, or what a template names itself under the platform's prefixes (a model's
  registration `/<platform>/models/<project>` and data-bucket parameter; never `/<platform>/platform/*`,
  the published platform values).
- It reads the products' assets (their bucket, through S3, with the platform key), the platform's
  published values, and AWS's public Powertools layer.

Three managed policies (stacks and reads; roles; resources): IAM caps one at 6,144 characters.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.common.contracts import APPROVER_TAG, MODELS_NAMESPACE, PLATFORM_NAMESPACE
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.launch_actions import PROJECT_RESOURCE_ACTIONS

# How CloudFormation names a provisioned product's stack, and so the resources it names after it.
PROVISIONED_STACK_PREFIX = "SC-"
# The account AWS publishes the Powertools for AWS Lambda layers from, in every commercial region.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
# What CloudFormation does to a project's roles besides creating them and writing their policies.
ROLE_MANAGEMENT_ACTIONS = [
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
]
# The services that use the platform key on a project's behalf when CloudFormation creates its resources.
KEY_USING_SERVICES = ("codecommit", "lambda", "s3", "sqs", "dynamodb", "logs", "codebuild", "codepipeline")


class ProductLaunchRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        permissions_boundary: iam.IManagedPolicy,
        encryption_key: kms.IKey,
        asset_bucket: s3.IBucket,
        extra_statements: Sequence[iam.PolicyStatement] = (),
    ) -> None:
        """`extra_statements`: what only some platforms' projects need (serving in the stage accounts), in a
        policy of their own."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("servicecatalog.amazonaws.com"),
            description=f"Service Catalog creates model projects of platform '{platform_name}' with this role",
        )
        sc = PROVISIONED_STACK_PREFIX

        def arn(service: str, resource: str, name: str, *, region: bool = True) -> str:
            return stack.format_arn(
                service=service, resource=resource, resource_name=name, region=None if region else ""
            )

        self._arn = arn
        project_roles = arn("iam", "role", f"{sc}*", region=False)
        # The platform's shared roles a project grants access to: the personas' (governance stack) and the
        # approval gate's (approval stack), named by CloudFormation after their stacks.
        platform_roles = [
            arn("iam", "role", f"{platform_name}-{owner}-*", region=False) for owner in ("governance", "approval")
        ]
        project_policies = arn("iam", "policy", f"{sc}*", region=False)
        parameters = arn("ssm", "parameter", f"{platform_name}/*")
        written_parameters = [
            arn("ssm", "parameter", f"{platform_name}/{MODELS_NAMESPACE}/*"),
            arn("ssm", "parameter", f"{platform_name}/*/data-bucket"),
        ]
        published_values = arn("ssm", "parameter", f"{platform_name}/{PLATFORM_NAMESPACE}/*")
        boundary = {"iam:PermissionsBoundary": permissions_boundary.managed_policy_arn}
        key_services = [f"{service}.{stack.region}.amazonaws.com" for service in KEY_USING_SERVICES]
        powertools_layers = f"arn:{stack.partition}:lambda:{stack.region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-*"
        public_parameters = f"arn:{stack.partition}:ssm:{stack.region}::parameter/aws/service/powertools/*"

        stacks_and_reads = [
            iam.PolicyStatement(
                sid="RunTheProvisionedStacks",
                actions=[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStackResource",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:GetTemplate",
                    "cloudformation:SetStackPolicy",
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteChangeSet",
                    "cloudformation:ContinueUpdateRollback",
                ],
                resources=[arn("cloudformation", "stack", f"{sc}*")],
            ),
            iam.PolicyStatement(
                sid="ReadTemplates",
                actions=["cloudformation:GetTemplateSummary", "cloudformation:ValidateTemplate"],
                resources=["*"],
            ),
            # Service Catalog's copies of the products' templates (its own bucket, its own tag).
            iam.PolicyStatement(
                sid="ReadServiceCatalogTemplates",
                actions=["s3:GetObject"],
                resources=["*"],
                conditions={"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}},
            ),
            iam.PolicyStatement(
                sid="ReadTheProductsAssets",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[asset_bucket.arn_for_objects("*")],
            ),
            # The key through the services that use it for a project: S3 (the assets, the buckets),
            # CodeCommit (the repository), Lambda (environment), SQS, DynamoDB, Logs, CodeBuild, CodePipeline.
            iam.PolicyStatement(
                sid="UseThePlatformKeyThroughItsServices",
                actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                resources=[encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": key_services}},
            ),
            iam.PolicyStatement(
                sid="LetServicesHoldGrantsOnThePlatformKey",
                actions=["kms:CreateGrant"],
                resources=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                sid="DescribeThePlatformKey", actions=["kms:DescribeKey"], resources=[encryption_key.key_arn]
            ),
            iam.PolicyStatement(
                sid="ReadThePlatformsValues",
                actions=["ssm:GetParameters", "ssm:GetParameter"],
                resources=[parameters, public_parameters],
            ),
            iam.PolicyStatement(
                sid="RegisterTheProjectsModel",
                actions=[
                    "ssm:PutParameter",
                    "ssm:DeleteParameter",
                    "ssm:AddTagsToResource",
                    "ssm:RemoveTagsFromResource",
                    "ssm:ListTagsForResource",
                ],
                resources=written_parameters,
            ),
            iam.PolicyStatement(
                sid="NeverThePublishedPlatformValues",
                effect=iam.Effect.DENY,
                actions=[
                    "ssm:PutParameter",
                    "ssm:DeleteParameter",
                    "ssm:AddTagsToResource",
                    "ssm:RemoveTagsFromResource",
                ],
                resources=[published_values],
            ),
            iam.PolicyStatement(
                sid="UseThePowertoolsLayer",
                actions=["lambda:GetLayerVersion"],
                resources=[f"{powertools_layers}:*"],
            ),
            # A project on a Git host: its pipeline's source action uses the connection the project names.
            # Each service prefix has its own condition key (connections created before the 2024 rename
            # keep the codestar-connections ARN).
            *[
                iam.PolicyStatement(
                    sid=f"PassTheProjectsConnection{index}",
                    actions=[f"{prefix}:PassConnection"],
                    resources=[arn(prefix, "connection", "*")],
                    conditions={"StringEquals": {f"{prefix}:PassedToService": "codepipeline.amazonaws.com"}},
                )
                for index, prefix in enumerate(("codeconnections", "codestar-connections"), start=1)
            ],
        ]
        roles = [
            iam.PolicyStatement(
                sid="CreateTheProjectsRolesOnlyWithTheBoundary",
                actions=[
                    "iam:CreateRole",
                    "iam:PutRolePermissionsBoundary",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                ],
                resources=[project_roles],
                conditions={"StringEquals": boundary},
            ),
            iam.PolicyStatement(
                sid="AttachOnlyTheProjectsPoliciesToRolesWithTheBoundary",
                actions=["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                resources=[project_roles, *platform_roles],
                conditions={"StringEquals": boundary, "ArnLike": {"iam:PolicyARN": project_policies}},
            ),
            iam.PolicyStatement(
                sid="NeverTheApproverTag",
                effect=iam.Effect.DENY,
                actions=["iam:CreateRole", "iam:TagRole"],
                resources=["*"],
                conditions={"StringLike": {f"aws:RequestTag/{APPROVER_TAG}": "*"}},
            ),
            iam.PolicyStatement(
                sid="ManageTheProjectsRoles", actions=ROLE_MANAGEMENT_ACTIONS, resources=[project_roles]
            ),
            iam.PolicyStatement(sid="PassTheProjectsRoles", actions=["iam:PassRole"], resources=[project_roles]),
            iam.PolicyStatement(
                sid="ManageTheProjectsPolicies",
                actions=[
                    "iam:CreatePolicy",
                    "iam:DeletePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicyVersion",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyVersions",
                    "iam:ListEntitiesForPolicy",
                    "iam:TagPolicy",
                    "iam:UntagPolicy",
                ],
                resources=[project_policies],
            ),
        ]
        resources = [
            iam.PolicyStatement(
                sid="ManageTheProjectsResources",
                actions=PROJECT_RESOURCE_ACTIONS,
                resources=["*"],
                # In this account only.
                conditions={"StringEquals": {"aws:ResourceAccount": stack.account}},
            ),
            iam.PolicyStatement(
                sid="ListWhatTakesNoResource",
                actions=["codecommit:ListRepositories", "events:ListRules", "logs:DescribeLogGroups"],
                resources=["*"],
            ),
        ]
        self.policies = [
            iam.ManagedPolicy(self, policy_id, description=description, roles=[self.role], statements=statements)
            for policy_id, description, statements in (
                (
                    "Policy",
                    "Service Catalog runs a model project's stack, reads its assets and the platform's values",
                    stacks_and_reads,
                ),
                (
                    "RolesPolicy",
                    "Service Catalog creates a model project's roles, only with the platform's boundary",
                    roles,
                ),
                ("ResourcesPolicy", "Service Catalog creates a model project's resources", resources),
                (
                    "AccountsPolicy",
                    "Service Catalog creates a model project's roles in the stage accounts",
                    list(extra_statements),
                ),
            )
            if statements
        ]
        self._acknowledge(
            platform_name, asset_bucket, parameters, written_parameters, public_parameters, powertools_layers
        )

    def _acknowledge(
        self,
        platform_name: str,
        asset_bucket: s3.IBucket,
        parameters: str,
        written_parameters: list[str],
        public_parameters: str,
        powertools_layers: str,
    ) -> None:
        arn, sc = self._arn, PROVISIONED_STACK_PREFIX
        named_by_cloudformation = "CloudFormation names a project's resources after its SC-<account>-pp-<id> stack."
        acknowledge_each(
            self.policies[0],
            [
                (f"AwsSolutions-IAM5[Resource::{arn('cloudformation', 'stack', f'{sc}*')}]", named_by_cloudformation),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "Template validation and Service Catalog's own template copies (tagged).",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(asset_bucket, 'Arn')}/*]",
                    "The products' assets (seed, deploy bundle, functions' code), named by content hash; read-only.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{parameters}]",
                    "The platform's published values the templates read; read-only.",
                ),
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{parameter}]",
                        "A project's registration and data-bucket parameter, named by the project.",
                    )
                    for parameter in written_parameters
                ],
                (
                    f"AwsSolutions-IAM5[Resource::{public_parameters}]",
                    "AWS's public parameters of the Powertools layer releases; read-only.",
                ),
                (f"AwsSolutions-IAM5[Resource::{powertools_layers}:*]", "AWS's Powertools layer versions; read-only."),
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{arn(prefix, 'connection', '*')}]",
                        "A project names its connection when it is created; passed to CodePipeline only.",
                    )
                    for prefix in ("codeconnections", "codestar-connections")
                ],
                (
                    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
                    "Through the services that encrypt a project's resources.",
                ),
                (
                    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                    "Through the services that encrypt a project's resources.",
                ),
            ],
        )
        acknowledge_each(
            self.policies[1],
            [
                (f"AwsSolutions-IAM5[Resource::{arn('iam', 'role', f'{sc}*', region=False)}]", named_by_cloudformation),
                (
                    f"AwsSolutions-IAM5[Resource::{arn('iam', 'policy', f'{sc}*', region=False)}]",
                    named_by_cloudformation,
                ),
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{arn('iam', 'role', f'{platform_name}-{owner}-*', region=False)}]",
                        "The platform's shared roles (named after their stacks): only a project's own managed policies"
                        " are attached to them, and only while they carry the boundary.",
                    )
                    for owner in ("governance", "approval")
                ],
                ("AwsSolutions-IAM5[Resource::*]", "A deny: no role is ever created or tagged as an approver."),
            ],
        )
        acknowledge_each(
            self.policies[2],
            [
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    named_by_cloudformation + " Only the kinds a product holds, in this account.",
                ),
                (
                    "AwsSolutions-IAM5[Action::s3:PutBucket*]",
                    "The bucket settings CloudFormation applies to a project's buckets.",
                ),
                ("AwsSolutions-IAM5[Action::s3:GetBucket*]", "CloudFormation reads back the bucket settings."),
            ],
        )
