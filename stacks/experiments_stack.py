"""Experiment tracking: the managed MLflow tracking server, and the personas' access to it."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.experiments import ExperimentsConfig
from mlops_constructs.experiments import ExperimentTracking
from mlops_constructs.platform_parameters import publish_platform_values


class ExperimentsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        experiments: ExperimentsConfig,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        noncurrent_version_days: int,
        permissions_boundary: iam.IManagedPolicy,
        data_scientist_role: iam.IRole,
        model_approver_role: iam.IRole,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        self.tracking = ExperimentTracking(
            self,
            "Experiments",
            platform_name=platform_name,
            experiments=experiments,
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            noncurrent_version_days=noncurrent_version_days,
        )
        # Data scientists (and the Studio profiles running as them) compare and log runs; approvers read
        # them to judge a package. The builds' roles get theirs in their own stacks (ModelProject).
        self.tracking.grant(data_scientist_role, log=True, open_ui=True)
        self.tracking.grant(model_approver_role, read=True, open_ui=True)
        # A project's template finds the artifact bucket here (the server's ARN is the contract's).
        publish_platform_values(
            self,
            platform_name=platform_name,
            values={"mlflow-artifact-bucket": self.tracking.artifact_bucket.bucket_name},
        )
        for output_id, value, description in [
            (
                "TrackingServerArn",
                self.tracking.server_arn,
                "MLflow tracking server: the tracking URI the builds log to",
            ),
            ("TrackingServerName", self.tracking.server_name, "MLflow tracking server's name"),
            (
                "ArtifactBucketName",
                self.tracking.artifact_bucket.bucket_name,
                "MLflow artifact store (retained, platform key)",
            ),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
