"""The template the deploy pipeline deploys for one stage of one model: what serves it (an endpoint, or
a batch transform and its schedule), its monitor, its parameters.

It takes as parameters only what is known at deploy time: the model package ARNs (and the champion's
baselines: data quality, Clarify's explainability and bias, and the names by which Clarify finds the
features of a captured JSON request), the platform resources the deploy stack owns, the model's name, and the model's settings a
SageMaker Projects product takes as its own parameters (its gate's threshold, its inference instance
type). Their names are the contract in `lambdas.common.contracts`, which the deploy pipeline and the
rollback tool use too.

The model's name is a parameter, never a literal: every name, tag and description in the template
that carries it refers to `MODEL_NAME_PARAMETER`. So are the threshold (`METRIC_THRESHOLD_PARAMETER`,
a Number, declared where production's model-quality alarm uses it) and the inference instance type
(`INFERENCE_INSTANCE_TYPE_PARAMETER`, declared where no instance type of the stage's or the batch
transform's own applies), for every model: the values `model` comes with (literals from config, or
another stack's tokens) never enter the template. So the template depends only on the model's other
settings, and the same constructs serve a model declared in config and one a SageMaker Project
creates, whose name and those settings are known at deploy time only (DESIGN.md convention 2).
"""

from __future__ import annotations

from typing import Any, get_args

from aws_cdk import CfnOutput, CfnParameter, Fn, Stack, Tags
from constructs import Construct
from pydantic import StringConstraints

from config.schema import UNIT_INTERVAL_METRICS, InstanceType, ModelConfig, ModelName
from lambdas.common.contracts import (
    ALERT_TOPIC_PARAMETER,
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_STATISTICS_PARAMETER,
    BATCH_INPUT_PREFIX,
    BATCH_OUTPUT_PREFIX,
    BATCH_STAGING_PREFIX,
    BIAS_ANALYSIS_CONFIG_PARAMETER,
    BIAS_CONSTRAINTS_PARAMETER,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    CLARIFY_FEATURE_NAMES_MAX_LENGTH,
    CLARIFY_FEATURES_PARAMETER,
    DATA_BUCKET_PARAMETER,
    DATA_CAPTURE_PARAMETER,
    DEAD_LETTER_QUEUE_PARAMETER,
    ENDPOINT_OUTPUT,
    EXECUTION_ROLE_PARAMETER,
    EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER,
    EXPLAINABILITY_CONSTRAINTS_PARAMETER,
    INFERENCE_INSTANCE_TYPE_PARAMETER,
    KMS_KEY_PARAMETER,
    LOWER_IS_BETTER,
    METRIC_THRESHOLD_PARAMETER,
    MODEL_NAME_PARAMETER,
    MODEL_NAME_PATTERN,
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
    serving_name,
)
from mlops_constructs.serving.batch import BatchTransform, TransformSchedule
from mlops_constructs.serving.clarify import ClarifyBaseline, ClarifyInputs
from mlops_constructs.serving.endpoint import MultiVariantEndpoint
from mlops_constructs.serving.monitor import DataQualityInputs, ServingMonitor
from mlops_constructs.serving.monitoring_jobs import MonitoredServing


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
        # The name `model` comes with (a literal from config, or another stack's token) never enters
        # the template: everything below names the model by this parameter.
        self.model_name = self._parameter(
            MODEL_NAME_PARAMETER,
            "Name of the model served (its stage resources are named <platform>-<model>-<stage>)",
            allowed_pattern=f"^{MODEL_NAME_PATTERN}$",
            **model_name_length(),
        )
        model = model.model_copy(update={"name": self.model_name})
        # The model's roles reach resources with generated names only through this tag (deploy/roles.py).
        Tags.of(self).add(MODEL_TAG, self.model_name)
        Tags.of(self).add(PLATFORM_TAG, platform_name)
        self._platform_name, self._model, self._stage = platform_name, model, stage
        self.name = serving_name(platform_name, self.model_name, stage)
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
            stage_config = stage_config.model_copy(update={"instance_type": self._inference_instance_type()})
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
        if batch.instance_type is None:
            inference = model.instance_types.model_copy(update={"inference": self._inference_instance_type()})
            model = model.model_copy(update={"instance_types": inference})
        # No default: its name holds the model's (the deploy pipeline passes data_bucket_parameter_name).
        bucket = CfnParameter(
            self,
            DATA_BUCKET_PARAMETER,
            type="AWS::SSM::Parameter::Value<String>",
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
        parameter, model = self._parameter, self._model
        if model.monitoring.ground_truth_s3_uri:  # the model-quality alarm holds the gate's threshold
            model = model.model_copy(
                update={"metric": model.metric.model_copy(update={"threshold": self._threshold()})}
            )
        self.monitor = ServingMonitor(
            self,
            "Monitor",
            serving=serving,
            model=model,
            monitored_features=monitored_features,
            role_arn=parameter(MONITORING_ROLE_PARAMETER, "Role the Model Monitor jobs run as"),
            output_s3_uri=parameter(MONITORING_OUTPUT_PARAMETER, "Where monitoring reports are written"),
            data_quality=DataQualityInputs(
                baseline_statistics_s3_uri=self._baseline(
                    BASELINE_STATISTICS_PARAMETER, "Champion's data-quality baseline statistics"
                ),
                baseline_constraints_s3_uri=self._baseline(
                    BASELINE_CONSTRAINTS_PARAMETER, "Champion's data-quality baseline constraints"
                ),
                record_preprocessor_s3_uri=parameter(
                    RECORD_PREPROCESSOR_PARAMETER, "Script that flattens captured requests for the monitor"
                ),
            )
            if model.contract.names_features
            else None,
            clarify=ClarifyInputs(
                explainability=ClarifyBaseline(
                    analysis_config_s3_uri=self._baseline(
                        EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER, "Champion's Clarify explainability analysis config"
                    ),
                    constraints_s3_uri=self._baseline(
                        EXPLAINABILITY_CONSTRAINTS_PARAMETER, "Champion's feature attribution baseline constraints"
                    ),
                ),
                # Bias drift is judged on labelled predictions: only where the model has ground truth.
                bias=ClarifyBaseline(
                    analysis_config_s3_uri=self._baseline(
                        BIAS_ANALYSIS_CONFIG_PARAMETER, "Champion's Clarify bias analysis config"
                    ),
                    constraints_s3_uri=self._baseline(
                        BIAS_CONSTRAINTS_PARAMETER, "Champion's post-training bias baseline constraints"
                    ),
                )
                if model.monitoring.ground_truth_s3_uri
                else None,
                # What Clarify's shadow endpoint serves to the explainability monitor: the champion, as it runs.
                champion_package_arn=self.champion,
                execution_role_arn=self.execution_role_arn,
                feature_names=self._parameter(
                    CLARIFY_FEATURES_PARAMETER,
                    "Names of the champion's features (its Clarify analysis configs' headers), comma-separated,"
                    " or empty when it has none",
                    max_length=CLARIFY_FEATURE_NAMES_MAX_LENGTH,
                    allowed_pattern=r'^([^,"\\]+(,[^,"\\]+)*)?$',
                )
                if model.contract.names_features
                else None,
            ),
            kms_key_arn=kms_key_arn,
        )

    def _baseline(self, name: str, description: str) -> str:
        """One of the champion package's baselines (contracts.BASELINE_PARAMETERS), or empty when it has
        none. No default: the deploy pipeline and the rollback tool always pass the champion's own."""
        return self._parameter(name, f"{description}, or empty", allowed_pattern=r"^(s3://\S+)?$")

    def _inference_instance_type(self) -> str:
        """The model's inference instance type, where no instance type of the stage's own applies."""
        return self._parameter(
            INFERENCE_INSTANCE_TYPE_PARAMETER,
            "Instance type the model serves on (the model's inference instance type)",
            allowed_pattern=_instance_type_pattern(),
            constraint_description="an ml instance type, such as ml.m5.large",
        )

    def _threshold(self) -> float:
        """The gate's threshold (a Number), within the bounds the configuration holds the metric to."""
        metric = self._model.metric
        unit_interval = metric.name in UNIT_INTERVAL_METRICS
        return CfnParameter(
            self,
            METRIC_THRESHOLD_PARAMETER,
            type="Number",
            description=f"Threshold of the model's gate metric ({metric.name}), which its model-quality alarm holds",
            min_value=0 if unit_interval or self._model.metric_direction == LOWER_IS_BETTER else None,
            max_value=1 if unit_interval or metric.name == "r2" else None,
        ).value_as_number


def _instance_type_pattern() -> str:
    """The configuration's rule for an instance type (config/schema.py), as an AllowedPattern."""
    (constraints,) = [c for c in get_args(InstanceType)[1:] if isinstance(c, StringConstraints)]
    pattern = constraints.pattern
    assert isinstance(pattern, str)
    return pattern


def model_name_length() -> dict[str, int]:
    """The configuration's length limits of a model's name (config/schema.py), as MinLength and MaxLength."""
    (constraints,) = [c for c in get_args(ModelName)[1:] if isinstance(c, StringConstraints)]
    limits = {"min_length": constraints.min_length, "max_length": constraints.max_length}
    return {option: limit for option, limit in limits.items() if limit is not None}
