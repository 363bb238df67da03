"""The model's SageMaker Pipeline: preprocess -> train -> evaluate -> gate on the metric -> assess
and register, with the data-quality baseline of the training features computed alongside training.

Only a model whose metric clears the gate is assessed and registered (workflow/registration.py):
the model-quality baseline of its test predictions, Clarify's checks (data and model bias of each
configured facet, SHAP explanation: workflow/clarify_steps.py), its model card
(jobs/model_card.py), then its package.

Every S3 output is written under s3://<ARTIFACT_BUCKET>/<model_name>/ and encrypted with
KMS_KEY_ARN, as are the job volumes. The model package is registered as
PendingManualApproval with its evaluation report, its baselines (data and model quality, bias,
explainability: what the platform's Model Monitor checks the production endpoint against), its
Clarify reports, its model card (PendingReview), its sample requests, its inference contract
and its lineage (commit, data, pipeline execution), which the platform's approval gate, smoke test
and monitoring read.
"""

import json

import boto3
from sagemaker.core.model_monitor import DatasetFormat
from sagemaker.core.shapes import Tag
from sagemaker.core.training.configs import (
    Compute,
    InputData,
    OutputDataConfig,
    SourceCode,
    StoppingCondition,
)
from sagemaker.core.workflow.conditions import (
    Condition,
    ConditionGreaterThanOrEqualTo,
    ConditionLessThanOrEqualTo,
)
from sagemaker.core.workflow.functions import JsonGet
from sagemaker.core.workflow.parameters import ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep
from sagemaker.mlops.workflow.steps import ProcessingStep, Step, TrainingStep
from sagemaker.train.model_trainer import ModelTrainer

from workflow.config import JOBS_DIR, ModelConfig
from workflow.environment import BuildEnvironment
from workflow.experiment_step import NO_RUN, RUN_ID_PARAMETER, log_experiment
from workflow.pipeline_jobs import (
    CLARIFY_DATASET_OUTPUT,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    MAX_JOB_SECONDS,
    PREDICTIONS_OUTPUT,
    TRAIN_FEATURES_OUTPUT,
    PipelineJobs,
    model_artifact,
    output_uri,
    s3_input,
)
from workflow.registration import Registration

# The pipeline's parameters that run_pipeline sets on every start.
INPUT_DATA_PARAMETER = "InputDataUrl"
SAMPLE_PAYLOAD_PARAMETER = "SamplePayloadUrl"

# The section of evaluate.py's model-quality report that holds the metrics.
REPORT_SECTION = "regression_metrics"

BASELINE_OUTPUT = "baseline"
APPROVAL_STATUS = "PendingManualApproval"
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
    sample_payload = ParameterString(
        name=SAMPLE_PAYLOAD_PARAMETER,
        default_value=env.sample_payloads_url(config.package_metadata.sample_payloads_prefix),
    )
    approval_status = ParameterString(name="ModelApprovalStatus", default_value=APPROVAL_STATUS)
    processing_instance = ParameterString(
        name="ProcessingInstanceType", default_value=config.processing_instance_type
    )
    training_instance = ParameterString(
        name="TrainingInstanceType", default_value=config.training_instance_type
    )

    steps = _Steps(PipelineJobs(config, env, session, processing_instance))
    preprocess = steps.preprocess(input_data)
    train = steps.train(preprocess, training_instance)
    baseline = steps.data_quality_baseline(preprocess)
    evaluation_report = PropertyFile(
        name="EvaluationReport", output_name=EVALUATION_OUTPUT, path=EVALUATION_FILE
    )
    evaluate = steps.evaluate(preprocess, train, evaluation_report)
    registration = Registration(steps.jobs, preprocess, train, evaluate)
    assessment = registration.assess(input_data)
    # Only a build that tracks experiments logs them (and takes the run to log into).
    run_id = ParameterString(name=RUN_ID_PARAMETER, default_value=NO_RUN)
    experiment = (
        log_experiment(steps.jobs, train, evaluate, assessment, run_id, env.mlflow_tracking_uri)
        if env.mlflow_tracking_uri is not None
        else None
    )
    experiment_steps = [experiment.step] if experiment is not None else []
    register = registration.register(
        assessment, baseline, input_data, sample_payload, approval_status, experiment
    )
    gate = steps.metric_gate(
        evaluate, evaluation_report, [*assessment.steps, *experiment_steps, register], baseline
    )

    return Pipeline(
        name=config.pipeline_name,
        parameters=[
            input_data,
            sample_payload,
            approval_status,
            processing_instance,
            training_instance,
            *([run_id] if experiment is not None else []),
        ],
        steps=[preprocess, baseline, train, evaluate, gate],
        # No SageMaker Experiments records: lineage lives in the model package (commit, data,
        # execution ARN), and the pipeline role needs no Experiments permissions.
        pipeline_experiment_config=None,
        sagemaker_session=session,
    )


class _Steps:
    """Builds the steps every model runs, up to and including the metric gate."""

    def __init__(self, jobs: PipelineJobs) -> None:
        self.jobs = jobs
        self.config = jobs.config
        self.env = jobs.env

    def preprocess(self, input_data: ParameterString) -> ProcessingStep:
        outputs = [
            self.jobs.output(name, f"/opt/ml/processing/{name}")
            for name in ("train", "validation", "test", TRAIN_FEATURES_OUTPUT, CLARIFY_DATASET_OUTPUT)
        ]
        step_args = self.jobs.processor("preprocess").run(
            code="preprocess.py",
            source_dir=str(JOBS_DIR),
            inputs=[s3_input("raw", input_data, "/opt/ml/processing/input")],
            outputs=outputs,
            kms_key=self.env.kms_key_arn,
        )
        return ProcessingStep(name="PreprocessData", step_args=step_args)

    def train(self, preprocess: ProcessingStep, instance_type: ParameterString) -> TrainingStep:
        trainer = ModelTrainer(
            training_image=self.jobs.training_image,
            role=self.env.pipeline_role_arn,
            source_code=SourceCode(source_dir=str(JOBS_DIR), entry_script="train.py"),
            compute=Compute(
                instance_type=instance_type, instance_count=1, volume_kms_key_id=self.env.kms_key_arn
            ),
            output_data_config=OutputDataConfig(
                s3_output_path=f"{self.jobs.prefix}/models", kms_key_id=self.env.kms_key_arn
            ),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=MAX_JOB_SECONDS),
            hyperparameters=TRAINING_HYPERPARAMETERS,
            base_job_name=f"{self.config.model_name}-train",
            tags=[Tag(key=tag["Key"], value=tag["Value"]) for tag in self.jobs.tags],
            sagemaker_session=self.jobs.session,
        )
        channels = [
            InputData(channel_name=split, data_source=output_uri(preprocess, split))
            for split in ("train", "validation")
        ]
        return TrainingStep(name="TrainModel", step_args=trainer.train(input_data_config=channels))

    def data_quality_baseline(self, preprocess: ProcessingStep) -> QualityCheckStep:
        """Model Monitor's statistics.json and constraints.json of the training features.

        The first run of a model has no baseline to check against: the step records the new
        baseline (skip_check) and reports it as the one to check drift against
        (register_new_baseline), so it never fails a build on drift.
        """
        quality_check = DataQualityCheckConfig(
            baseline_dataset=output_uri(preprocess, TRAIN_FEATURES_OUTPUT),
            # One JSON object per line, as each of the `instances` of a request (see README).
            dataset_format=DatasetFormat.json(lines=True),
            output_s3_uri=self.jobs.execution_uri(BASELINE_OUTPUT),
        )
        return QualityCheckStep(
            name="BaselineDataQuality",
            quality_check_config=quality_check,
            check_job_config=self.jobs.check_job(BASELINE_OUTPUT),
            skip_check=True,
            register_new_baseline=True,
        )

    def evaluate(
        self, preprocess: ProcessingStep, train: TrainingStep, report: PropertyFile
    ) -> ProcessingStep:
        step_args = self.jobs.processor("evaluate").run(
            code="evaluate.py",
            source_dir=str(JOBS_DIR),
            inputs=[
                s3_input("model", model_artifact(train), "/opt/ml/processing/model"),
                s3_input("test", output_uri(preprocess, "test"), "/opt/ml/processing/test"),
            ],
            outputs=[
                self.jobs.output(EVALUATION_OUTPUT, "/opt/ml/processing/evaluation"),
                self.jobs.output(PREDICTIONS_OUTPUT, "/opt/ml/processing/predictions"),
            ],
            kms_key=self.env.kms_key_arn,
        )
        return ProcessingStep(name="EvaluateModel", step_args=step_args, property_files=[report])

    def metric_gate(
        self, evaluate: ProcessingStep, report: PropertyFile, if_steps: list[Step], baseline: QualityCheckStep
    ) -> ConditionStep:
        """Assess and register only a model whose metric is at least as good as the threshold, in its
        direction."""
        metric = self.config.metric
        measured = JsonGet(
            step_name=evaluate.name,
            property_file=report,
            json_path=f"{REPORT_SECTION}.{metric.name}.value",
        )
        condition: Condition
        if metric.lower_is_better:
            condition = ConditionLessThanOrEqualTo(left=measured, right=metric.threshold)
            comparison, failure, fail_step = "AtMost", "above the allowed", "MetricAboveThreshold"
        else:
            condition = ConditionGreaterThanOrEqualTo(left=measured, right=metric.threshold)
            comparison, failure, fail_step = "AtLeast", "below the required", "MetricBelowThreshold"
        return ConditionStep(
            name=f"Check{metric.name.capitalize()}{comparison}{metric.threshold}".replace(".", "_"),
            conditions=[condition],
            if_steps=if_steps,
            else_steps=[
                FailStep(
                    name=fail_step,
                    error_message=f"{metric.name} is {failure} {metric.threshold}: model not registered",
                )
            ],
            # Registration reads the baseline: no package without one, even if it runs long.
            depends_on=[baseline],
        )
