"""SageMaker Feature Store feature groups declared in config, with their stores and access grants.

Each group gets an online store (KMS, optional TTL) and/or an offline store (S3 with KMS, a Glue
table created by Feature Store, Glue or Iceberg format). Roles get access only through the grants
here: ingestion (PutRecord), online reads (GetRecord) for serving, offline reads (Athena over the
Glue table and its S3 files) for training-set building.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import CfnTag, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.schema import FeatureGroupConfig
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.storage import SecureBucket

# Feature Store creates each group's Glue table in this database when it creates the group.
OFFLINE_STORE_DATABASE = "sagemaker_featurestore"
ATHENA_RESULTS_PREFIX = "athena-results/"
OFFLINE_STORE_PREFIX = "offline-store"


class FeatureStore(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        groups: list[FeatureGroupConfig],
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        noncurrent_version_days: int,
        athena_workgroup_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._stack = stack
        self._encryption_key = encryption_key
        # One managed policy per access and group, shared by the roles granted it (`_attach`).
        self._policies: dict[tuple[str, str], iam.ManagedPolicy] = {}
        self.offline_bucket = SecureBucket(
            self,
            "OfflineStore",
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            access_log_prefix="feature-store-offline/",
            noncurrent_version_days=noncurrent_version_days,
        ).bucket
        self.offline_store_role = self._offline_store_role(stack, encryption_key)

        self.feature_groups: dict[str, sagemaker.CfnFeatureGroup] = {}
        for group in groups:
            # The construct id is the group name: stable logical ids, one per configured group.
            feature_group = sagemaker.CfnFeatureGroup(
                self,
                group.name,
                feature_group_name=group.name,
                description=group.description,
                record_identifier_feature_name=group.record_identifier,
                event_time_feature_name=group.event_time,
                feature_definitions=[
                    sagemaker.CfnFeatureGroup.FeatureDefinitionProperty(feature_name=f.name, feature_type=f.type)
                    for f in group.features
                ],
                online_store_config=self._online_store(group, encryption_key),
                offline_store_config=self._offline_store(group, encryption_key),
                role_arn=self.offline_store_role.role_arn if group.offline_store else None,
                tags=[CfnTag(key=key, value=value) for key, value in sorted(group.tags.items())],
            )
            feature_group.apply_removal_policy(RemovalPolicy.RETAIN)
            feature_group.node.add_dependency(self.offline_store_role)
            self.feature_groups[group.name] = feature_group

        self.athena_workgroup_name = athena_workgroup_name
        self.athena_workgroup = athena.CfnWorkGroup(
            self,
            "AthenaWorkGroup",
            name=athena_workgroup_name,
            description="Point-in-time queries over the offline feature store",
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.offline_bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=encryption_key.key_arn
                    ),
                ),
            ),
        )
        self.athena_workgroup.apply_removal_policy(RemovalPolicy.RETAIN)

    # CfnFeatureGroup types both store configs as plain JSON, so they are written in CloudFormation's
    # own (PascalCase) shape rather than with the generated property classes.
    def _online_store(self, group: FeatureGroupConfig, key: kms.IKey) -> dict[str, object] | None:
        if not group.online_store:
            return None
        config: dict[str, object] = {"EnableOnlineStore": True, "SecurityConfig": {"KmsKeyId": key.key_arn}}
        if group.online_ttl_days:
            config["TtlDuration"] = {"Unit": "Days", "Value": group.online_ttl_days}
        return config

    def _offline_store(self, group: FeatureGroupConfig, key: kms.IKey) -> dict[str, object] | None:
        if not group.offline_store:
            return None
        return {
            "S3StorageConfig": {
                "S3Uri": f"s3://{self.offline_bucket.bucket_name}/{OFFLINE_STORE_PREFIX}",
                "KmsKeyId": key.key_arn,
            },
            "DisableGlueTableCreation": False,
            "TableFormat": group.offline_table_format,
        }

    def _offline_store_role(self, stack: Stack, key: kms.IKey) -> iam.Role:
        """The role Feature Store uses to write the offline store and create its Glue tables."""
        role = iam.Role(
            self,
            "OfflineStoreRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Feature Store writes the offline store files and their Glue tables",
        )
        self.offline_bucket.grant_read_write(role, f"{OFFLINE_STORE_PREFIX}/*")
        key.grant_encrypt_decrypt(role)
        glue = self._glue_arns(stack)
        policy = iam.ManagedPolicy(
            self,
            "OfflineStoreCatalog",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="FeatureStoreTables",
                    actions=[
                        "glue:GetDatabase",
                        "glue:CreateDatabase",
                        "glue:GetTable",
                        "glue:CreateTable",
                        "glue:UpdateTable",
                    ],
                    resources=glue,
                )
            ],
        )
        acknowledge_each(
            role,
            [
                *_bucket_grant_acknowledgments(self.offline_bucket, f"{OFFLINE_STORE_PREFIX}/*", "offline store files"),
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "The S3 and KMS L2 grants attach their resource-scoped statements as the role's default policy.",
                ),
                ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "Feature Store encrypts offline store files."),
                ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "L2 grant on the platform key for the offline store."),
            ],
        )
        acknowledge_each(
            policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{glue[2]}]",
                    "Feature Store names the Glue table after the group plus a creation suffix.",
                )
            ],
        )
        return role

    def _glue_arns(self, stack: Stack) -> list[str]:
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=OFFLINE_STORE_DATABASE),
            stack.format_arn(service="glue", resource="table", resource_name=f"{OFFLINE_STORE_DATABASE}/*"),
        ]

    def _group_arn(self, group_name: str) -> str:
        return self._stack.format_arn(service="sagemaker", resource="feature-group", resource_name=group_name)

    def _attach(
        self, purpose: str, grantee: iam.IRole, group_name: str, statements: Callable[[], list[iam.PolicyStatement]]
    ) -> tuple[iam.ManagedPolicy, bool]:
        """The managed policy of one access to one group, here, attached to a role of another stack (its stack
        needs nothing from this one); and whether it is new. Every role with that access shares the policy,
        so that the stack holds three policies per group however many models use it (CloudFormation takes at
        most 500 resources in a stack: one policy per role and access reached it near 120 models)."""
        key = (purpose, group_name)
        policy = self._policies.get(key)
        created = policy is None
        if policy is None:
            policy = iam.ManagedPolicy(
                self,
                f"{purpose}{group_name}",
                description=f"Feature Store {purpose}: feature group {group_name}",
                statements=statements(),
            )
            self._policies[key] = policy
        policy.attach_to_role(grantee)
        return policy, created

    def grant_ingest(self, grantee: iam.IRole, group_name: str) -> None:
        """PutRecord/DeleteRecord into one group (the build pipeline's ingestion)."""
        self._attach(
            "Ingest",
            grantee,
            group_name,
            lambda: [
                iam.PolicyStatement(
                    sid="IngestRecords",
                    actions=["sagemaker:PutRecord", "sagemaker:DeleteRecord", "sagemaker:DescribeFeatureGroup"],
                    resources=[self._group_arn(group_name)],
                ),
                _use_key(self._encryption_key, "kms:Encrypt", "kms:GenerateDataKey"),
            ],
        )

    def grant_read_online(self, grantee: iam.IRole, group_name: str) -> None:
        """GetRecord/BatchGetRecord from one group's online store (serving)."""
        self._attach(
            "ReadOnline",
            grantee,
            group_name,
            lambda: [
                iam.PolicyStatement(
                    sid="ReadOnlineRecords",
                    actions=["sagemaker:GetRecord", "sagemaker:BatchGetRecord", "sagemaker:DescribeFeatureGroup"],
                    resources=[self._group_arn(group_name)],
                ),
                _use_key(self._encryption_key, "kms:Decrypt"),
            ],
        )

    def grant_read_offline(self, grantee: iam.IRole, group_name: str) -> None:
        """Athena queries over one group's offline store (training-set building), results in the workgroup's prefix."""
        workgroup_arn = self._stack.format_arn(
            service="athena", resource="workgroup", resource_name=self.athena_workgroup_name
        )
        policy, created = self._attach(
            "ReadOffline",
            grantee,
            group_name,
            lambda: [
                iam.PolicyStatement(
                    sid="DescribeTheGroup",
                    actions=["sagemaker:DescribeFeatureGroup"],
                    resources=[self._group_arn(group_name)],
                ),
                iam.PolicyStatement(
                    sid="QueryThroughTheWorkgroup",
                    actions=[
                        "athena:StartQueryExecution",
                        "athena:GetQueryExecution",
                        "athena:GetQueryResults",
                        "athena:StopQueryExecution",
                    ],
                    resources=[workgroup_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadTheCatalog",
                    actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
                    resources=self._glue_arns(self._stack),
                ),
                iam.PolicyStatement(
                    sid="ReadOfflineFilesWriteResults",
                    actions=["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation"],
                    resources=[
                        self.offline_bucket.bucket_arn,
                        self.offline_bucket.arn_for_objects(f"{OFFLINE_STORE_PREFIX}/*"),
                        self.offline_bucket.arn_for_objects(f"{ATHENA_RESULTS_PREFIX}*"),
                    ],
                ),
                _use_key(self._encryption_key, "kms:Decrypt", "kms:GenerateDataKey"),
            ],
        )
        if not created:
            return
        reason = "Athena reads the offline store's files (named by Feature Store) and writes results under its prefix."
        acknowledge_each(
            policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.offline_bucket, 'Arn')}/{OFFLINE_STORE_PREFIX}/*]",
                    reason,
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.offline_bucket, 'Arn')}/{ATHENA_RESULTS_PREFIX}*]",
                    reason,
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{self._glue_arns(self._stack)[2]}]",
                    "Feature Store names the Glue table after the group plus a creation suffix.",
                ),
            ],
        )


def _use_key(key: kms.IKey, *actions: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid="UseThePlatformKey", actions=list(actions), resources=[key.key_arn])


def _bucket_grant_acknowledgments(bucket: s3.IBucket, pattern: str, what: str) -> list[tuple[str, str]]:
    reason = f"L2 read/write grant limited to the {what} ({pattern})."
    return [
        *[
            (f"AwsSolutions-IAM5[Action::s3:{action}]", reason)
            for action in ("GetObject*", "GetBucket*", "List*", "DeleteObject*", "Abort*")
        ],
        (f"AwsSolutions-IAM5[Resource::{nag_ref(bucket, 'Arn')}/{pattern}]", reason),
    ]
