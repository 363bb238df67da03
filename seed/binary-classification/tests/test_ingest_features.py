"""Ingestion into the feature group, with Stubber'd clients: moto does not model the Feature Store runtime."""

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from botocore.stub import Stubber

from workflow import ingest_features
from workflow.config import ModelConfig
from workflow.feature_history import generate_feature_history
from workflow.ingest_features import RetryPolicy, ingest_records, run

from .conftest import (
    FEATURE_GROUP,
    PLATFORM_FEATURE_DEFINITIONS,
    REGION,
    feature_group_description,
    stubbed,
    write_model_config,
)

FIRST_RECORD = {
    "customer_id": "C000001",
    "event_time": 1704067200.5,
    "tenure_months": 12,
    "monthly_charges": 70.5,
    "total_charges": 846.0,
    "support_calls_90d": 2,
    "late_payments_12m": 0,
    "senior_citizen": 0,
    "paperless_billing": 1,
    "contract_type": "month-to-month",
    "payment_method": "electronic-check",
    "internet_service": "fiber-optic",
}
# What PutRecord must receive for FIRST_RECORD: strings, integers without a decimal point.
FIRST_RECORD_VALUES = [
    {"FeatureName": "customer_id", "ValueAsString": "C000001"},
    {"FeatureName": "event_time", "ValueAsString": "1704067200.5"},
    {"FeatureName": "tenure_months", "ValueAsString": "12"},
    {"FeatureName": "monthly_charges", "ValueAsString": "70.5"},
    {"FeatureName": "total_charges", "ValueAsString": "846.0"},
    {"FeatureName": "support_calls_90d", "ValueAsString": "2"},
    {"FeatureName": "late_payments_12m", "ValueAsString": "0"},
    {"FeatureName": "senior_citizen", "ValueAsString": "0"},
    {"FeatureName": "paperless_billing", "ValueAsString": "1"},
    {"FeatureName": "contract_type", "ValueAsString": "month-to-month"},
    {"FeatureName": "payment_method", "ValueAsString": "electronic-check"},
    {"FeatureName": "internet_service", "ValueAsString": "fiber-optic"},
]
SECOND_RECORD = FIRST_RECORD | {"event_time": 1706745600.0, "tenure_months": 13, "total_charges": 916.5}


class RecordedSleeps(list[float]):
    """A RetryPolicy sleep that only records, with jitter off so the delays are exact."""

    def policy(self, max_attempts: int = 5) -> RetryPolicy:
        return RetryPolicy(max_attempts=max_attempts, sleep=self.append, jitter=lambda ceiling: ceiling)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def records() -> pd.DataFrame:
    return pd.DataFrame([FIRST_RECORD, SECOND_RECORD])


@pytest.fixture
def featurestore() -> Iterator[tuple[Any, Stubber]]:
    yield from stubbed("sagemaker-featurestore-runtime")


def expect_description(stubber: Stubber, **changes: Any) -> None:
    stubber.add_response(
        "describe_feature_group", feature_group_description(**changes), {"FeatureGroupName": FEATURE_GROUP}
    )


def expect_put(stubber: Stubber, record: list[dict[str, str]] | None = None) -> None:
    expected = None if record is None else {"FeatureGroupName": FEATURE_GROUP, "Record": record}
    stubber.add_response("put_record", {}, expected)


def expect_put_error(stubber: Stubber, code: str, status: int, message: str = "") -> None:
    stubber.add_client_error(
        "put_record", service_error_code=code, service_message=message, http_status_code=status
    )


def test_every_record_is_put_with_its_values_as_strings(
    sagemaker: tuple[Any, Stubber], featurestore: tuple[Any, Stubber], records: pd.DataFrame
) -> None:
    expect_description(sagemaker[1])
    expect_put(featurestore[1], FIRST_RECORD_VALUES)
    expect_put(featurestore[1])

    summary = ingest_records(sagemaker[0], featurestore[0], FEATURE_GROUP, records, concurrency=1)

    assert (summary.ingested, summary.failed) == (2, 0)
    assert summary.render().startswith(f"{FEATURE_GROUP}: 2 records ingested, 0 failed, in ")


def test_throttling_and_server_errors_are_retried_with_exponential_backoff(
    sagemaker: tuple[Any, Stubber], featurestore: tuple[Any, Stubber], sleeps: RecordedSleeps
) -> None:
    expect_description(sagemaker[1])
    expect_put_error(featurestore[1], "ThrottlingException", 400, "Rate exceeded")
    expect_put_error(featurestore[1], "ServiceUnavailable", 503)
    expect_put_error(featurestore[1], "InternalServerError", 500)
    expect_put(featurestore[1], FIRST_RECORD_VALUES)

    summary = ingest_records(
        sagemaker[0], featurestore[0], FEATURE_GROUP, pd.DataFrame([FIRST_RECORD]), retry=sleeps.policy()
    )

    assert (summary.ingested, summary.failed) == (1, 0)
    assert sleeps == [0.2, 0.4, 0.8]


def test_a_record_still_throttled_at_the_last_attempt_fails_naming_the_attempts(
    sagemaker: tuple[Any, Stubber], featurestore: tuple[Any, Stubber], sleeps: RecordedSleeps
) -> None:
    expect_description(sagemaker[1])
    for _ in range(3):
        expect_put_error(featurestore[1], "ThrottlingException", 400, "Rate exceeded")

    summary = ingest_records(
        sagemaker[0], featurestore[0], FEATURE_GROUP, pd.DataFrame([FIRST_RECORD]), retry=sleeps.policy(3)
    )

    assert summary.ingested == 0
    (failure,) = summary.failures
    assert failure.render() == (
        "customer_id=C000001 event_time=1704067200.5:"
        " ThrottlingException: Rate exceeded (gave up after 3 attempts)"
    )
    assert sleeps == [0.2, 0.4]


def test_a_permanent_error_is_not_retried_and_the_cli_lists_the_failed_record(
    sagemaker: tuple[Any, Stubber],
    featurestore: tuple[Any, Stubber],
    sleeps: RecordedSleeps,
    records: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records_file = tmp_path / "records.csv"
    records.to_csv(records_file, index=False)
    expect_description(sagemaker[1])
    expect_put_error(featurestore[1], "ValidationError", 400, "EventTime is in the future")
    expect_put(featurestore[1])

    exit_code = run(
        sagemaker[0], featurestore[0], FEATURE_GROUP, records_file, concurrency=1, retry=sleeps.policy()
    )

    assert exit_code == 1
    assert sleeps == []
    output = capsys.readouterr()
    assert f"{FEATURE_GROUP}: 1 records ingested, 1 failed" in output.out
    assert (
        "  - customer_id=C000001 event_time=1704067200.5: ValidationError: EventTime is in the future"
        in output.err
    )


def test_invalid_rows_are_rejected_before_any_call(
    sagemaker: tuple[Any, Stubber],
    featurestore: tuple[Any, Stubber],
    records: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No response is queued: any call would fail the test with UnStubbedResponseError.
    records_file = tmp_path / "records.csv"
    records.assign(monthly_charges=[70.5, 999.0], event_time=[1704067200.5, float("inf")]).to_csv(
        records_file, index=False
    )

    exit_code = run(sagemaker[0], featurestore[0], FEATURE_GROUP, records_file)

    assert exit_code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"nothing ingested: {records_file}: INVALID (2 rows, 2 problems)")
    assert "event_time: finite epoch seconds: 1 failing at rows 1; e.g. inf" in error
    assert "monthly_charges: in_range(15.0, 150.0): 1 failing at rows 1; e.g. 999.0" in error


def test_a_record_identifier_and_event_time_pair_may_be_ingested_only_once_per_file(
    sagemaker: tuple[Any, Stubber], featurestore: tuple[Any, Stubber], records: pd.DataFrame
) -> None:
    duplicated = pd.concat([records, records.head(1)], ignore_index=True)

    with pytest.raises(ingest_features.InvalidRecordsError, match="duplicate rows on the unique columns"):
        ingest_records(sagemaker[0], featurestore[0], FEATURE_GROUP, duplicated)


def test_a_feature_group_unlike_the_contract_is_refused_before_any_write(
    sagemaker: tuple[Any, Stubber], featurestore: tuple[Any, Stubber], records: pd.DataFrame
) -> None:
    definitions = [
        {"FeatureName": "monthly_charges", "FeatureType": "Integral"}
        if definition["FeatureName"] == "monthly_charges"
        else definition
        for definition in PLATFORM_FEATURE_DEFINITIONS
        if definition["FeatureName"] != "internet_service"
    ]
    expect_description(sagemaker[1], FeatureDefinitions=definitions)

    with pytest.raises(ingest_features.FeatureGroupError) as error:
        ingest_records(sagemaker[0], featurestore[0], FEATURE_GROUP, records)

    assert str(error.value) == (
        f"feature group {FEATURE_GROUP} does not match the feature-records contract:\n"
        "  - feature 'monthly_charges' is Integral, expected Fractional\n"
        "  - feature 'internet_service' is missing"
    )


def test_a_missing_feature_group_is_named_with_the_region(
    sagemaker: tuple[Any, Stubber],
    featurestore: tuple[Any, Stubber],
    records: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records_file = tmp_path / "records.csv"
    records.to_csv(records_file, index=False)
    sagemaker[1].add_client_error(
        "describe_feature_group", service_error_code="ResourceNotFound", http_status_code=400
    )

    assert run(sagemaker[0], featurestore[0], FEATURE_GROUP, records_file) == 1
    assert (
        f"nothing ingested: feature group {FEATURE_GROUP} does not exist in {REGION}"
        in capsys.readouterr().err
    )


def test_a_feature_group_still_being_created_is_refused(
    sagemaker: tuple[Any, Stubber], featurestore: tuple[Any, Stubber], records: pd.DataFrame
) -> None:
    expect_description(sagemaker[1], FeatureGroupStatus="Creating")

    with pytest.raises(ingest_features.FeatureGroupError, match="is Creating, not Created"):
        ingest_records(sagemaker[0], featurestore[0], FEATURE_GROUP, records)


class ConcurrencyProbe:
    """A Feature Store client whose calls wait for a second one, counting how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most_running = 0
        self.written: list[str] = []
        # Two calls must be in flight together, or every call times out and the record fails.
        self.both_in_flight = threading.Barrier(2, timeout=5)

    def put_record(self, FeatureGroupName: str, Record: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.both_in_flight.wait()
        with self.lock:
            self.running -= 1
            self.written.append(json.dumps(Record))
        return {}


def test_records_are_written_concurrently_but_never_more_than_the_limit(
    sagemaker: tuple[Any, Stubber],
) -> None:
    records = generate_feature_history(n_customers=4, snapshots=2, seed=3).records.head(8)
    expect_description(sagemaker[1])
    probe = ConcurrencyProbe()

    summary = ingest_records(sagemaker[0], probe, FEATURE_GROUP, records, concurrency=2)

    assert (summary.ingested, summary.failed) == (8, 0)
    assert probe.most_running == 2
    assert len(set(probe.written)) == 8


def test_the_feature_group_defaults_to_the_one_in_model_config(example_repository: Path) -> None:
    args = ingest_features.parse_args(["--records", "records.csv"])

    assert args.feature_group == FEATURE_GROUP


def test_without_a_feature_group_anywhere_the_cli_says_which_flag_is_needed(
    config: ModelConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    without_feature_group = write_model_config(
        tmp_path, config.model_copy(update={"feature_group_name": None})
    )

    with pytest.raises(SystemExit) as exit_:
        ingest_features.parse_args(["--records", "records.csv", "--config", str(without_feature_group)])

    assert exit_.value.code == 2
    assert "--feature-group is required" in capsys.readouterr().err
