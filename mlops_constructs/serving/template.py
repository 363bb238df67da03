"""The template the deploy pipeline deploys for one stage of one model: endpoint, monitor, parameters.

It takes as parameters only what is known at deploy time: the model package ARNs (and the champion's
baseline), and the platform resources the deploy stack owns. Their names are the contract in
`lambdas.common.contracts`, which the deploy pipeline and the rollback tool use too.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnParameter, Stack, Tags
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    ALERT_TOPIC_PARAMETER,
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_STATISTICS_PARAMETER,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    DATA_CAPTURE_PARAMETER,
    ENDPOINT_OUTPUT,
    EXECUTION_ROLE_PARAMETER,
    KMS_KEY_PARAMETER,
    MODEL_TAG,
    MONITORING_OUTPUT_PARAMETER,
    MONITORING_ROLE_PARAMETER,
    PACKAGE_ARN_PATTERN,
    PLATFORM_TAG,
    RECORD_PREPROCESSOR_PARAMETER,
    Stage,
    serving_name,
)
from mlops_constructs.serving.endpoint import MultiVariantEndpoint
from mlops_constructs.serving.monitor import EndpointMonitor


class ServingTemplateStack(Stack):
    """The template the deploy pipeline deploys for one stage of one model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        stage: Stage,
        monitored_features: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The model's roles reach resources with generated names only through this tag (deploy/roles.py).
        Tags.of(self).add(MODEL_TAG, model.name)
        Tags.of(self).add(PLATFORM_TAG, platform_name)
        production = stage == "production"
        stage_config = model.serving.production if production else model.serving.staging
        if stage_config.instance_type is None and stage_config.serverless is None:
            stage_config = stage_config.model_copy(update={"instance_type": model.instance_types.inference})

        def parameter(name: str, description: str, **options: Any) -> str:
            return CfnParameter(self, name, type="String", description=description, **options).value_as_string

        champion = parameter(
            CHAMPION_PARAMETER, "Model package served as champion", allowed_pattern=f"^{PACKAGE_ARN_PATTERN}$"
        )
        challenger = (
            parameter(
                CHALLENGER_PARAMETER,
                "Model package served as challenger, or empty for none",
                default="",
                allowed_pattern=f"^({PACKAGE_ARN_PATTERN})?$",
            )
            if production
            else None
        )
        self.endpoint = MultiVariantEndpoint(
            self,
            "Endpoint",
            endpoint_name=serving_name(platform_name, model.name, stage),
            model=model,
            stage_config=stage_config,
            champion_package_arn=champion,
            challenger_package_arn=challenger,
            execution_role_arn=parameter(EXECUTION_ROLE_PARAMETER, "Role the models run as"),
            # Serverless variants have no volumes and staging captures no data: no key to pass.
            kms_key_arn=parameter(KMS_KEY_PARAMETER, "Platform key for volumes and data capture")
            if stage_config.serverless is None
            else None,
            data_capture_s3_uri=parameter(DATA_CAPTURE_PARAMETER, "Where production requests are captured")
            if production
            else None,
            alert_topic_arn=parameter(ALERT_TOPIC_PARAMETER, "Topic the alarms notify"),
            guardrails=production,
        )
        if production:
            self.monitor = EndpointMonitor(
                self,
                "Monitor",
                endpoint=self.endpoint,
                model=model,
                monitored_features=monitored_features,
                role_arn=parameter(MONITORING_ROLE_PARAMETER, "Role the Model Monitor jobs run as"),
                record_preprocessor_s3_uri=parameter(
                    RECORD_PREPROCESSOR_PARAMETER, "Script that flattens captured requests for the monitor"
                ),
                output_s3_uri=parameter(MONITORING_OUTPUT_PARAMETER, "Where monitoring reports are written"),
                # No default: the deploy pipeline always passes the champion's (possibly empty) baseline.
                baseline_statistics_s3_uri=parameter(
                    BASELINE_STATISTICS_PARAMETER,
                    "Champion's data-quality baseline statistics, or empty",
                    allowed_pattern=r"^(s3://\S+)?$",
                ),
                baseline_constraints_s3_uri=parameter(
                    BASELINE_CONSTRAINTS_PARAMETER,
                    "Champion's data-quality baseline constraints, or empty",
                    allowed_pattern=r"^(s3://\S+)?$",
                ),
                kms_key_arn=self.endpoint.kms_key_arn,
            )
        CfnOutput(self, ENDPOINT_OUTPUT, value=self.endpoint.endpoint.attr_endpoint_name)
