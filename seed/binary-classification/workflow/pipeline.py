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
Clarify reports, its model card (PendingReview), its inference contract (task, sample payloads,
problem type, media types and answer fields) and its lineage (commit, data and the feature group
and event times it was joined from, pipeline execution), which the platform's approval gate,
deployment and lineage tool read.
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
    ConditionComparison,
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

from workflow.config import MetricGate, ModelConfig
from workflow.environment import BuildEnvironment
from workflow.experiment_step import NO_RUN, RUN_ID_PARAMETER, log_experiment
from workflow.model_code import JOBS_DIR
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
from workflow.sample_payloads import sample_payload_url
from workflow.training_lineage import (
    EVENT_TIME_FROM_KEY,
    EVENT_TIME_TO_KEY,
    FEATURE_GROUP_KEY,
    NOT_FROM_A_FEATURE_GROUP,
    TRAINING_DATA_KEY,
)

# The parameters run_pipeline.py sets on each execution.
INPUT_DATA_PARAMETER = "InputDataUrl"
SAMPLE_PAYLOAD_PARAMETER = "SamplePayloadUrl"
FEATURE_GROUP_PARAMETER = "FeatureGroupName"
EVENT_TIME_FROM_PARAMETER = "EventTimeFrom"
EVENT_TIME_TO_PARAMETER = "EventTimeTo"
# Where the training set came from in the Feature Store: the package's metadata key each parameter fills.
FEATURE_STORE_PARAMETERS = {
    FEATURE_GROUP_KEY: FEATURE_GROUP_PARAMETER,
    EVENT_TIME_FROM_KEY: EVENT_TIME_FROM_PARAMETER,
    EVENT_TIME_TO_KEY: EVENT_TIME_TO_PARAMETER,
}

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
    sample_payloads = ParameterString(
        name=SAMPLE_PAYLOAD_PARAMETER, default_value=sample_payload_url(config, env)
    )
    # An execution started without them (from Studio, say) claims no feature group.
    feature_store_source = {
        key: ParameterString(name=name, default_value=NOT_FROM_A_FEATURE_GROUP)
        for key, name in FEATURE_STORE_PARAMETERS.items()
    }
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
    training_data = {TRAINING_DATA_KEY: input_data, **feature_store_source}
    register = registration.register(
        assessment, baseline, training_data, sample_payloads, approval_status, experiment
    )
    gate = steps.metric_gate(
        evaluate, evaluation_report, [*assessment.steps, *experiment_steps, register], baseline
    )

    return Pipeline(
        name=config.pipeline_name,
        parameters=[
            input_data,
            sample_payloads,
            *feature_store_source.values(),
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
            arguments=["--problem-type", self.config.problem_type],
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
            hyperparameters=TRAINING_HYPERPARAMETERS | {"problem-type": self.config.problem_type},
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
        metric = self.config.metric
        measured = JsonGet(
            step_name=evaluate.name,
            property_file=report,
            json_path=f"{self.config.problem_type}_metrics.{metric.name}.value",
        )
        return ConditionStep(
            name=gate_step_name(metric),
            conditions=[_passes(metric, measured)],
            if_steps=if_steps,
            else_steps=[_fails(metric)],
            # Registration reads the baseline: no package without one, even if it runs long.
            depends_on=[baseline],
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
