"""The data contract of the weekly sales table: columns, types, ranges, categories, nulls and target.

One row per store, product and week. The identifiers say which series and week a row belongs to;
the features are what is known when the week's forecast is made; `units_sold` is what happened.
"""

import pandas as pd
import pandera.pandas as pa

STORE_COLUMN = "store_id"
PRODUCT_COLUMN = "product_id"
WEEK_COLUMN = "week_start"
ID_COLUMNS: tuple[str, ...] = (STORE_COLUMN, PRODUCT_COLUMN, WEEK_COLUMN)
TARGET_COLUMN = "units_sold"

CATEGORIES = ("beverages", "dairy", "frozen", "household", "snacks")

MIN_PRICE = 0.01
MAX_PRICE = 500.0
MIN_STORE_SIZE_SQM = 100
MAX_STORE_SIZE_SQM = 30_000
# More than this in one week from one store is a data error (a missing decimal point), not demand.
MAX_WEEKLY_UNITS = 100_000.0


def _is_a_monday(values: pd.Series) -> pd.Series:
    """An ISO date (YYYY-MM-DD) that is a Monday, the first day of an ISO week."""
    starts = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    return pd.Series(starts.dt.dayofweek == 0, index=values.index)


def _target_varies(table: pd.DataFrame) -> bool:
    return bool(table[TARGET_COLUMN].nunique() > 1)


def _units() -> pa.Column:
    """Units sold in a week: fractional (goods sold by weight), never negative, never infinite."""
    return pa.Column("float64", pa.Check.in_range(0.0, MAX_WEEKLY_UNITS))


def _features() -> dict[str, pa.Column]:
    """What the model may know about a store, product and week when it forecasts the week."""
    return {
        "price": pa.Column("float64", pa.Check.in_range(MIN_PRICE, MAX_PRICE)),
        "promotion": pa.Column("int64", pa.Check.isin([0, 1])),
        "week_of_year": pa.Column("int64", pa.Check.in_range(1, 53)),
        "store_size_sqm": pa.Column("int64", pa.Check.in_range(MIN_STORE_SIZE_SQM, MAX_STORE_SIZE_SQM)),
        "holiday": pa.Column("int64", pa.Check.isin([0, 1])),
        "category": pa.Column(str, pa.Check.isin(CATEGORIES)),
        "units_last_week": _units(),
    }


FEATURE_COLUMNS: tuple[str, ...] = tuple(_features())

# The table the SageMaker Pipeline trains on. Every column is required and none may be null
# (pandera's default): a missing price or target is a data error, not something to impute silently.
SALES_TABLE = pa.DataFrameSchema(
    {
        STORE_COLUMN: pa.Column(str, pa.Check.str_matches(r"^S\d{3}$")),
        PRODUCT_COLUMN: pa.Column(str, pa.Check.str_matches(r"^P\d{4}$")),
        WEEK_COLUMN: pa.Column(str, pa.Check(_is_a_monday, error="a Monday, as YYYY-MM-DD")),
        **_features(),
        TARGET_COLUMN: _units(),
    },
    checks=pa.Check(_target_varies, error="the target column must vary: a constant teaches nothing"),
    unique=list(ID_COLUMNS),
    strict=True,
    name="weekly sales table",
)

# One of the `instances` of a request: the features only, as the endpoint receives them.
REQUEST_INSTANCES = pa.DataFrameSchema(_features(), strict=True, name="request instances")
