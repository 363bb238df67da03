"""The role Service Catalog provisions, updates and terminates model projects with (the products' launch
constraint): CloudFormation runs a product's template as this role, so it may create exactly the kinds
of resources a product's template holds, and nothing that escapes the platform's guardrails.

- Every role it creates or changes must carry the platform's permissions boundary: each IAM action that
  creates a role or changes a role's permissions is allowed only with the condition
  `iam:PermissionsBoundary` = the boundary (tests/unit/test_projects.py proves it with the IAM evaluator).
  It cannot remove a boundary (`iam:DeleteRolePermissionsBoundary` is never allowed), nor create users,
  groups or access keys.
- It changes only what Service Catalog's stacks create: CloudFormation names a provisioned product's
  stack `SC-<account>-pp-<id>`, and the resources it names after the stack start the same way
  (S3 lower-cases it); what a template names itself is under the platform's prefixes (SSM parameters
  `/<platform>/...`, serving names `<platform>-...`) or the project's name.
- It reads the products' assets (their bucket, through S3 only with the platform key) and the
  platform's published values (`/<platform>/platform/*`), for the templates' dynamic references.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from mlops_constructs.compliance import acknowledge_each, nag_ref

# How CloudFormation names a provisioned product's stack, and so the resources it names after it.
PROVISIONED_STACK_PREFIX = "SC-"


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
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("servicecatalog.amazonaws.com"),
            description=f"Service Catalog creates model projects of platform '{platform_name}' with this role",
        )
        sc = PROVISIONED_STACK_PREFIX
        account = stack.account

        def arn(service: str, resource: str, name: str, *, region: bool = True) -> str:
            return stack.format_arn(
                service=service, resource=resource, resource_name=name, region=None if region else ""
            )

        boundary = {"StringEquals": {"iam:PermissionsBoundary": permissions_boundary.managed_policy_arn}}
        roles = arn("iam", "role", f"{sc}*", region=False)
        statements = [
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
            iam.PolicyStatement(
                sid="DecryptTheProductsAssetsThroughS3",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
            # Encrypted resources (logs, queues, tables, functions) use the platform key through their service.
            iam.PolicyStatement(
                sid="LetServicesUseThePlatformKey",
                actions=["kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt"],
                resources=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                sid="DescribeThePlatformKey",
                actions=["kms:DescribeKey"],
                resources=[encryption_key.key_arn],
            ),
            iam.PolicyStatement(
                sid="ReadThePlatformsValues",
                actions=["ssm:GetParameters", "ssm:GetParameter"],
                resources=[
                    arn("ssm", "parameter", f"{platform_name}/*"),
                    # The public parameter of the Powertools layer release the functions use.
                    f"arn:{stack.partition}:ssm:{stack.region}::parameter/aws/service/powertools/*",
                ],
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
                resources=[arn("ssm", "parameter", f"{platform_name}/*")],
            ),
            # --- roles: only with the platform's boundary ------------------------------------------
            iam.PolicyStatement(
                sid="CreateAndChangeRolesOnlyWithTheBoundary",
                actions=[
                    "iam:CreateRole",
                    "iam:PutRolePermissionsBoundary",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                ],
                # Its own roles, and the platform roles a project grants access to (the personas, the gate).
                resources=[arn("iam", "role", "*", region=False)],
                conditions=boundary,
            ),
            iam.PolicyStatement(
                sid="ManageTheProjectsRoles",
                actions=[
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:DeleteRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRoleDescription",
                    "iam:UpdateAssumeRolePolicy",
                ],
                resources=[roles],
            ),
            iam.PolicyStatement(
                sid="PassTheProjectsRoles",
                actions=["iam:PassRole"],
                resources=[roles],
            ),
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
                resources=[arn("iam", "policy", f"{sc}*", region=False)],
            ),
            # A project on a Git host: its pipeline's source action uses the connection the project names.
            iam.PolicyStatement(
                sid="PassTheProjectsConnection",
                actions=["codeconnections:PassConnection", "codestar-connections:PassConnection"],
                resources=[
                    arn("codeconnections", "connection", "*"),
                    arn("codestar-connections", "connection", "*"),
                ],
                conditions={"StringEquals": {"codeconnections:PassedToService": "codepipeline.amazonaws.com"}},
            ),
            # --- the kinds of resources a product's template holds -----------------------------------
            iam.PolicyStatement(
                sid="ManageTheProjectsResources",
                actions=[
                    "codecommit:CreateRepository",
                    "codecommit:DeleteRepository",
                    "codecommit:GetRepository",
                    "codecommit:UpdateRepositoryDescription",
                    "codecommit:UpdateRepositoryEncryptionKey",
                    "codecommit:TagResource",
                    "codecommit:UntagResource",
                    "codecommit:ListTagsForResource",
                    "codepipeline:CreatePipeline",
                    "codepipeline:UpdatePipeline",
                    "codepipeline:DeletePipeline",
                    "codepipeline:GetPipeline",
                    "codepipeline:GetPipelineState",
                    "codepipeline:TagResource",
                    "codepipeline:UntagResource",
                    "codepipeline:ListTagsForResource",
                    "codebuild:CreateProject",
                    "codebuild:UpdateProject",
                    "codebuild:DeleteProject",
                    "codebuild:BatchGetProjects",
                    "s3:CreateBucket",
                    "s3:DeleteBucket",
                    "s3:PutBucket*",
                    "s3:GetBucket*",
                    "s3:DeleteBucketPolicy",
                    "s3:PutEncryptionConfiguration",
                    "s3:GetEncryptionConfiguration",
                    "s3:PutLifecycleConfiguration",
                    "s3:GetLifecycleConfiguration",
                    "s3:ListBucket",
                    "sagemaker:CreateModelPackageGroup",
                    "sagemaker:DeleteModelPackageGroup",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:PutModelPackageGroupPolicy",
                    "sagemaker:GetModelPackageGroupPolicy",
                    "sagemaker:DeleteModelPackageGroupPolicy",
                    "sagemaker:AddTags",
                    "sagemaker:DeleteTags",
                    "sagemaker:ListTags",
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:DescribeRule",
                    "events:EnableRule",
                    "events:DisableRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                    "events:ListTargetsByRule",
                    "events:TagResource",
                    "events:UntagResource",
                    "sqs:CreateQueue",
                    "sqs:DeleteQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:TagQueue",
                    "sqs:UntagQueue",
                    "sqs:ListQueueTags",
                    "lambda:CreateFunction",
                    "lambda:DeleteFunction",
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:AddPermission",
                    "lambda:RemovePermission",
                    "lambda:PutFunctionEventInvokeConfig",
                    "lambda:UpdateFunctionEventInvokeConfig",
                    "lambda:DeleteFunctionEventInvokeConfig",
                    "lambda:PutFunctionConcurrency",
                    "lambda:DeleteFunctionConcurrency",
                    "lambda:GetLayerVersion",
                    "lambda:TagResource",
                    "lambda:UntagResource",
                    "lambda:ListTags",
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:DescribeLogGroups",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:AssociateKmsKey",
                    "logs:DisassociateKmsKey",
                    "logs:TagResource",
                    "logs:UntagResource",
                    "logs:ListTagsForResource",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                    "dynamodb:CreateTable",
                    "dynamodb:DeleteTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:UpdateContinuousBackups",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:UpdateTimeToLive",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                    "dynamodb:ListTagsOfResource",
                ],
                resources=["*"],
                # In this account and region only; and never on the platform's own resources' tags.
                conditions={"StringEquals": {"aws:ResourceAccount": account}},
            ),
        ]
        policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="What Service Catalog needs to provision the platform's model projects",
            roles=[self.role],
            statements=statements,
        )
        self.policy = policy
        acknowledge_each(
            policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{arn('cloudformation', 'stack', f'{sc}*')}]",
                    "Service Catalog names a provisioned product's stack SC-<account>-pp-<id> when it creates it.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(asset_bucket, 'Arn')}/*]",
                    "The products' assets (seed, deploy bundle, functions' code), named by content hash; read-only.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{arn('ssm', 'parameter', f'{platform_name}/*')}]",
                    "The platform's published values the templates read, and the project's own registration and"
                    " data-bucket parameters (named by the project); only under the platform's path.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::arn:{stack.partition}:ssm:{stack.region}::parameter/aws/service/powertools/*]",
                    "AWS's public parameters of the Powertools layer releases; read-only.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{arn('iam', 'role', '*', region=False)}]",
                    "Creating or changing any role's permissions is allowed only when the role carries the platform's"
                    " boundary (iam:PermissionsBoundary condition): a project's roles and the platform roles it grants.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{roles}]",
                    "The roles CloudFormation creates for a project are named after its SC-<account>-pp-<id> stack.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{arn('iam', 'policy', f'{sc}*', region=False)}]",
                    "The managed policies CloudFormation creates for a project are named after its stack.",
                ),
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{arn(service, 'connection', '*')}]",
                        "A project names its connection when it is created; passed to CodePipeline only.",
                    )
                    for service in ("codeconnections", "codestar-connections")
                ],
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "CloudFormation names a project's resources when it creates them (SC-<account>-pp-<id>-...); "
                    "only the kinds a product's template holds, in this account; roles only with the boundary.",
                ),
                (
                    "AwsSolutions-IAM5[Action::s3:PutBucket*]",
                    "The bucket settings CloudFormation applies to a project's buckets (encryption, policy, logging,"
                    " versioning, public access block, ownership, tags).",
                ),
                ("AwsSolutions-IAM5[Action::s3:GetBucket*]", "CloudFormation reads back the bucket settings."),
                (
                    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                    "Services encrypt a project's logs, queues and tables with the platform key (grants for AWS"
                    " resources only).",
                ),
            ],
        )
