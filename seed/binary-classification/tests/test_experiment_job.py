"""experiment_job/log_experiment.py, the LogExperiment step's job, against a local MLflow file store
standing in for the tracking server: what it logs into the build's run (or into a run of its own), the
model it registers, and the inputs it refuses."""

import json
import math
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import joblib
import mlflow.models
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from moto import mock_aws

import features
import inference
import log_experiment
from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.experiment_run import open_run
from workflow.experiment_step import S3_UPLOAD_ARGUMENTS_VARIABLE, STEP_NAME, gate_arguments, gate_params

from .conftest import REGION, BuiltPipeline
from .pipeline_definitions import all_steps
from .test_model_card import EXPLAINABILITY, PRE_TRAINING, post_training, write_analysis

EXECUTION_ID = "k2x9q7r4m1ab"
EXECUTION_ARN = f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-build/execution/{EXECUTION_ID}"
EVALUATION_SECTION = "binary_classification_metrics"


@pytest.fixture(scope="module")
def model_dir(local_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the step mounts of the model: model.tar.gz, as a training job packs its model directory."""
    directory = tmp_path_factory.mktemp("model")
    with tarfile.open(directory / log_experiment.MODEL_ARCHIVE, "w:gz") as archive:
        for item in (local_run / "model").iterdir():
            archive.add(item, arcname=item.name)
    return directory


@pytest.fixture
def reports(local_run: Path, tmp_path: Path) -> Path:
    """What the step mounts besides the model: evaluate's report and Clarify's analyses."""
    shutil.copytree(local_run / "evaluation", tmp_path / "evaluation")
    write_analysis(tmp_path / "explainability", EXPLAINABILITY)
    write_analysis(tmp_path / "data-bias", PRE_TRAINING)
    write_analysis(tmp_path / "model-bias", post_training())
    return tmp_path


def job_arguments(
    config: ModelConfig,
    run_id: str,
    reports: Path,
    model_dir: Path,
    *,
    bias: bool = True,
    output: str = "out",
) -> list[str]:
    """The job's arguments as the step passes them (workflow/experiment_step.py), local paths here."""
    arguments = [
        "--run-id", run_id,
        "--experiment", config.model_name,
        "--registered-model", config.model_package_group_name,
        *gate_arguments(config.metric),
        "--execution-id", EXECUTION_ID,
        "--execution-arn", EXECUTION_ARN,
        "--evaluation-dir", str(reports / "evaluation"),
        "--model-dir", str(model_dir),
        "--explainability-dir", str(reports / "explainability"),
        "--output-dir", str(reports / output),
    ]  # fmt: skip
    if bias:
        arguments += [
            "--data-bias-dir",
            str(reports / "data-bias"),
            "--model-bias-dir",
            str(reports / "model-bias"),
        ]
    return arguments


def written(reports: Path, output: str = "out") -> dict[str, Any]:
    experiment: dict[str, Any] = json.loads((reports / output / log_experiment.EXPERIMENT_FILE).read_text())
    return experiment


def evaluated_metrics(local_run: Path) -> dict[str, float]:
    report = json.loads((local_run / "evaluation" / "evaluation.json").read_text())[EVALUATION_SECTION]
    return {f"test_{name}": entry["value"] for name, entry in report.items()}


@pytest.fixture
def build_run(mlflow_store: str, config: ModelConfig, build_env: BuildEnvironment) -> str:
    """The run run_pipeline opens for the execution (workflow/experiment_run.py), with its params."""
    env = replace(build_env, mlflow_tracking_uri=mlflow_store)
    return open_run(config, env, "s3://mlops-artifacts-test/churn/data/raw/4f2c9e1d/", {}).run_id


def test_the_job_logs_the_assessment_into_the_builds_run_and_leaves_it_running(
    build_run: str, config: ModelConfig, reports: Path, model_dir: Path, local_run: Path
) -> None:
    client = MlflowClient()
    params_before = client.get_run(build_run).data.params

    log_experiment.main(job_arguments(config, build_run, reports, model_dir))

    run = client.get_run(build_run)
    metrics = run.data.metrics
    expected_tests = evaluated_metrics(local_run)
    assert {name: value for name, value in metrics.items() if name.startswith("test_")} == expected_tests
    assert metrics["gate_auc"] == expected_tests["test_auc"]
    # The gate's params as run_pipeline logged them: the job logs the same values (else MLflow refuses).
    assert run.data.params == params_before
    assert {name: run.data.params[name] for name in gate_params(config.metric)} == {
        "gate_metric": "auc",
        "gate_threshold": "0.75",
        "gate_direction": "higher_is_better",
    }
    # Clarify's metrics per facet value, before training (the data) and after (the model's answers).
    assert {
        name: value for name, value in metrics.items() if name.startswith(("data_bias/", "model_bias/"))
    } == {
        "data_bias/senior_citizen/1/CI": 0.68,
        "data_bias/senior_citizen/1/DPL": -0.05,
        "model_bias/senior_citizen/1/AD": 0.01,
        "model_bias/senior_citizen/1/DI": 0.93,
        "model_bias/senior_citizen/1/DPPL": 0.02,
        "model_bias/senior_citizen/1/RD": -0.03,
    }
    assert {name: value for name, value in metrics.items() if name.startswith("shap_mean_abs/")} == {
        "shap_mean_abs/tenure_months": 0.09,
        "shap_mean_abs/contract_type": 0.12,
        "shap_mean_abs/support_calls_90d": 0.05,
        "shap_mean_abs/senior_citizen": 0.004,
    }
    assert run.data.tags["pipeline_execution_arn"] == EXECUTION_ARN
    # run_pipeline ends the build's run once it knows how the execution ended.
    assert run.info.status == "RUNNING"
    assert written(reports) == {
        "run_id": build_run,
        "experiment_id": run.info.experiment_id,
        "model_version": "1",
    }
    (version,) = client.search_model_versions(f"name = '{config.model_package_group_name}'")
    assert (str(version.version), version.run_id) == ("1", build_run)


def test_the_registered_model_answers_as_the_trained_one_and_carries_its_metadata(
    build_run: str, config: ModelConfig, reports: Path, model_dir: Path, local_run: Path
) -> None:
    log_experiment.main(job_arguments(config, build_run, reports, model_dir))

    uri = f"models:/{config.model_package_group_name}/1"
    registered = mlflow.sklearn.load_model(uri)
    trained = joblib.load(local_run / "model" / inference.MODEL_FILE)
    rows = pd.read_csv(local_run / "test" / "test.csv").loc[:, list(features.FEATURES)]
    np.testing.assert_array_equal(registered.predict_proba(rows), trained.predict_proba(rows))
    metadata = json.loads((local_run / "model" / inference.METADATA_FILE).read_text())
    assert mlflow.models.get_model_info(uri).metadata == metadata
    # What the endpoint applies to the probability, beyond the estimator's own predict.
    assert metadata["decision_threshold"] is not None


def test_an_execution_started_without_a_run_is_logged_into_a_run_of_its_own_which_it_ends(
    mlflow_store: str, config: ModelConfig, reports: Path, model_dir: Path
) -> None:
    # From Studio: MlflowRunId keeps its default; a model without facets has no bias reports.
    log_experiment.main(job_arguments(config, log_experiment.NO_RUN, reports, model_dir, bias=False))

    client = MlflowClient()
    experiment = written(reports)
    run = client.get_run(experiment["run_id"])
    assert client.get_experiment(experiment["experiment_id"]).name == config.model_name
    assert run.info.experiment_id == experiment["experiment_id"]
    assert (run.info.run_name, run.info.status) == (f"execution-{EXECUTION_ID}", "FINISHED")
    assert run.data.params == gate_params(config.metric)
    assert "gate_auc" in run.data.metrics
    assert not [name for name in run.data.metrics if "bias/" in name]
    assert experiment["model_version"] == "1"


def test_the_step_run_again_for_the_same_run_registers_another_version(
    build_run: str, config: ModelConfig, reports: Path, model_dir: Path
) -> None:
    client = MlflowClient()
    log_experiment.main(job_arguments(config, build_run, reports, model_dir, output="first"))
    logged = client.get_run(build_run).data

    # A retried step, or the execution retried from it: the same run, the same values.
    log_experiment.main(job_arguments(config, build_run, reports, model_dir, output="second"))

    again = client.get_run(build_run)
    assert (written(reports, "first")["model_version"], written(reports, "second")["model_version"]) == (
        "1",
        "2",
    )
    assert again.data.params == logged.params
    assert again.data.metrics == logged.metrics
    assert again.info.status == "RUNNING"
    versions = client.search_model_versions(f"name = '{config.model_package_group_name}'")
    assert sorted((str(version.version), version.run_id) for version in versions) == [
        ("1", build_run),
        ("2", build_run),
    ]


@pytest.mark.parametrize("own_run", [True, False], ids=["run-of-its-own", "builds-run"])
def test_an_evaluation_without_the_gates_metric_fails_the_job_and_a_run_it_started(
    mlflow_store: str,
    config: ModelConfig,
    build_env: BuildEnvironment,
    reports: Path,
    model_dir: Path,
    own_run: bool,
) -> None:
    report_path = reports / "evaluation" / "evaluation.json"
    report = json.loads(report_path.read_text())
    del report[EVALUATION_SECTION]["auc"]
    report_path.write_text(json.dumps(report))
    env = replace(build_env, mlflow_tracking_uri=mlflow_store)
    run_id = log_experiment.NO_RUN if own_run else open_run(config, env, "s3://data/", {}).run_id

    with pytest.raises(KeyError, match=r"evaluation\.json has no 'auc', the metric the gate compares"):
        log_experiment.main(job_arguments(config, run_id, reports, model_dir))

    client = MlflowClient()
    experiment = client.get_experiment_by_name(config.model_name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    if own_run:
        assert run.info.status == "FAILED"
        assert "LogExperiment" in run.data.tags["failure_reason"]
        assert "'auc'" in run.data.tags["failure_reason"]
    else:
        # The build's run is run_pipeline's to end, with the execution's outcome.
        assert (run.info.run_id, run.info.status) == (run_id, "RUNNING")
    assert not (reports / "out").exists()
    assert client.search_registered_models() == []


def test_a_clarify_folder_with_two_reports_is_refused(
    build_run: str, config: ModelConfig, reports: Path, model_dir: Path
) -> None:
    (reports / "model-bias" / "other.json").write_text("{}")

    with pytest.raises(
        FileNotFoundError, match=r"expected one Clarify analysis \(JSON file\) in .*model-bias, found 2"
    ):
        log_experiment.main(job_arguments(config, build_run, reports, model_dir))


def test_clarify_values_mlflow_cannot_hold_are_left_out(
    build_run: str, config: ModelConfig, reports: Path, model_dir: Path
) -> None:
    # Clarify writes an undefined metric as null; json writes an infinite one as Infinity, and Clarify
    # as the string "Infinity".
    shutil.rmtree(reports / "model-bias")
    write_analysis(reports / "model-bias", post_training(di=math.inf, dppl="Infinity"))
    shutil.rmtree(reports / "explainability")
    write_analysis(reports / "explainability", {"explanations": {"kernel_shap": {"label0": {
        "global_shap_values": {"tenure_months": 0.09, "contract_type": math.nan, "senior_citizen": None},
    }}}})  # fmt: skip

    log_experiment.main(job_arguments(config, build_run, reports, model_dir))

    metrics = MlflowClient().get_run(build_run).data.metrics
    model_bias = {name for name in metrics if name.startswith("model_bias/")}
    assert model_bias == {"model_bias/senior_citizen/1/AD", "model_bias/senior_citizen/1/RD"}
    # PRE_TRAINING's CDDL is null.
    assert "data_bias/senior_citizen/1/CDDL" not in metrics
    assert {name for name in metrics if name.startswith("shap_mean_abs/")} == {"shap_mean_abs/tenure_months"}


def test_bias_metrics_are_named_per_facet_value_in_names_mlflow_accepts() -> None:
    analysis = post_training()
    facets = analysis["post_training_bias_metrics"]["facets"]
    facets["payment method"] = [
        {"value_or_threshold": "bank (auto)", "metrics": [{"name": "DI", "value": 1.1}]},
        {"value_or_threshold": "card", "metrics": [{"name": "DI", "value": 0.9}]},
    ]

    metrics = log_experiment.bias_metrics(analysis)

    assert {name: value for name, value in metrics.items() if "payment" in name} == {
        "model_bias/payment method/bank _auto_/DI": 1.1,
        "model_bias/payment method/card/DI": 0.9,
    }


def test_the_models_artifacts_reach_s3_encrypted_with_the_platform_key(
    tracked_pipeline: BuiltPipeline,
    build_env: BuildEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tracking server's artifact store is S3: MLflow's S3 client (the sagemaker-mlflow plugin's,
    which the pinned packages register for s3://) uploads with the arguments the step gives the job."""
    environment = all_steps(tracked_pipeline.definition)[STEP_NAME]["Arguments"]["Environment"]
    monkeypatch.setenv(S3_UPLOAD_ARGUMENTS_VARIABLE, environment[S3_UPLOAD_ARGUMENTS_VARIABLE])
    artifact = tmp_path / "MLmodel"
    artifact.write_text("flavors: {}\n")

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="mlflow-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
        repository = get_artifact_repository("s3://mlflow-artifacts/1/models/m-1/artifacts")
        repository.log_artifact(str(artifact))
        uploaded = s3.head_object(Bucket="mlflow-artifacts", Key="1/models/m-1/artifacts/MLmodel")

    assert type(repository).__module__.startswith("sagemaker_mlflow.")
    assert (uploaded["ServerSideEncryption"], uploaded["SSEKMSKeyId"]) == ("aws:kms", build_env.kms_key_arn)
