"""The synthetic feature history: snapshots over time, and labels that depend on the features as of then."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from workflow import feature_history
from workflow.feature_history import (
    CHURN_WINDOW_DAYS,
    SECONDS_PER_DAY,
    FeatureHistory,
    generate_feature_history,
)
from workflow.schema import FEATURE_RECORDS, LABEL_TABLE, MAX_TENURE_MONTHS
from workflow.synthetic_data import churn_logit
from workflow.training_set import point_in_time_join
from workflow.validation import validate_csv, validate_table


@pytest.fixture(scope="module")
def history() -> FeatureHistory:
    return generate_feature_history()


@pytest.fixture(scope="module")
def snapshots_with_labels(history: FeatureHistory) -> pd.DataFrame:
    return history.records.merge(history.labels, on="customer_id")


def test_the_same_seed_gives_the_same_history() -> None:
    first, second = generate_feature_history(200, seed=7), generate_feature_history(200, seed=7)

    assert_frame_equal(first.records, second.records)
    assert_frame_equal(first.labels, second.labels)


def test_another_seed_gives_another_history() -> None:
    assert not generate_feature_history(200, seed=7).records.equals(
        generate_feature_history(200, seed=8).records
    )


def test_records_and_labels_meet_their_contracts(history: FeatureHistory) -> None:
    records_report = validate_table(history.records, contract=FEATURE_RECORDS)
    labels_report = validate_table(history.labels, contract=LABEL_TABLE)

    assert records_report.is_valid, records_report.render()
    assert labels_report.is_valid, labels_report.render()
    assert history.labels["customer_id"].is_unique
    assert len(history.labels) == 5000


def test_each_customer_has_monthly_snapshots_in_time_order(history: FeatureHistory) -> None:
    by_customer = history.records.groupby("customer_id")
    days_between = by_customer["event_time"].diff().dropna() / SECONDS_PER_DAY

    assert by_customer.size().max() == feature_history.DEFAULT_SNAPSHOTS
    assert days_between.between(28, 31).all()


def test_values_drift_as_a_customers_would(history: FeatureHistory) -> None:
    by_customer = history.records.groupby("customer_id")
    previous_tenure = by_customer["tenure_months"].shift()
    tenure_growth = (history.records["tenure_months"] - previous_tenure)[previous_tenure.notna()]
    at_the_cap = previous_tenure[previous_tenure.notna()] == MAX_TENURE_MONTHS
    charges_growth = by_customer["total_charges"].diff()
    calls_change = by_customer["support_calls_90d"].diff().dropna()

    assert ((tenure_growth == 1) | ((tenure_growth == 0) & at_the_cap)).all(), "a month more, up to the cap"
    billed = charges_growth.notna()
    assert np.allclose(charges_growth[billed], history.records.loc[billed, "monthly_charges"], atol=0.011)
    assert 0.3 < (calls_change != 0).mean() < 0.9, "support calls come and go"
    assert by_customer["monthly_charges"].nunique().gt(1).any(), "prices change"
    assert by_customer["contract_type"].nunique().gt(1).any(), "some customers sign a longer contract"


def test_each_label_follows_a_snapshot_and_customers_who_stay_have_later_ones(
    history: FeatureHistory, snapshots_with_labels: pd.DataFrame
) -> None:
    rows = snapshots_with_labels
    with_an_earlier_record = set(rows.loc[rows["event_time"] < rows["label_time"], "customer_id"])
    with_a_later_record = set(rows.loc[rows["event_time"] > rows["label_time"], "customer_id"])
    stayed = set(history.labels.loc[history.labels["churned"] == 0, "customer_id"])

    assert with_an_earlier_record == set(history.labels["customer_id"])
    assert stayed <= with_a_later_record


def test_churners_have_no_snapshot_after_the_churn_window(snapshots_with_labels: pd.DataFrame) -> None:
    churners = snapshots_with_labels[snapshots_with_labels["churned"] == 1]
    window = CHURN_WINDOW_DAYS * SECONDS_PER_DAY

    assert (churners["event_time"] <= churners["label_time"] + window).all()


def test_churn_is_a_realistic_minority(history: FeatureHistory) -> None:
    assert 0.15 < history.labels["churned"].mean() < 0.40


def mean_log_loss(rows: pd.DataFrame) -> float:
    """How badly the generator's own churn model, fed these features, explains the labels."""
    probability = 1.0 / (1.0 + np.exp(-churn_logit(rows)))
    churned = rows["churned"].to_numpy()
    return float(-np.mean(churned * np.log(probability) + (1 - churned) * np.log(1 - probability)))


def test_labels_are_explained_by_the_features_as_of_label_time_not_by_later_ones(
    history: FeatureHistory,
) -> None:
    as_of = point_in_time_join(history.labels, history.records)
    # The leak: each label joined with its customer's newest record, whenever it was recorded.
    newest = history.labels.merge(history.records.groupby("customer_id").tail(1), on="customer_id")

    assert (newest["event_time"] > newest["label_time"]).mean() > 0.9
    assert mean_log_loss(as_of) < mean_log_loss(newest) - 0.02


def test_the_cli_writes_both_files_and_they_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records, labels = tmp_path / "records.csv", tmp_path / "labels.csv"

    feature_history.main(["--customers", "50", "--records", str(records), "--labels", str(labels)])

    assert validate_csv(records, FEATURE_RECORDS).is_valid
    assert validate_csv(labels, LABEL_TABLE).is_valid
    assert "wrote 50 labels" in capsys.readouterr().out


def test_a_history_needs_a_snapshot_after_the_labels() -> None:
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        generate_feature_history(10, snapshots=1)
