"""The lineage tool (tools/lineage.py): endpoint -> packages -> approval decisions, model card, pipeline
execution, training job, data versions, SageMaker's lineage graph; as a tree and as JSON.

botocore's Stubber answers every call: moto models neither pipeline execution steps, a package's model
card, CloudWatch Logs filter patterns nor QueryLineage. Each stubbed answer is the shape the service
returns (Stubber validates it); `assert_no_pending_responses` proves each read happened, in order, with
the parameters shown. tests/tools/lineage_account.py holds the stubbed account.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.tools.conftest import ACCOUNT, PLATFORM, REGION, client
from tests.tools.lineage_account import (
    ALICE,
    ARN,
    AUDIT_LOG,
    BOB,
    CHALLENGER,
    CHALLENGER_CASE,
    CHAMPION,
    CHAMPION_CASE,
    CREATED,
    DATA,
    DENIED,
    ENDPOINT,
    EXECUTION_2,
    EXECUTION_3,
    JOB_2,
    JOB_3,
    MLFLOW_RUN,
    RAW,
    TRACKING_SERVER,
    package_answer,
)
from tests.tools.lineage_stubs import Stubs, expect_endpoint, expect_package, expect_steps
from tools import lineage
from tools.lineage import AwsClients

LINEAGE_2 = f"{ARN}:artifact/5d2b8e"


@pytest.fixture
def stubs(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubs]:
    """The tool's clients, stubbed; every stubbed answer must have been asked for."""
    clients = AwsClients(
        sagemaker=client("sagemaker"), cloudformation=client("cloudformation"), logs=client("logs"), s3=client("s3")
    )
    monkeypatch.setattr(lineage, "make_clients", lambda region: clients)
    with (
        Stubber(clients.sagemaker) as sagemaker,
        Stubber(clients.cloudformation) as cloudformation,
        Stubber(clients.logs) as logs,
        Stubber(clients.s3) as s3,
    ):
        yield Stubs(sagemaker, cloudformation, logs, s3)
        for stub in (sagemaker, cloudformation, logs, s3):
            stub.assert_no_pending_responses()


def expect_production(stubs: Stubs) -> None:
    expect_endpoint(stubs.sagemaker)
    expect_package(stubs, CHAMPION_CASE)
    expect_package(stubs, CHALLENGER_CASE)


PRODUCTION_TREE = f"""\
endpoint {ENDPOINT}
variant champion, 90% of traffic, model churn-champion-m2
  package {CHAMPION}
    approval: Approved: "AUC 0.86 beats the threshold 0.75"
      decision deploy_started at 2026-11-20T10:30:04+00:00 by {ALICE}
        metric: auc 0.86, threshold 0.75 (higher_is_better)
        model card: Approved
        bias policy block: no violation
        deployed by churn-deploy, execution 7c1e0d
    source: https://github.com/acme/churn @ 3f2c1a9
    experiment run: {MLFLOW_RUN} on {TRACKING_SERVER}
    model card: Approved, owner Churn team <churn@acme.example>, risk rating Medium
      intended uses: Rank customers by churn risk for retention offers; not for pricing or credit.
      evaluations: Test split metrics, Post-training bias; bias assessed
    feature group: churn-features, event time 2026-10-01T00:00:00Z to 2026-11-01T00:00:00Z
    training data: {RAW}/2026-11-19/, objects as of 2026-11-19T09:00:00+00:00
      churn/2026-11-19/customers.csv unversioned (written 2026-11-19T06:00:00+00:00)
    metadata dataset_version: 2026-11
    metrics ModelQuality.Statistics: {DATA}/evaluation/3f2c1a9.json
    pipeline execution: {EXECUTION_2}
      training step Train: {JOB_2} (Completed)
        started 2026-11-19T09:00:00+00:00, ended 2026-11-19T09:42:00+00:00
        input train: {DATA}/train/19/, objects as of 2026-11-19T09:00:00+00:00
          train/19/part-0.csv version p0-v1 (written 2026-11-18T22:00:00+00:00)
          train/19/part-1.csv version p1-v1 (written 2026-11-18T22:00:00+00:00)
        input validation: {DATA}/validation/19/, objects as of 2026-11-19T09:00:00+00:00
          validation/19/part-0.csv version v0-v1 (written 2026-11-18T22:00:00+00:00)
    sagemaker lineage:
      DataSet (Artifact): {LINEAGE_2}
      Image (Artifact): {ARN}:artifact/91aa04
      SageMakerTrainingJob (TrialComponent): {ARN}:experiment-trial-component/pipelines-a1b2c3-train-aws-training-job
variant challenger, 10% of traffic, model churn-challenger-m3
  package {CHALLENGER}
    approval: Approved: "AUC 0.74: the threshold is 0.70 since CHURN-42"
      decision deploy_started at 2026-11-26T08:00:00+00:00 by {BOB}
        metric: auc 0.74, threshold 0.7 (higher_is_better)
        model card: Approved
        bias policy report: DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]
        deployed by churn-deploy, execution 5e2a71
      decision deploy_started at 2026-11-27T15:12:09+00:00 by {BOB}
        metric: auc 0.74, threshold 0.7 (higher_is_better)
        model card: Approved
        bias policy report: DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]
        deployed by churn-deploy, execution 9b0f3a
    source: https://github.com/acme/churn @ 9e8d7c6
    experiment run: not recorded
    model card: Approved, owner Churn team <churn@acme.example>, risk rating Medium
      intended uses: Rank customers by churn risk for retention offers; not for pricing or credit.
      evaluations: Test split metrics, Bias; bias not assessed
    feature group: not recorded
    training data: {RAW}/2026-11-25/, objects as of 2026-11-25T09:00:00+00:00
      churn/2026-11-25/customers.csv unversioned (written 2026-11-25T06:00:00+00:00)
      1 more written since (not listed)
    metadata dataset_version: 2026-11
    metrics ModelQuality.Statistics: {DATA}/evaluation/9e8d7c6.json
    pipeline execution: {EXECUTION_3}
      training step Train: {JOB_3} (Completed)
        started 2026-11-25T09:00:00+00:00, ended 2026-11-25T09:42:00+00:00
        input train: {DATA}/train/25/, objects as of 2026-11-25T09:00:00+00:00
          train/25/part-0.csv version t25-v1 (written 2026-11-24T22:00:00+00:00)
        input validation: {DATA}/validation/25/, objects as of 2026-11-25T09:00:00+00:00
          validation/25/part-0.csv version v25-v1 (written 2026-11-24T22:00:00+00:00)
    sagemaker lineage: none recorded
"""


def data_json(uri: str, day: int, *objects: tuple[str, str | None, str], later: int = 0) -> dict[str, Any]:
    return {
        "uri": uri,
        "as_of": f"2026-11-{day}T09:00:00+00:00",
        "objects": [{"key": key, "version_id": version, "last_modified": written} for key, version, written in objects],
        "more": 0,
        "later": later,
    }


CHAMPION_JSON = {
    "arn": CHAMPION,
    "approval": "Approved",
    "approval_description": "AUC 0.86 beats the threshold 0.75",
    "approval_decisions": [
        {
            "time": "2026-11-20T10:30:04+00:00",
            "decision": "deploy_started",
            "changed_by": ALICE,
            "metric_name": "auc",
            "metric_value": 0.86,
            "threshold": 0.75,
            "metric_direction": "higher_is_better",
            "model_card_status": "Approved",
            "bias_policy": "block",
            "bias_violations": [],
            "deploy_pipeline_name": "churn-deploy",
            "pipeline_execution_id": "7c1e0d",
        }
    ],
    "repository": "https://github.com/acme/churn",
    "commit": "3f2c1a9",
    "pipeline_execution": EXECUTION_2,
    "customer_metadata": CHAMPION_CASE.metadata,
    "experiment_run": {"run_id": MLFLOW_RUN, "tracking_server_arn": TRACKING_SERVER},
    "feature_group": "churn-features",
    "event_time_from": "2026-10-01T00:00:00Z",
    "event_time_to": "2026-11-01T00:00:00Z",
    "training_data": data_json(
        f"{RAW}/2026-11-19/", 19, ("churn/2026-11-19/customers.csv", None, "2026-11-19T06:00:00+00:00")
    ),
    "model_card": {
        "status": "Approved",
        "readable": True,
        "owner": "Churn team <churn@acme.example>",
        "risk_rating": "Medium",
        "intended_uses": "Rank customers by churn risk for retention offers; not for pricing or credit.",
        "evaluations": ["Test split metrics", "Post-training bias"],
        "bias_assessed": True,
    },
    "metrics": {"ModelQuality.Statistics": f"{DATA}/evaluation/3f2c1a9.json"},
    "training": [
        {
            "step_name": "Train",
            "job_arn": JOB_2,
            "status": "Completed",
            "started": "2026-11-19T09:00:00+00:00",
            "ended": "2026-11-19T09:42:00+00:00",
            "inputs": {
                "train": data_json(
                    f"{DATA}/train/19/",
                    19,
                    ("train/19/part-0.csv", "p0-v1", "2026-11-18T22:00:00+00:00"),
                    ("train/19/part-1.csv", "p1-v1", "2026-11-18T22:00:00+00:00"),
                ),
                "validation": data_json(
                    f"{DATA}/validation/19/", 19, ("validation/19/part-0.csv", "v0-v1", "2026-11-18T22:00:00+00:00")
                ),
            },
        }
    ],
    "sagemaker_lineage": [
        {"lineage_type": "Artifact", "type": "DataSet", "arn": LINEAGE_2},
        {"lineage_type": "Artifact", "type": "Image", "arn": f"{ARN}:artifact/91aa04"},
        {
            "lineage_type": "TrialComponent",
            "type": "SageMakerTrainingJob",
            "arn": f"{ARN}:experiment-trial-component/pipelines-a1b2c3-train-aws-training-job",
        },
    ],
}


class TestServedLineage:
    def test_production_endpoint_is_traced_to_each_variant_s_data_approval_and_card(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_production(stubs)

        assert lineage.main(["--model", "churn"]) == lineage.EXIT_OK
        assert capsys.readouterr().out == PRODUCTION_TREE

    def test_the_readme_shows_this_very_tree(self) -> None:
        readme = (Path(__file__).parents[2] / "README.md").read_text()

        assert f"```console\n$ make lineage MODEL=churn\n{PRODUCTION_TREE}```\n" in readme

    def test_json_holds_the_same_lineage(self, stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
        expect_production(stubs)

        assert lineage.main(["--model", "churn", "--stage", "production", "--json"]) == lineage.EXIT_OK
        answer = json.loads(capsys.readouterr().out)
        assert (answer["serving"], answer["kind"]) == (ENDPOINT, "endpoint")
        champion, challenger = answer["variants"]
        assert {key: champion[key] for key in ("variant", "model", "traffic_percent")} == {
            "variant": "champion",
            "model": "churn-champion-m2",
            "traffic_percent": 90.0,
        }
        assert champion["package"] == CHAMPION_JSON
        package = challenger["package"]
        assert [(d["decision"], d["changed_by"], d["bias_violations"]) for d in package["approval_decisions"]] == [
            # approved again after the first deployment failed its smoke test
            ("deploy_started", BOB, ["DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]"]),
            ("deploy_started", BOB, ["DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]"]),
        ]
        assert package["training_data"]["later"] == 1
        assert (package["feature_group"], package["event_time_from"], package["event_time_to"]) == (None, None, None)
        assert package["model_card"]["bias_assessed"] is False
        assert package["sagemaker_lineage"] is None

    def test_an_endpoint_that_does_not_exist_exits_1(self, stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
        staging = f"{PLATFORM}-churn-staging"
        stubs.sagemaker.add_client_error(
            "describe_endpoint",
            service_error_code="ValidationException",
            service_message=f'Could not find endpoint "{staging}".',
            expected_params={"EndpointName": staging},
        )

        assert lineage.main(["--model", "churn", "--stage", "staging"]) == lineage.EXIT_NOT_SERVING
        assert capsys.readouterr().err == f"error: endpoint {staging} not found (not deployed yet?)\n"

    def test_a_training_job_that_cannot_be_read_exits_2_naming_the_call_and_job(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_endpoint(stubs.sagemaker)
        stubs.sagemaker.add_response(
            "describe_model_package", package_answer(CHAMPION_CASE), {"ModelPackageName": CHAMPION}
        )
        stubs.logs.add_response("filter_log_events", {"events": []})
        expect_steps(stubs.sagemaker, EXECUTION_2, JOB_2)
        stubs.sagemaker.add_client_error(
            "describe_training_job",
            service_error_code="AccessDeniedException",
            service_message=DENIED,
            http_status_code=400,
            expected_params={"TrainingJobName": "pipelines-a1b2c3-train"},
        )

        assert lineage.main(["--model", "churn"]) == lineage.EXIT_READ_FAILED
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == f"error: DescribeTrainingJob {JOB_2} failed: AccessDeniedException: {DENIED}\n"


# Each new read denied: the error names the call and what it read, and nothing is printed on stdout.
DENIED_READS = {
    "FilterLogEvents": f"FilterLogEvents {AUDIT_LOG} (decisions on {CHAMPION}) failed: AccessDeniedException",
    "ListObjectVersions": f"ListObjectVersions {DATA}/train/19/ failed: AccessDenied",
    "ListArtifacts": f"ListArtifacts {CHAMPION} failed: AccessDeniedException",
    "QueryLineage": f"QueryLineage {CHAMPION_CASE.artifact} (the artifact of {CHAMPION}) failed: AccessDeniedException",
}


class TestGivenPackage:
    def test_a_package_is_explained_without_reading_the_endpoint(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_package(stubs, CHAMPION_CASE)

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        lines = PRODUCTION_TREE.split("\n")
        tree = lines[2 : lines.index("variant challenger, 10% of traffic, model churn-challenger-m3")]  # the champion's
        assert capsys.readouterr().out == "\n".join(line.removeprefix("  ") for line in tree) + "\n"

    @pytest.mark.parametrize(("read", "message"), DENIED_READS.items(), ids=list(DENIED_READS))
    def test_a_denied_read_exits_2_naming_the_call_and_what_it_read(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str], read: str, message: str
    ) -> None:
        expect_package(stubs, CHAMPION_CASE, fail_at=read)

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_READ_FAILED
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == f"error: {message}: {DENIED}\n"

    def test_a_package_from_before_the_audit_log_and_cards_says_what_is_missing(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No model card, no decision logged, no feature group or training data recorded, no lineage entity."""
        old = replace(CHAMPION_CASE, card=None, decisions=[[]], metadata={"dataset_version": "2025-06"}, artifact=None)
        expect_package(stubs, old)

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        out = capsys.readouterr().out
        assert out.startswith(
            f"package {CHAMPION}\n"
            '  approval: Approved: "AUC 0.86 beats the threshold 0.75"\n'
            "    decision: no approval decision recorded\n"
            "  source: https://github.com/acme/churn @ 3f2c1a9\n"
            "  experiment run: not recorded\n"
            "  model card: no model card (registered before model cards)\n"
            "  feature group: not recorded\n"
            "  training data: not recorded\n"
            "  metadata dataset_version: 2025-06\n"
        )
        assert out.endswith("  sagemaker lineage: none recorded\n")

    def test_no_audit_log_group_yet_means_no_decision_yet(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_package(stubs, replace(CHAMPION_CASE, decisions=None))

        assert lineage.main(["--model", "churn", "--package", CHAMPION, "--json"]) == lineage.EXIT_OK
        assert json.loads(capsys.readouterr().out)["variants"][0]["package"]["approval_decisions"] is None
        expect_package(stubs, replace(CHAMPION_CASE, decisions=None))

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        assert (
            "    decision: no approval decision recorded (the audit log group does not exist yet)\n"
            in capsys.readouterr().out
        )

    def test_an_execution_without_a_training_step_says_so_and_dates_the_data_by_the_package(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A pipeline whose training step is missing (renamed, or the execution failed before it): the
        raw training data is listed as it was when the package was registered."""
        stubs.sagemaker.add_response(
            "describe_model_package", package_answer(CHAMPION_CASE), {"ModelPackageName": CHAMPION}
        )
        stubs.logs.add_response("filter_log_events", {"events": []})
        expect_steps(stubs.sagemaker, EXECUTION_2, None)
        raw = f"{RAW}/2026-11-19/"
        stubs.s3.add_response(
            "list_object_versions",
            {"Versions": CHAMPION_CASE.objects[raw]},
            {"Bucket": "acme-raw-exports", "Prefix": "churn/2026-11-19/"},
        )
        stubs.sagemaker.add_response("list_artifacts", {"ArtifactSummaries": []}, {"SourceUri": CHAMPION})

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        out = capsys.readouterr().out
        # CreationTime of the package: the 19th at 10:00.
        assert f"  training data: {raw}, objects as of 2026-11-19T10:00:00+00:00\n" in out
        assert f"  pipeline execution: {EXECUTION_2}\n    training step: none in the execution\n" in out

    def test_a_card_whose_content_is_not_json_is_unreadable(
        self, stubs: Stubs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        expect_package(stubs, replace(CHAMPION_CASE, card="Owner: churn team"))

        assert lineage.main(["--model", "churn", "--package", CHAMPION]) == lineage.EXIT_OK
        assert "\n  model card: Approved, unreadable card content\n  feature group:" in capsys.readouterr().out


class TestBatchModel:
    def test_a_batch_model_s_champion_is_its_serving_stack_s_parameter(self, stubs: Stubs) -> None:
        clients = lineage.make_clients(REGION)  # monkeypatched: the stubbed clients
        stack = f"{PLATFORM}-scores-production"
        old = replace(CHAMPION_CASE, execution=None, decisions=[[]], metadata={}, artifact=None)
        expect_package(stubs, old)
        stubs.cloudformation.add_response(
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
