"""Point-in-time training sets: the pandas join, the Athena SQL (run here by SQLite) and its runner."""

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from workflow import training_set
from workflow.config import MODEL_SETTINGS_VARIABLE, ModelConfig
from workflow.feature_group import FeatureGroupError, GlueTable
from workflow.feature_history import generate_feature_history
from workflow.schema import FEATURE_COLUMNS, JOINED_TRAINING_SET
from workflow.training_lineage import TrainingSetManifest
from workflow.training_set import (
    TRAINING_SET_TABLE,
    AthenaSettings,
    QueryResult,
    TrainingSetError,
    build_training_set_in_athena,
    point_in_time_join,
    point_in_time_query,
    to_training_table,
)
from workflow.validation import validate_table

from .conftest import (
    BUCKET,
    FEATURE_GROUP,
    OFFLINE_STORE_DATABASE,
    OFFLINE_STORE_TABLE,
    REGION,
    FakeClock,
    feature_group_description,
    multiclass_config,
    stubbed,
    write_model_config,
)

LABELS_TABLE = GlueTable("churn_labels", "labels")
OFFLINE_TABLE = GlueTable(OFFLINE_STORE_DATABASE, OFFLINE_STORE_TABLE)
QUERY_ID = "c1a2b3d4-0000-4000-8000-00000000abcd"
OUTPUT_PREFIX = f"s3://{BUCKET}/churn/data/training-sets/test/"
# Athena's result, where the workgroup puts it (the platform's enforces its own location).
RESULT_URI = f"s3://mlops-features-test/athena-results/{QUERY_ID}.csv"
TRAINING_SET_URI = f"{OUTPUT_PREFIX}{QUERY_ID}/training_set.csv"

BASE_FEATURES = {
    "tenure_months": 1,
    "monthly_charges": 70.5,
    "total_charges": 70.5,
    "support_calls_90d": 0,
    "late_payments_12m": 0,
    "senior_citizen": 0,
    "paperless_billing": 1,
    "contract_type": "month-to-month",
    "payment_method": "electronic-check",
    "internet_service": "fiber-optic",
}


def features(*rows: tuple[str, float, int]) -> pd.DataFrame:
    """Feature records (customer, event time, tenure), in the order they were written."""
    return pd.DataFrame(
        [
            {"customer_id": customer, "event_time": event_time, **BASE_FEATURES, "tenure_months": tenure}
            for customer, event_time, tenure in rows
        ]
    )


def labels(*rows: tuple[str, float, int]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "label_time", "churned"])


HISTORY = features(
    ("C000001", 100.0, 1),
    ("C000001", 200.0, 2),
    ("C000001", 300.0, 3),  # recorded after the first label: it must never reach it
    ("C000002", 500.0, 9),
)
LABELS = labels(
    ("C000001", 250.0, 1),
    ("C000001", 200.0, 0),  # at the very time of a record: that record counts
    ("C000001", 50.0, 0),  # before any record of the customer: left out
    ("C000002", 400.0, 1),  # before any record of the customer: left out
    ("C000002", 600.0, 0),
)


class TestPointInTimeJoin:
    def test_each_label_gets_the_latest_record_at_or_before_its_time(self) -> None:
        joined = point_in_time_join(LABELS, HISTORY)

        as_of = joined.loc[:, ["customer_id", "label_time", "event_time", "tenure_months", "churned"]]
        assert list(as_of.itertuples(index=False, name=None)) == [
            ("C000001", 250.0, 200.0, 2, 1),
            ("C000001", 200.0, 200.0, 2, 0),
            ("C000002", 600.0, 500.0, 9, 0),
        ]

    def test_a_value_recorded_after_the_label_never_appears(self) -> None:
        joined = point_in_time_join(LABELS, HISTORY)

        assert 3 not in set(joined["tenure_months"])
        assert (joined["event_time"] <= joined["label_time"]).all()

    def test_of_two_records_at_the_same_time_the_one_written_last_wins(self) -> None:
        rewritten = features(("C000001", 100.0, 1), ("C000001", 100.0, 5), ("C000001", 90.0, 7))

        joined = point_in_time_join(labels(("C000001", 150.0, 0)), rewritten)

        assert joined["tenure_months"].tolist() == [5]

    def test_feature_types_survive_labels_without_features(self) -> None:
        joined = point_in_time_join(LABELS, HISTORY)

        assert joined.dtypes.to_dict() == {
            **LABELS.dtypes.to_dict(),
            **HISTORY.drop(columns="customer_id").dtypes.to_dict(),
        }

    def test_integer_epoch_seconds_join_like_fractional_ones(self) -> None:
        joined = point_in_time_join(
            LABELS.astype({"label_time": "int64"}), HISTORY.astype({"event_time": "int64"})
        )

        assert joined["tenure_months"].tolist() == [2, 2, 9]

    def test_a_column_on_both_sides_other_than_the_customer_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"both have the columns \['tenure_months'\]"):
            point_in_time_join(LABELS.assign(tenure_months=0), HISTORY)

    def test_the_synthetic_history_gives_a_training_table_that_meets_the_contract(self) -> None:
        history = generate_feature_history(n_customers=300, seed=5)

        table = to_training_table(point_in_time_join(history.labels, history.records))

        assert list(table.columns) == list(TRAINING_SET_TABLE.columns)
        assert len(table) == 300  # every synthetic label follows a snapshot
        report = validate_table(table, TRAINING_SET_TABLE)
        assert report.is_valid, report.render()


def brute_force_join(labels: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The definition, row by row: the last written of the latest records at or before label_time."""
    rows = []
    for label in labels.to_dict(orient="records"):
        candidates = [
            record
            for record in features.to_dict(orient="records")
            if record["customer_id"] == label["customer_id"] and record["event_time"] <= label["label_time"]
        ]
        if candidates:
            latest_time = max(record["event_time"] for record in candidates)
            latest = [record for record in candidates if record["event_time"] == latest_time][-1]
            rows.append(label | latest)
    return pd.DataFrame(rows, columns=["customer_id", "label_time", "churned", "event_time", "tenure_months"])


customer_ids = st.sampled_from(["C000001", "C000002", "C000003"])
# Few distinct times, so that ties between records, and between records and labels, are common.
epoch_seconds = st.integers(min_value=0, max_value=12).map(float)
feature_rows = st.lists(st.tuples(customer_ids, epoch_seconds, st.integers(0, 72)), max_size=15)
label_rows = st.lists(
    st.tuples(customer_ids, epoch_seconds, st.integers(0, 1)), max_size=8, unique_by=lambda row: row[:2]
)


def as_frames(
    label_values: list[tuple[str, float, int]], feature_values: list[tuple[str, float, int]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    label_frame = pd.DataFrame(label_values, columns=["customer_id", "label_time", "churned"])
    feature_frame = pd.DataFrame(feature_values, columns=["customer_id", "event_time", "tenure_months"])
    return (
        label_frame.astype({"customer_id": object, "label_time": "float64", "churned": "int64"}),
        feature_frame.astype({"customer_id": object, "event_time": "float64", "tenure_months": "int64"}),
    )


@given(label_values=label_rows, feature_values=feature_rows)
def test_the_pandas_join_matches_the_definition(
    label_values: list[tuple[str, float, int]], feature_values: list[tuple[str, float, int]]
) -> None:
    label_frame, feature_frame = as_frames(label_values, feature_values)

    expected = brute_force_join(label_frame, feature_frame).astype(
        {"label_time": "float64", "churned": "int64", "event_time": "float64", "tenure_months": "int64"}
    )
    assert_frame_equal(point_in_time_join(label_frame, feature_frame), expected)


# The Athena query, run by SQLite: same standard SQL (window functions, quoted identifiers,
# database.table names), so its point-in-time semantics are tested on real rows.


def create_table(connection: sqlite3.Connection, table: GlueTable, frame: pd.DataFrame) -> None:
    columns = ", ".join(f'"{column}"' for column in frame.columns)
    connection.execute(f"CREATE TABLE {table.sql()} ({columns})")
    placeholders = ", ".join("?" for _ in frame.columns)
    rows = [tuple(row.values()) for row in frame.to_dict(orient="records")]
    connection.executemany(f"INSERT INTO {table.sql()} VALUES ({placeholders})", rows)


def offline_store(records: pd.DataFrame) -> pd.DataFrame:
    """The records as the offline store holds them: written in row order, none deleted."""
    written = [f"2024-06-01 00:00:{second:02d}.000" for second in range(len(records))]
    return records.assign(api_invocation_time=written, write_time=written, is_deleted=False)


def run_query(
    labels: pd.DataFrame, offline_rows: pd.DataFrame, feature_columns: tuple[str, ...]
) -> pd.DataFrame:
    query = point_in_time_query(
        labels_table=LABELS_TABLE, features_table=OFFLINE_TABLE, feature_columns=feature_columns
    )
    connection = sqlite3.connect(":memory:")
    for table in (LABELS_TABLE, OFFLINE_TABLE):
        connection.execute(f"ATTACH DATABASE ':memory:' AS \"{table.database}\"")
    create_table(connection, LABELS_TABLE, labels)
    create_table(connection, OFFLINE_TABLE, offline_rows)
    return pd.read_sql_query(query, connection)


def in_a_stable_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), ignore_index=True)


@given(label_values=label_rows, feature_values=feature_rows)
def test_the_athena_query_matches_the_definition(
    label_values: list[tuple[str, float, int]], feature_values: list[tuple[str, float, int]]
) -> None:
    label_frame, feature_frame = as_frames(label_values, feature_values)

    result = run_query(label_frame, offline_store(feature_frame), ("tenure_months",))

    expected = brute_force_join(label_frame, feature_frame).loc[
        :, ["customer_id", "tenure_months", "churned", "event_time"]
    ]
    assert_frame_equal(in_a_stable_order(result), in_a_stable_order(expected), check_dtype=False)


class TestAthenaQuery:
    def test_it_returns_the_training_table_the_pandas_join_does_with_each_records_event_time(self) -> None:
        result = run_query(LABELS, offline_store(HISTORY), FEATURE_COLUMNS)

        expected = point_in_time_join(LABELS, HISTORY).loc[:, list(JOINED_TRAINING_SET.columns)]
        assert list(result.columns) == [*TRAINING_SET_TABLE.columns, "event_time"]
        assert_frame_equal(in_a_stable_order(result), in_a_stable_order(expected), check_dtype=False)
        assert_frame_equal(
            in_a_stable_order(to_training_table(result)),
            in_a_stable_order(to_training_table(point_in_time_join(LABELS, HISTORY))),
            check_dtype=False,
        )

    def test_the_latest_write_wins_among_records_with_the_same_event_time(self) -> None:
        rows = offline_store(features(("C000001", 100.0, 5), ("C000001", 100.0, 1)))
        rows["api_invocation_time"] = ["2024-06-01 00:00:09.000", "2024-06-01 00:00:01.000"]

        result = run_query(labels(("C000001", 150.0, 0)), rows, ("tenure_months",))

        assert result["tenure_months"].tolist() == [5]

    def test_a_record_replicated_twice_gives_one_row(self) -> None:
        rows = offline_store(features(("C000001", 100.0, 5)))

        result = run_query(labels(("C000001", 150.0, 0)), pd.concat([rows, rows]), ("tenure_months",))

        assert result["tenure_months"].tolist() == [5]

    def test_a_record_deleted_before_the_label_time_hides_its_older_versions(self) -> None:
        history = offline_store(features(("C000001", 100.0, 1), ("C000001", 150.0, 1), ("C000001", 180.0, 3)))
        # DeleteRecord at 150 appends a marker with null features; the customer came back at 180.
        history.loc[1, ["tenure_months", "is_deleted"]] = [None, True]

        result = run_query(
            labels(("C000001", 120.0, 0), ("C000001", 160.0, 0), ("C000001", 200.0, 1)),
            history,
            ("tenure_months",),
        )

        assert result.loc[:, ["tenure_months", "churned"]].to_dict(orient="records") == [
            {"tenure_months": 1, "churned": 0},
            {"tenure_months": 3, "churned": 1},
        ]

    def test_names_are_quoted_so_any_table_name_is_safe(self) -> None:
        query = point_in_time_query(
            labels_table=GlueTable("labels db", 'we"ird'), features_table=OFFLINE_TABLE
        )

        assert 'FROM "labels db"."we""ird" AS labels' in query
        assert f'JOIN "{OFFLINE_STORE_DATABASE}"."{OFFLINE_STORE_TABLE}" AS features' in query

    @pytest.mark.parametrize("name", ["labels", ".labels", "churn_labels."])
    def test_a_labels_table_without_its_database_is_refused(self, name: str) -> None:
        with pytest.raises(ValueError, match=r"expected database\.table"):
            GlueTable.parse(name)


@pytest.fixture
def athena() -> Iterator[tuple[Any, Stubber]]:
    yield from stubbed("athena")


SETTINGS = AthenaSettings(
    workgroup="mlops-training",
    output_location=OUTPUT_PREFIX,
    kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    timeout_seconds=60,
    poll_seconds=5,
)


def expect_description(stubber: Stubber, **changes: Any) -> None:
    stubber.add_response(
        "describe_feature_group", feature_group_description(**changes), {"FeatureGroupName": FEATURE_GROUP}
    )


def expect_start(stubber: Stubber, settings: AthenaSettings = SETTINGS) -> None:
    result_configuration: dict[str, Any] = {"OutputLocation": settings.output_location}
    if settings.kms_key_arn:
        result_configuration["EncryptionConfiguration"] = {
            "EncryptionOption": "SSE_KMS",
            "KmsKey": settings.kms_key_arn,
        }
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": QUERY_ID},
        {
            "QueryString": point_in_time_query(labels_table=LABELS_TABLE, features_table=OFFLINE_TABLE),
            "QueryExecutionContext": {"Catalog": "AwsDataCatalog"},
            "WorkGroup": settings.workgroup,
            "ResultConfiguration": result_configuration,
        },
    )


def expect_states(stubber: Stubber, *states: str, **status: Any) -> None:
    for state in states:
        stubber.add_response(
            "get_query_execution",
            {
                "QueryExecution": {
                    "QueryExecutionId": QUERY_ID,
                    "Status": {"State": state, **status},
                    "ResultConfiguration": {"OutputLocation": RESULT_URI},
                }
            },
            {"QueryExecutionId": QUERY_ID},
        )


def build(athena: Any, sagemaker: Any, clock: FakeClock, settings: AthenaSettings = SETTINGS) -> QueryResult:
    return build_training_set_in_athena(
        athena,
        sagemaker,
        feature_group_name=FEATURE_GROUP,
        labels_table=LABELS_TABLE,
        settings=settings,
        sleep=clock.sleep,
        clock=clock,
    )


class TestAthenaRunner:
    def test_the_query_runs_on_the_offline_store_table_until_it_succeeds(
        self, athena: tuple[Any, Stubber], sagemaker: tuple[Any, Stubber], clock: FakeClock
    ) -> None:
        expect_description(sagemaker[1])
        expect_start(athena[1])
        expect_states(athena[1], "QUEUED", "RUNNING", "SUCCEEDED")

        assert build(athena[0], sagemaker[0], clock) == QueryResult(QUERY_ID, RESULT_URI)
        assert clock.sleeps == [5, 5]

    def test_without_a_key_the_result_is_encrypted_as_the_workgroup_says(
        self, athena: tuple[Any, Stubber], sagemaker: tuple[Any, Stubber], clock: FakeClock
    ) -> None:
        settings = AthenaSettings(workgroup="primary", output_location=OUTPUT_PREFIX)
        expect_description(sagemaker[1])
        expect_start(athena[1], settings)
        expect_states(athena[1], "SUCCEEDED")

        assert build(athena[0], sagemaker[0], clock, settings).uri == RESULT_URI

    def test_a_failed_query_raises_with_athenas_reason(
        self, athena: tuple[Any, Stubber], sagemaker: tuple[Any, Stubber], clock: FakeClock
    ) -> None:
        expect_description(sagemaker[1])
        expect_start(athena[1])
        expect_states(
            athena[1],
            "FAILED",
            AthenaError={"ErrorCategory": 2, "ErrorMessage": "TABLE_NOT_FOUND: churn_labels.labels"},
        )

        reason = "TABLE_NOT_FOUND: churn_labels.labels"
        with pytest.raises(TrainingSetError, match=f"{QUERY_ID} FAILED: {reason}"):
            build(athena[0], sagemaker[0], clock)

    def test_a_query_past_the_deadline_is_stopped(
        self, athena: tuple[Any, Stubber], sagemaker: tuple[Any, Stubber], clock: FakeClock
    ) -> None:
        settings = AthenaSettings(workgroup="primary", output_location=OUTPUT_PREFIX, timeout_seconds=10)
        expect_description(sagemaker[1])
        expect_start(athena[1], settings)
        expect_states(athena[1], "RUNNING", "RUNNING", "RUNNING")
        athena[1].add_response("stop_query_execution", {}, {"QueryExecutionId": QUERY_ID})

        with pytest.raises(TrainingSetError, match="still RUNNING after 10 s: stopped"):
            build(athena[0], sagemaker[0], clock, settings)
        assert clock.now == 10

    def test_a_feature_group_without_an_offline_store_starts_no_query(
        self, athena: tuple[Any, Stubber], sagemaker: tuple[Any, Stubber], clock: FakeClock
    ) -> None:
        description = feature_group_description()
        del description["OfflineStoreConfig"]
        sagemaker[1].add_response("describe_feature_group", description, {"FeatureGroupName": FEATURE_GROUP})

        with pytest.raises(TrainingSetError, match="has no offline store"):
            build(athena[0], sagemaker[0], clock)

    def test_a_feature_group_unlike_the_contract_starts_no_query(
        self, athena: tuple[Any, Stubber], sagemaker: tuple[Any, Stubber], clock: FakeClock
    ) -> None:
        expect_description(sagemaker[1], RecordIdentifierFeatureName="account_id")

        expected = "record identifier is 'account_id', expected 'customer_id'"
        with pytest.raises(FeatureGroupError, match=expected):
            build(athena[0], sagemaker[0], clock)


ATHENA_RESULT_HEADER = ",".join(f'"{column}"' for column in JOINED_TRAINING_SET.columns)


def athena_csv(rows: list[str]) -> bytes:
    """A result file as Athena writes it: every value quoted."""
    lines = [ATHENA_RESULT_HEADER] + [",".join(f'"{value}"' for value in row.split(",")) for row in rows]
    return ("\n".join(lines) + "\n").encode()


# The customer table's rows, then the event time of the feature record each was joined with:
# 2026-10-01T00:00:00.25Z and 2026-10-31T23:59:59Z.
GOOD_TABLE = [
    "C000001,12,70.5,846.0,2,0,0,1,month-to-month,electronic-check,fiber-optic,1",
    "C000002,40,20.0,800.0,0,0,1,0,two-year,credit-card,none,0",
]
GOOD_RESULT = [f"{GOOD_TABLE[0]},1790812800.25", f"{GOOD_TABLE[1]},1793491199"]


def put_athena_result(rows: list[str]) -> Any:
    """Athena's result file, where the workgroup writes it; the S3 client that reads it."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket, key = RESULT_URI.removeprefix("s3://").split("/", 1)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key=key, Body=athena_csv(rows))
    return s3


def training_set_objects(s3: Any) -> list[str]:
    prefix = OUTPUT_PREFIX.removeprefix(f"s3://{BUCKET}/")
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


@pytest.fixture
def athena_args(example_repository: Path, tmp_path: Path) -> Any:
    return training_set.parse_args(
        [
            "athena",
            "--labels-table", "churn_labels.labels",
            "--output-location", OUTPUT_PREFIX,
            "--kms-key-arn", str(SETTINGS.kms_key_arn),
            "--manifest", str(tmp_path / "training_set.json"),
        ]
    )  # fmt: skip


def run_athena_command(
    args: Any, athena: tuple[Any, Stubber], sagemaker: tuple[Any, Stubber], s3: Any
) -> int:
    settings = training_set.athena_settings(args)
    expect_description(sagemaker[1])
    expect_start(athena[1], settings)
    expect_states(athena[1], "SUCCEEDED")
    return training_set.run_athena(args, athena[0], sagemaker[0], s3, settings)


@pytest.mark.usefixtures("example_repository")
class TestAthenaCommand:
    def test_a_valid_result_is_written_as_the_training_table_with_its_manifest(
        self,
        fake_aws: None,
        athena: tuple[Any, Stubber],
        sagemaker: tuple[Any, Stubber],
        athena_args: Any,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        s3 = put_athena_result(GOOD_RESULT)

        exit_code = run_athena_command(athena_args, athena, sagemaker, s3)

        assert exit_code == 0
        assert f"{RESULT_URI}: OK (2 rows match the point-in-time join" in capsys.readouterr().out
        # The customer table of the contract, without the event times, in the model's folder.
        written = s3.get_object(Bucket=BUCKET, Key=TRAINING_SET_URI.removeprefix(f"s3://{BUCKET}/"))
        assert (written["ServerSideEncryption"], written["SSEKMSKeyId"]) == ("aws:kms", SETTINGS.kms_key_arn)
        table = pd.read_csv(io.BytesIO(written["Body"].read()))
        assert validate_table(table, TRAINING_SET_TABLE).is_valid
        assert table.astype(str).apply(",".join, axis=1).tolist() == GOOD_TABLE
        # What the package records: the earliest record's second, and the second after the latest.
        assert json.loads(athena_args.manifest.read_text()) == {
            "training_data_s3_uri": TRAINING_SET_URI,
            "feature_group_name": FEATURE_GROUP,
            "event_time_from": "2026-10-01T00:00:00Z",
            "event_time_to": "2026-11-01T00:00:00Z",
        }

    def test_the_manifest_names_the_feature_group_the_query_read(
        self,
        fake_aws: None,
        athena: tuple[Any, Stubber],
        sagemaker: tuple[Any, Stubber],
        tmp_path: Path,
    ) -> None:
        s3 = put_athena_result([GOOD_RESULT[0], GOOD_TABLE[1] + ",1790812800.75"])
        other_group = "churn-features-v2"
        args = training_set.parse_args(
            [
                "athena",
                "--labels-table", "churn_labels.labels",
                "--feature-group", other_group,
                "--output-location", OUTPUT_PREFIX,
                "--manifest", str(tmp_path / "training_set.json"),
            ]
        )  # fmt: skip
        settings = training_set.athena_settings(args)
        sagemaker[1].add_response(
            "describe_feature_group",
            feature_group_description(FeatureGroupName=other_group),
            {"FeatureGroupName": other_group},
        )
        expect_start(athena[1], settings)
        expect_states(athena[1], "SUCCEEDED")

        assert training_set.run_athena(args, athena[0], sagemaker[0], s3, settings) == 0

        manifest = TrainingSetManifest.read(args.manifest)
        # Both records within one second: a one-second range.
        assert manifest.feature_store_source() == {
            "feature_group_name": other_group,
            "event_time_from": "2026-10-01T00:00:00Z",
            "event_time_to": "2026-10-01T00:00:01Z",
        }

    @pytest.mark.parametrize(
        ("rows", "expected_error"),
        [
            # Two labels of one customer: the training table has one row per customer.
            (
                [GOOD_RESULT[0], GOOD_TABLE[0].removesuffix("1") + "0,1790812800"],
                "customer_id: duplicate values: 2 failing",
            ),
            # A row without its record's event time: the range could not be told.
            ([GOOD_RESULT[0], GOOD_TABLE[1] + ","], "event_time: null values: 1 failing"),
            ([GOOD_RESULT[0], GOOD_TABLE[1] + ",-1"], "event_time: greater_than_or_equal_to(0)"),
        ],
        ids=["duplicate-customer", "missing-event-time", "negative-event-time"],
    )
    def test_a_result_that_breaks_the_contract_is_not_handed_on(
        self,
        fake_aws: None,
        athena: tuple[Any, Stubber],
        sagemaker: tuple[Any, Stubber],
        athena_args: Any,
        capsys: pytest.CaptureFixture[str],
        rows: list[str],
        expected_error: str,
    ) -> None:
        s3 = put_athena_result(rows)

        exit_code = run_athena_command(athena_args, athena, sagemaker, s3)

        assert exit_code == 1
        assert not athena_args.manifest.exists()
        assert training_set_objects(s3) == []
        assert expected_error in capsys.readouterr().out

    def test_in_codebuild_the_result_goes_under_the_commits_training_sets_folder(
        self, monkeypatch: pytest.MonkeyPatch, build_env: Any
    ) -> None:
        monkeypatch.setenv("SAGEMAKER_PIPELINE_ROLE_ARN", build_env.pipeline_role_arn)
        monkeypatch.setenv("ARTIFACT_BUCKET", build_env.artifact_bucket)
        monkeypatch.setenv("KMS_KEY_ARN", build_env.kms_key_arn)
        monkeypatch.setenv("AWS_REGION", build_env.region)
        monkeypatch.setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", build_env.source_commit)
        monkeypatch.setenv("ATHENA_WORKGROUP", "mlops-training")

        settings = training_set.athena_settings(
            training_set.parse_args(["athena", "--labels-table", "churn_labels.labels"])
        )

        assert settings == AthenaSettings(
            workgroup="mlops-training",
            output_location=f"s3://{BUCKET}/churn/data/training-sets/{build_env.source_commit}/",
            kms_key_arn=build_env.kms_key_arn,
        )

    def test_the_workgroup_defaults_to_athenas_primary(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("ATHENA_WORKGROUP", raising=False)
        monkeypatch.delenv("KMS_KEY_ARN", raising=False)

        settings = training_set.athena_settings(
            training_set.parse_args(
                ["athena", "--labels-table", "churn_labels.labels", "--output-location", OUTPUT_PREFIX]
            )
        )

        assert (settings.workgroup, settings.kms_key_arn) == ("primary", None)


@pytest.fixture
def local_paths(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.csv" for name in ("labels", "records", "output")}
    HISTORY.to_csv(paths["records"], index=False)
    return paths


def run_local(paths: dict[str, Path]) -> int:
    return training_set.main(["local", *(f"--{option}={path}" for option, path in paths.items())])


@pytest.mark.usefixtures("example_repository")
class TestLocalCommand:
    def test_it_writes_the_training_table_the_pipeline_trains_on(
        self, local_paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        labels(("C000001", 250.0, 1), ("C000002", 600.0, 0), ("C000003", 100.0, 0)).to_csv(
            local_paths["labels"], index=False
        )

        assert run_local(local_paths) == 0
        assert pd.read_csv(local_paths["output"]).to_dict(orient="records") == [
            {"customer_id": "C000001", **BASE_FEATURES, "tenure_months": 2, "churned": 1},
            {"customer_id": "C000002", **BASE_FEATURES, "tenure_months": 9, "churned": 0},
        ]
        assert "1 labels had no earlier features" in capsys.readouterr().out

    def test_inputs_that_break_their_contract_are_not_joined(
        self, local_paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        labels(("C000001", 250.0, 1), ("C000002", float("nan"), 0)).to_csv(local_paths["labels"], index=False)

        assert run_local(local_paths) == 1
        assert not local_paths["output"].exists()
        assert "label_time: null values: 1 failing at rows 1" in capsys.readouterr().out

    def test_several_labels_of_one_customer_do_not_make_a_training_table(
        self, local_paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        LABELS.to_csv(local_paths["labels"], index=False)

        assert run_local(local_paths) == 1
        assert not local_paths["output"].exists()
        assert "customer_id: duplicate values: 2 failing" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    [
        ["local", "--labels", "labels.csv", "--records", "records.csv", "--output", "out.csv"],
        ["athena", "--labels-table", "churn_labels.labels", "--output-location", OUTPUT_PREFIX],
    ],
    ids=["local", "athena"],
)
def test_a_multiclass_model_is_told_that_training_sets_are_binary(
    tmp_path: Path, config: Any, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    multiclass = write_model_config(tmp_path, multiclass_config(config))

    with pytest.raises(SystemExit) as exit_info:
        training_set.main([*command, "--config", str(multiclass)])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "sets problem_type multiclass_classification, but the label table holds binary labels" in error
    assert "point-in-time training sets only feed binary_classification models" in error


def test_in_the_build_the_settings_come_from_the_build_project(
    config: ModelConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = multiclass_config(config).model_dump_json(by_alias=True)
    monkeypatch.setenv(MODEL_SETTINGS_VARIABLE, settings)

    with pytest.raises(SystemExit):
        training_set.main(
            ["athena", "--labels-table", "churn_labels.labels", "--output-location", OUTPUT_PREFIX]
        )

    assert "$MODEL_SETTINGS sets problem_type multiclass_classification" in capsys.readouterr().err
