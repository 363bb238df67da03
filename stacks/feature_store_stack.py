"""Feature Store: the feature groups declared in config and the Athena workgroup over them."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.schema import FeatureGroupConfig
from mlops_constructs.feature_store import FeatureStore


class FeatureStoreStack(Stack):
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
        permissions_boundary: iam.IManagedPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        self.feature_store = FeatureStore(
            self,
            "FeatureStore",
            groups=groups,
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            noncurrent_version_days=noncurrent_version_days,
            athena_workgroup_name=athena_workgroup_name,
        )
        CfnOutput(
            self,
            "OfflineStoreBucketName",
            value=self.feature_store.offline_bucket.bucket_name,
            description="Offline store files and Athena results",
        )
        CfnOutput(self, "AthenaWorkGroupName", value=athena_workgroup_name, description="Workgroup for offline queries")
