"""One model's build project: source, build pipeline, roles and model package group."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.schema import ModelConfig
from mlops_constructs.model_lifecycle import PlatformResources, build_model, build_outputs, source_outputs


class ModelBuildStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        platform: PlatformResources,
        registry_readers: list[str],
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
            registry_readers=registry_readers,
            athena_workgroup_name=athena_workgroup_name,
        )
        for output_id, value, description in [
            *source_outputs(self.project),
            *build_outputs(self.project),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
