"""One model's deploy pipeline and what its endpoints need (serving role, data capture bucket), and the
model's registration with the platform's approval gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Environment, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import Stage
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.model_lifecycle import PlatformResources, deploy_model, deploy_outputs


class ModelDeployStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        monitored_features: list[str],
        platform: PlatformResources,
        env: Environment,
        serving_accounts: Mapping[Stage, ServingAccount] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, env=env, **kwargs)
        iam.PermissionsBoundary.of(self).apply(platform.permissions_boundary)
        deployed = deploy_model(
            self,
            platform_name=platform_name,
            model=model,
            monitored_features=monitored_features,
            platform=platform,
            env=env,
            # The serving templates are synthesized with this app's feature flags.
            template_context=self.node.get_all_context(),
            serving_accounts=serving_accounts,
        )
        self.deployed = deployed
        self.deploy, self.registration, self.automation = deployed.deploy, deployed.registration, deployed.automation
        for output_id, value, description in deploy_outputs(model, self.deploy):
            CfnOutput(self, output_id, value=value, description=description)
