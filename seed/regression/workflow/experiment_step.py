"""The LogExperiment step: what the build measured of a model that cleared the gate, into MLflow.

Only a build that tracks experiments has it (MLFLOW_TRACKING_URI set: workflow/environment.py). It
runs experiment_job/log_experiment.py once the assessment is done (the model-quality baseline,
Clarify's checks, the model card), and before the package is registered, which records the run it
logged into (MLFLOW_RUN_ID_KEY) and the tracking server (MLFLOW_TRACKING_SERVER_ARN_KEY). The run is
the one run_pipeline started for the execution (the MlflowRunId parameter: workflow/experiment_run.py),
or a new one when the execution was started without it (from Studio).

The job has a source directory of its own, whose requirements.txt (the MLflow client) the framework
processor installs for this job only.
"""

import json
from dataclasses import dataclass

from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import JsonGet
from sagemaker.core.workflow.parameters import ParameterString
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep

from workflow.config import REPOSITORY_ROOT, MetricGate, ModelConfig
from workflow.environment import MLFLOW_TRACKING_URI_VARIABLE
from workflow.pipeline_jobs import EVALUATION_OUTPUT, PipelineJobs, model_artifact, output_uri, s3_input
from workflow.registration import Assessment

# The pipeline parameter run_pipeline sets to the build's run; its default means "no run yet".
RUN_ID_PARAMETER = "MlflowRunId"
NO_RUN = "none"
# The package's metadata keys (CustomerMetadataProperties) the platform's lineage tool reads.
MLFLOW_RUN_ID_KEY = "mlflow_run_id"
MLFLOW_TRACKING_SERVER_ARN_KEY = "mlflow_tracking_server_arn"

STEP_NAME = "LogExperiment"
EXPERIMENT_OUTPUT = "experiment"
# What log_experiment.py writes: {"run_id", "experiment_id", "model_version"}.
EXPERIMENT_FILE = "experiment.json"
# The job's own source directory (outside jobs/, whose code the other steps upload and hash).
EXPERIMENT_JOB_DIR = REPOSITORY_ROOT / "experiment_job"
# Where MLflow's S3 client reads its upload arguments: the model goes to the artifact store encrypted
# with the platform key, like every other output of the build.
S3_UPLOAD_ARGUMENTS_VARIABLE = "MLFLOW_S3_UPLOAD_EXTRA_ARGS"


def gate_params(metric: MetricGate) -> dict[str, str]:
    """The gate as MLflow params: run_pipeline and the job log the same values (MLflow refuses to
    change a param)."""
    return {
        "gate_metric": metric.name,
        "gate_threshold": str(metric.threshold),
        "gate_direction": metric.direction,
    }


def gate_arguments(metric: MetricGate) -> list[str]:
    """The gate's params as the job's arguments (--gate-metric, --gate-threshold, --gate-direction)."""
    return [
        item for name, value in gate_params(metric).items() for item in (f"--{name.replace('_', '-')}", value)
    ]


@dataclass(frozen=True)
class ExperimentStep:
    """The step and the property file that names the run it logged into."""

    step: ProcessingStep
    experiment_file: PropertyFile
    tracking_uri: str

    def package_metadata(self) -> dict[str, str | PipelineVariable]:
        """What the package records of the run."""
        run_id = JsonGet(step_name=self.step.name, property_file=self.experiment_file, json_path="run_id")
        return {MLFLOW_RUN_ID_KEY: run_id, MLFLOW_TRACKING_SERVER_ARN_KEY: self.tracking_uri}


def log_experiment(
    jobs: PipelineJobs,
    train: TrainingStep,
    evaluate: ProcessingStep,
    assessment: Assessment,
    run_id: ParameterString,
    tracking_uri: str,
) -> ExperimentStep:
    """The LogExperiment step of the model that `train` fitted and `evaluate` measured."""
    config: ModelConfig = jobs.config
    inputs = [
        s3_input("evaluation", output_uri(evaluate, EVALUATION_OUTPUT), "/opt/ml/processing/evaluation"),
        s3_input("model", model_artifact(train), "/opt/ml/processing/model"),
    ]
    arguments: list[str | PipelineVariable] = [
        "--run-id", run_id,
        "--experiment", config.model_name,
        "--registered-model", config.model_package_group_name,
        *gate_arguments(config.metric),
        "--execution-id", ExecutionVariables.PIPELINE_EXECUTION_ID,
        "--execution-arn", ExecutionVariables.PIPELINE_EXECUTION_ARN,
    ]  # fmt: skip
    clarify = assessment.clarify
    for name, check in (
        ("explainability", clarify.explainability),
        ("data-bias", clarify.data_bias),
        ("model-bias", clarify.model_bias),
    ):
        if check is not None:
            local_path = f"/opt/ml/processing/{name}"
            inputs.append(s3_input(name, check.properties.CalculatedBaselineConstraints, local_path))
            arguments += [f"--{name}-dir", local_path]
    environment = {
        MLFLOW_TRACKING_URI_VARIABLE: tracking_uri,
        S3_UPLOAD_ARGUMENTS_VARIABLE: json.dumps(
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": jobs.env.kms_key_arn}
        ),
    }
    step_args = jobs.processor("log-experiment", environment=environment).run(
        code="log_experiment.py",
        source_dir=str(EXPERIMENT_JOB_DIR),
        inputs=inputs,
        outputs=[jobs.output(EXPERIMENT_OUTPUT, "/opt/ml/processing/experiment")],
        arguments=arguments,
        kms_key=jobs.env.kms_key_arn,
    )
    experiment_file = PropertyFile(name="Experiment", output_name=EXPERIMENT_OUTPUT, path=EXPERIMENT_FILE)
    step = ProcessingStep(
        name=STEP_NAME,
        step_args=step_args,
        property_files=[experiment_file],
        # Logged (and the model registered in MLflow) only once the whole assessment succeeded.
        depends_on=[assessment.model_quality, assessment.card],
    )
    return ExperimentStep(step=step, experiment_file=experiment_file, tracking_uri=tracking_uri)
