"""One model's build project: source, build pipeline, roles and model package group."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import CodeConnectionsSource, ModelConfig
from mlops_constructs.model_project import ModelProject


class ModelBuildStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        alert_topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        noncurrent_version_days: int,
        registry_reader_accounts: list[str],
        athena_workgroup_name: str | None,
        permissions_boundary: iam.IManagedPolicy,
        data_scientist_role: iam.IRole,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        self.project = ModelProject(
            self,
            "Project",
            platform_name=platform_name,
            model=model,
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            alert_topic=alert_topic,
            log_retention=log_retention,
            noncurrent_version_days=noncurrent_version_days,
            registry_reader_accounts=registry_reader_accounts,
            athena_workgroup_name=athena_workgroup_name,
        )
        # The team works in its repository and follows its pipeline; the policy lives here, next to
        # the resources, so the governance stack never depends on a model's stack. A repository on a
        # Git host needs nothing in AWS to push to: only the seed to start it from.
        follow_the_pipeline = iam.PolicyStatement(
            sid="FollowTheBuildPipeline",
            actions=[
                "codepipeline:GetPipeline",
                "codepipeline:GetPipelineState",
                "codepipeline:GetPipelineExecution",
                "codepipeline:ListPipelineExecutions",
                "codepipeline:ListActionExecutions",
            ],
            resources=[self.project.pipeline.pipeline_arn],
        )
        source = model.source
        if isinstance(source, CodeConnectionsSource):
            seed_archive = self.project.seed_archive
            assert seed_archive is not None
            statements = [
                follow_the_pipeline,
                # This seed version's object only: the assets bucket holds every stack's assets.
                iam.PolicyStatement(
                    sid="ReadTheSeedArchive",
                    actions=["s3:GetObject"],
                    resources=[seed_archive.bucket.arn_for_objects(seed_archive.s3_object_key)],
                ),
            ]
            repository_output = (
                source.repository,
                f"Repository (owner/name) on the Git host of connection {source.connection_arn}; "
                f"pushes to {source.branch} start the build",
            )
            CfnOutput(
                self,
                "SeedArchiveS3Uri",
                value=seed_archive.s3_object_url,
                description="The model's seed (zip) to start the repository from: aws s3 cp <this> seed.zip, unzip, "
                f"git init -b {source.branch}, commit, push (README: Use GitHub/GitLab/Bitbucket). Its key is the "
                "content's hash: each seed version is its own object",
            )
        else:
            repository = self.project.repository
            assert repository is not None
            statements = [
                iam.PolicyStatement(
                    sid="WorkInTheRepository",
                    actions=[
                        "codecommit:GitPull",
                        "codecommit:GitPush",
                        "codecommit:CreateBranch",
                        "codecommit:GetBranch",
                        "codecommit:CreatePullRequest",
                        "codecommit:GetRepository",
                        "codecommit:ListBranches",
                    ],
                    resources=[repository.repository_arn],
                ),
                follow_the_pipeline,
                # The repository is encrypted with the platform key: Git reads and writes use it, only
                # through CodeCommit.
                iam.PolicyStatement(
                    sid="UseTheKeyThroughCodeCommit",
                    actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    resources=[encryption_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"codecommit.{self.region}.amazonaws.com"}},
                ),
            ]
            repository_output = (repository.repository_clone_url_grc, "git clone URL (git-remote-codecommit)")
        iam.ManagedPolicy(
            self,
            "DataScientistAccess",
            description=f"Data scientists work on model '{model.name}'",
            roles=[data_scientist_role],
            statements=statements,
        )
        for output_id, value, description in [
            ("RepositoryCloneUrl", *repository_output),
            ("BuildPipelineName", self.project.pipeline.pipeline_name, "CodePipeline that builds the model"),
            ("SageMakerPipelineName", self.project.sagemaker_pipeline_name, "SageMaker Pipeline upserted by the build"),
            ("ModelPackageGroupName", self.project.model_package_group_name, "Model Registry group of the model"),
            (
                "DataBucketName",
                self.project.data_bucket.bucket_name,
                "Bucket for the model's data and SageMaker artifacts",
            ),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
