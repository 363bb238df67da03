"""The lineage tool (tools/lineage.py): endpoint -> packages -> pipeline execution -> training job.

botocore's Stubber answers every call: moto models neither pipeline execution steps nor a package's
model card and approval context. Each stubbed answer is the shape SageMaker returns (Stubber validates
it); `assert_no_pending_responses` proves each read happened, in order, with the parameters shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.tools.conftest import ACCOUNT, PLATFORM, REGION, client
from tools import lineage
from tools.lineage import AwsClients

ENDPOINT = f"{PLATFORM}-churn-production"
ENDPOINT_CONFIG = f"{ENDPOINT}-config-7"
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
CHAMPION, CHALLENGER = f"{ARN}:model-package/churn/2", f"{ARN}:model-package/churn/3"
PIPELINE = f"{ARN}:pipeline/churn-build/execution"
EXECUTION_2, EXECUTION_3 = f"{PIPELINE}/a1b2c3", f"{PIPELINE}/d4e5f6"
JOB_2, JOB_3 = f"{ARN}:training-job/pipelines-a1b2c3-train", f"{ARN}:training-job/pipelines-d4e5f6-train"
APPROVER = f"arn:aws:sts::{ACCOUNT}:assumed-role/approver/alice"
DATA = "s3://mlops-churn-data"
CREATED = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def sagemaker(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The tool's SageMaker client, stubbed; every stubbed answer must have been asked for."""
    clients = AwsClients(sagemaker=client("sagemaker"), cloudformation=client("cloudformation"))
    monkeypatch.setattr(lineage, "make_clients", lambda region: clients)
    with Stubber(clients.sagemaker) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_endpoint(stub: Stubber) -> None:
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"{ARN}:endpoint/{ENDPOINT}",
            "EndpointConfigName": ENDPOINT_CONFIG,
            "EndpointStatus": "InService",
            "CreationTime": CREATED,
            "LastModifiedTime": CREATED,
            "ProductionVariants": [
                {"VariantName": "champion", "CurrentWeight": 9.0},
                {"VariantName": "challenger", "CurrentWeight": 1.0},
            ],
        },
        {"EndpointName": ENDPOINT},
    )
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": ENDPOINT_CONFIG,
            "EndpointConfigArn": f"{ARN}:endpoint-config/{ENDPOINT_CONFIG}",
            "CreationTime": CREATED,
            "ProductionVariants": [
                {"VariantName": "champion", "ModelName": "churn-champion-m2", "InitialVariantWeight": 0.9},
                {"VariantName": "challenger", "ModelName": "churn-challenger-m3", "InitialVariantWeight": 0.1},
            ],
        },
        {"EndpointConfigName": ENDPOINT_CONFIG},
    )
    for model, package in (("churn-champion-m2", CHAMPION), ("churn-challenger-m3", CHALLENGER)):
        stub.add_response(
            "describe_model",
            {
                "ModelName": model,
                "ModelArn": f"{ARN}:model/{model}",
                "CreationTime": CREATED,
                "PrimaryContainer": {"ModelPackageName": package},
            },
            {"ModelName": model},
        )


def package(arn: str, *, execution: str | None, card: bool = True, commit: str = "3f2c1a9") -> dict[str, Any]:
    """A package as DescribeModelPackage answers; `execution` None: registered without lineage."""
    answer: dict[str, Any] = {
        "ModelPackageName": arn.rsplit("/", 2)[1],
        "ModelPackageGroupName": "churn",
        "ModelPackageVersion": int(arn.rsplit("/", 1)[1]),
        "ModelPackageArn": arn,
        "CreationTime": CREATED,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "Approved",
        "LastModifiedTime": datetime(2026, 11, 20, 10, 30, tzinfo=UTC),
        "LastModifiedBy": {"IamIdentity": {"Arn": APPROVER}},
        "ApprovalDescription": "AUC 0.86 beats the threshold 0.75",
        "CustomerMetadataProperties": {"dataset_version": "2026-11"},
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"{DATA}/evaluation/{commit}.json"}
            }
        },
    }
    if execution:
        answer["MetadataProperties"] = {
            "CommitId": commit,
            "Repository": "https://github.com/acme/churn",
            "GeneratedBy": execution,
        }
    if card:
        answer["ModelCard"] = {"ModelCardStatus": "Approved", "ModelCardContent": "{}"}
    return answer


def expect_package(stub: Stubber, arn: str, **options: Any) -> None:
    stub.add_response("describe_model_package", package(arn, **options), {"ModelPackageName": arn})


def expect_steps(stub: Stubber, execution: str, job_arn: str) -> None:
    """Two pages, the training step on the second: the paginator must follow NextToken."""
    step = {"StepStatus": "Succeeded", "StartTime": CREATED}
    stub.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {**step, "StepName": "Register", "Metadata": {}},
                {**step, "StepName": "Preprocess", "Metadata": {"ProcessingJob": {}}},
            ],
            "NextToken": "page-2",
        },
        {"PipelineExecutionArn": execution},
    )
    stub.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": [{**step, "StepName": "Train", "Metadata": {"TrainingJob": {"Arn": job_arn}}}]},
        {"PipelineExecutionArn": execution, "NextToken": "page-2"},
    )


def expect_training_job(stub: Stubber, job_arn: str, day: int) -> None:
    name = job_arn.rsplit("/", 1)[1]
    stub.add_response(
        "describe_training_job",
        {
            "TrainingJobName": name,
            "TrainingJobArn": job_arn,
            "ModelArtifacts": {"S3ModelArtifacts": f"{DATA}/models/{name}/model.tar.gz"},
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "CreationTime": CREATED,
            "TrainingStartTime": datetime(2026, 11, day, 9, 0, tzinfo=UTC),
            "TrainingEndTime": datetime(2026, 11, day, 9, 42, tzinfo=UTC),
            "InputDataConfig": [
                {"ChannelName": channel, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
                for channel, uri in (("train", f"{DATA}/train/{day}/"), ("validation", f"{DATA}/validation/{day}/"))
            ],
        },
        {"TrainingJobName": name},
    )


def expect_production(stub: Stubber) -> None:
    expect_endpoint(stub)
    expect_package(stub, CHAMPION, execution=EXECUTION_2)
    expect_steps(stub, EXECUTION_2, JOB_2)
    expect_training_job(stub, JOB_2, 19)
    expect_package(stub, CHALLENGER, execution=EXECUTION_3, commit="9e8d7c6")
    expect_steps(stub, EXECUTION_3, JOB_3)
    expect_training_job(stub, JOB_3, 25)


PRODUCTION_TREE = f"""\
endpoint {ENDPOINT}
variant champion, 90% of traffic, model churn-champion-m2
  package {CHAMPION}
    approval: Approved by {APPROVER} at 2026-11-20T10:30:00+00:00: "AUC 0.86 beats the threshold 0.75"
    source: https://github.com/acme/churn @ 3f2c1a9
    model card: Approved
    metadata dataset_version: 2026-11
    metrics ModelQuality.Statistics: {DATA}/evaluation/3f2c1a9.json
    pipeline execution: {EXECUTION_2}
      training step Train: {JOB_2} (Completed)
        started 2026-11-19T09:00:00+00:00, ended 2026-11-19T09:42:00+00:00
        input train: {DATA}/train/19/
        input validation: {DATA}/validation/19/
variant challenger, 10% of traffic, model churn-challenger-m3
  package {CHALLENGER}
    approval: Approved by {APPROVER} at 2026-11-20T10:30:00+00:00: "AUC 0.86 beats the threshold 0.75"
    source: https://github.com/acme/churn @ 9e8d7c6
    model card: Approved
    metadata dataset_version: 2026-11
    metrics ModelQuality.Statistics: {DATA}/evaluation/9e8d7c6.json
    pipeline execution: {EXECUTION_3}
      training step Train: {JOB_3} (Completed)
        started 2026-11-25T09:00:00+00:00, ended 2026-11-25T09:42:00+00:00
        input train: {DATA}/train/25/
        input validation: {DATA}/validation/25/
"""


def package_json(arn: str, execution: str, commit: str, job_arn: str, day: int) -> dict[str, Any]:
    return {
        "arn": arn,
        "approval": "Approved",
        "approved_by": APPROVER,
        "approved_at": "2026-11-20T10:30:00+00:00",
        "approval_description": "AUC 0.86 beats the threshold 0.75",
        "repository": "https://github.com/acme/churn",
        "commit": commit,
        "pipeline_execution": execution,
        "customer_metadata": {"dataset_version": "2026-11"},
        "model_card_status": "Approved",
        "metrics": {"ModelQuality.Statistics": f"{DATA}/evaluation/{commit}.json"},
        "training": [
            {
                "step_name": "Train",
                "job_arn": job_arn,
                "status": "Completed",
                "started": f"2026-11-{day}T09:00:00+00:00",
                "ended": f"2026-11-{day}T09:42:00+00:00",
                "inputs": {"train": f"{DATA}/train/{day}/", "validation": f"{DATA}/validation/{day}/"},
            }
        ],
    }


class TestServedLineage:
    def test_production_endpoint_is_traced_to_each_variant_s_training_data(
        self, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_production(sagemaker)

        assert lineage.main(["--model", "churn"]) == lineage.EXIT_OK
        assert capsys.readouterr().out == PRODUCTION_TREE

    def test_json_holds_the_same_lineage(self, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]) -> None:
        expect_production(sagemaker)

        assert lineage.main(["--model", "churn", "--stage", "production", "--json"]) == lineage.EXIT_OK
        assert json.loads(capsys.readouterr().out) == {
            "serving": ENDPOINT,
            "kind": "endpoint",
            "variants": [
                {
                    "variant": "champion",
                    "model": "churn-champion-m2",
                    "traffic_percent": 90.0,
                    "package": package_json(CHAMPION, EXECUTION_2, "3f2c1a9", JOB_2, 19),
                },
                {
                    "variant": "challenger",
                    "model": "churn-challenger-m3",
                    "traffic_percent": 10.0,
                    "package": package_json(CHALLENGER, EXECUTION_3, "9e8d7c6", JOB_3, 25),
                },
            ],
        }

    def test_an_endpoint_that_does_not_exist_exits_1(
        self, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
    ) -> None:
        staging = f"{PLATFORM}-churn-staging"
        sagemaker.add_client_error(
            "describe_endpoint",
            service_error_code="ValidationException",
            service_message=f'Could not find endpoint "{staging}".',
            expected_params={"EndpointName": staging},
        )

        assert lineage.main(["--model", "churn", "--stage", "staging"]) == lineage.EXIT_NOT_SERVING
        assert capsys.readouterr().err == f"error: endpoint {staging} not found (not deployed yet?)\n"

    def test_a_training_job_that_cannot_be_read_exits_2_naming_the_call_and_job(
        self, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_endpoint(sagemaker)
        expect_package(sagemaker, CHAMPION, execution=EXECUTION_2)
        expect_steps(sagemaker, EXECUTION_2, JOB_2)
        denied = f"User: {APPROVER} is not authorized to perform: sagemaker:DescribeTrainingJob"
        sagemaker.add_client_error(
            "describe_training_job",
            service_error_code="AccessDeniedException",
            service_message=denied,
            http_status_code=400,
            expected_params={"TrainingJobName": "pipelines-a1b2c3-train"},
        )

        assert lineage.main(["--model", "churn"]) == lineage.EXIT_READ_FAILED
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == f"error: DescribeTrainingJob {JOB_2} failed: AccessDeniedException: {denied}\n"


class TestGivenPackage:
    def test_a_package_is_explained_without_reading_the_endpoint(
        self, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_package(sagemaker, CHAMPION, execution=EXECUTION_2)
        expect_steps(sagemaker, EXECUTION_2, JOB_2)
        expect_training_job(sagemaker, JOB_2, 19)

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        tree = PRODUCTION_TREE.split("\n")[2:13]
        assert capsys.readouterr().out == "\n".join(line.removeprefix("  ") for line in tree) + "\n"

    def test_a_package_without_lineage_says_not_recorded_and_reads_no_execution(
        self, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_package(sagemaker, CHAMPION, execution=None)

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        out = capsys.readouterr().out
        assert "  source: not recorded\n" in out
        assert out.endswith("  pipeline execution: not recorded\n")

    def test_a_package_without_a_model_card_says_so(
        self, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_package(sagemaker, CHAMPION, execution=None, card=False)

        assert lineage.main(["--model", "churn", "--package", CHAMPION, "--json"]) == lineage.EXIT_OK
        assert json.loads(capsys.readouterr().out)["variants"][0]["package"]["model_card_status"] is None
        expect_package(sagemaker, CHAMPION, execution=None, card=False)

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        assert "  model card: no model card (registered before model cards)\n" in capsys.readouterr().out


class TestBatchModel:
    def test_a_batch_model_s_champion_is_its_serving_stack_s_parameter(self, sagemaker: Stubber) -> None:
        clients = AwsClients(sagemaker=client("sagemaker"), cloudformation=client("cloudformation"))
        stack = f"{PLATFORM}-scores-production"
        expect_package(sagemaker, CHAMPION, execution=None)
        with Stubber(clients.cloudformation) as cloudformation:
            cloudformation.add_response(
                "describe_stacks",
                {
                    "Stacks": [
                        {
                            "StackName": stack,
                            "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/1",
                            "StackStatus": "UPDATE_COMPLETE",
                            "CreationTime": CREATED,
                            "Parameters": [{"ParameterKey": "ChampionModelPackageArn", "ParameterValue": CHAMPION}],
                        }
                    ]
                },
                {"StackName": stack},
            )
            answer = lineage.lineage(
                clients, platform=PLATFORM, model="scores", stage="production", batch=True, package_arn=None
            )

        assert (answer.kind, answer.serving) == ("serving stack", stack)
        assert [(v.variant, v.package.arn if v.package else None) for v in answer.variants] == [("champion", CHAMPION)]
