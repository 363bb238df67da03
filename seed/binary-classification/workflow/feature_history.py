"""Deterministic synthetic feature history: monthly snapshots of every customer, and churn labels.

The feature records are what a feature pipeline ingests into the feature group: one snapshot a
month per customer, whose values drift as they would (tenure and total charges grow, prices
change, support calls come in bursts, late payments come and age out, some customers move to a
longer contract). The label table says, for each customer, whether they cancelled within
CHURN_WINDOW_DAYS after label_time; the label is drawn from the features as of label_time, and
the snapshots after it differ, so a join that leaks later features is measurably worse at
explaining the labels. Churners have no snapshot after they cancelled.

    python -m workflow.feature_history --records data/generated/feature_records.csv \\
        --labels data/generated/labels.csv
"""

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.schema import (
    CHURNED_COLUMN,
    EVENT_TIME_COLUMN,
    FEATURE_COLUMNS,
    ID_COLUMN,
    LABEL_TIME_COLUMN,
    MAX_LATE_PAYMENTS_12M,
    MAX_MONTHLY_CHARGES,
    MAX_SUPPORT_CALLS_90D,
    MAX_TENURE_MONTHS,
    MIN_MONTHLY_CHARGES,
)
from workflow.synthetic_data import DEFAULT_ROWS, DEFAULT_SEED, draw_churn, generate_customers

DEFAULT_SNAPSHOTS = 6
DEFAULT_RECORDS_OUTPUT = Path("data/generated/feature_records.csv")
DEFAULT_LABELS_OUTPUT = Path("data/generated/labels.csv")

HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
SECONDS_PER_DAY = 86_400.0
CHURN_WINDOW_DAYS = 90.0

# Seeds the drift with a stream independent of the one generate_customers draws the first
# snapshot from, so that the same seed does not replay the same random numbers.
_DRIFT_STREAM = 1
_PRICE_CHANGE_PER_MONTH = 0.08
_CONTRACT_UPGRADE_PER_MONTH = 0.02
_TROUBLE_PER_MONTH = 0.12  # a month with a service problem triples the support calls


@dataclass(frozen=True)
class FeatureHistory:
    records: pd.DataFrame  # FEATURE_RECORDS: customer_id, event_time, features
    labels: pd.DataFrame  # LABEL_TABLE: customer_id, label_time, churned


def generate_feature_history(
    n_customers: int = DEFAULT_ROWS, snapshots: int = DEFAULT_SNAPSHOTS, seed: int = DEFAULT_SEED
) -> FeatureHistory:
    if snapshots < 2:
        raise ValueError("a history needs at least 2 snapshots: one before each label, one after it")
    rng = np.random.default_rng((seed, _DRIFT_STREAM))
    first = generate_customers(n_customers, seed).drop(columns=CHURNED_COLUMN)
    history = [first.assign(**{EVENT_TIME_COLUMN: HISTORY_START + _days(rng, 0.0, 28.0, n_customers)})]
    for _ in range(1, snapshots):
        previous = history[-1]
        next_time = previous[EVENT_TIME_COLUMN] + _days(rng, 28.0, 31.0, n_customers)
        history.append(_one_month_later(rng, previous).assign(**{EVENT_TIME_COLUMN: next_time}))
    labels, cancelled_at = _labels(rng, history)
    records = _records_before_cancellation(pd.concat(history, ignore_index=True), cancelled_at)
    return FeatureHistory(records, labels)


def _days(rng: np.random.Generator, low: float, high: float, size: int) -> np.ndarray:
    """Random durations in seconds, to the millisecond, as event times are recorded."""
    return np.round(rng.uniform(low, high, size) * SECONDS_PER_DAY, 3)


def _one_month_later(rng: np.random.Generator, customers: pd.DataFrame) -> pd.DataFrame:
    n = len(customers)
    monthly = _drifted_prices(rng, customers["monthly_charges"].to_numpy())
    return customers.assign(
        tenure_months=np.minimum(customers["tenure_months"] + 1, MAX_TENURE_MONTHS),
        monthly_charges=monthly,
        total_charges=np.round(customers["total_charges"] + monthly, 2),
        support_calls_90d=_support_calls(rng, customers),
        late_payments_12m=_late_payments(rng, customers),
        contract_type=customers["contract_type"].where(
            (customers["contract_type"] != "month-to-month") | (rng.random(n) >= _CONTRACT_UPGRADE_PER_MONTH),
            "one-year",
        ),
    )


def _drifted_prices(rng: np.random.Generator, monthly: np.ndarray) -> np.ndarray:
    changes = (rng.random(len(monthly)) < _PRICE_CHANGE_PER_MONTH) * rng.normal(0.0, 8.0, len(monthly))
    return np.round(np.clip(monthly + changes, MIN_MONTHLY_CHARGES, MAX_MONTHLY_CHARGES), 2)


def _support_calls(rng: np.random.Generator, customers: pd.DataFrame) -> np.ndarray:
    """A 90-day window moves by a month: a third of the old calls age out, a month of new ones come in."""
    monthly_rate = (0.8 + 0.8 * (customers["internet_service"] == "fiber-optic").to_numpy()) / 3.0
    trouble = rng.random(len(customers)) < _TROUBLE_PER_MONTH
    kept = rng.binomial(customers["support_calls_90d"].to_numpy(), 2.0 / 3.0)
    new = rng.poisson(monthly_rate * np.where(trouble, 3.0, 1.0))
    return np.minimum(kept + new, MAX_SUPPORT_CALLS_90D).astype("int64")


def _late_payments(rng: np.random.Generator, customers: pd.DataFrame) -> np.ndarray:
    """A 12-month window moves by a month: about a twelfth of the late payments age out."""
    payment = customers["payment_method"].to_numpy()
    yearly_rate = 0.3 + 0.9 * (payment == "electronic-check") + 0.3 * (payment == "mailed-check")
    late = customers["late_payments_12m"].to_numpy()
    kept = late - rng.binomial(late, 1.0 / 12.0)
    new = rng.random(len(customers)) < yearly_rate / 12.0
    return np.minimum(kept + new, MAX_LATE_PAYMENTS_12M).astype("int64")


def _labels(rng: np.random.Generator, history: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """One label per customer, between two snapshots; churn follows the earlier of the two.

    Returns the labels and, per customer, when they cancelled (infinity for those who stayed).
    """
    n = len(history[0])
    customers = np.arange(n)
    as_of_snapshot = rng.integers(0, len(history) - 1, n)
    snapshot_times = np.column_stack([snapshot[EVENT_TIME_COLUMN].to_numpy() for snapshot in history])
    before, after = snapshot_times[customers, as_of_snapshot], snapshot_times[customers, as_of_snapshot + 1]
    label_time = np.round(before + rng.uniform(0.1, 0.9, n) * (after - before), 3)

    as_of_features = pd.concat(history, ignore_index=True).iloc[as_of_snapshot * n + customers]
    churned = draw_churn(rng, as_of_features)
    cancelled_at = np.where(churned == 1, label_time + _days(rng, 0.0, CHURN_WINDOW_DAYS, n), np.inf)
    labels = pd.DataFrame(
        {ID_COLUMN: history[0][ID_COLUMN].to_numpy(), LABEL_TIME_COLUMN: label_time, CHURNED_COLUMN: churned}
    )
    return labels, cancelled_at


def _records_before_cancellation(records: pd.DataFrame, cancelled_at: np.ndarray) -> pd.DataFrame:
    """Customer i (row i of every snapshot) has no snapshot once cancelled; rows sorted by customer, time."""
    customer_position = np.tile(np.arange(len(cancelled_at)), len(records) // len(cancelled_at))
    kept = records[records[EVENT_TIME_COLUMN].to_numpy() <= cancelled_at[customer_position]]
    ordered = kept.sort_values([ID_COLUMN, EVENT_TIME_COLUMN], ignore_index=True)
    return ordered.loc[:, [ID_COLUMN, EVENT_TIME_COLUMN, *FEATURE_COLUMNS]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--snapshots", type=int, default=DEFAULT_SNAPSHOTS, help="per customer")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS_OUTPUT)
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS_OUTPUT)
    args = parser.parse_args(argv)
    history = generate_feature_history(args.customers, args.snapshots, args.seed)
    for path, table in ((args.records, history.records), (args.labels, history.labels)):
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
    churn_rate = history.labels[CHURNED_COLUMN].mean()
    print(f"wrote {len(history.records)} feature records to {args.records}")
    print(f"wrote {len(history.labels)} labels ({churn_rate:.1%} churned) to {args.labels}")


if __name__ == "__main__":
    main()
