"""Persona roles with separation of duties on model approval, and the boundary that enforces it.

Only principals tagged `mlops:model-approver=true` may change a model package's approval status;
nobody may register a package that is already approved. The rule lives in the permissions
boundary that every platform role carries (personas here, workload roles in later stacks), so no
identity policy, however broad, can grant a data scientist or a pipeline the power to approve.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from lambdas.common.contracts import APPROVER_TAG
from mlops_constructs.compliance import acknowledge_each

PACKAGE_APPROVAL_ACTION = "sagemaker:UpdateModelPackage"
DEPLOYMENT_APPROVAL_ACTION = "codepipeline:PutApprovalResult"
# Approving a model package, and approving its production deployment.
APPROVAL_ACTIONS = [PACKAGE_APPROVAL_ACTION, DEPLOYMENT_APPROVAL_ACTION]


def _sagemaker_arn(stack: Stack, resource: str) -> str:
    return f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{resource}"


def workload_boundary(
    scope: Construct,
    construct_id: str,
    *,
    platform_name: str,
    extra_statements: Sequence[iam.PolicyStatement] = (),
    guard_exempt_role_arns: Sequence[str] = (),
    name: str | None = None,
) -> iam.ManagedPolicy:
    """The permissions boundary every platform role of an account carries (the tooling account's, and a
    serving account's with its own `extra_statements`): it allows what identity policies grant and denies
    what no platform role may do, whatever they grant. `guard_exempt_role_arns`: roles that create other
    roles for CloudFormation (a stage account's StackSet provisioner), which tag roles and write policy
    versions; their own policies confine them."""
    stack = Stack.of(scope)
    boundary = iam.ManagedPolicy(
        scope,
        construct_id,
        managed_policy_name=name,
        description="Permissions boundary of every MLOps platform role: separation of duties and audit guardrails",
        statements=[
            iam.PolicyStatement(
                sid="AllowWhatIdentityPoliciesGrant",
                actions=["*"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="OnlyApproversChangeApprovalStatus",
                effect=iam.Effect.DENY,
                actions=APPROVAL_ACTIONS,
                resources=["*"],
                conditions={"StringNotEquals": {f"aws:PrincipalTag/{APPROVER_TAG}": "true"}},
            ),
            iam.PolicyStatement(
                sid="NoPreApprovedPackages",
                effect=iam.Effect.DENY,
                actions=["sagemaker:CreateModelPackage"],
                resources=["*"],
                conditions={"StringEquals": {"sagemaker:ModelApprovalStatus": "Approved"}},
            ),
            iam.PolicyStatement(
                sid="NoEscapeFromTheBoundary",
                effect=iam.Effect.DENY,
                actions=[
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:PutRolePermissionsBoundary",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                ],
                resources=["*"],
                conditions={"StringNotEquals": {"aws:PrincipalArn": list(guard_exempt_role_arns)}}
                if guard_exempt_role_arns
                else None,
            ),
            # What models register and the platform publishes in SSM is written by CloudFormation
            # only (the deploying stacks): no platform role may point a model's registration at
            # another pipeline or threshold, or change a published platform value.
            iam.PolicyStatement(
                sid="NoWritesToThePlatformsParameters",
                effect=iam.Effect.DENY,
                actions=[
                    "ssm:PutParameter",
                    "ssm:DeleteParameter",
                    "ssm:DeleteParameters",
                    "ssm:LabelParameterVersion",
                    "ssm:UnlabelParameterVersion",
                ],
                resources=[f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:parameter/{platform_name}/*"],
            ),
            iam.PolicyStatement(
                sid="NoTamperingWithTheAuditTrail",
                effect=iam.Effect.DENY,
                actions=[
                    "cloudtrail:StopLogging",
                    "cloudtrail:DeleteTrail",
                    "cloudtrail:UpdateTrail",
                    "cloudtrail:PutEventSelectors",
                    "kms:ScheduleKeyDeletion",
                    "kms:DisableKey",
                    "kms:PutKeyPolicy",
                ],
                resources=["*"],
            ),
            *extra_statements,
        ],
    )
    acknowledge_each(
        boundary,
        [
            (
                "AwsSolutions-IAM5[Action::*]",
                "Permissions boundary: effective permissions are the intersection with the identity policies, which are scoped.",
            ),
            (
                "AwsSolutions-IAM5[Resource::*]",
                "Permissions boundary: the explicit denies must hold for every resource; allows come from scoped identity policies.",
            ),
            (
                "NIST.800.53.R5-IAMPolicyNoStatementsWithAdminAccess",
                "Permissions boundary, never an identity policy: it caps permissions and grants none.",
            ),
            (
                "NIST.800.53.R5-IAMPolicyNoStatementsWithFullAccess",
                "Permissions boundary, never an identity policy: it caps permissions and grants none.",
            ),
        ],
    )
    return boundary


class PersonaRoles(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform_name: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.boundary = workload_boundary(self, "WorkloadBoundary", platform_name=platform_name)

        read_registry_and_pipelines = iam.PolicyStatement(
            sid="ReadRegistryAndPipelines",
            actions=[
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:ListModelPackages",
                "sagemaker:DescribePipeline",
                "sagemaker:DescribePipelineExecution",
                "sagemaker:ListPipelineExecutions",
                "sagemaker:ListPipelineExecutionSteps",
            ],
            resources=[
                _sagemaker_arn(stack, "model-package/*"),
                _sagemaker_arn(stack, "model-package-group/*"),
                _sagemaker_arn(stack, "pipeline/*"),
            ],
        )

        self.data_scientist = iam.Role(
            self,
            "DataScientist",
            assumed_by=iam.AccountRootPrincipal(),
            description="Builds and registers models; cannot approve them",
            permissions_boundary=self.boundary,
            max_session_duration=Duration.hours(4),
        )
        data_scientist_policy = iam.ManagedPolicy(
            self,
            "DataScientistPolicy",
            roles=[self.data_scientist],
            statements=[
                read_registry_and_pipelines,
                iam.PolicyStatement(
                    sid="RunPipelinesAndRegisterPackages",
                    actions=[
                        "sagemaker:StartPipelineExecution",
                        "sagemaker:StopPipelineExecution",
                        "sagemaker:RetryPipelineExecution",
                        "sagemaker:CreateModelPackage",
                    ],
                    resources=[
                        _sagemaker_arn(stack, "pipeline/*"),
                        _sagemaker_arn(stack, "model-package/*"),
                        _sagemaker_arn(stack, "model-package-group/*"),
                    ],
                ),
                # Also denied by the boundary; stated here so the role's own policy documents it.
                iam.PolicyStatement(
                    sid="DataScientistsNeverApprove",
                    effect=iam.Effect.DENY,
                    actions=APPROVAL_ACTIONS,
                    resources=["*"],
                ),
            ],
        )

        self.model_approver = iam.Role(
            self,
            "ModelApprover",
            assumed_by=iam.AccountRootPrincipal(),
            description="The only persona allowed to change a model package's approval status",
            permissions_boundary=self.boundary,
            max_session_duration=Duration.hours(1),
        )
        Tags.of(self.model_approver).add(APPROVER_TAG, "true")
        approver_policy = iam.ManagedPolicy(
            self,
            "ModelApproverPolicy",
            roles=[self.model_approver],
            statements=[
                read_registry_and_pipelines,
                iam.PolicyStatement(
                    sid="ChangeApprovalStatus",
                    actions=[PACKAGE_APPROVAL_ACTION],
                    resources=[_sagemaker_arn(stack, "model-package/*")],
                ),
            ],
        )
        for policy in (data_scientist_policy, approver_policy):
            acknowledge_each(
                policy,
                [
                    (
                        f"AwsSolutions-IAM5[Resource::{_sagemaker_arn(stack, resource)}]",
                        "Personas work across every model of the platform in this account and region; teams name their resources.",
                    )
                    for resource in ("model-package/*", "model-package-group/*", "pipeline/*")
                ],
            )


def let_studio_run_as(role: iam.Role) -> None:
    """Let SageMaker Studio run as a persona role (a user profile's execution role), naming the user
    profile as the session's source identity in CloudTrail. Only roles Studio profiles use get it; no
    platform role may pass a persona role to anything else (no iam:PassRole grant names them)."""
    assert role.assume_role_policy is not None  # an iam.Role always has its trust policy
    role.assume_role_policy.add_statements(
        iam.PolicyStatement(
            sid="SageMakerStudioRunsAsThisPersona",
            principals=[iam.ServicePrincipal("sagemaker.amazonaws.com")],
            actions=["sts:AssumeRole", "sts:SetSourceIdentity"],
        )
    )
