"""The data contracts: columns, types, ranges and categories of the customer table (with the
target of each problem type), and of the feature records and labels a binary table can be built
from with a point-in-time join."""

import numpy as np
import pandas as pd
import pandera.pandas as pa

from workflow.config import ProblemType
from workflow.model_code import target_classes

ID_COLUMN = "customer_id"
# The target of a binary model: did the customer cancel (1) or not (0).
CHURNED_COLUMN = "churned"
# The target of a multiclass model: what the customer did next.
NEXT_ACTION_COLUMN = "next_action"
# The classes of each target are the model's (jobs/features.py): the contract checks the table has them.
CHURNED_CLASSES = target_classes("binary_classification")
NEXT_ACTIONS = tuple(str(action) for action in target_classes("multiclass_classification"))
TARGET_COLUMNS: dict[ProblemType, str] = {
    "binary_classification": CHURNED_COLUMN,
    "multiclass_classification": NEXT_ACTION_COLUMN,
}
EVENT_TIME_COLUMN = "event_time"
LABEL_TIME_COLUMN = "label_time"

CONTRACT_TYPES = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("electronic-check", "mailed-check", "bank-transfer", "credit-card")
INTERNET_SERVICES = ("dsl", "fiber-optic", "none")

MAX_TENURE_MONTHS = 72
MIN_MONTHLY_CHARGES = 15.0
MAX_MONTHLY_CHARGES = 150.0

# Anything above this would be more than a call a day: a data error, not a customer.
MAX_SUPPORT_CALLS_90D = 90
MAX_LATE_PAYMENTS_12M = 12


def _is_finite(values: pd.Series) -> pd.Series:
    return np.isfinite(values)


# Column rules are built by functions, so that every table states each rule once and gets its
# own Column objects (pandera names them when a schema is built).
def _customer_id(*, unique: bool) -> pa.Column:
    return pa.Column(str, pa.Check.str_matches(r"^C\d{6}$"), unique=unique)


def _epoch_seconds() -> pa.Column:
    """A point in time as seconds since 1970 (UTC): the Fractional event time Feature Store expects.

    Coerced, because a CSV file of whole seconds reads as integers.
    """
    return pa.Column(
        "float64", [pa.Check.ge(0), pa.Check(_is_finite, error="finite epoch seconds")], coerce=True
    )


def _churned() -> pa.Column:
    return pa.Column("int64", pa.Check.isin(list(CHURNED_CLASSES)))


def _next_action() -> pa.Column:
    return pa.Column(str, pa.Check.isin(NEXT_ACTIONS))


def _every_class_present(target: str, classes: tuple[object, ...]) -> pa.Check:
    """A model only learns the classes it sees: each must occur (the split also stratifies on them)."""
    return pa.Check(
        lambda frame: set(frame[target]) >= set(classes),
        error=f"the target column must contain every class ({', '.join(map(str, classes))})",
    )


def _features() -> dict[str, pa.Column]:
    """What the model may know about a customer at one point in time."""
    return {
        "tenure_months": pa.Column("int64", pa.Check.in_range(0, MAX_TENURE_MONTHS)),
        "monthly_charges": pa.Column("float64", pa.Check.in_range(MIN_MONTHLY_CHARGES, MAX_MONTHLY_CHARGES)),
        "total_charges": pa.Column("float64", pa.Check.ge(0)),
        "support_calls_90d": pa.Column("int64", pa.Check.in_range(0, MAX_SUPPORT_CALLS_90D)),
        "late_payments_12m": pa.Column("int64", pa.Check.in_range(0, MAX_LATE_PAYMENTS_12M)),
        "senior_citizen": pa.Column("int64", pa.Check.isin([0, 1])),
        "paperless_billing": pa.Column("int64", pa.Check.isin([0, 1])),
        "contract_type": pa.Column(str, pa.Check.isin(CONTRACT_TYPES)),
        "payment_method": pa.Column(str, pa.Check.isin(PAYMENT_METHODS)),
        "internet_service": pa.Column(str, pa.Check.isin(INTERNET_SERVICES)),
    }


FEATURE_COLUMNS: tuple[str, ...] = tuple(_features())

# The tables the SageMaker Pipeline trains on: one labelled row per customer, with the target of
# the model's problem type.
CUSTOMER_TABLES: dict[ProblemType, pa.DataFrameSchema] = {
    "binary_classification": pa.DataFrameSchema(
        {ID_COLUMN: _customer_id(unique=True), **_features(), CHURNED_COLUMN: _churned()},
        checks=_every_class_present(CHURNED_COLUMN, CHURNED_CLASSES),
        strict=True,
        name="customer table (binary_classification)",
    ),
    "multiclass_classification": pa.DataFrameSchema(
        {ID_COLUMN: _customer_id(unique=True), **_features(), NEXT_ACTION_COLUMN: _next_action()},
        checks=_every_class_present(NEXT_ACTION_COLUMN, NEXT_ACTIONS),
        strict=True,
        name="customer table (multiclass_classification)",
    ),
}

# The point-in-time join as the Athena training-set builder reads it back: the binary customer table,
# with the event time of the feature record each row was joined with (the model package records
# their range).
JOINED_TRAINING_SET = (
    CUSTOMER_TABLES["binary_classification"]
    .add_columns({EVENT_TIME_COLUMN: _epoch_seconds()})
    .set_name("point-in-time join (customer table and event_time)")
)

# Snapshots of the features over time, as ingested into the feature group: several per customer,
# at most one per customer and event time (the feature group's record identifier and event time).
FEATURE_RECORDS = pa.DataFrameSchema(
    {ID_COLUMN: _customer_id(unique=False), EVENT_TIME_COLUMN: _epoch_seconds(), **_features()},
    unique=[ID_COLUMN, EVENT_TIME_COLUMN],
    strict=True,
    name="feature records",
)

# Outcomes observed over time: whether the customer churned, as known at label_time. Labels are
# binary: point-in-time training sets feed binary models only.
LABEL_TABLE = pa.DataFrameSchema(
    {ID_COLUMN: _customer_id(unique=False), LABEL_TIME_COLUMN: _epoch_seconds(), CHURNED_COLUMN: _churned()},
    unique=[ID_COLUMN, LABEL_TIME_COLUMN],
    strict=True,
    name="label table",
)
