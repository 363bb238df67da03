"""The SageMaker Pipeline definition, built offline against moto and read back as JSON: the steps
every model runs, up to the metric gate, and the package's contract and lineage
(tests/test_pipeline_assessment.py checks the assessment behind the gate)."""

import json
from pathlib import Path
from typing import Any

import pytest

import evaluate
import preprocess
from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.pipeline_jobs import CLARIFY_DATASET_OUTPUT, TRAIN_FEATURES_OUTPUT

from .conftest import BUCKET, BuiltPipeline
from .pipeline_definitions import Definition, all_steps, get, join

SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
MODEL_MONITOR_IMAGE = "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
GATE = "CheckRmseAtMost12_0"
# The step types that run a processing job.
PROCESSING_TYPES = ("Processing", "QualityCheck", "ClarifyCheck")


@pytest.fixture(scope="module")
def definition(built_pipeline: BuiltPipeline) -> Definition:
    return built_pipeline.definition


def test_the_pipeline_has_the_expected_parameters_and_defaults(
    definition: Definition, config: ModelConfig, build_env: BuildEnvironment
) -> None:
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}

    assert parameters == {
        "InputDataUrl": f"s3://{BUCKET}/demand/data/raw/{build_env.source_commit}/",
        "SamplePayloadUrl": (
            f"s3://{BUCKET}/demand/sample-payloads/{build_env.source_commit}/sample_payloads.tar.gz"
        ),
        "ModelApprovalStatus": "PendingManualApproval",
        "ProcessingInstanceType": config.processing_instance_type,
        "TrainingInstanceType": config.training_instance_type,
    }


def test_the_pipeline_records_no_experiments(definition: Definition) -> None:
    # Lineage lives in the model package; without Experiments the pipeline role needs no such rights.
    assert definition["PipelineExperimentConfig"] is None


def test_steps_run_preprocess_baseline_train_evaluate_then_the_metric_gate(definition: Definition) -> None:
    top_level = [(step["Name"], step["Type"]) for step in definition["Steps"]]

    assert top_level == [
        ("PreprocessData", "Processing"),
        ("BaselineDataQuality", "QualityCheck"),
        ("TrainModel", "Training"),
        ("EvaluateModel", "Processing"),
        (GATE, "Condition"),
    ]


def test_the_baseline_runs_beside_training_and_the_gate_waits_for_it(definition: Definition) -> None:
    steps = all_steps(definition)
    baseline = steps["BaselineDataQuality"]
    references = json.dumps(baseline["Arguments"])

    # Only the preprocessed data feeds the baseline: nothing makes it wait for training.
    assert "Steps.PreprocessData." in references
    assert "Steps.TrainModel." not in references
    assert "DependsOn" not in baseline
    # Registration, inside the gate, reads the baseline's outputs; the gate waits for the step.
    assert steps[GATE]["DependsOn"] == ["BaselineDataQuality"]
    assert "Steps.BaselineDataQuality." in json.dumps(steps["RegisterModel"]["Arguments"])


def test_each_step_consumes_the_previous_steps_outputs(definition: Definition) -> None:
    steps = all_steps(definition)
    preprocess_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps["PreprocessData"]["Arguments"]["ProcessingInputs"]
    }
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in steps["TrainModel"]["Arguments"]["InputDataConfig"]
    }
    evaluate_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"] for i in steps["EvaluateModel"]["Arguments"]["ProcessingInputs"]
    }

    assert preprocess_inputs["raw"] == get("Parameters.InputDataUrl")
    for split in ("train", "validation"):
        assert channels[split] == get(
            f"Steps.PreprocessData.ProcessingOutputConfig.Outputs['{split}'].S3Output.S3Uri"
        )
    assert evaluate_inputs["model"] == get("Steps.TrainModel.ModelArtifacts.S3ModelArtifacts")
    assert evaluate_inputs["test"] == get(
        "Steps.PreprocessData.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    )


def test_jobs_run_the_scikit_learn_image_with_the_repositorys_hyperparameters(definition: Definition) -> None:
    steps = all_steps(definition)
    training = steps["TrainModel"]["Arguments"]
    hyperparameters = json.loads((Path(evaluate.__file__).parent / "hyperparameters.json").read_text())

    assert training["AlgorithmSpecification"]["TrainingImage"] == SKLEARN_IMAGE
    assert training["ResourceConfig"]["InstanceType"] == get("Parameters.TrainingInstanceType")
    assert training["HyperParameters"] == {name: str(value) for name, value in hyperparameters.items()}
    for name in ("PreprocessData", "EvaluateModel"):
        processing = steps[name]["Arguments"]
        assert processing["AppSpecification"]["ImageUri"] == SKLEARN_IMAGE
        assert processing["ProcessingResources"]["ClusterConfig"]["InstanceType"] == get(
            "Parameters.ProcessingInstanceType"
        )


def test_the_baseline_profiles_the_training_features_with_the_model_monitor_analyzer(
    definition: Definition,
) -> None:
    baseline = all_steps(definition)["BaselineDataQuality"]
    arguments = baseline["Arguments"]
    (dataset,) = arguments["ProcessingInputs"]
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]

    assert arguments["AppSpecification"] == {"ImageUri": MODEL_MONITOR_IMAGE}
    assert dataset["S3Input"]["S3Uri"] == get(
        f"Steps.PreprocessData.ProcessingOutputConfig.Outputs['{TRAIN_FEATURES_OUTPUT}'].S3Output.S3Uri"
    )
    assert json.loads(arguments["Environment"]["dataset_format"]) == {"json": {"lines": True}}
    assert output["S3Output"]["S3Uri"] == join(
        f"s3://{BUCKET}/demand", "pipelines", get("Execution.PipelineExecutionId"), "baseline"
    )
    assert (baseline["CheckType"], baseline["SkipCheck"], baseline["RegisterNewBaseline"]) == (
        "DATA_QUALITY",
        True,
        True,
    )


def test_preprocess_uploads_its_datasets_from_where_it_writes_them(definition: Definition) -> None:
    outputs = all_steps(definition)["PreprocessData"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    local_paths = {o["OutputName"]: o["S3Output"]["LocalPath"] for o in outputs}
    default_output_dir = preprocess.parse_args([]).output_dir

    assert TRAIN_FEATURES_OUTPUT == preprocess.TRAIN_FEATURES
    assert CLARIFY_DATASET_OUTPUT == preprocess.CLARIFY_DATASET
    assert local_paths == {
        name: str(default_output_dir / name)
        for name in (*preprocess.SPLITS, preprocess.TRAIN_FEATURES, preprocess.CLARIFY_DATASET)
    }


def test_volumes_outputs_and_the_model_package_use_the_platform_kms_key(
    definition: Definition, build_env: BuildEnvironment
) -> None:
    steps = all_steps(definition)
    key = build_env.kms_key_arn
    training = steps["TrainModel"]["Arguments"]

    assert training["ResourceConfig"]["VolumeKmsKeyId"] == key
    assert training["OutputDataConfig"]["KmsKeyId"] == key
    processing_jobs = [name for name, step in steps.items() if step["Type"] in PROCESSING_TYPES]
    # Preprocess, evaluate, the two baselines, the three Clarify checks, the model card.
    assert len(processing_jobs) == 8
    for name in processing_jobs:
        processing = steps[name]["Arguments"]
        assert processing["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key, name
        assert processing["ProcessingOutputConfig"]["KmsKeyId"] == key, name
    assert steps["RegisterModel"]["Arguments"]["SecurityConfig"] == {"KmsKeyId": key}


def test_every_output_and_uploaded_file_stays_under_the_model_prefix(built_pipeline: BuiltPipeline) -> None:
    steps = all_steps(built_pipeline.definition)
    output_roots = [
        output["S3Output"]["S3Uri"]["Std:Join"]["Values"][0]
        for step in steps.values()
        if step["Type"] in PROCESSING_TYPES
        for output in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    ]
    uploaded = list(built_pipeline.uploaded)

    assert set(output_roots) == {f"s3://{BUCKET}/demand"}
    assert (
        steps["TrainModel"]["Arguments"]["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/demand/models"
    )
    assert uploaded
    assert all(key.startswith("demand/") for key in uploaded)
    assert any(key.endswith("/train.py") for key in uploaded)


def test_a_lower_is_better_metric_gates_with_less_than_or_equal(definition: Definition) -> None:
    gate = all_steps(definition)[GATE]["Arguments"]

    assert gate["Conditions"] == [
        {
            "Type": "LessThanOrEqualTo",
            "LeftValue": {
                "Std:JsonGet": {
                    "PropertyFile": get("Steps.EvaluateModel.PropertyFiles.EvaluationReport"),
                    "Path": "regression_metrics.rmse.value",
                }
            },
            "RightValue": 12.0,
        }
    ]
    assert gate["IfSteps"][-1]["Name"] == "RegisterModel"
    assert gate["ElseSteps"] == [
        {
            "Name": "MetricAboveThreshold",
            "Type": "Fail",
            "Arguments": {"ErrorMessage": "rmse is above the allowed 12.0: model not registered"},
        }
    ]


def test_the_gate_reads_the_report_that_evaluate_writes(definition: Definition) -> None:
    evaluate_step = all_steps(definition)["EvaluateModel"]
    outputs = evaluate_step["Arguments"]["ProcessingOutputConfig"]["Outputs"]

    assert evaluate_step["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": evaluate.EVALUATION_FILE,
        }
    ]
    defaults = evaluate.parse_args([])
    assert [(o["OutputName"], o["S3Output"]["LocalPath"]) for o in outputs] == [
        ("evaluation", str(defaults.output_dir)),
        ("predictions", str(defaults.predictions_dir)),
    ]


def test_the_gate_lets_through_the_model_trained_locally(definition: Definition, local_run: Path) -> None:
    (condition,) = all_steps(definition)[GATE]["Arguments"]["Conditions"]
    measured: Any = json.loads((local_run / "evaluation" / evaluate.EVALUATION_FILE).read_text())
    for key in condition["LeftValue"]["Std:JsonGet"]["Path"].split("."):
        measured = measured[key]

    assert measured <= condition["RightValue"]


def test_the_model_is_registered_pending_approval_with_its_task_payloads_contract_and_lineage(
    definition: Definition, build_env: BuildEnvironment
) -> None:
    register = all_steps(definition)["RegisterModel"]
    arguments = register["Arguments"]

    assert register["Type"] == "RegisterModel"
    assert arguments["ModelPackageGroupName"] == "demand"
    assert arguments["ModelApprovalStatus"] == get("Parameters.ModelApprovalStatus")
    assert arguments["Task"] == "REGRESSION"
    assert arguments["SamplePayloadUrl"] == get("Parameters.SamplePayloadUrl")
    assert arguments["CustomerMetadataProperties"] == {
        "mlops:accept": "application/json",
        "mlops:content-type": "application/json",
        "mlops:prediction-attribute": "prediction",
        "mlops:problem-type": "regression",
        "model_name": "demand",
        "source_commit": build_env.source_commit,
        "training_data_s3_uri": get("Parameters.InputDataUrl"),
        "pipeline_execution_arn": get("Execution.PipelineExecutionArn"),
    }
    assert arguments["MetadataProperties"] == {
        "CommitId": build_env.source_commit,
        "Repository": build_env.source_repository,
        "GeneratedBy": get("Execution.PipelineExecutionArn"),
    }
    assert arguments["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": {
            "Std:Join": {
                "On": "/",
                "Values": [
                    get("Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"),
                    "evaluation.json",
                ],
            }
        },
    }


def test_the_model_is_registered_with_its_data_quality_baseline_and_drift_check_baseline(
    definition: Definition,
) -> None:
    arguments = all_steps(definition)["RegisterModel"]["Arguments"]

    def baseline(prefix: str) -> dict[str, dict[str, Any]]:
        return {
            "Statistics": {
                "ContentType": "application/json",
                "S3Uri": get(f"Steps.BaselineDataQuality.{prefix}Statistics"),
            },
            "Constraints": {
                "ContentType": "application/json",
                "S3Uri": get(f"Steps.BaselineDataQuality.{prefix}Constraints"),
            },
        }

    assert arguments["ModelMetrics"]["ModelDataQuality"] == baseline("CalculatedBaseline")
    # The platform's Model Monitor reads DriftCheckBaselines.ModelDataQuality of the deployed package.
    assert arguments["DriftCheckBaselines"]["ModelDataQuality"] == baseline("BaselineUsedForDriftCheck")


def test_the_registered_container_serves_the_trained_artifact_with_its_own_script(
    definition: Definition,
) -> None:
    specification = all_steps(definition)["RegisterModel"]["Arguments"]["InferenceSpecification"]
    (container,) = specification["Containers"]

    assert container["Image"] == SKLEARN_IMAGE
    assert container["ModelDataUrl"] == get("Steps.TrainModel.ModelArtifacts.S3ModelArtifacts")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert specification["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]
    assert specification["SupportedTransformInstanceTypes"] == ["ml.m5.large"]
    assert specification["SupportedContentTypes"] == ["application/json", "text/csv"]
    assert specification["SupportedResponseMIMETypes"] == ["application/json", "text/csv"]


def test_every_job_carries_the_models_tags(definition: Definition, config: ModelConfig) -> None:
    """The platform lets the pipeline role create, read and stop only the jobs tagged with its model."""
    assert config.resource_tags == {"mlops:model": "demand"}
    tagged = {
        name: step["Arguments"]
        for name, step in all_steps(definition).items()
        if step["Type"] in (*PROCESSING_TYPES, "Training", "Model")
    }
    assert len(tagged) == 10  # the 8 processing jobs, the training job and the model
    for name, arguments in tagged.items():
        assert {"Key": "mlops:model", "Value": "demand"} in arguments.get("Tags", []), name


def test_a_higher_is_better_metric_and_another_models_settings_flow_into_the_definition(
    other_model_pipeline: BuiltPipeline,
) -> None:
    steps = all_steps(other_model_pipeline.definition)

    gate = steps["CheckR2AtLeast0_8"]["Arguments"]
    (condition,) = gate["Conditions"]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.r2.value"
    assert condition["RightValue"] == 0.8
    assert gate["ElseSteps"][0]["Name"] == "MetricBelowThreshold"
    assert (
        gate["ElseSteps"][0]["Arguments"]["ErrorMessage"]
        == "r2 is below the required 0.8: model not registered"
    )
    register = steps["RegisterModel"]["Arguments"]
    assert register["ModelPackageGroupName"] == "footfall-models"
    assert register["CustomerMetadataProperties"]["mlops:accept"] == "text/csv"
    assert register["CustomerMetadataProperties"]["model_name"] == "footfall"
    assert register["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == [
        "ml.c5.xlarge",
        "ml.m5.xlarge",
    ]
    assert {"Key": "mlops:model", "Value": "footfall"} in steps["TrainModel"]["Arguments"]["Tags"]
