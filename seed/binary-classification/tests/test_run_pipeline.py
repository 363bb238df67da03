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
from workflow.environment import BuildEnvironment, MissingEnvironmentError
from workflow.run_pipeline import (
    ExecutionOutcome,
    ExecutionTimeoutError,
    follow_execution,
    wait_for_execution,
)
from workflow.sample_payloads import DEFAULT_SAMPLE_PAYLOADS_PATH

from .conftest import BUCKET, FEATURE_GROUP, REGION, FakeClock, multiclass_config, write_model_config

EXECUTION_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-build/execution/k2x9q7r4m1ab"


# What the package records of the feature group and event times the training set was joined from.
FEATURE_STORE_PARAMETER_NAMES = ("FeatureGroupName", "EventTimeFrom", "EventTimeTo")


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
                "StepName": "MetricBelowThreshold",
                "StepStatus": "Failed",
                "FailureReason": "auc is below the required 0.75: model not registered",
            },
            {"StepName": "EvaluateModel", "StepStatus": "Succeeded"},
        ],
    )

    exit_code = follow_execution(client, EXECUTION_ARN, timeout_seconds=600, sleep=clock.sleep, clock=clock)

    assert exit_code == 1
    output = capsys.readouterr()
    assert f"execution Failed: {EXECUTION_ARN}" in output.out
    assert "MetricBelowThreshold: auc is below the required 0.75: model not registered" in output.err
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
    sagemaker: tuple[Any, Stubber], clock: FakeClock
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
    monkeypatch.setenv(MODEL_SETTINGS_VARIABLE, config.model_dump_json(by_alias=True))
    monkeypatch.setenv("SAGEMAKER_PIPELINE_ROLE_ARN", build_env.pipeline_role_arn)
    monkeypatch.setenv("ARTIFACT_BUCKET", build_env.artifact_bucket)
    monkeypatch.setenv("KMS_KEY_ARN", build_env.kms_key_arn)
    monkeypatch.setenv("AWS_REGION", build_env.region)
    monkeypatch.setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", build_env.source_commit)
    return build_env


@pytest.fixture
def dataset(customers: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    customers.to_csv(path, index=False)
    return path


def test_a_run_uploads_the_data_then_upserts_and_starts_the_pipeline(
    fake_aws: None, platform_environment: BuildEnvironment, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = run_pipeline.main(["--dataset", str(dataset), "--poll-seconds", "0"])

    assert exit_code == 0
    sagemaker_client = boto3.client("sagemaker", region_name=REGION)
    (execution,) = sagemaker_client.list_pipeline_executions(PipelineName="churn-build")[
        "PipelineExecutionSummaries"
    ]
    assert f"started {execution['PipelineExecutionArn']}" in capsys.readouterr().out
    parameters = sagemaker_client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    data_prefix = f"s3://{BUCKET}/churn/data/raw/{platform_environment.source_commit}/"
    payload_key = f"churn/sample-payloads/{platform_environment.source_commit}/sample_payloads.tar.gz"
    assert {"Name": "InputDataUrl", "Value": data_prefix} in parameters
    assert {"Name": "SamplePayloadUrl", "Value": f"s3://{BUCKET}/{payload_key}"} in parameters
    # A table that is not from the feature group claims none (CreateModelPackage refuses "").
    assert [p for p in parameters if p["Name"] in FEATURE_STORE_PARAMETER_NAMES] == [
        {"Name": name, "Value": "none"} for name in FEATURE_STORE_PARAMETER_NAMES
    ]
    s3 = boto3.client("s3", region_name=REGION)
    uploaded = s3.head_object(
        Bucket=BUCKET, Key=f"churn/data/raw/{platform_environment.source_commit}/customers.csv"
    )
    assert uploaded["ServerSideEncryption"] == "aws:kms"
    assert uploaded["SSEKMSKeyId"] == platform_environment.kms_key_arn
    payloads = s3.get_object(Bucket=BUCKET, Key=payload_key)
    assert payloads["ServerSideEncryption"] == "aws:kms"
    assert payloads["SSEKMSKeyId"] == platform_environment.kms_key_arn
    with tarfile.open(fileobj=io.BytesIO(payloads["Body"].read()), mode="r:gz") as archive:
        (member,) = archive.getmembers()
        assert member.name == "sample_payloads.json"
        assert archive.extractfile(member).read() == DEFAULT_SAMPLE_PAYLOADS_PATH.read_bytes()  # type: ignore[union-attr]


def execution_parameters() -> dict[str, str]:
    sagemaker_client = boto3.client("sagemaker", region_name=REGION)
    (execution,) = sagemaker_client.list_pipeline_executions(PipelineName="churn-build")[
        "PipelineExecutionSummaries"
    ]
    parameters = sagemaker_client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    return {parameter["Name"]: parameter["Value"] for parameter in parameters}


def test_a_training_set_from_the_feature_group_is_trained_on_with_its_source(
    fake_aws: None, platform_environment: BuildEnvironment, tmp_path: Path
) -> None:
    manifest = tmp_path / "training_set.json"
    training_set_uri = (
        f"s3://{BUCKET}/churn/data/training-sets/{platform_environment.source_commit}/q1/training_set.csv"
    )
    manifest.write_text(
        json.dumps(
            {
                "training_data_s3_uri": training_set_uri,
                "feature_group_name": FEATURE_GROUP,
                "event_time_from": "2026-10-01T00:00:00Z",
                "event_time_to": "2026-11-01T00:00:00Z",
            }
        )
    )

    exit_code = run_pipeline.main(["--training-set", str(manifest), "--poll-seconds", "0"])

    assert exit_code == 0
    parameters = execution_parameters()
    assert {name: parameters[name] for name in ("InputDataUrl", *FEATURE_STORE_PARAMETER_NAMES)} == {
        "InputDataUrl": training_set_uri,
        "FeatureGroupName": FEATURE_GROUP,
        "EventTimeFrom": "2026-10-01T00:00:00Z",
        "EventTimeTo": "2026-11-01T00:00:00Z",
    }
    uploaded = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix="churn/data/")
    assert "Contents" not in uploaded


def test_data_given_by_its_uri_claims_no_feature_group(
    fake_aws: None, platform_environment: BuildEnvironment
) -> None:
    data = f"s3://{BUCKET}/churn/data/raw/2024-06/"

    assert run_pipeline.main(["--input-data-uri", data, "--poll-seconds", "0"]) == 0

    parameters = execution_parameters()
    assert parameters["InputDataUrl"] == data
    assert {name: parameters[name] for name in FEATURE_STORE_PARAMETER_NAMES} == dict.fromkeys(
        FEATURE_STORE_PARAMETER_NAMES, "none"
    )


def test_a_manifest_a_package_could_not_record_stops_the_run_before_any_upload(
    fake_aws: None, platform_environment: BuildEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "training_set.json"
    manifest.write_text(json.dumps({"training_data_s3_uri": f"s3://{BUCKET}/churn/data/training-sets/x.csv"}))

    exit_code = run_pipeline.main(["--training-set", str(manifest)])

    assert exit_code == 1
    assert f"{manifest} is not a training-set manifest: feature_group_name: Field required" in (
        capsys.readouterr().err
    )
    assert nothing_was_uploaded_or_started()


def test_a_dataset_that_breaks_the_contract_stops_the_run_before_any_upload(
    fake_aws: None, platform_environment: BuildEnvironment, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.read_csv(dataset).assign(contract_type="weekly").to_csv(dataset, index=False)

    exit_code = run_pipeline.main(["--dataset", str(dataset)])

    assert exit_code == 1
    assert "contract_type: isin(" in capsys.readouterr().out
    assert nothing_was_uploaded_or_started()


def nothing_was_uploaded_or_started() -> bool:
    bucket = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)
    pipelines = boto3.client("sagemaker", region_name=REGION).list_pipelines()["PipelineSummaries"]
    return "Contents" not in bucket and pipelines == []


@pytest.mark.parametrize(
    ("instances", "expected_error"),
    [
        ([], "with at least one instance"),
        ([{"tenure_months": 3}], "instances[0]: missing features monthly_charges, total_charges"),
    ],
    ids=["empty", "missing-features"],
)
def test_sample_payloads_the_model_cannot_answer_stop_the_run_before_any_upload(
    fake_aws: None,
    platform_environment: BuildEnvironment,
    dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    instances: list[dict[str, Any]],
    expected_error: str,
) -> None:
    payloads = tmp_path / "sample_payloads.json"
    payloads.write_text(json.dumps({"instances": instances}))

    exit_code = run_pipeline.main(["--dataset", str(dataset), "--sample-payloads", str(payloads)])

    assert exit_code == 1
    assert expected_error in capsys.readouterr().err
    assert nothing_was_uploaded_or_started()


def test_a_multiclass_model_refuses_a_table_without_its_target(
    fake_aws: None,
    platform_environment: BuildEnvironment,
    dataset: Path,
    config: ModelConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    multiclass = write_model_config(tmp_path, multiclass_config(config))

    exit_code = run_pipeline.main(["--dataset", str(dataset), "--config", str(multiclass)])

    assert exit_code == 1
    output = capsys.readouterr().out
    assert "missing column: 1 failing; e.g. next_action" in output
    assert "unexpected column: 1 failing; e.g. churned" in output
    assert nothing_was_uploaded_or_started()


def test_the_cli_starts_without_a_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
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
    assert "--input-data-uri" in result.stdout
    assert "--training-set" in result.stdout


def test_a_run_outside_codebuild_names_the_missing_variables(
    monkeypatch: pytest.MonkeyPatch, platform_environment: BuildEnvironment, dataset: Path
) -> None:
    monkeypatch.delenv("ARTIFACT_BUCKET")
    monkeypatch.delenv("KMS_KEY_ARN")

    with pytest.raises(
        MissingEnvironmentError, match="missing environment variables: ARTIFACT_BUCKET, KMS_KEY_ARN"
    ):
        run_pipeline.main(["--dataset", str(dataset)])


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


DATA_IN_S3 = f"s3://{BUCKET}/churn/data/raw/2024-06/"


def test_a_tracked_build_starts_the_execution_in_its_run_and_ends_the_run_with_it(
    fake_aws: None, platform_environment: BuildEnvironment, mlflow_store: str
) -> None:
    exit_code = run_pipeline.main(["--input-data-uri", DATA_IN_S3, "--poll-seconds", "0"])

    assert exit_code == 0
    sagemaker_client = boto3.client("sagemaker", region_name=REGION)
    (execution,) = sagemaker_client.list_pipeline_executions(PipelineName="churn-build")[
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
        (ExecutionOutcome("Failed", ("MetricBelowThreshold: auc is below the required 0.75",)), "FAILED"),
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
    experiment = client.get_experiment_by_name("churn")
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

    assert set(execution_parameters()) == {"InputDataUrl", "SamplePayloadUrl", *FEATURE_STORE_PARAMETER_NAMES}
    upserted = boto3.client("sagemaker", region_name=REGION).describe_pipeline(PipelineName="churn-build")
    definition = json.loads(upserted["PipelineDefinition"])
    assert "MlflowRunId" not in {parameter["Name"] for parameter in definition["Parameters"]}
    assert "LogExperiment" not in json.dumps(definition["Steps"])
