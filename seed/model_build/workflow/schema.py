"""The data contract of the raw customer table: columns, types, ranges, categories."""

import pandas as pd
import pandera.pandas as pa

ID_COLUMN = "customer_id"
TARGET_COLUMN = "churned"

CONTRACT_TYPES = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("electronic-check", "mailed-check", "bank-transfer", "credit-card")
INTERNET_SERVICES = ("dsl", "fiber-optic", "none")

MAX_TENURE_MONTHS = 72
MIN_MONTHLY_CHARGES = 15.0
MAX_MONTHLY_CHARGES = 150.0

# Anything above this would be more than a call a day: a data error, not a customer.
MAX_SUPPORT_CALLS_90D = 90
MAX_LATE_PAYMENTS_12M = 12


def _both_classes_present(frame: pd.DataFrame) -> bool:
    return frame[TARGET_COLUMN].nunique() == 2


CUSTOMER_TABLE = pa.DataFrameSchema(
    {
        ID_COLUMN: pa.Column(str, pa.Check.str_matches(r"^C\d{6}$"), unique=True),
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
        TARGET_COLUMN: pa.Column("int64", pa.Check.isin([0, 1])),
    },
    checks=pa.Check(_both_classes_present, error="the target column must contain both classes"),
    strict=True,
    name="customer table",
)
