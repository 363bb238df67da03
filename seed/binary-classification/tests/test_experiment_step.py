"""The pipeline of a build that tracks experiments (MLFLOW_TRACKING_URI set): its LogExperiment step,
the run it takes as a parameter, and the package's link to the run; and a build that does not, whose
definition has none of them."""

import copy
import io
import json
import tarfile
from typing import Any

import pytest

import log_experiment
from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.experiment_step import EXPERIMENT_JOB_DIR, gate_params

from .conftest import BUCKET, TRACKING_SERVER_ARN, BuiltPipeline
from .pipeline_definitions import Definition, all_steps, comparable, get

SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
REPORTS = {
    "explainability": "CheckModelExplainability",
    "data-bias": "CheckDataBias",
    "model-bias": "CheckModelBias",
}


@pytest.fixture(scope="module")
def tracked(tracked_pipeline: BuiltPipeline) -> Definition:
    return tracked_pipeline.definition


def if_steps(definition: Definition) -> list[dict[str, Any]]:
    (gate,) = [step for step in definition["Steps"] if step["Type"] == "Condition"]
    steps: list[dict[str, Any]] = gate["Arguments"]["IfSteps"]
    return steps


def container_arguments(step: dict[str, Any]) -> list[str]:
    """The step's container arguments, each reference to the pipeline as its reference text."""
    return [
        argument if isinstance(argument, str) else json.dumps(argument)
        for argument in step["Arguments"]["AppSpecification"]["ContainerArguments"]
    ]


def test_a_tracked_pipeline_takes_the_builds_run_defaulting_to_none(
    tracked: Definition, built_pipeline: BuiltPipeline
) -> None:
    parameters = {p["Name"]: p["DefaultValue"] for p in tracked["Parameters"]}
    untracked = {p["Name"]: p["DefaultValue"] for p in built_pipeline.definition["Parameters"]}

    # An execution started without it (from Studio) logs into a run of its own.
    assert parameters == untracked | {"MlflowRunId": "none"}
    assert log_experiment.NO_RUN == "none"


def test_the_experiment_is_logged_once_the_assessment_is_done_and_before_the_package(
    tracked: Definition,
) -> None:
    steps = if_steps(tracked)
    names = [step["Name"] for step in steps]
    log_step = all_steps(tracked)["LogExperiment"]

    assert log_step["Type"] == "Processing"
    assert names.index("LogExperiment") == names.index("RegisterModel") - 1
    # The model-quality baseline and the card, which waits for Clarify's checks: the whole assessment.
    assert log_step["DependsOn"] == ["BaselineModelQuality", "WriteModelCard"]
    assert all_steps(tracked)["RegisterModel"]["DependsOn"] == ["LogExperiment"]


def test_the_job_logs_to_the_tracking_server_and_stores_with_the_platform_key(
    tracked: Definition, build_env: BuildEnvironment
) -> None:
    arguments = all_steps(tracked)["LogExperiment"]["Arguments"]

    assert arguments["Environment"] == {
        "MLFLOW_TRACKING_URI": TRACKING_SERVER_ARN,
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS": json.dumps(
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": build_env.kms_key_arn}
        ),
    }
    # It runs as the other jobs do.
    assert arguments["AppSpecification"]["ImageUri"] == SKLEARN_IMAGE
    assert arguments["RoleArn"] == build_env.pipeline_role_arn
    cluster = arguments["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == get("Parameters.ProcessingInstanceType")
    assert cluster["VolumeKmsKeyId"] == build_env.kms_key_arn
    assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == build_env.kms_key_arn
    assert arguments["Tags"] == [{"Key": "mlops:model", "Value": "churn"}]
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"]["Std:Join"]["Values"][:3] == [
        f"s3://{BUCKET}/churn",
        "pipelines",
        get("Execution.PipelineExecutionId"),
    ]


def test_the_job_reads_the_reports_and_the_model_where_the_step_mounts_them(
    tracked: Definition, config: ModelConfig
) -> None:
    step = all_steps(tracked)["LogExperiment"]
    inputs = {i["InputName"]: i["S3Input"] for i in step["Arguments"]["ProcessingInputs"]}
    (output,) = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]

    parsed = log_experiment.parse_args(container_arguments(step))

    assert parsed.run_id == json.dumps(get("Parameters.MlflowRunId"))
    assert (parsed.experiment, parsed.registered_model) == (
        config.model_name,
        config.model_package_group_name,
    )
    # The gate's params, as run_pipeline logs them into the build's run.
    assert {
        "gate_metric": parsed.gate_metric,
        "gate_threshold": parsed.gate_threshold,
        "gate_direction": parsed.gate_direction,
    } == gate_params(config.metric)
    assert parsed.execution_id == json.dumps(get("Execution.PipelineExecutionId"))
    assert parsed.execution_arn == json.dumps(get("Execution.PipelineExecutionArn"))
    assert inputs["evaluation"]["S3Uri"] == get(
        "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"
    )
    assert inputs["model"]["S3Uri"] == get("Steps.TrainModel.ModelArtifacts.S3ModelArtifacts")
    assert (str(parsed.evaluation_dir), str(parsed.model_dir)) == (
        inputs["evaluation"]["LocalPath"],
        inputs["model"]["LocalPath"],
    )
    for name, check in REPORTS.items():
        # Clarify's analysis itself, which also makes the job wait for the check.
        assert inputs[name]["S3Uri"] == get(f"Steps.{check}.CalculatedBaselineConstraints")
        assert str(getattr(parsed, f"{name.replace('-', '_')}_dir")) == inputs[name]["LocalPath"]
    assert str(parsed.output_dir) == output["S3Output"]["LocalPath"]
    assert step["PropertyFiles"] == [
        {
            "PropertyFileName": "Experiment",
            "OutputName": "experiment",
            "FilePath": log_experiment.EXPERIMENT_FILE,
        }
    ]


def test_a_model_without_facets_logs_its_explanation_and_no_bias(
    tracked_other_model_pipeline: BuiltPipeline,
) -> None:
    step = all_steps(tracked_other_model_pipeline.definition)["LogExperiment"]
    inputs = {i["InputName"] for i in step["Arguments"]["ProcessingInputs"]}

    parsed = log_experiment.parse_args(container_arguments(step))

    assert {"explainability", "evaluation", "model"} <= inputs
    assert not inputs & {"data-bias", "model-bias"}
    assert (parsed.data_bias_dir, parsed.model_bias_dir) == (None, None)
    assert (parsed.experiment, parsed.registered_model) == ("fraud", "fraud-models")


def test_the_package_records_the_run_and_the_tracking_server(
    tracked: Definition, built_pipeline: BuiltPipeline
) -> None:
    recorded = all_steps(tracked)["RegisterModel"]["Arguments"]["CustomerMetadataProperties"]
    untracked = all_steps(built_pipeline.definition)["RegisterModel"]["Arguments"][
        "CustomerMetadataProperties"
    ]

    assert recorded == untracked | {
        # The run the job logged into: the build's, or the one it opened (experiment.json).
        "mlflow_run_id": {
            "Std:JsonGet": {
                "PropertyFile": get("Steps.LogExperiment.PropertyFiles.Experiment"),
                "Path": "run_id",
            }
        },
        "mlflow_tracking_server_arn": TRACKING_SERVER_ARN,
    }


def test_tracking_adds_the_step_the_parameter_and_the_packages_link_and_changes_nothing_else(
    tracked: Definition, built_pipeline: BuiltPipeline
) -> None:
    without_tracking = copy.deepcopy(tracked)
    without_tracking["Parameters"] = [p for p in tracked["Parameters"] if p["Name"] != "MlflowRunId"]
    (gate,) = [step for step in without_tracking["Steps"] if step["Type"] == "Condition"]
    gate["Arguments"]["IfSteps"] = [
        step for step in if_steps(without_tracking) if step["Name"] != "LogExperiment"
    ]
    register = all_steps(without_tracking)["RegisterModel"]
    del register["DependsOn"]
    for key in ("mlflow_run_id", "mlflow_tracking_server_arn"):
        del register["Arguments"]["CustomerMetadataProperties"][key]

    assert comparable(without_tracking) == comparable(built_pipeline.definition)


def test_the_untracked_pipeline_has_no_trace_of_mlflow(built_pipeline: BuiltPipeline) -> None:
    definition = built_pipeline.definition

    assert "LogExperiment" not in all_steps(definition)
    assert "MlflowRunId" not in {p["Name"] for p in definition["Parameters"]}
    assert "DependsOn" not in all_steps(definition)["RegisterModel"]
    assert not [key for key in json.dumps(definition).split('"') if key.startswith("mlflow_")]
    # SageMaker Pipelines' own MLflow integration stays off: the build's run is workflow/experiment_run.py's.
    assert definition["MlflowConfig"] is None
    assert not [key for key in built_pipeline.uploaded if "log-experiment" in key]


def test_the_job_is_uploaded_with_its_own_requirements(tracked_pipeline: BuiltPipeline) -> None:
    (key,) = [key for key in tracked_pipeline.uploaded if "log-experiment" in key and key.endswith(".tar.gz")]
    assert key.startswith("churn/code/")
    with tarfile.open(fileobj=io.BytesIO(tracked_pipeline.uploaded[key])) as archive:
        packed = {name: archive.extractfile(name) for name in ("log_experiment.py", "requirements.txt")}
        # The framework processor pip-installs requirements.txt (the MLflow client) before the script.
        for name, member in packed.items():
            assert member is not None, name
            assert member.read() == (EXPERIMENT_JOB_DIR / name).read_bytes()
