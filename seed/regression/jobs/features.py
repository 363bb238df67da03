"""Columns the model reads, shared by the job scripts.

This folder is uploaded as the source directory of the SageMaker jobs, which run
`python preprocess.py` (and friends) from inside it: the scripts therefore import
each other as top-level modules (`import features`), never as a package.
"""

# A row is one store, product and week; these say which (preprocess drops them).
ID_COLUMNS: tuple[str, ...] = ("store_id", "product_id", "week_start")
TARGET_COLUMN = "units_sold"

NUMERIC_FEATURES: tuple[str, ...] = (
    "price",
    "promotion",
    "week_of_year",
    "store_size_sqm",
    "holiday",
    "units_last_week",
)

CATEGORICAL_FEATURES: tuple[str, ...] = ("category",)

# The order of the columns of a text/csv request.
FEATURES: tuple[str, ...] = (
    "price",
    "promotion",
    "week_of_year",
    "store_size_sqm",
    "holiday",
    "category",
    "units_last_week",
)
