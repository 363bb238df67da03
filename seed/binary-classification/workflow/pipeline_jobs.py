"""What every job of the model's pipeline shares: its role, image, KMS key, tags, runtime and the
per-execution folder of its outputs, and the names of the outputs one step hands to another."""

from sagemaker.core import image_uris
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.model_metrics import MetricsSource
from sagemaker.core.processing import FrameworkProcessor
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.parameters import ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder

from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment

# The scikit-learn framework image: its version must match scikit-learn in requirements.txt
# (1.9.x), since the model is pickled in training and unpickled in this image at serving.
SKLEARN_FRAMEWORK_VERSION = "1.9-0"
# A job that runs longer than this is stopped (and fails the execution).
MAX_JOB_SECONDS = 3600

# The outputs of the jobs (each uploaded to its own folder of the execution's prefix).
EVALUATION_OUTPUT = "evaluation"
EVALUATION_FILE = "evaluation.json"
# evaluate.py writes the test split's predictions here (predictions.csv, with a header).
PREDICTIONS_OUTPUT = "predictions"
# preprocess.py writes the training split's features here, in the baseline's dataset format.
TRAIN_FEATURES_OUTPUT = "train_features"
# preprocess.py writes the test split here for Clarify (no header; features, then the target).
CLARIFY_DATASET_OUTPUT = "clarify_dataset"


class PipelineJobs:
    """Builds the jobs' settings; holds what they all share (config, environment, session, image)."""

    def __init__(
        self,
        config: ModelConfig,
        env: BuildEnvironment,
        session: PipelineSession,
        processing_instance: ParameterString,
    ) -> None:
        self.config = config
        self.env = env
        self.session = session
        self.processing_instance = processing_instance
        self.prefix = f"s3://{env.artifact_bucket}/{config.model_name}"
        self.training_image = self.sklearn_image("training", config.training_instance_type)
        # Every job carries the model's tags: the platform lets the pipeline role touch only those jobs.
        self.tags = [{"Key": key, "Value": value} for key, value in sorted(config.resource_tags.items())]

    def processor(self, job: str, environment: dict[str, str] | None = None) -> FrameworkProcessor:
        """A processing job running a script (of jobs/, unless run() names another source directory) in
        the scikit-learn image, with `environment` as its environment variables."""
        return FrameworkProcessor(
            image_uri=self.training_image,
            role=self.env.pipeline_role_arn,
            instance_type=self.processing_instance,
            instance_count=1,
            volume_kms_key=self.env.kms_key_arn,
            output_kms_key=self.env.kms_key_arn,
            code_location=f"{self.prefix}/code",
            max_runtime_in_seconds=MAX_JOB_SECONDS,
            base_job_name=f"{self.config.model_name}-{job}",
            env=environment,
            tags=self.tags,
            sagemaker_session=self.session,
        )

    def check_job(self, job: str) -> CheckJobConfig:
        """The job of a quality or Clarify check, run like the others (role, keys, tags, runtime)."""
        return CheckJobConfig(
            role=self.env.pipeline_role_arn,
            instance_count=1,
            instance_type=self.processing_instance,
            volume_kms_key=self.env.kms_key_arn,
            output_kms_key=self.env.kms_key_arn,
            max_runtime_in_seconds=MAX_JOB_SECONDS,
            base_job_name=f"{self.config.model_name}-{job}",
            tags=self.tags,
            sagemaker_session=self.session,
        )

    def served_model(self, train: TrainingStep) -> ModelBuilder:
        """The model as it is served: the scikit-learn image with the trained artifact and its script."""
        return ModelBuilder(
            image_uri=self.sklearn_image("inference", self.config.inference_instance_types[0]),
            s3_model_data_url=model_artifact(train),
            role_arn=self.env.pipeline_role_arn,
            # train.py ships the serving script inside model.tar.gz, under code/.
            env_vars={
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
            sagemaker_session=self.session,
        )

    def output(self, name: str, local_path: str) -> ProcessingOutput:
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(
                s3_uri=self.execution_uri(name), local_path=local_path, s3_upload_mode="EndOfJob"
            ),
        )

    def execution_uri(self, name: str) -> Join:
        # One folder per execution, so a re-run never overwrites the data a package points at.
        return Join(on="/", values=[self.prefix, "pipelines", ExecutionVariables.PIPELINE_EXECUTION_ID, name])

    def sklearn_image(self, scope: str, instance_type: str) -> str:
        return image_uris.retrieve(
            framework="sklearn",
            region=self.env.region,
            version=SKLEARN_FRAMEWORK_VERSION,
            py_version="py3",
            instance_type=instance_type,
            image_scope=scope,
        )


def s3_input(name: str, s3_uri: str | PipelineVariable, local_path: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(s3_uri=s3_uri, local_path=local_path, s3_data_type="S3Prefix"),
    )


def output_uri(step: ProcessingStep, output_name: str) -> PipelineVariable:
    return step.properties.ProcessingOutputConfig.Outputs[output_name].S3Output.S3Uri


def model_artifact(train: TrainingStep) -> PipelineVariable:
    return train.properties.ModelArtifacts.S3ModelArtifacts


def json_source(s3_uri: str | PipelineVariable) -> MetricsSource:
    return MetricsSource(content_type="application/json", s3_uri=s3_uri)
