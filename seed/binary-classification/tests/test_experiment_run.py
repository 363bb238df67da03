"""workflow/experiment_run.py, the build's MLflow run, against a local MLflow file store standing in for
the tracking server: how it is named, what it records, how the execution's outcome ends it, and what a
tracking server out of reach does (tests/test_run_pipeline.py runs it within the build)."""

import socket
from dataclasses import replace

import pytest
from mlflow import MlflowClient

from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.experiment_run import (
    BuildRun,
    DeletedExperimentError,
    TrackingServerError,
    build_run,
    open_run,
    run_name,
)
from workflow.experiment_step import gate_params
from workflow.pipeline import TRAINING_HYPERPARAMETERS
from workflow.run_pipeline import ExecutionOutcome
from workflow.training_lineage import NO_FEATURE_STORE_SOURCE

from .conftest import BUCKET, TRACKING_SERVER_ARN

INPUT_DATA = f"s3://{BUCKET}/churn/data/raw/4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e/"
BUILD_ID = "churn-build:7c0e6a1f-3b2d-4e5f-9a8b-1c2d3e4f5a6b"


@pytest.fixture
def env(mlflow_store: str, build_env: BuildEnvironment) -> BuildEnvironment:
    """The build's environment where the platform tracks experiments (the local store as its server)."""
    return replace(build_env, mlflow_tracking_uri=mlflow_store, build_id=BUILD_ID)


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def unreachable_server(monkeypatch: pytest.MonkeyPatch, mlflow_state: None) -> str:
    """An http:// tracking URI nothing answers at, with MLflow's retries turned down to fail fast."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    return f"http://127.0.0.1:{closed_port()}"


def test_the_run_is_named_after_the_commit_in_the_models_experiment_and_records_the_build(
    env: BuildEnvironment, config: ModelConfig
) -> None:
    run_id = open_run(config, env, INPUT_DATA, NO_FEATURE_STORE_SOURCE).run_id

    client = MlflowClient()
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "churn"
    assert (run.info.run_name, run.info.status) == ("commit-4f2c9e1d8b7a", "RUNNING")
    assert {name: value for name, value in run.data.tags.items() if not name.startswith("mlflow.")} == {
        "source_commit": env.source_commit,
        "source_repository": "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/churn-model-build",
        "build_id": BUILD_ID,
        "pipeline_name": "churn-build",
    }
    assert run.data.tags["mlflow.source.git.commit"] == env.source_commit
    assert run.data.params == {
        "gate_metric": "auc",
        "gate_threshold": "0.75",
        "gate_direction": "higher_is_better",
        "problem_type": "binary_classification",
        "learning-rate": "0.05",
        "max-iter": "150",
        "max-leaf-nodes": "8",
        "seed": "42",
        "processing_instance_type": "ml.m5.large",
        "training_instance_type": "ml.m5.large",
        "input_data_uri": INPUT_DATA,
    }
    # The same values the LogExperiment job logs: MLflow refuses to change a param.
    assert gate_params(config.metric).items() <= run.data.params.items()
    assert {
        name: str(value) for name, value in TRAINING_HYPERPARAMETERS.items()
    }.items() <= run.data.params.items()


def test_a_training_set_from_the_feature_group_records_where_it_comes_from(
    env: BuildEnvironment, config: ModelConfig
) -> None:
    source = {
        "feature_group_name": "churn-customer-features",
        "event_time_from": "2026-10-01T00:00:00Z",
        "event_time_to": "2026-11-01T00:00:00Z",
    }
    training_set = f"s3://{BUCKET}/churn/data/training-sets/4f2c9e1d/q1/training_set.csv"

    run_id = open_run(config, env, training_set, source).run_id

    params = MlflowClient().get_run(run_id).data.params
    assert {name: params[name] for name in ("input_data_uri", *source)} == {
        "input_data_uri": training_set,
        **source,
    }


def test_every_build_of_the_model_opens_a_run_of_its_one_experiment(
    env: BuildEnvironment, config: ModelConfig
) -> None:
    first = open_run(config, env, INPUT_DATA, NO_FEATURE_STORE_SOURCE).run_id
    second = open_run(
        config, replace(env, source_commit="9e8d7c6b5a4f"), INPUT_DATA, NO_FEATURE_STORE_SOURCE
    ).run_id

    client = MlflowClient()
    experiment = client.get_experiment_by_name("churn")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert {(run.info.run_id, run.info.run_name) for run in runs} == {
        (first, "commit-4f2c9e1d8b7a"),
        (second, "commit-9e8d7c6b5a4f"),
    }


def test_a_build_without_a_commit_names_its_run_after_the_build(build_env: BuildEnvironment) -> None:
    assert run_name(replace(build_env, source_commit="", build_id=BUILD_ID)) == f"build-{BUILD_ID}"
    with pytest.raises(ValueError, match="neither a commit nor a CodeBuild build id"):
        run_name(replace(build_env, source_commit="", build_id=None))


def test_a_deleted_experiment_is_named_not_brought_back(env: BuildEnvironment, config: ModelConfig) -> None:
    client = MlflowClient()
    experiment = client.create_experiment("churn")
    client.delete_experiment(experiment)

    with pytest.raises(
        DeletedExperimentError, match=rf"experiment 'churn' \({experiment}\) is deleted.*restore"
    ):
        open_run(config, env, INPUT_DATA, NO_FEATURE_STORE_SOURCE)
    assert client.search_runs([experiment]) == []


@pytest.mark.parametrize(
    ("status", "reasons", "run_status", "failure_reason"),
    [
        ("Succeeded", (), "FINISHED", None),
        (
            "Failed",
            ("MetricBelowThreshold: auc is below the required 0.75: model not registered",),
            "FAILED",
            "MetricBelowThreshold: auc is below the required 0.75: model not registered",
        ),
        ("Failed", (), "FAILED", "execution Failed"),
        (
            "Stopped",
            ("TrainModel: Stopped", "EvaluateModel: Stopped"),
            "KILLED",
            "TrainModel: Stopped; EvaluateModel: Stopped",
        ),
    ],
    ids=["succeeded", "failed", "failed-without-a-reason", "stopped"],
)
def test_the_run_ends_with_the_executions_outcome(
    env: BuildEnvironment,
    config: ModelConfig,
    status: str,
    reasons: tuple[str, ...],
    run_status: str,
    failure_reason: str | None,
) -> None:
    run = open_run(config, env, INPUT_DATA, NO_FEATURE_STORE_SOURCE)

    run.execution_ended(ExecutionOutcome(status, reasons))
    run.execution_ended(ExecutionOutcome("Succeeded"))  # ended once: the first outcome stays

    ended = MlflowClient().get_run(run.run_id)
    assert ended.info.status == run_status
    assert ended.info.end_time is not None
    assert ended.data.tags.get("failure_reason") == failure_reason


def test_a_build_that_fails_before_the_executions_outcome_ends_its_run_failed(
    env: BuildEnvironment, config: ModelConfig
) -> None:
    with (
        pytest.raises(RuntimeError, match="could not start"),
        build_run(config, env, INPUT_DATA, NO_FEATURE_STORE_SOURCE) as run,
    ):
        raise RuntimeError("could not start")

    ended = MlflowClient().get_run(run.run_id)
    assert (ended.info.status, ended.data.tags["failure_reason"]) == (
        "FAILED",
        "run_pipeline: RuntimeError: could not start",
    )


def test_an_interrupted_build_ends_its_run_killed(env: BuildEnvironment, config: ModelConfig) -> None:
    with pytest.raises(KeyboardInterrupt), build_run(config, env, INPUT_DATA, NO_FEATURE_STORE_SOURCE) as run:
        raise KeyboardInterrupt

    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"


def test_a_build_that_never_reports_the_outcome_leaves_no_run_running(
    env: BuildEnvironment, config: ModelConfig
) -> None:
    with build_run(config, env, INPUT_DATA, NO_FEATURE_STORE_SOURCE) as run:
        pass

    ended = MlflowClient().get_run(run.run_id)
    assert ended.info.status == "FAILED"
    assert "without the execution's outcome" in ended.data.tags["failure_reason"]


@pytest.mark.parametrize("server", ["http", "arn"])
def test_a_tracking_server_out_of_reach_fails_loudly_naming_the_variable(
    unreachable_server: str,
    build_env: BuildEnvironment,
    config: ModelConfig,
    monkeypatch: pytest.MonkeyPatch,
    server: str,
) -> None:
    uri = unreachable_server
    if server == "arn":
        # What the platform sets: the sagemaker-mlflow plugin resolves the ARN (to the address given
        # here instead of SageMaker's) and signs the requests.
        monkeypatch.setenv("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", unreachable_server)
        uri = TRACKING_SERVER_ARN

    with pytest.raises(TrackingServerError) as raised:
        open_run(config, replace(build_env, mlflow_tracking_uri=uri), INPUT_DATA, NO_FEATURE_STORE_SOURCE)

    message = str(raised.value)
    assert (
        f"could not open the build's MLflow run on the tracking server {uri} (MLFLOW_TRACKING_URI" in message
    )
    assert unreachable_server.removeprefix("http://").split(":")[1] in message  # MLflow's own reason


def test_mlflow_trouble_once_the_execution_runs_is_reported_not_raised(
    unreachable_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = BuildRun(MlflowClient(tracking_uri=unreachable_server), unreachable_server, "0a1b2c3d")

    run.execution_started("arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-build/execution/x")
    run.execution_ended(ExecutionOutcome("Succeeded"))

    errors = capsys.readouterr().err
    assert (
        f"warning: MLflow run 0a1b2c3d on {unreachable_server}: could not tag it with the execution" in errors
    )
    assert f"warning: MLflow run 0a1b2c3d on {unreachable_server}: could not end it FINISHED" in errors
