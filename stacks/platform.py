"""Compose every stack of the platform from a validated configuration."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Tags

from config.schema import PlatformConfig
from stacks.governance_stack import GovernanceStack


@dataclass(frozen=True)
class Platform:
    governance: GovernanceStack


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
    return Platform(governance=governance)
