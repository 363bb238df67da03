"""Compose every stack of the platform from a validated configuration."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Tags

from config.schema import PlatformConfig
from stacks.governance_stack import GovernanceStack
from stacks.model_build_stack import ModelBuildStack


@dataclass(frozen=True)
class Platform:
    governance: GovernanceStack
    model_builds: dict[str, ModelBuildStack]


def build_platform(app: App, config: PlatformConfig) -> Platform:
    env = Environment(account=config.environment.account, region=config.environment.region)
    Tags.of(app).add("mlops:platform", config.name)
    governance = GovernanceStack(
        app,
        f"{config.name}-governance",
        config=config,
        env=env,
        description="MLOps platform governance: KMS key, artifact and audit buckets, CloudTrail, alerts, personas, budget",
        termination_protection=True,
    )
    model_builds = {
        model.name: ModelBuildStack(
            app,
            f"{config.name}-{model.name}-build",
            model=model,
            encryption_key=governance.key,
            access_log_bucket=governance.access_log_bucket,
            alert_topic=governance.alert_topic,
            log_retention=governance.log_retention,
            noncurrent_version_days=config.retention.noncurrent_version_days,
            permissions_boundary=governance.permissions_boundary,
            data_scientist_role=governance.data_scientist_role,
            env=env,
            description=f"Build project of model '{model.name}': CodeCommit repository, build pipeline, SageMaker roles",
            tags=model.tags,
        )
        for model in config.models
    }
    return Platform(governance=governance, model_builds=model_builds)
