"""One model's build project: source, build pipeline, roles and model package group."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.schema import CodeConnectionsSource, ModelConfig
from mlops_constructs.model_lifecycle import PlatformResources, build_model, build_outputs


class ModelBuildStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        platform: PlatformResources,
        registry_reader_accounts: list[str],
        athena_workgroup_name: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        iam.PermissionsBoundary.of(self).apply(platform.permissions_boundary)
        self.project = build_model(
            self,
            platform_name=platform_name,
            model=model,
            platform=platform,
            registry_reader_accounts=registry_reader_accounts,
            athena_workgroup_name=athena_workgroup_name,
        )
        source = model.source
        if isinstance(source, CodeConnectionsSource):
            seed_archive = self.project.seed_archive
            assert seed_archive is not None
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
            repository_output = (repository.repository_clone_url_grc, "git clone URL (git-remote-codecommit)")
        for output_id, value, description in [
            ("RepositoryCloneUrl", *repository_output),
            *build_outputs(self.project),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
