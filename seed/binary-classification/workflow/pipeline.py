"""The model's SageMaker Pipeline: preprocess -> train -> evaluate -> gate on the metric -> register,
with the data-quality baseline of the training features computed alongside training.

Every S3 output is written under s3://<ARTIFACT_BUCKET>/<model_name>/ and encrypted with
KMS_KEY_ARN, as are the job volumes. The model package is registered as
PendingManualApproval with its evaluation report, its data-quality baseline (which the
platform's Model Monitor checks the production endpoint's traffic against), its inference
contract (task, sample payloads, problem type, media types and answer fields) and its lineage
(commit, data, pipeline execution), which the platform's approval gate and deployment read.
"""

import json

import boto3
from sagemaker.core import image_uris
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.metadata_properties import MetadataProperties
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.model_monitor import DatasetFormat
from sagemaker.core.processing import FrameworkProcessor
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
    Tag,
)
from sagemaker.core.training.configs import (
    Compute,
    InputData,
    OutputDataConfig,
    SourceCode,
    StoppingCondition,
)
from sagemaker.core.workflow.conditions import (
    ConditionComparison,
    ConditionGreaterThanOrEqualTo,
    ConditionLessThanOrEqualTo,
)
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

from workflow.config import MetricGate, ModelConfig
from workflow.environment import BuildEnvironment
from workflow.model_code import JOBS_DIR
from workflow.sample_payloads import sample_payload_url

# The parameters run_pipeline.py sets on each execution.
INPUT_DATA_PARAMETER = "InputDataUrl"
SAMPLE_PAYLOAD_PARAMETER = "SamplePayloadUrl"

# The scikit-learn framework image: its version must match scikit-learn in requirements.txt
# (1.9.x), since the model is pickled in training and unpickled in this image at serving.
SKLEARN_FRAMEWORK_VERSION = "1.9-0"

EVALUATION_OUTPUT = "evaluation"
EVALUATION_FILE = "evaluation.json"
# preprocess.py writes the training split's features here, in the baseline's dataset format.
TRAIN_FEATURES_OUTPUT = "train_features"
BASELINE_OUTPUT = "baseline"
APPROVAL_STATUS = "PendingManualApproval"
# Both media types are served (jobs/inference.py), whatever the contract names as the default.
SERVED_MEDIA_TYPES = ["application/json", "text/csv"]
# Lets a run without network access (tests, a locked-down build) skip the SDK's usage pings.
SDK_DEFAULTS = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}

TRAINING_HYPERPARAMETERS = json.loads((JOBS_DIR / "hyperparameters.json").read_text())


def pipeline_session(config: ModelConfig, env: BuildEnvironment) -> PipelineSession:
    """A session that records job requests into the pipeline definition instead of starting jobs.

    Code the SDK uploads while building the definition lands under the model's prefix too.
    """
    return PipelineSession(
        boto_session=boto3.Session(region_name=env.region),
        default_bucket=env.artifact_bucket,
        default_bucket_prefix=config.model_name,
        sagemaker_config=SDK_DEFAULTS,
    )


def get_pipeline(config: ModelConfig, env: BuildEnvironment, session: PipelineSession) -> Pipeline:
    input_data = ParameterString(
        name=INPUT_DATA_PARAMETER, default_value=env.raw_data_prefix(config.model_name)
    )
    sample_payloads = ParameterString(
        name=SAMPLE_PAYLOAD_PARAMETER, default_value=sample_payload_url(config, env)
    )
    approval_status = ParameterString(name="ModelApprovalStatus", default_value=APPROVAL_STATUS)
    processing_instance = ParameterString(
        name="ProcessingInstanceType", default_value=config.processing_instance_type
    )
    training_instance = ParameterString(
        name="TrainingInstanceType", default_value=config.training_instance_type
    )

    steps = _Steps(config, env, session)
    preprocess = steps.preprocess(input_data, processing_instance)
    train = steps.train(preprocess, training_instance)
    baseline = steps.data_quality_baseline(preprocess, processing_instance)
    evaluation_report = PropertyFile(
        name="EvaluationReport", output_name=EVALUATION_OUTPUT, path=EVALUATION_FILE
    )
    evaluate = steps.evaluate(preprocess, train, evaluation_report, processing_instance)
    register = steps.register(train, evaluate, baseline, input_data, sample_payloads, approval_status)
    gate = steps.metric_gate(evaluate, evaluation_report, register, baseline)

    return Pipeline(
        name=config.pipeline_name,
        parameters=[input_data, sample_payloads, approval_status, processing_instance, training_instance],
        steps=[preprocess, baseline, train, evaluate, gate],
        # No SageMaker Experiments records: lineage lives in the model package (commit, data,
        # execution ARN), and the pipeline role needs no Experiments permissions.
        pipeline_experiment_config=None,
        sagemaker_session=session,
    )


class _Steps:
    """Builds each step; holds what they all share (config, environment, session, image)."""

    def __init__(self, config: ModelConfig, env: BuildEnvironment, session: PipelineSession) -> None:
        self.config = config
        self.env = env
        self.session = session
        self.prefix = f"s3://{env.artifact_bucket}/{config.model_name}"
        self.training_image = self._sklearn_image("training", config.training_instance_type)
        # Every job carries the model's tags: the platform lets the pipeline role touch only those jobs.
        self.tags = [{"Key": key, "Value": value} for key, value in sorted(config.resource_tags.items())]

    def preprocess(self, input_data: ParameterString, instance_type: ParameterString) -> ProcessingStep:
        processor = self._processor("preprocess", instance_type)
        outputs = [
            self._output(name, f"/opt/ml/processing/{name}")
            for name in ("train", "validation", "test", TRAIN_FEATURES_OUTPUT)
        ]
        step_args = processor.run(
            code="preprocess.py",
            source_dir=str(JOBS_DIR),
            inputs=[_s3_input("raw", input_data, "/opt/ml/processing/input")],
            outputs=outputs,
            arguments=["--problem-type", self.config.problem_type],
            kms_key=self.env.kms_key_arn,
        )
        return ProcessingStep(name="PreprocessData", step_args=step_args)

    def train(self, preprocess: ProcessingStep, instance_type: ParameterString) -> TrainingStep:
        trainer = ModelTrainer(
            training_image=self.training_image,
            role=self.env.pipeline_role_arn,
            source_code=SourceCode(source_dir=str(JOBS_DIR), entry_script="train.py"),
            compute=Compute(
                instance_type=instance_type, instance_count=1, volume_kms_key_id=self.env.kms_key_arn
            ),
            output_data_config=OutputDataConfig(
                s3_output_path=f"{self.prefix}/models", kms_key_id=self.env.kms_key_arn
            ),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=3600),
            hyperparameters=TRAINING_HYPERPARAMETERS | {"problem-type": self.config.problem_type},
            base_job_name=f"{self.config.model_name}-train",
            tags=[Tag(key=tag["Key"], value=tag["Value"]) for tag in self.tags],
            sagemaker_session=self.session,
        )
        channels = [
            InputData(channel_name=split, data_source=_output_uri(preprocess, split))
            for split in ("train", "validation")
        ]
        return TrainingStep(name="TrainModel", step_args=trainer.train(input_data_config=channels))

    def data_quality_baseline(
        self, preprocess: ProcessingStep, instance_type: ParameterString
    ) -> QualityCheckStep:
        """Model Monitor's statistics.json and constraints.json of the training features.

        The first run of a model has no baseline to check against: the step records the new
        baseline (skip_check) and reports it as the one to check drift against
        (register_new_baseline), so it never fails a build on drift.
        """
        check_job = CheckJobConfig(
            role=self.env.pipeline_role_arn,
            instance_count=1,
            instance_type=instance_type,
            volume_kms_key=self.env.kms_key_arn,
            output_kms_key=self.env.kms_key_arn,
            max_runtime_in_seconds=3600,
            base_job_name=f"{self.config.model_name}-baseline",
            tags=self.tags,
            sagemaker_session=self.session,
        )
        quality_check = DataQualityCheckConfig(
            baseline_dataset=_output_uri(preprocess, TRAIN_FEATURES_OUTPUT),
            # One JSON object per line, as each of the `instances` of a request (see README).
            dataset_format=DatasetFormat.json(lines=True),
            output_s3_uri=self._execution_uri(BASELINE_OUTPUT),
        )
        return QualityCheckStep(
            name="BaselineDataQuality",
            quality_check_config=quality_check,
            check_job_config=check_job,
            skip_check=True,
            register_new_baseline=True,
        )

    def evaluate(
        self,
        preprocess: ProcessingStep,
        train: TrainingStep,
        report: PropertyFile,
        instance_type: ParameterString,
    ) -> ProcessingStep:
        processor = self._processor("evaluate", instance_type)
        step_args = processor.run(
            code="evaluate.py",
            source_dir=str(JOBS_DIR),
            inputs=[
                _s3_input(
                    "model", train.properties.ModelArtifacts.S3ModelArtifacts, "/opt/ml/processing/model"
                ),
                _s3_input("test", _output_uri(preprocess, "test"), "/opt/ml/processing/test"),
            ],
            outputs=[self._output(EVALUATION_OUTPUT, "/opt/ml/processing/evaluation")],
            kms_key=self.env.kms_key_arn,
        )
        return ProcessingStep(name="EvaluateModel", step_args=step_args, property_files=[report])

    def register(
        self,
        train: TrainingStep,
        evaluate: ProcessingStep,
        baseline: QualityCheckStep,
        input_data: ParameterString,
        sample_payloads: ParameterString,
        approval_status: ParameterString,
    ) -> ModelStep:
        package = self.config.package_metadata
        model = ModelBuilder(
            image_uri=self._sklearn_image("inference", self.config.inference_instance_types[0]),
            s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
            role_arn=self.env.pipeline_role_arn,
            # train.py ships the serving script inside model.tar.gz, under code/.
            env_vars={
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
            sagemaker_session=self.session,
        )
        evaluation_uri = Join(on="/", values=[_output_uri(evaluate, EVALUATION_OUTPUT), EVALUATION_FILE])
        step_args = model.register(
            model_package_group_name=self.config.model_package_group_name,
            content_types=SERVED_MEDIA_TYPES,
            response_types=SERVED_MEDIA_TYPES,
            inference_instances=self.config.inference_instance_types,
            transform_instances=self.config.inference_instance_types,
            approval_status=approval_status,
            model_metrics=ModelMetrics(
                model_statistics=_json_source(evaluation_uri),
                model_data_statistics=_json_source(baseline.properties.CalculatedBaselineStatistics),
                model_data_constraints=_json_source(baseline.properties.CalculatedBaselineConstraints),
            ),
            # What the platform's Model Monitor checks the endpoint's traffic against: the baseline
            # the step checked drift against, which is the one it just computed, as long as it
            # registers a new baseline on every run.
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=_json_source(baseline.properties.BaselineUsedForDriftCheckStatistics),
                model_data_constraints=_json_source(baseline.properties.BaselineUsedForDriftCheckConstraints),
            ),
            metadata_properties=MetadataProperties(
                commit_id=self.env.source_commit, generated_by=ExecutionVariables.PIPELINE_EXECUTION_ARN
            ),
            # The model's inference contract, for the platform to deploy, smoke-test and monitor it.
            task=package.task,
            sample_payload_url=sample_payloads,
            customer_metadata_properties={
                "model_name": self.config.model_name,
                "source_commit": self.env.source_commit,
                "training_data_s3_uri": input_data,
                "pipeline_execution_arn": ExecutionVariables.PIPELINE_EXECUTION_ARN,
                **package.customer_metadata_properties.as_properties(),
            },
        )
        # register() has no KMS argument; CreateModelPackage takes the key as SecurityConfig.
        step_args.create_model_package_request["SecurityConfig"] = {"KmsKeyId": self.env.kms_key_arn}
        return ModelStep(name="RegisterModel", step_args=step_args)

    def metric_gate(
        self, evaluate: ProcessingStep, report: PropertyFile, register: ModelStep, baseline: QualityCheckStep
    ) -> ConditionStep:
        metric = self.config.metric
        measured = JsonGet(
            step_name=evaluate.name,
            property_file=report,
            json_path=f"{self.config.problem_type}_metrics.{metric.name}.value",
        )
        return ConditionStep(
            name=gate_step_name(metric),
            conditions=[_passes(metric, measured)],
            if_steps=[register],
            else_steps=[_fails(metric)],
            # Registration reads the baseline: no package without one, even if it runs long.
            depends_on=[baseline],
        )

    def _processor(self, job: str, instance_type: ParameterString) -> FrameworkProcessor:
        return FrameworkProcessor(
            image_uri=self.training_image,
            role=self.env.pipeline_role_arn,
            instance_type=instance_type,
            instance_count=1,
            volume_kms_key=self.env.kms_key_arn,
            output_kms_key=self.env.kms_key_arn,
            code_location=f"{self.prefix}/code",
            max_runtime_in_seconds=3600,
            base_job_name=f"{self.config.model_name}-{job}",
            tags=self.tags,
            sagemaker_session=self.session,
        )

    def _output(self, name: str, local_path: str) -> ProcessingOutput:
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(
                s3_uri=self._execution_uri(name), local_path=local_path, s3_upload_mode="EndOfJob"
            ),
        )

    def _execution_uri(self, name: str) -> Join:
        # One folder per execution, so a re-run never overwrites the data a package points at.
        return Join(on="/", values=[self.prefix, "pipelines", ExecutionVariables.PIPELINE_EXECUTION_ID, name])

    def _sklearn_image(self, scope: str, instance_type: str) -> str:
        return image_uris.retrieve(
            framework="sklearn",
            region=self.env.region,
            version=SKLEARN_FRAMEWORK_VERSION,
            py_version="py3",
            instance_type=instance_type,
            image_scope=scope,
        )


def gate_step_name(metric: MetricGate) -> str:
    """Check<Metric>AtLeast<threshold> (or AtMost when lower is better); step names allow no dot."""
    words = "".join(word.capitalize() for word in metric.name.split("_"))
    bound = "AtLeast" if metric.higher_is_better else "AtMost"
    return f"Check{words}{bound}{metric.threshold}".replace(".", "_")


def _passes(metric: MetricGate, measured: JsonGet) -> ConditionComparison:
    if metric.higher_is_better:
        return ConditionGreaterThanOrEqualTo(left=measured, right=metric.threshold)
    return ConditionLessThanOrEqualTo(left=measured, right=metric.threshold)


def _fails(metric: MetricGate) -> FailStep:
    if metric.higher_is_better:
        return FailStep(
            name="MetricBelowThreshold",
            error_message=f"{metric.name} is below the required {metric.threshold}: model not registered",
        )
    return FailStep(
        name="MetricAboveThreshold",
        error_message=f"{metric.name} is above the allowed {metric.threshold}: model not registered",
    )


def _s3_input(name: str, s3_uri: str | PipelineVariable, local_path: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(s3_uri=s3_uri, local_path=local_path, s3_data_type="S3Prefix"),
    )


def _json_source(s3_uri: str | PipelineVariable) -> MetricsSource:
    return MetricsSource(content_type="application/json", s3_uri=s3_uri)


def _output_uri(step: ProcessingStep, output_name: str) -> PipelineVariable:
    return step.properties.ProcessingOutputConfig.Outputs[output_name].S3Output.S3Uri
