"""What a package records of its training set's Feature Store source: the manifest and its values."""

import json
import re
import time
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.training_lineage import (
    FEATURE_STORE_KEYS,
    NO_FEATURE_STORE_SOURCE,
    TRAINING_DATA_KEY,
    ManifestError,
    TrainingSetManifest,
)

from .conftest import FEATURE_GROUP

TRAINING_SET_URI = "s3://mlops-artifacts-test/churn/data/training-sets/4f2c9e1d/q1/training_set.csv"
MANIFEST = {
    "training_data_s3_uri": TRAINING_SET_URI,
    "feature_group_name": FEATURE_GROUP,
    "event_time_from": "2026-10-01T00:00:00Z",
    "event_time_to": "2026-11-01T00:00:00Z",
}
OCTOBER_1 = datetime(2026, 10, 1, tzinfo=UTC).timestamp()


def manifest_of(*event_times: float) -> TrainingSetManifest:
    return TrainingSetManifest.of_feature_records(
        training_data_s3_uri=TRAINING_SET_URI, feature_group_name=FEATURE_GROUP, event_times=event_times
    )


def at(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


class TestEventTimeRange:
    def test_from_is_the_earliest_records_second_and_to_the_second_after_the_latest(self) -> None:
        manifest = manifest_of(OCTOBER_1 + 86_400 * 30 + 3_599.999, OCTOBER_1 + 0.25, OCTOBER_1 + 5)

        assert (manifest.event_time_from, manifest.event_time_to) == (
            "2026-10-01T00:00:00Z",
            "2026-10-31T01:00:00Z",
        )

    def test_a_latest_record_on_a_whole_second_is_still_before_to(self) -> None:
        manifest = manifest_of(OCTOBER_1, OCTOBER_1 + 59)

        assert (manifest.event_time_from, manifest.event_time_to) == (
            "2026-10-01T00:00:00Z",
            "2026-10-01T00:01:00Z",
        )

    @given(
        st.lists(
            st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False, allow_infinity=False),
            min_size=1,
            max_size=20,
        )
    )
    def test_the_range_is_the_smallest_whole_second_range_holding_every_record(
        self, event_times: list[float]
    ) -> None:
        manifest = manifest_of(*event_times)

        start, end = at(manifest.event_time_from), at(manifest.event_time_to)
        assert start <= min(event_times) < start + 1
        assert end - 1 <= max(event_times) < end

    def test_a_training_set_without_records_has_no_range(self) -> None:
        with pytest.raises(ManifestError, match="without feature records has no event-time range"):
            manifest_of()


class TestManifestFile:
    def test_it_holds_the_packages_metadata_keys_and_reads_back(self, tmp_path: Path) -> None:
        path = tmp_path / "training_set.json"

        TrainingSetManifest.model_validate(MANIFEST).write(path)

        assert json.loads(path.read_text()) == MANIFEST
        assert set(MANIFEST) == {TRAINING_DATA_KEY, *FEATURE_STORE_KEYS}
        assert TrainingSetManifest.read(path).feature_store_source() == {
            key: MANIFEST[key] for key in FEATURE_STORE_KEYS
        }

    @pytest.mark.parametrize(
        ("changes", "expected_error"),
        [
            ({"event_time_to": "2026-10-01T00:00:00Z"}, "event_time_from 2026-10-01T00:00:00Z is not before"),
            ({"event_time_from": "2026-10-01 00:00:00"}, "event_time_from: String should match pattern"),
            ({"event_time_from": "2026-13-01T00:00:00Z"}, "does not match format"),
            ({"feature_group_name": "none"}, "a feature group named 'none' cannot be told apart from none"),
            ({"feature_group_name": "churn features"}, "feature_group_name: String should match pattern"),
            ({"training_data_s3_uri": "/tmp/training_set.csv"}, "training_data_s3_uri: String should match"),
            ({"labels_table": "churn_labels.labels"}, "labels_table: Extra inputs are not permitted"),
        ],
        ids=["empty-range", "not-iso", "no-such-month", "sentinel-name", "bad-name", "not-s3", "unknown-key"],
    )
    def test_a_manifest_a_package_could_not_record_is_refused(
        self, tmp_path: Path, changes: dict[str, str], expected_error: str
    ) -> None:
        path = tmp_path / "training_set.json"
        path.write_text(json.dumps(MANIFEST | changes))

        with pytest.raises(
            ManifestError,
            match=re.escape(f"{path} is not a training-set manifest: ") + ".*" + re.escape(expected_error),
        ):
            TrainingSetManifest.read(path)

    def test_a_missing_manifest_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(ManifestError, match=r"training_set\.json: No such file or directory"):
            TrainingSetManifest.read(tmp_path / "training_set.json")

    def test_a_feature_group_named_like_the_sentinel_cannot_be_recorded(self) -> None:
        with pytest.raises(ManifestError, match=r"lineage cannot be recorded: .*cannot be told apart"):
            TrainingSetManifest.of_feature_records(
                training_data_s3_uri=TRAINING_SET_URI, feature_group_name="none", event_times=[OCTOBER_1]
            )


def is_customer_metadata_value(value: str) -> bool:
    """CreateModelPackage's CustomerMetadataValue: 1 to 256 of letters, separators, numbers, `_.:/=+-@`."""
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("CustomerMetadataValue")
    assert shape.metadata["pattern"] == r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}"
    allowed = all(unicodedata.category(char)[0] in "LZN" or char in "_.:/=+-@" for char in value)
    return allowed and shape.metadata["min"] <= len(value) <= shape.metadata["max"]


def test_every_value_a_package_records_is_one_create_model_package_accepts() -> None:
    # No empty string (at least one character): a package without a feature group records "none".
    assert not is_customer_metadata_value("")
    values = [*MANIFEST.values(), *NO_FEATURE_STORE_SOURCE.values()]

    assert [value for value in values if not is_customer_metadata_value(value)] == []
    assert dict(NO_FEATURE_STORE_SOURCE) == dict.fromkeys(FEATURE_STORE_KEYS, "none")


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is New Zealand's."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_event_times_are_utc_whatever_the_local_time_zone() -> None:
    manifest = manifest_of(OCTOBER_1, OCTOBER_1 + timedelta(hours=1).total_seconds())

    assert (manifest.event_time_from, manifest.event_time_to) == (
        "2026-10-01T00:00:00Z",
        "2026-10-01T01:00:01Z",
    )
