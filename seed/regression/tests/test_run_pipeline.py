"""The CI entry point: the wait loop against a stubbed client, and a whole run against moto."""

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from workflow import run_pipeline
from workflow.config import MODEL_SETTINGS_VARIABLE, ModelConfig
from workflow.environment import BuildEnvironment, MissingEnvironmentError, WrongModelError
from workflow.run_pipeline import (
    ExecutionOutcome,
    ExecutionTimeoutError,
    follow_execution,
    wait_for_execution,
)
from workflow.sample_payloads import DEFAULT_SAMPLE_PAYLOADS
from workflow.synthetic_data import generate_sales

from .conftest import BUCKET, REGION, FakeClock

EXECUTION_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/demand-build/execution/k2x9q7r4m1ab"


def expect_statuses(stubber: Stubber, *statuses: str) -> None:
    for status in statuses:
        stubber.add_response(
            "describe_pipeline_execution",
            {"PipelineExecutionArn": EXECUTION_ARN, "PipelineExecutionStatus": status},
            {"PipelineExecutionArn": EXECUTION_ARN},
        )


def expect_steps(stubber: Stubber, steps: list[dict[str, str]]) -> None:
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": steps},
        {"PipelineExecutionArn": EXECUTION_ARN},
    )


def test_waits_while_executing_and_reports_success(sagemaker: tuple[Any, Stubber], clock: FakeClock) -> None:
    client, stubber = sagemaker
    expect_statuses(stubber, "Executing", "Executing", "Succeeded")

    outcome = wait_for_execution(
        client, EXECUTION_ARN, timeout_seconds=600, poll_seconds=30, sleep=clock.sleep, clock=clock
    )

    assert outcome.succeeded
    assert outcome.failure_reasons == ()
    assert clock.sleeps == [30, 30]


def test_a_failed_execution_exits_non_zero_with_the_failed_steps_reasons(
    sagemaker: tuple[Any, Stubber], clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = sagemaker
    expect_statuses(stubber, "Executing", "Failed")
    expect_steps(
        stubber,
        [
            {
                "StepName": "MetricAboveThreshold",
                "StepStatus": "Failed",
                "FailureReason": "rmse is above the allowed 12.0: model not registered",
            },
            {"StepName": "EvaluateModel", "StepStatus": "Succeeded"},
        ],
    )

    exit_code = follow_execution(client, EXECUTION_ARN, timeout_seconds=600, sleep=clock.sleep, clock=clock)

    assert exit_code == 1
    output = capsys.readouterr()
    assert f"execution Failed: {EXECUTION_ARN}" in output.out
    assert "MetricAboveThreshold: rmse is above the allowed 12.0: model not registered" in output.err
    assert "EvaluateModel" not in output.err


def test_a_stopped_execution_exits_non_zero(sagemaker: tuple[Any, Stubber], clock: FakeClock) -> None:
    client, stubber = sagemaker
    expect_statuses(stubber, "Stopping", "Stopped")
    expect_steps(stubber, [{"StepName": "TrainModel", "StepStatus": "Stopped"}])

    assert follow_execution(client, EXECUTION_ARN, timeout_seconds=600, sleep=clock.sleep, clock=clock) == 1


def test_a_successful_execution_exits_zero_printing_its_arn(
    sagemaker: tuple[Any, Stubber], clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = sagemaker
    expect_statuses(stubber, "Succeeded")

    assert follow_execution(client, EXECUTION_ARN, timeout_seconds=600, sleep=clock.sleep, clock=clock) == 0
    assert f"execution Succeeded: {EXECUTION_ARN}" in capsys.readouterr().out


def test_waiting_gives_up_at_the_deadline(sagemaker: tuple[Any, Stubber], clock: FakeClock) -> None:
    client, stubber = sagemaker
    expect_statuses(stubber, "Executing", "Executing", "Executing")

    with pytest.raises(ExecutionTimeoutError, match="still Executing after 60 s"):
        wait_for_execution(
            client, EXECUTION_ARN, timeout_seconds=60, poll_seconds=30, sleep=clock.sleep, clock=clock
        )
    assert clock.now == 60


def test_an_execution_past_the_deadline_is_stopped_and_exits_non_zero(
    sagemaker: tuple[Any, Stubber], clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = sagemaker
    expect_statuses(stubber, "Executing", "Executing")
    stubber.add_response(
        "stop_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION_ARN},
        {"PipelineExecutionArn": EXECUTION_ARN},
    )

    outcomes: list[ExecutionOutcome] = []

    exit_code = follow_execution(
        client,
        EXECUTION_ARN,
        timeout_seconds=30,
        poll_seconds=30,
        sleep=clock.sleep,
        clock=clock,
        on_outcome=outcomes.append,
    )

    assert exit_code == 1
    assert "still Executing after 30 s: stopping it" in capsys.readouterr().err
    # What the build's MLflow run ends with (KILLED: workflow/experiment_run.py).
    assert outcomes == [
        ExecutionOutcome("Stopped", (f"{EXECUTION_ARN} still Executing after 30 s: stopped by the build",))
    ]


def test_the_outcome_is_reported_as_the_execution_ended(
    sagemaker: tuple[Any, Stubber], clock: FakeClock
) -> None:
    client, stubber = sagemaker
    expect_statuses(stubber, "Failed")
    expect_steps(stubber, [{"StepName": "TrainModel", "StepStatus": "Failed", "FailureReason": "OOM"}])
    outcomes: list[ExecutionOutcome] = []

    follow_execution(
        client, EXECUTION_ARN, timeout_seconds=60, sleep=clock.sleep, clock=clock, on_outcome=outcomes.append
    )

    assert outcomes == [ExecutionOutcome("Failed", ("TrainModel: OOM",))]


@pytest.fixture
def platform_environment(
    monkeypatch: pytest.MonkeyPatch, build_env: BuildEnvironment, config: ModelConfig
) -> BuildEnvironment:
    """The variables the platform's CodeBuild project sets, for the example model."""
    monkeypatch.setenv(MODEL_SETTINGS_VARIABLE, config.model_dump_json())
    monkeypatch.setenv("SAGEMAKER_PIPELINE_ROLE_ARN", build_env.pipeline_role_arn)
    monkeypatch.setenv("ARTIFACT_BUCKET", build_env.artifact_bucket)
    monkeypatch.setenv("KMS_KEY_ARN", build_env.kms_key_arn)
    monkeypatch.setenv("AWS_REGION", build_env.region)
    monkeypatch.setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", build_env.source_commit)
    monkeypatch.setenv("MODEL_NAME", config.model_name)
    return build_env


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    generate_sales(n_stores=2, n_products=3, n_weeks=8).to_csv(path, index=False)
    return path


def s3_keys() -> list[str]:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_a_run_uploads_the_data_and_the_sample_payloads_then_upserts_and_starts_the_pipeline(
    fake_aws: None, platform_environment: BuildEnvironment, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit = platform_environment.source_commit

    exit_code = run_pipeline.main(["--dataset", str(dataset), "--poll-seconds", "0"])

    assert exit_code == 0
    sagemaker_client = boto3.client("sagemaker", region_name=REGION)
    (execution,) = sagemaker_client.list_pipeline_executions(PipelineName="demand-build")[
        "PipelineExecutionSummaries"
    ]
    assert f"started {execution['PipelineExecutionArn']}" in capsys.readouterr().out
    parameters = sagemaker_client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    payloads_key = f"demand/sample-payloads/{commit}/sample_payloads.tar.gz"
    assert {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/demand/data/raw/{commit}/"} in parameters
    assert {"Name": "SamplePayloadUrl", "Value": f"s3://{BUCKET}/{payloads_key}"} in parameters

    s3 = boto3.client("s3", region_name=REGION)
    for key in (f"demand/data/raw/{commit}/sales.csv", payloads_key):
        uploaded = s3.head_object(Bucket=BUCKET, Key=key)
        assert uploaded["ServerSideEncryption"] == "aws:kms", key
        assert uploaded["SSEKMSKeyId"] == platform_environment.kms_key_arn, key
    archive = s3.get_object(Bucket=BUCKET, Key=payloads_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.getnames() == ["sample_payloads.json"]
        member = tar.extractfile("sample_payloads.json")
        assert member is not None
        assert member.read() == DEFAULT_SAMPLE_PAYLOADS.read_bytes()


def test_a_dataset_that_breaks_the_contract_stops_the_run_before_any_upload(
    fake_aws: None, platform_environment: BuildEnvironment, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.read_csv(dataset).assign(category="toys").to_csv(dataset, index=False)

    exit_code = run_pipeline.main(["--dataset", str(dataset)])

    assert exit_code == 1
    assert "category: isin(" in capsys.readouterr().out
    assert s3_keys() == []
    assert boto3.client("sagemaker", region_name=REGION).list_pipelines()["PipelineSummaries"] == []


def test_sample_payloads_the_model_cannot_answer_stop_the_run_before_any_upload(
    fake_aws: None,
    platform_environment: BuildEnvironment,
    dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payloads = tmp_path / "sample_payloads.json"
    payloads.write_text(json.dumps({"instances": [{"price": 2.5, "store_id": "S001"}]}))

    exit_code = run_pipeline.main(["--dataset", str(dataset), "--sample-payloads", str(payloads)])

    assert exit_code == 1
    assert "instance 0: missing features promotion, week_of_year" in capsys.readouterr().err
    assert s3_keys() == []


def test_a_run_with_data_already_in_s3_uploads_only_the_sample_payloads(
    fake_aws: None, platform_environment: BuildEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[dict[str, str]] = []

    class RecordingPipeline:
        def upsert(self, **_: Any) -> None:
            pass

        def start(self, *, parameters: dict[str, str], execution_display_name: str) -> Any:
            started.append(parameters)
            return type("Execution", (), {"arn": EXECUTION_ARN})()

    monkeypatch.setattr("workflow.pipeline.get_pipeline", lambda *_: RecordingPipeline())
    monkeypatch.setattr(run_pipeline, "follow_execution", lambda *_, **__: 0)

    exit_code = run_pipeline.main(["--input-data-uri", "s3://elsewhere/demand/2024-06/"])

    assert exit_code == 0
    commit = platform_environment.source_commit
    assert started == [
        {
            "InputDataUrl": "s3://elsewhere/demand/2024-06/",
            "SamplePayloadUrl": f"s3://{BUCKET}/demand/sample-payloads/{commit}/sample_payloads.tar.gz",
        }
    ]
    assert s3_keys() == [f"demand/sample-payloads/{commit}/sample_payloads.tar.gz"]


def test_a_build_project_for_another_model_is_refused(
    monkeypatch: pytest.MonkeyPatch, platform_environment: BuildEnvironment, dataset: Path
) -> None:
    monkeypatch.setenv("MODEL_NAME", "churn")

    with pytest.raises(WrongModelError, match="this build project is for the model 'churn'"):
        run_pipeline.main(["--dataset", str(dataset)])


def test_a_build_runs_the_model_its_project_names_in_model_settings_not_the_files(
    fake_aws: None,
    platform_environment: BuildEnvironment,
    dataset: Path,
    config: ModelConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model created from a SageMaker Projects template: its repository's model_config.json holds the
    template's example settings, its build project its own (MODEL_SETTINGS)."""
    example = config.model_dump()
    settings = example | {
        "model_name": "footfall",
        "model_package_group_name": "footfall",
        "pipeline_name": "footfall-build",
        "resource_tags": {"mlops:model": "footfall"},
        "package_metadata": example["package_metadata"]
        | {"sample_payloads_prefix": "footfall/sample-payloads/"},
    }
    monkeypatch.setenv(MODEL_SETTINGS_VARIABLE, json.dumps(settings))
    monkeypatch.setenv("MODEL_NAME", "footfall")
    built: list[str] = []

    class RecordingPipeline:
        def upsert(self, **_: Any) -> None:
            pass

        def start(self, **_: Any) -> Any:
            return type("Execution", (), {"arn": EXECUTION_ARN})()

    def get_pipeline(config: ModelConfig, *_: Any) -> RecordingPipeline:
        built.append(config.pipeline_name)
        return RecordingPipeline()

    monkeypatch.setattr("workflow.pipeline.get_pipeline", get_pipeline)
    monkeypatch.setattr(run_pipeline, "follow_execution", lambda *_, **__: 0)

    assert run_pipeline.main(["--dataset", str(dataset)]) == 0
    assert built == ["footfall-build"]
    commit = platform_environment.source_commit
    assert s3_keys() == [
        f"footfall/data/raw/{commit}/sales.csv",
        f"footfall/sample-payloads/{commit}/sample_payloads.tar.gz",
    ]


def test_a_run_outside_codebuild_names_the_missing_variables(
    monkeypatch: pytest.MonkeyPatch, platform_environment: BuildEnvironment, dataset: Path
) -> None:
    monkeypatch.delenv("ARTIFACT_BUCKET")
    monkeypatch.delenv("KMS_KEY_ARN")

    with pytest.raises(
        MissingEnvironmentError, match="missing environment variables: ARTIFACT_BUCKET, KMS_KEY_ARN"
    ):
        run_pipeline.main(["--dataset", str(dataset)])


def test_the_cli_starts_without_a_default_region() -> None:
    # A shell may set AWS_REGION only, which boto3 ignores; the SDK needs a region when imported.
    environment = {name: value for name, value in os.environ.items() if name != "AWS_DEFAULT_REGION"}

    result = subprocess.run(
        [sys.executable, "-m", "workflow.run_pipeline", "--help"],
        cwd=Path(__file__).resolve().parents[1],
        env=environment | {"AWS_REGION": REGION},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "--sample-payloads" in result.stdout


class RecordingPipeline:
    """get_pipeline's stand-in: records the parameters the build starts it with, or fails to start."""

    def __init__(self, start_error: Exception | None = None) -> None:
        self.started: list[dict[str, str]] = []
        self.start_error = start_error

    def upsert(self, **_: Any) -> None:
        pass

    def start(self, *, parameters: dict[str, str], execution_display_name: str) -> Any:
        if self.start_error is not None:
            raise self.start_error
        self.started.append(parameters)
        return SimpleNamespace(arn=EXECUTION_ARN)


@pytest.fixture
def recording_pipeline(monkeypatch: pytest.MonkeyPatch) -> RecordingPipeline:
    pipeline = RecordingPipeline()
    monkeypatch.setattr("workflow.pipeline.get_pipeline", lambda *_: pipeline)
    return pipeline


def ends_as(monkeypatch: pytest.MonkeyPatch, outcome: ExecutionOutcome) -> None:
    """The execution run_pipeline follows ends so."""
    monkeypatch.setattr(run_pipeline, "wait_for_execution", lambda *_, **__: outcome)


def the_run(run_id: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient().get_run(run_id)


def execution_parameters() -> dict[str, str]:
    sagemaker_client = boto3.client("sagemaker", region_name=REGION)
    (execution,) = sagemaker_client.list_pipeline_executions(PipelineName="demand-build")[
        "PipelineExecutionSummaries"
    ]
    parameters = sagemaker_client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    return {parameter["Name"]: parameter["Value"] for parameter in parameters}


DATA_IN_S3 = f"s3://{BUCKET}/demand/data/raw/2024-06/"


def test_a_tracked_build_starts_the_execution_in_its_run_and_ends_the_run_with_it(
    fake_aws: None, platform_environment: BuildEnvironment, mlflow_store: str
) -> None:
    exit_code = run_pipeline.main(["--input-data-uri", DATA_IN_S3, "--poll-seconds", "0"])

    assert exit_code == 0
    sagemaker_client = boto3.client("sagemaker", region_name=REGION)
    (execution,) = sagemaker_client.list_pipeline_executions(PipelineName="demand-build")[
        "PipelineExecutionSummaries"
    ]
    run = the_run(execution_parameters()["MlflowRunId"])
    assert (run.info.run_name, run.info.status) == (
        f"commit-{platform_environment.source_commit[:12]}",
        "FINISHED",
    )
    assert run.data.tags["pipeline_execution_arn"] == execution["PipelineExecutionArn"]
    assert run.data.params["input_data_uri"] == DATA_IN_S3
    assert "failure_reason" not in run.data.tags


@pytest.mark.parametrize(
    ("outcome", "run_status"),
    [
        (ExecutionOutcome("Failed", ("MetricAboveThreshold: rmse is above the allowed 12.0",)), "FAILED"),
        (ExecutionOutcome("Stopped", ("TrainModel: Stopped",)), "KILLED"),
    ],
    ids=["failed", "stopped"],
)
def test_a_tracked_execution_that_does_not_succeed_fails_the_build_and_ends_its_run_so(
    fake_aws: None,
    platform_environment: BuildEnvironment,
    mlflow_store: str,
    recording_pipeline: RecordingPipeline,
    monkeypatch: pytest.MonkeyPatch,
    outcome: ExecutionOutcome,
    run_status: str,
) -> None:
    ends_as(monkeypatch, outcome)

    assert run_pipeline.main(["--input-data-uri", DATA_IN_S3]) == 1

    (parameters,) = recording_pipeline.started
    run = the_run(parameters["MlflowRunId"])
    assert run.info.status == run_status
    assert run.data.tags["failure_reason"] == outcome.failure_reasons[0]
    assert run.data.tags["pipeline_execution_arn"] == EXECUTION_ARN


def test_an_execution_that_could_not_start_fails_its_run(
    fake_aws: None, platform_environment: BuildEnvironment, mlflow_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    refused = ClientError(
        {"Error": {"Code": "ResourceLimitExceeded", "Message": "too many executions"}}, "Start"
    )
    monkeypatch.setattr("workflow.pipeline.get_pipeline", lambda *_: RecordingPipeline(start_error=refused))

    with pytest.raises(ClientError, match="too many executions"):
        run_pipeline.main(["--input-data-uri", DATA_IN_S3])

    client = MlflowClient()
    experiment = client.get_experiment_by_name("demand")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert "ResourceLimitExceeded" in run.data.tags["failure_reason"]
    assert "pipeline_execution_arn" not in run.data.tags


def test_a_tracked_build_whose_tracking_server_is_out_of_reach_starts_nothing(
    fake_aws: None,
    platform_environment: BuildEnvironment,
    recording_pipeline: RecordingPipeline,
    mlflow_state: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workflow.experiment_run import TrackingServerError

    from .test_experiment_run import closed_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    with pytest.raises(TrackingServerError, match=r"\(MLFLOW_TRACKING_URI, which the platform sets"):
        run_pipeline.main(["--input-data-uri", DATA_IN_S3])
    assert recording_pipeline.started == []


def test_an_untracked_build_starts_the_execution_without_mlflow(
    fake_aws: None, platform_environment: BuildEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any import of MLflow, or of the module that uses it, fails.
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "workflow.experiment_run", None)

    assert run_pipeline.main(["--input-data-uri", DATA_IN_S3, "--poll-seconds", "0"]) == 0

    assert set(execution_parameters()) == {"InputDataUrl", "SamplePayloadUrl"}
    upserted = boto3.client("sagemaker", region_name=REGION).describe_pipeline(PipelineName="demand-build")
    definition = json.loads(upserted["PipelineDefinition"])
    assert "MlflowRunId" not in {parameter["Name"] for parameter in definition["Parameters"]}
    assert "LogExperiment" not in json.dumps(definition["Steps"])
