"""Buckets with the platform's baseline: encrypted, versioned, TLS-only, private, logged, retained."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from mlops_constructs.compliance import acknowledge_each


class AccessLogBucket(Construct):
    """The target of every platform bucket's S3 server access logs.

    S3 delivers server access logs only to buckets encrypted with SSE-S3, so this is the one bucket
    without the platform key; it holds no data besides the access logs themselves.
    """

    def __init__(self, scope: Construct, construct_id: str, *, expiration_days: int) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(expiration_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge_each(
            self.bucket,
            [
                ("AwsSolutions-S1", "This is the access-log target; logging it into itself would loop."),
                (
                    "NIST.800.53.R5-S3BucketLoggingEnabled",
                    "This is the access-log target; logging it into itself would loop.",
                ),
                ("NIST.800.53.R5-S3DefaultEncryptionKMS", "S3 server access logging only delivers to SSE-S3 buckets."),
                (
                    "NIST.800.53.R5-S3BucketReplicationEnabled",
                    "Access logs are operational data with an expiry; a replica adds cost, not protection.",
                ),
            ],
        )


class SecureBucket(Construct):
    """A KMS-encrypted, versioned, TLS-only, private bucket with access logs, kept on stack deletion.

    Old object versions expire after `noncurrent_version_days`, or move to Glacier and are kept
    when `archive_after_days` is given (audit data that must never be deleted).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        access_log_prefix: str,
        noncurrent_version_days: int | None = None,
        archive_after_days: int | None = None,
        bucket_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if (noncurrent_version_days is None) == (archive_after_days is None):
            raise ValueError("give exactly one of noncurrent_version_days (expire) or archive_after_days (keep)")
        if archive_after_days is not None:
            lifecycle = s3.LifecycleRule(
                id="ArchiveToGlacier",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.GLACIER, transition_after=Duration.days(archive_after_days)
                    )
                ],
                noncurrent_version_transitions=[
                    s3.NoncurrentVersionTransition(
                        storage_class=s3.StorageClass.GLACIER, transition_after=Duration.days(archive_after_days)
                    )
                ],
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        else:
            lifecycle = s3.LifecycleRule(
                id="ExpireOldVersions",
                noncurrent_version_expiration=Duration.days(noncurrent_version_days or 0),
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix=access_log_prefix,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[lifecycle],
        )
        acknowledge_each(
            self.bucket,
            [
                (
                    "NIST.800.53.R5-S3BucketReplicationEnabled",
                    "Single-region platform: versioning plus RETAIN protect the data; cross-region replication is a per-deployment choice.",
                ),
            ],
        )


def expiring_buckets(
    scope: Construct, *, encryption_key: kms.IKey, access_log_bucket: s3.IBucket, noncurrent_version_days: int
) -> Callable[[str, str], s3.Bucket]:
    """For a construct with several working buckets that share key, log target and version expiry:
    `make(construct_id, access_log_prefix)` adds one more `SecureBucket` to `scope`."""

    def make(construct_id: str, access_log_prefix: str) -> s3.Bucket:
        return SecureBucket(
            scope,
            construct_id,
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            access_log_prefix=access_log_prefix,
            noncurrent_version_days=noncurrent_version_days,
        ).bucket

    return make


def expiring_state_table(
    scope: Construct, construct_id: str, *, partition_key: str, encryption_key: kms.IKey, expiry: str
) -> dynamodb.ITableV2 | dynamodb.ITable:
    """A handler's small state table whose items expire (TTL attribute `expiration`).

    KMS with the platform key, point-in-time recovery, and RETAIN: a stack rollback must not drop
    in-flight records (idempotency keys, cool-down claims). `expiry` says how soon items expire,
    which is why the table needs no backup plan.

    In a region-agnostic template (a SageMaker Projects product's: Service Catalog deploys it in the
    region it is provisioned in) the table is an AWS::DynamoDB::Table with the same settings: a global
    table's customer-managed-key replica needs its region at synth time.
    """
    key = dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING)
    recovery = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
    table: dynamodb.ITableV2 | dynamodb.ITable
    if Token.is_unresolved(Stack.of(scope).region):
        table = dynamodb.Table(
            scope,
            construct_id,
            partition_key=key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiration",
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=recovery,
            removal_policy=RemovalPolicy.RETAIN,
        )
    else:
        table = dynamodb.TableV2(
            scope,
            construct_id,
            partition_key=key,
            time_to_live_attribute="expiration",
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(encryption_key),
            point_in_time_recovery_specification=recovery,
            removal_policy=RemovalPolicy.RETAIN,
        )
    acknowledge_each(table, [("NIST.800.53.R5-DynamoDBInBackupPlan", f"Items expire {expiry}; PITR covers recovery.")])
    return table


def prefix_access(
    scope: Construct,
    construct_id: str,
    *,
    grantee: iam.IRole,
    bucket_arn: str,
    read: list[str],
    write: list[str],
    description: str,
    reason: str,
    nag_bucket_arn: str | None = None,
) -> iam.ManagedPolicy:
    """List and read objects under the `read` prefixes, write under the `write` ones: a managed policy on
    `grantee`, acknowledged per prefix with `reason`. Prefixes are S3 key prefixes ending in "/" (or "" for
    the whole bucket); `nag_bucket_arn` is how cdk-nag writes `bucket_arn` when it is a token."""
    statements = []
    if read:
        statements += [
            iam.PolicyStatement(
                sid="ListThePrefixes",
                actions=["s3:ListBucket"],
                resources=[bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in read]}},
            ),
            iam.PolicyStatement(
                sid="ReadObjects", actions=["s3:GetObject"], resources=[f"{bucket_arn}/{prefix}*" for prefix in read]
            ),
        ]
    if write:
        statements.append(
            iam.PolicyStatement(
                sid="WriteObjects",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[f"{bucket_arn}/{prefix}*" for prefix in write],
            )
        )
    policy = iam.ManagedPolicy(scope, construct_id, description=description, roles=[grantee], statements=statements)
    acknowledge_each(
        policy,
        [
            (f"AwsSolutions-IAM5[Resource::{nag_bucket_arn or bucket_arn}/{prefix}*]", reason)
            for prefix in sorted(set(read + write))
        ],
    )
    return policy


def key_prefix(uri_path: str) -> str:
    """An S3 key prefix as a folder: "" for the bucket, else ending in one "/" ("a/b" and "a/b/" -> "a/b/")."""
    path = uri_path.strip("/")
    return f"{path}/" if path else ""


def is_other_account(scope: Construct, principal: iam.IRole) -> bool:
    """Whether `principal` is a role of another account than `scope`'s stack (a stage account's)."""
    return principal.env.account != Stack.of(scope).account


def grant_read_across_accounts(bucket: s3.IBucket, grantee: iam.IRole, prefixes: Sequence[str], *, sid: str) -> None:
    """Let a role of another account read objects under `prefixes`: its own account's policy cannot grant
    that alone, so the bucket's policy names the role. The key's policy lets the stage accounts' roles
    decrypt through S3 (`mlops_constructs.accounts.admit_stage_roles_to_key`); the grantee's account must
    also allow both in the role's own policy."""
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ArnPrincipal(grantee.role_arn)],
            actions=["s3:GetObject"],
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        )
    )
