"""The platform's customer-managed KMS key and the service access its key policy allows."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class PlatformKey(Construct):
    """A rotating customer-managed key for every platform store.

    The key policy keeps the account-root statement CDK adds (so IAM policies, and the L2 grants
    of later stacks, decide which roles may use the key) and lets exactly these services use it
    on the account's behalf: CloudTrail (encrypt trail files of this account's trails),
    CloudWatch Logs (log groups of this account and region), and the services that publish to the
    encrypted alert topic (CloudWatch alarms, EventBridge, AWS Budgets). S3 and SageMaker need no
    statement of their own: they use the key through the calling role's grant (kms:ViaService).

    Grants are for AWS resources only: nobody, whatever their IAM policies say, can call
    kms:CreateGrant directly and hand the key to a principal of their choosing (a grant outlives
    the policy change that would revoke it and shows up in no policy). The services that encrypt
    volumes, tables and functions with the key still create their grants.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alias: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            alias=alias,
            description="Encrypts the MLOps platform's buckets, logs, topics, models and features",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        account, region, partition = stack.account, stack.region, stack.partition

        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptsThisAccountsTrails",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{account}:trail/*"
                    },
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribesKey",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:*"}
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlertPublishersUseEncryptedTopics",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                    iam.ServicePrincipal("budgets.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        # AWS Control Tower's proactive control CT.KMS.PR.3, verbatim. kms:GrantIsForAWSResource is true
        # when a service integrated with KMS creates the grant on the caller's behalf (SageMaker endpoint
        # volumes, DynamoDB tables, Lambda environments: the grants the platform's resources need) and
        # false when a principal calls CreateGrant itself; aws:PrincipalIsAWSService is true when a
        # service principal calls under its own name. BoolIfExists, not Bool: a request that carries
        # neither key cannot prove it is either, so the deny fails closed instead of open. Only
        # CreateGrant: the root statement keeps every other action (key policy, rotation, ListGrants,
        # RevokeGrant to clean up), so administrators keep managing the key and its existing grants.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="GrantsOnlyForAwsResources",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:CreateGrant"],
                resources=["*"],
                conditions={
                    "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}
                },
            )
        )
