"""The role a SageMaker job or endpoint runs as, with what every such role needs and nothing more."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from mlops_constructs.compliance import acknowledge_each

# SageMaker's own images (scikit-learn, XGBoost, the Model Monitor analyzer) live in repositories
# named sagemaker-* in AWS-owned accounts that differ per region.
SAGEMAKER_IMAGE_REPOSITORIES = "repository/sagemaker-*"


class SageMakerServiceRole(Construct):
    """Assumed by SageMaker; pulls SageMaker images, writes its logs and metrics, uses the platform key.

    `log_groups` are the log group names (or name patterns ending in `*`) the workload writes, e.g.
    `/aws/sagemaker/Endpoints/<endpoint>`, and `metric_namespace` the CloudWatch namespace pattern it
    may publish to. Workload-specific permissions go to `self.policy` (add_statements) or come from
    grants on `self.role`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        encryption_key: kms.IKey,
        log_groups: list[str],
        metric_namespace: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description
        )
        encryption_key.grant_encrypt_decrypt(self.role)
        images = f"arn:{stack.partition}:ecr:{stack.region}:*:{SAGEMAKER_IMAGE_REPOSITORIES}"
        # A named group's streams are `<group>:log-stream:<stream>`; a pattern ending in `*` covers them.
        logs_arns = [
            stack.format_arn(
                service="logs", resource="log-group", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            + suffix
            for name in log_groups
            for suffix in ([""] if name.endswith("*") else ["", ":log-stream:*"])
        ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="PullSageMakerImages",
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                    resources=[images],
                ),
                iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    sid="WriteLogs",
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=logs_arns,
                ),
                iam.PolicyStatement(
                    sid="PublishMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringLike": {"cloudwatch:namespace": metric_namespace}},
                ),
            ],
        )
        acknowledge_each(
            self.policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{images}]",
                    "SageMaker's images live in AWS-owned accounts that differ per region.",
                ),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    f"GetAuthorizationToken has no resource; PutMetricData is limited to {metric_namespace}.",
                ),
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{logs_arn}]",
                        "SageMaker creates one log group per job type or endpoint, with streams per instance.",
                    )
                    for logs_arn in logs_arns
                    if logs_arn.endswith("*")
                ],
            ],
        )
        acknowledge_each(
            self.role,
            [
                ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "L2 grant on the platform key: encrypted outputs."),
                ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "L2 grant on the platform key: encrypted outputs."),
            ],
        )
