"""The template the deploy pipeline deploys for one stage of one model: what serves it (an endpoint, or
a batch transform and its schedule), its monitor, its parameters.

It takes as parameters only what is known at deploy time: the model package ARNs (and the champion's
baseline), and the platform resources the deploy stack owns. Their names are the contract in
`lambdas.common.contracts`, which the deploy pipeline and the rollback tool use too.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnParameter, Fn, Stack, Tags
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    ALERT_TOPIC_PARAMETER,
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_STATISTICS_PARAMETER,
    BATCH_INPUT_PREFIX,
    BATCH_OUTPUT_PREFIX,
    BATCH_STAGING_PREFIX,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    DATA_BUCKET_PARAMETER,
    DATA_CAPTURE_PARAMETER,
    DEAD_LETTER_QUEUE_PARAMETER,
    ENDPOINT_OUTPUT,
    EXECUTION_ROLE_PARAMETER,
    KMS_KEY_PARAMETER,
    MODEL_TAG,
    MONITORING_OUTPUT_PARAMETER,
    MONITORING_ROLE_PARAMETER,
    PACKAGE_ARN_PATTERN,
    PLATFORM_TAG,
    RECORD_PREPROCESSOR_PARAMETER,
    SCHEDULER_ROLE_PARAMETER,
    TRANSFORM_PIPELINE_OUTPUT,
    TRANSFORM_ROLE_PARAMETER,
    Stage,
    data_bucket_parameter_name,
    serving_name,
)
from mlops_constructs.serving.batch import BatchTransform, TransformSchedule
from mlops_constructs.serving.endpoint import MultiVariantEndpoint
from mlops_constructs.serving.monitor import DataQualityInputs, MonitoredServing, ServingMonitor


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
        self._platform_name, self._model, self._stage = platform_name, model, stage
        self.name = serving_name(platform_name, model.name, stage)
        self.production = stage == "production"
        self.champion = self._parameter(
            CHAMPION_PARAMETER, "Model package served as champion", allowed_pattern=f"^{PACKAGE_ARN_PATTERN}$"
        )
        self.execution_role_arn = self._parameter(EXECUTION_ROLE_PARAMETER, "Role the models run as")
        self.endpoint: MultiVariantEndpoint | None = None
        self.transform: BatchTransform | None = None
        self.monitor: ServingMonitor | None = None
        if model.is_batch:
            self._batch(monitored_features)
        else:
            self._realtime(monitored_features)

    def _parameter(self, name: str, description: str, **options: Any) -> str:
        return CfnParameter(self, name, type="String", description=description, **options).value_as_string

    def _realtime(self, monitored_features: list[str]) -> None:
        model, production, parameter = self._model, self.production, self._parameter
        stage_config = model.serving.production if production else model.serving.staging
        if stage_config.instance_type is None and stage_config.serverless is None:
            stage_config = stage_config.model_copy(update={"instance_type": model.instance_types.inference})
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
            endpoint_name=self.name,
            model=model,
            stage_config=stage_config,
            champion_package_arn=self.champion,
            challenger_package_arn=challenger,
            execution_role_arn=self.execution_role_arn,
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
            self._monitor(
                MonitoredServing(name=self.name, resource=self.endpoint.endpoint),
                monitored_features,
                self.endpoint.kms_key_arn,
            )
        CfnOutput(self, ENDPOINT_OUTPUT, value=self.endpoint.endpoint.attr_endpoint_name)

    def _batch(self, monitored_features: list[str]) -> None:
        """The package behind a transform pipeline; production adds its schedule, capture and monitor."""
        model, production, parameter = self._model, self.production, self._parameter
        batch = model.batch
        bucket = CfnParameter(
            self,
            DATA_BUCKET_PARAMETER,
            type="AWS::SSM::Parameter::Value<String>",
            default=data_bucket_parameter_name(self._platform_name, model.name),
            description="SSM parameter holding the model's data bucket (published by its build stack)",
        ).value_as_string
        if production:
            input_s3_uri = batch.input_s3_uri or Fn.join("", ["s3://", bucket, f"/{BATCH_INPUT_PREFIX}"])
            # Each run writes <output>/<execution id>/: the prefix without its slash.
            output_s3_uri = batch.output_s3_uri or Fn.join("", ["s3://", bucket, f"/{BATCH_OUTPUT_PREFIX.rstrip('/')}"])
        else:
            # The staging check passes a sample's own locations; these defaults only keep the pipeline valid.
            input_s3_uri = Fn.join("", ["s3://", bucket, f"/{BATCH_STAGING_PREFIX}input/"])
            output_s3_uri = Fn.join("", ["s3://", bucket, f"/{BATCH_STAGING_PREFIX}output"])
        kms_key_arn = parameter(KMS_KEY_PARAMETER, "Platform key for volumes, outputs and captures")
        # Staging captures too (its answers then read exactly as production's), in its own prefix.
        data_capture_s3_uri = (
            parameter(DATA_CAPTURE_PARAMETER, "Where production requests and answers are captured")
            if production
            else Fn.join("", ["s3://", bucket, f"/{BATCH_STAGING_PREFIX}captures"])
        )
        self.transform = BatchTransform(
            self,
            "Transform",
            name=self.name,
            model=model,
            package_arn=self.champion,
            execution_role_arn=self.execution_role_arn,
            pipeline_role_arn=parameter(TRANSFORM_ROLE_PARAMETER, "Role the transform pipeline runs as"),
            kms_key_arn=kms_key_arn,
            input_s3_uri=input_s3_uri,
            output_s3_uri=output_s3_uri,
            data_capture_s3_uri=data_capture_s3_uri,
            alert_topic_arn=parameter(ALERT_TOPIC_PARAMETER, "Topic the alarms notify") if production else None,
            schedule=TransformSchedule(
                role_arn=parameter(SCHEDULER_ROLE_PARAMETER, "Role EventBridge Scheduler starts the transform as"),
                dead_letter_queue_arn=parameter(DEAD_LETTER_QUEUE_PARAMETER, "Where unstarted runs are kept"),
            )
            if production
            else None,
        )
        if production:
            self._monitor(
                MonitoredServing(
                    name=self.name, resource=self.transform.pipeline, batch_capture_s3_uri=data_capture_s3_uri
                ),
                monitored_features,
                kms_key_arn,
            )
        CfnOutput(self, TRANSFORM_PIPELINE_OUTPUT, value=self.transform.pipeline.ref)

    def _monitor(self, serving: MonitoredServing, monitored_features: list[str], kms_key_arn: str | None) -> None:
        parameter = self._parameter
        self.monitor = ServingMonitor(
            self,
            "Monitor",
            serving=serving,
            model=self._model,
            monitored_features=monitored_features,
            role_arn=parameter(MONITORING_ROLE_PARAMETER, "Role the Model Monitor jobs run as"),
            output_s3_uri=parameter(MONITORING_OUTPUT_PARAMETER, "Where monitoring reports are written"),
            data_quality=DataQualityInputs(
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
                record_preprocessor_s3_uri=parameter(
                    RECORD_PREPROCESSOR_PARAMETER, "Script that flattens captured requests for the monitor"
                ),
            )
            if self._model.contract.names_features
            else None,
            kms_key_arn=kms_key_arn,
        )
