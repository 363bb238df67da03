"""The lineage tool's reads (tools/lineage_sources.py), one by one: object versions at a time, the
approval gate's decisions, SageMaker's lineage graph, the model card's content.

Stubber where the answer must be exact (pages, markers, times); moto where its answers check what the
tool assumes of the service (the version id of an unversioned object, a log group that does not exist,
a filter pattern moto does not apply: the tool must not depend on it alone).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from lambdas.common.contracts import APPROVAL_GATE_DETAIL_TYPE, ROLLBACK_SOURCE
from tests.tools.conftest import REGION, client
from tests.tools.lineage_account import (
    ARN,
    AUDIT_LOG,
    CHAMPION,
    CHAMPION_CASE,
    at,
    card_content,
    decision_event,
    marker,
    version,
)
from tools import lineage_sources
from tools.lineage_records import ExperimentRun, ModelCardSummary, ObjectVersion
from tools.lineage_sources import (
    MAX_LISTED_OBJECTS,
    ReadFailed,
    approval_decisions,
    ascendants,
    data_location,
    decision_of,
    experiment_run,
    model_card_summary,
    versions_at,
)

START = at(19, 9)


@pytest.fixture
def s3(aws: None) -> Iterator[Stubber]:
    with Stubber(client("s3")) as stub:
        yield stub
        stub.assert_no_pending_responses()


class TestObjectVersionsAtTheJobsStart:
    def test_each_key_s_version_is_the_latest_written_before_the_start(self) -> None:
        page = {
            "Versions": [
                version("a.csv", "a-3", at(20, 8), latest=True),  # after the start
                version("a.csv", "a-2", at(19, 8)),
                version("a.csv", "a-1", at(18, 8)),
            ]
        }

        assert versions_at([page], START) == ([ObjectVersion("a.csv", "a-2", "2026-11-19T08:00:00+00:00")], 0)

    def test_a_delete_marker_written_since_does_not_hide_what_the_job_read(self) -> None:
        page = {"Versions": [version("a.csv", "a-1", at(18, 8))], "DeleteMarkers": [marker("a.csv", "gone", at(25, 8))]}

        assert versions_at([page], START) == ([ObjectVersion("a.csv", "a-1", "2026-11-18T08:00:00+00:00")], 0)

    def test_an_object_deleted_before_the_start_was_not_there(self) -> None:
        page = {
            "Versions": [version("a.csv", "a-2", at(21, 8), latest=True), version("a.csv", "a-1", at(17, 8))],
            "DeleteMarkers": [{**marker("a.csv", "gone", at(18, 8)), "IsLatest": False}],
        }

        assert versions_at([page], START) == ([], 0)  # recreated since: not a later object either

    def test_of_a_version_and_a_delete_marker_written_in_the_same_second_the_latest_is_the_later(self) -> None:
        same_second = at(18, 8)
        deleted = {
            "Versions": [version("a.csv", "a-1", same_second)],
            "DeleteMarkers": [marker("a.csv", "m", same_second)],
        }
        rewritten = {
            "Versions": [version("a.csv", "a-2", same_second, latest=True)],
            "DeleteMarkers": [{**marker("a.csv", "m", same_second), "IsLatest": False}],
        }

        assert versions_at([deleted], START) == ([], 0)
        assert [v.version_id for v in versions_at([rewritten], START)[0]] == ["a-2"]

    def test_objects_written_only_after_the_start_are_counted(self) -> None:
        page = {"Versions": [version("a.csv", "a-1", at(18, 8)), version("b.csv", "b-1", at(20, 8), latest=True)]}

        current, later = versions_at([page], START)
        assert [v.key for v in current] == ["a.csv"]
        assert later == 1

    def test_an_unversioned_object_has_no_version_id(self) -> None:
        page = {"Versions": [version("a.csv", "null", at(18, 8), latest=True)]}

        assert versions_at([page], START)[0] == [ObjectVersion("a.csv", None, "2026-11-18T08:00:00+00:00")]

    def test_the_pages_are_followed_and_the_listing_is_capped(self, s3: Stubber) -> None:
        """ListObjectVersions pages by key and version markers; past MAX_LISTED_OBJECTS keys, a count."""
        keys = [f"train/part-{number:03}.csv" for number in range(MAX_LISTED_OBJECTS + 5)]
        params = {"Bucket": "mlops-churn-data", "Prefix": "train/"}
        first, second = keys[:15], keys[15:]
        s3.add_response(
            "list_object_versions",
            {
                "IsTruncated": True,
                "NextKeyMarker": first[-1],
                "NextVersionIdMarker": "v-14",
                "Versions": [version(key, f"v-{n}", at(18, 8)) for n, key in enumerate(first)],
            },
            params,
        )
        s3.add_response(
            "list_object_versions",
            {
                "IsTruncated": False,
                "Versions": [version(key, f"v-{n + 15}", at(18, 8)) for n, key in enumerate(second)],
                "DeleteMarkers": [marker(first[0], "gone", at(18, 9))],  # on a later page than its versions
            },
            params | {"KeyMarker": first[-1], "VersionIdMarker": "v-14"},
        )

        data = data_location(client("s3"), "s3://mlops-churn-data/train/", as_of=START)

        assert [v.key for v in data.objects] == keys[1 : MAX_LISTED_OBJECTS + 1]
        assert (data.more, data.later) == (len(keys) - 1 - MAX_LISTED_OBJECTS, 0)

    def test_a_denied_listing_names_the_call_and_the_location(self, s3: Stubber) -> None:
        s3.add_client_error(
            "list_object_versions",
            service_error_code="AccessDenied",
            service_message="Access Denied",
            http_status_code=403,
            expected_params={"Bucket": "mlops-churn-data", "Prefix": "train/19/"},
        )

        with pytest.raises(
            ReadFailed, match=r"^ListObjectVersions s3://mlops-churn-data/train/19/ failed: AccessDenied"
        ):
            data_location(client("s3"), "s3://mlops-churn-data/train/19/", as_of=START)

    def test_a_location_not_in_s3_is_not_listed(self) -> None:
        data = data_location(object(), "file:///fsx/train", as_of=START)  # no client call: object() has none

        assert (data.uri, data.as_of, data.objects) == ("file:///fsx/train", None, [])


class TestObjectVersionsAsS3AnswersThem:
    """moto: what S3 says of objects written before versioning was enabled, and of deleted ones."""

    def test_versioned_unversioned_and_deleted_objects(self, aws: None) -> None:
        s3 = client("s3")
        s3.create_bucket(Bucket="mlops-data", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket="mlops-data", Key="train/old.csv", Body=b"written before versioning")
        s3.put_bucket_versioning(Bucket="mlops-data", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="mlops-data", Key="train/new.csv", Body=b"1")
        s3.put_object(Bucket="mlops-data", Key="train/gone.csv", Body=b"2")
        s3.delete_object(Bucket="mlops-data", Key="train/gone.csv")
        after_all = datetime.now(UTC) + timedelta(minutes=1)

        data = data_location(s3, "s3://mlops-data/train/", as_of=after_all)

        assert [(v.key, v.version_id is None) for v in data.objects] == [
            ("train/new.csv", False),
            ("train/old.csv", True),
        ]
        assert (data.more, data.later) == (0, 0)


def approved(package_arn: str = CHAMPION, *, time: str = "2026-11-20T10:30:04Z", **detail: Any) -> dict[str, Any]:
    return decision_event(package_arn, decision="deploy_started", by="approver-alice", time=time, **detail)


class TestApprovalDecisions:
    PATTERN = f'{{ ($.source = "mlops.approval-gate") && ($.detail.model_package_arn = "{CHAMPION}") }}'

    @pytest.fixture
    def logs(self, aws: None) -> Iterator[Stubber]:
        with Stubber(client("logs")) as stub:
            yield stub
            stub.assert_no_pending_responses()

    def test_the_pages_are_followed_and_the_decisions_ordered_by_time(self, logs: Stubber) -> None:
        params = {"logGroupName": AUDIT_LOG, "filterPattern": self.PATTERN}
        logs.add_response(
            "filter_log_events", {"events": [approved(time="2026-11-22T00:00:00Z")], "nextToken": "2"}, params
        )
        logs.add_response("filter_log_events", {"events": [], "nextToken": "3"}, params | {"nextToken": "2"})
        logs.add_response(
            "filter_log_events", {"events": [approved(time="2026-11-20T00:00:00Z")]}, params | {"nextToken": "3"}
        )

        decisions = approval_decisions(client("logs"), AUDIT_LOG, CHAMPION)

        assert [d.time for d in decisions or []] == ["2026-11-20T00:00:00+00:00", "2026-11-22T00:00:00+00:00"]

    def test_a_denied_read_names_the_call_the_log_group_and_the_package(self, logs: Stubber) -> None:
        logs.add_client_error("filter_log_events", service_error_code="AccessDeniedException", service_message="no")

        with pytest.raises(ReadFailed) as raised:
            approval_decisions(client("logs"), AUDIT_LOG, CHAMPION)
        assert (
            str(raised.value)
            == f"FilterLogEvents {AUDIT_LOG} (decisions on {CHAMPION}) failed: AccessDeniedException: no"
        )

    def test_only_the_gate_s_decisions_on_this_package_count(self, aws: None) -> None:
        """moto returns every event whatever the filter pattern: what the tool keeps is its own check."""
        logs = client("logs")
        logs.create_log_group(logGroupName=AUDIT_LOG)
        logs.create_log_stream(logGroupName=AUDIT_LOG, logStreamName="stream")
        rollback = approved()
        rollback["message"] = rollback["message"].replace('"mlops.approval-gate"', json.dumps(ROLLBACK_SOURCE))
        events = [
            approved(),
            approved(f"{ARN}:model-package/churn/20"),  # its ARN starts with this package's
            rollback,
            {"timestamp": rollback["timestamp"], "message": "not JSON"},
            {"timestamp": rollback["timestamp"], "message": "[1, 2]"},
        ]
        logs.put_log_events(
            logGroupName=AUDIT_LOG,
            logStreamName="stream",
            logEvents=[{"timestamp": event["timestamp"], "message": event["message"]} for event in events],
        )

        decisions = approval_decisions(logs, AUDIT_LOG, CHAMPION)

        assert [(d.decision, d.changed_by, d.time) for d in decisions or []] == [
            ("deploy_started", "approver-alice", "2026-11-20T10:30:04+00:00")
        ]

    def test_a_log_group_that_does_not_exist_yet_has_no_decision_yet(self, aws: None) -> None:
        assert approval_decisions(client("logs"), AUDIT_LOG, CHAMPION) is None

    def test_an_event_without_its_time_is_dated_by_the_log(self) -> None:
        event = approved()
        message = json.loads(event["message"])
        del message["time"]

        decision = decision_of({**event, "message": json.dumps(message)}, CHAMPION)

        assert decision is not None
        assert decision.time == "2026-11-20T10:30:04+00:00"
        assert message["detail-type"] == APPROVAL_GATE_DETAIL_TYPE


class TestSageMakerLineage:
    @pytest.fixture
    def sagemaker(self, aws: None) -> Iterator[Stubber]:
        with Stubber(client("sagemaker")) as stub:
            yield stub
            stub.assert_no_pending_responses()

    def test_the_query_starts_from_the_package_s_artifact(self, sagemaker: Stubber) -> None:
        """QueryLineage refuses a model package ARN: the artifact whose source is the package is found
        first, across ListArtifacts' pages; entities are listed by kind (artifacts first)."""
        artifact = CHAMPION_CASE.artifact
        sagemaker.add_response("list_artifacts", {"ArtifactSummaries": [], "NextToken": "2"}, {"SourceUri": CHAMPION})
        sagemaker.add_response(
            "list_artifacts",
            {"ArtifactSummaries": [{"ArtifactArn": artifact, "Source": {"SourceUri": CHAMPION}}]},
            {"SourceUri": CHAMPION, "NextToken": "2"},
        )
        query = {"StartArns": [artifact], "Direction": "Ascendants", "IncludeEdges": False, "MaxDepth": 10}
        job = {
            "Arn": f"{ARN}:experiment-trial-component/train-job",
            "Type": "SageMakerTrainingJob",
            "LineageType": "TrialComponent",
        }
        data = {"Arn": f"{ARN}:artifact/data", "Type": "DataSet", "LineageType": "Artifact"}
        sagemaker.add_response("query_lineage", {"Vertices": [job], "NextToken": "2"}, query)
        sagemaker.add_response("query_lineage", {"Vertices": [data]}, query | {"NextToken": "2"})

        entities = ascendants(client("sagemaker"), CHAMPION)

        assert [(e.type, e.arn) for e in entities or []] == [
            ("DataSet", data["Arn"]),
            ("SageMakerTrainingJob", job["Arn"]),
        ]

    def test_a_package_without_a_lineage_artifact_has_none(self, sagemaker: Stubber) -> None:
        sagemaker.add_response("list_artifacts", {"ArtifactSummaries": []}, {"SourceUri": CHAMPION})

        assert ascendants(client("sagemaker"), CHAMPION) is None


class TestModelCard:
    def test_a_card_written_by_the_seed_is_summarized(self) -> None:
        summary = model_card_summary(
            {"ModelCardStatus": "Approved", "ModelCardContent": card_content(bias_assessed=True)}
        )

        assert summary == ModelCardSummary(
            status="Approved",
            owner="Churn team <churn@acme.example>",
            risk_rating="Medium",
            intended_uses="Rank customers by churn risk for retention offers; not for pricing or credit.",
            evaluations=["Test split metrics", "Post-training bias"],
            bias_assessed=True,
        )

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            (None, ModelCardSummary("Draft")),  # a card with a status only
            ("{}", ModelCardSummary("Draft")),
            ("not JSON", ModelCardSummary("Draft", readable=False)),
            ('["a list"]', ModelCardSummary("Draft", readable=False)),
            (
                json.dumps({"model_overview": "churn team", "intended_uses": {"risk_rating": " ", "intended_uses": 3}}),
                ModelCardSummary("Draft"),
            ),
            (json.dumps({"evaluation_details": {"name": "Bias"}}), ModelCardSummary("Draft")),
            (
                json.dumps(
                    {"evaluation_details": ["Bias", {"metric_groups": [{}]}, {"name": "Bias", "metric_groups": []}]}
                ),
                ModelCardSummary("Draft", evaluations=["Bias"], bias_assessed=False),
            ),
        ],
        ids=["no content", "empty", "not JSON", "not an object", "wrong types", "details not a list", "odd entries"],
    )
    def test_missing_or_malformed_content_is_not_stated(self, content: str | None, expected: ModelCardSummary) -> None:
        card = {"ModelCardStatus": "Draft"} | ({"ModelCardContent": content} if content is not None else {})

        assert model_card_summary(card) == expected

    def test_a_package_without_a_card_has_no_summary(self) -> None:
        assert model_card_summary(None) is None


@pytest.mark.parametrize(("recorded", "read"), [("churn-features", "churn-features"), ("none", None), (None, None)])
def test_the_seeds_none_sentinel_reads_as_not_recorded(recorded: str | None, read: str | None) -> None:
    """A build without a feature group records "none" (CreateModelPackage takes no empty value)."""
    assert lineage_sources.feature_store_value(recorded) == read


SERVER = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-mlflow"


@pytest.mark.parametrize(
    ("metadata", "run"),
    [
        ({"mlflow_run_id": "8c1d", "mlflow_tracking_server_arn": SERVER}, ExperimentRun("8c1d", SERVER)),
        ({"mlflow_run_id": "8c1d"}, ExperimentRun("8c1d", None)),
        ({"mlflow_tracking_server_arn": SERVER}, None),
        ({"mlflow_run_id": ""}, None),
        ({}, None),
    ],
)
def test_the_package_names_its_mlflow_run_by_the_contract_keys(
    metadata: dict[str, str], run: ExperimentRun | None
) -> None:
    """A package built without experiment tracking has neither key: no run, not an error."""
    assert experiment_run(metadata) == run
