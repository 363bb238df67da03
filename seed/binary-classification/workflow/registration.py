"""What only a model that clears the metric gate gets: its assessment (the model-quality baseline of
its test predictions, Clarify's checks: workflow/clarify_steps.py), its model card
(jobs/model_card.py) and its model package, which records them all.

The package is registered PendingManualApproval with its model card PendingReview; its ModelMetrics
say what this model measured (test metrics, baselines, Clarify's reports) and its
DriftCheckBaselines what the platform's Model Monitor checks the production endpoint against.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.metadata_properties import MetadataProperties
from sagemaker.core.model_metrics import FileSource, MetricsSource, ModelMetrics
from sagemaker.core.model_monitor import DatasetFormat
from sagemaker.core.shapes import ModelPackageModelCard
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterString
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.clarify_check_step import ClarifyCheckStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.quality_check_step import ModelQualityCheckConfig, QualityCheckStep
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep

from workflow.clarify_steps import ClarifyCheckBuilder, ClarifyChecks, ClarifyDataset
from workflow.model_code import JOBS_DIR, model_features, target_column
from workflow.pipeline_jobs import (
    CLARIFY_DATASET_OUTPUT,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    PREDICTIONS_OUTPUT,
    PipelineJobs,
    json_source,
    model_artifact,
    output_uri,
    s3_input,
)

if TYPE_CHECKING:
    # The step reads the assessment this module builds.
    from workflow.experiment_step import ExperimentStep

MODEL_QUALITY_OUTPUT = "model-quality"
MODEL_CARD_OUTPUT = "model_card"
MODEL_CARD_FILE = "model_card.json"
# The package's model card waits for review; the platform's approval gate moves it on (Approved when
# it deploys the package, Archived when it rejects it: CARD_* of the platform's contracts module).
MODEL_CARD_STATUS = "PendingReview"
# Both media types are served (jobs/inference.py), whatever the contract names as the default.
SERVED_MEDIA_TYPES = ["application/json", "text/csv"]
# The columns of evaluate.py's predictions.csv, as the model-quality check names them.
PREDICTION_COLUMNS = {"ground_truth": "label", "inference": "prediction", "probability": "probability"}
# Model Monitor's names of the problem types (ModelQualityCheckConfig.problem_type).
MONITOR_PROBLEM_TYPES = {
    "binary_classification": "BinaryClassification",
    "multiclass_classification": "MulticlassClassification",
}
# CreateProcessingJob takes container arguments of at most 256 characters each.
MAX_CONTAINER_ARGUMENT = 256


@dataclass(frozen=True)
class Assessment:
    """The steps of a model's assessment: the package records their results."""

    model_quality: QualityCheckStep
    model: ModelStep
    clarify: ClarifyChecks
    card: ProcessingStep
    card_file: PropertyFile

    @property
    def steps(self) -> list[ModelStep | QualityCheckStep | ClarifyCheckStep | ProcessingStep]:
        """In the order of their data: the model checks need the model, the card their reports."""
        return [self.model_quality, self.model, *self.clarify.steps, self.card]


class Registration:
    """Builds the assessment and the package of the model that `train` and `evaluate` produce."""

    def __init__(
        self, jobs: PipelineJobs, preprocess: ProcessingStep, train: TrainingStep, evaluate: ProcessingStep
    ) -> None:
        self.jobs = jobs
        self.config = jobs.config
        self.preprocess = preprocess
        self.train = train
        self.evaluate = evaluate

    def assess(self, input_data: ParameterString) -> Assessment:
        model = self.create_model()
        clarify = self.clarify_checks(model)
        card_file = PropertyFile(name="ModelCard", output_name=MODEL_CARD_OUTPUT, path=MODEL_CARD_FILE)
        return Assessment(
            model_quality=self.model_quality_baseline(),
            model=model,
            clarify=clarify,
            card=self.model_card(clarify, input_data, card_file),
            card_file=card_file,
        )

    def model_quality_baseline(self) -> QualityCheckStep:
        """Model Monitor's model-quality statistics and constraints of the test split's predictions.

        Recorded like the data-quality baseline (skip_check, register_new_baseline): the platform's
        model-quality monitor compares production's predictions, with their ground truth, with it.
        """
        binary = self.config.problem_type == "binary_classification"
        quality_check = ModelQualityCheckConfig(
            baseline_dataset=output_uri(self.evaluate, PREDICTIONS_OUTPUT),
            dataset_format=DatasetFormat.csv(header=True),
            output_s3_uri=self.jobs.execution_uri(MODEL_QUALITY_OUTPUT),
            problem_type=MONITOR_PROBLEM_TYPES[self.config.problem_type],
            inference_attribute=PREDICTION_COLUMNS["inference"],
            # A multiclass answer's probability is that of the answered class only: no metric uses it.
            probability_attribute=PREDICTION_COLUMNS["probability"] if binary else None,
            ground_truth_attribute=PREDICTION_COLUMNS["ground_truth"],
        )
        return QualityCheckStep(
            name="BaselineModelQuality",
            quality_check_config=quality_check,
            check_job_config=self.jobs.check_job(MODEL_QUALITY_OUTPUT),
            skip_check=True,
            register_new_baseline=True,
        )

    def create_model(self) -> ModelStep:
        """The SageMaker model Clarify serves from its shadow endpoints: the package's own container."""
        return ModelStep(
            name="CreateModel", step_args=self.jobs.served_model(self.train).build(tags=self.jobs.tags)
        )

    def clarify_checks(self, model: ModelStep) -> ClarifyChecks:
        target = target_column(self.config.problem_type)
        jobs = self.jobs
        return ClarifyCheckBuilder(
            settings=self.config,
            dataset=ClarifyDataset(
                s3_uri=output_uri(self.preprocess, CLARIFY_DATASET_OUTPUT),
                headers=[*model_features(), target],
                label=target,
            ),
            model_name=model.properties.ModelName,
            kms_key=jobs.env.kms_key_arn,
            check_job=jobs.check_job,
            results_uri=jobs.execution_uri,
            # The SDK uploads each check's analysis configuration while it builds the definition:
            # one folder per commit, as there is one definition per commit.
            analysis_config_uri=lambda name: f"{jobs.prefix}/clarify/{jobs.env.source_commit}/{name}",
        ).checks()

    def model_card(
        self, clarify: ClarifyChecks, input_data: ParameterString, card_file: PropertyFile
    ) -> ProcessingStep:
        """jobs/model_card.py: the card from the test metrics, Clarify's reports and the settings."""
        inputs = [
            s3_input(
                "evaluation", output_uri(self.evaluate, EVALUATION_OUTPUT), "/opt/ml/processing/evaluation"
            )
        ]
        arguments = json_arguments("--card", self.config.card.model_dump())
        if self.config.clarify is not None:
            arguments += json_arguments("--clarify", self.config.clarify.model_dump())
        analyses = {
            "explainability": clarify.explainability,
            "data-bias": clarify.data_bias,
            "model-bias": clarify.model_bias,
        }
        for name, check in analyses.items():
            if check is not None:
                # The analysis itself (its S3 object), which also makes the card wait for the check.
                local_path = f"/opt/ml/processing/{name}"
                inputs.append(s3_input(name, check.properties.CalculatedBaselineConstraints, local_path))
                arguments += [f"--{name}-dir", local_path]
        arguments += [
            "--training-data", input_data,
            "--source-commit", self.jobs.env.source_commit,
            "--training-job-arn", self.train.properties.TrainingJobArn,
            "--model-artifact", model_artifact(self.train),
        ]  # fmt: skip
        step_args = self.jobs.processor("model-card").run(
            code="model_card.py",
            source_dir=str(JOBS_DIR),
            inputs=inputs,
            outputs=[self.jobs.output(MODEL_CARD_OUTPUT, "/opt/ml/processing/card")],
            arguments=arguments,
            kms_key=self.jobs.env.kms_key_arn,
        )
        return ProcessingStep(name="WriteModelCard", step_args=step_args, property_files=[card_file])

    def register(
        self,
        assessment: Assessment,
        data_quality: QualityCheckStep,
        training_data: Mapping[str, ParameterString],
        sample_payloads: ParameterString,
        approval_status: ParameterString,
        experiment: "ExperimentStep | None" = None,
    ) -> ModelStep:
        """The package; `training_data` is what it records of the data it was trained on, each parameter
        under its metadata key (workflow/training_lineage.py)."""
        package = self.config.package_metadata
        env = self.jobs.env
        evaluation_uri = Join(on="/", values=[output_uri(self.evaluate, EVALUATION_OUTPUT), EVALUATION_FILE])
        step_args = self.jobs.served_model(self.train).register(
            model_package_group_name=self.config.model_package_group_name,
            content_types=SERVED_MEDIA_TYPES,
            response_types=SERVED_MEDIA_TYPES,
            inference_instances=self.config.inference_instance_types,
            transform_instances=self.config.inference_instance_types,
            approval_status=approval_status,
            model_metrics=model_metrics(evaluation_uri, data_quality, assessment),
            drift_check_baselines=drift_check_baselines(data_quality, assessment),
            metadata_properties=MetadataProperties(
                commit_id=env.source_commit,
                repository=env.source_repository,
                generated_by=ExecutionVariables.PIPELINE_EXECUTION_ARN,
            ),
            # The model's inference contract, for the platform to deploy, smoke-test and monitor it.
            task=package.task,
            sample_payload_url=sample_payloads,
            customer_metadata_properties={
                "model_name": self.config.model_name,
                "source_commit": env.source_commit,
                **training_data,
                "pipeline_execution_arn": ExecutionVariables.PIPELINE_EXECUTION_ARN,
                **package.customer_metadata_properties.as_properties(),
                # The MLflow run, when the build tracks experiments (workflow/experiment_step.py).
                **(experiment.package_metadata() if experiment is not None else {}),
            },
            model_card=ModelPackageModelCard(
                model_card_content=JsonGet(
                    step_name=assessment.card.name, property_file=assessment.card_file, json_path="content"
                ),
                model_card_status=MODEL_CARD_STATUS,
            ),
        )
        # register() has no KMS argument; CreateModelPackage takes the key as SecurityConfig.
        step_args.create_model_package_request["SecurityConfig"] = {"KmsKeyId": env.kms_key_arn}
        # A package never records a run before it was logged into.
        depends_on = [experiment.step] if experiment is not None else None
        return ModelStep(name="RegisterModel", step_args=step_args, depends_on=depends_on)


def model_metrics(
    evaluation_uri: Join, data_quality: QualityCheckStep, assessment: Assessment
) -> ModelMetrics:
    """What this model measured: its test metrics (evaluation.json, which the approval gate reads),
    its baselines, and Clarify's reports (bias only when it has facets)."""
    clarify = assessment.clarify
    return ModelMetrics(
        model_statistics=json_source(evaluation_uri),
        model_constraints=json_source(assessment.model_quality.properties.CalculatedBaselineConstraints),
        model_data_statistics=json_source(data_quality.properties.CalculatedBaselineStatistics),
        model_data_constraints=json_source(data_quality.properties.CalculatedBaselineConstraints),
        bias_pre_training=_calculated(clarify.data_bias),
        bias_post_training=_calculated(clarify.model_bias),
        explainability=_calculated(clarify.explainability),
    )


def drift_check_baselines(data_quality: QualityCheckStep, assessment: Assessment) -> DriftCheckBaselines:
    """What the platform's Model Monitor checks the endpoint against: the baseline each check checked
    drift against, which is the one it just computed, as long as it registers a new baseline on every
    run; and the analysis configurations of the bias and explainability monitors."""
    model_quality, clarify = assessment.model_quality.properties, assessment.clarify
    return DriftCheckBaselines(
        model_statistics=json_source(model_quality.BaselineUsedForDriftCheckStatistics),
        model_constraints=json_source(model_quality.BaselineUsedForDriftCheckConstraints),
        model_data_statistics=json_source(data_quality.properties.BaselineUsedForDriftCheckStatistics),
        model_data_constraints=json_source(data_quality.properties.BaselineUsedForDriftCheckConstraints),
        bias_config_file=_monitor_configuration(clarify.model_bias),
        bias_pre_training_constraints=_used_for_drift_check(clarify.data_bias),
        bias_post_training_constraints=_used_for_drift_check(clarify.model_bias),
        explainability_constraints=_used_for_drift_check(clarify.explainability),
        explainability_config_file=_monitor_configuration(clarify.explainability),
    )


def json_arguments(option: str, value: object) -> list[str | PipelineVariable]:
    """`value` as JSON in `option=<piece>` arguments, each within CreateProcessingJob's limit; the job
    joins the pieces (the `=` form, so that no piece reads as an option of its own)."""
    text = json.dumps(value, separators=(",", ":"))
    size = MAX_CONTAINER_ARGUMENT - len(option) - 1
    return [f"{option}={text[start : start + size]}" for start in range(0, len(text), size)]


def _calculated(check: ClarifyCheckStep | None) -> MetricsSource | None:
    return None if check is None else json_source(check.properties.CalculatedBaselineConstraints)


def _used_for_drift_check(check: ClarifyCheckStep | None) -> MetricsSource | None:
    return None if check is None else json_source(check.properties.BaselineUsedForDriftCheckConstraints)


def _monitor_configuration(check: ClarifyCheckStep | None) -> FileSource | None:
    """The analysis configuration of the production monitor of this check, which the SDK uploaded."""
    if check is None:
        return None
    return FileSource(
        s3_uri=check.clarify_check_config.monitoring_analysis_config_uri, content_type="application/json"
    )
