from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from workflow import validation
from workflow.synthetic_data import generate_sales
from workflow.validation import validate_table

Corruption = Callable[[pd.DataFrame], pd.DataFrame]


def with_value(column: str, row: int, value: object) -> Corruption:
    def corrupt(table: pd.DataFrame) -> pd.DataFrame:
        corrupted = table.copy()
        if isinstance(value, str) and pd.api.types.is_numeric_dtype(corrupted[column]):
            corrupted[column] = corrupted[column].astype(object)
        corrupted.loc[row, column] = value
        return corrupted

    return corrupt


@pytest.fixture
def sample() -> pd.DataFrame:
    return generate_sales(n_stores=2, n_products=5, n_weeks=20, seed=3)


def test_a_good_table_is_valid(sample: pd.DataFrame) -> None:
    report = validate_table(sample, source="sales.csv")

    assert report.is_valid
    assert report.render() == "sales.csv: OK (200 rows match the weekly sales table contract)"


@pytest.mark.parametrize(
    ("corrupt", "expected_line"),
    [
        (with_value("price", 3, None), "price: null values: 1 failing at rows 3"),
        (with_value("price", 5, 0.0), "price: in_range(0.01, 500.0): 1 failing at rows 5; e.g. 0.0"),
        (with_value("promotion", 4, 2), "promotion: isin([0, 1]): 1 failing at rows 4; e.g. 2"),
        (with_value("week_of_year", 8, 54), "week_of_year: in_range(1, 53): 1 failing at rows 8; e.g. 54"),
        (with_value("week_of_year", 8, 0), "week_of_year: in_range(1, 53): 1 failing at rows 8; e.g. 0"),
        (with_value("store_size_sqm", 2, 10), "store_size_sqm: in_range(100, 30000): 1 failing at rows 2"),
        (with_value("holiday", 6, -1), "holiday: isin([0, 1]): 1 failing at rows 6; e.g. -1"),
        (
            with_value("category", 7, "toys"),
            "category: isin(('beverages', 'dairy', 'frozen', 'household', 'snacks'))",
        ),
        (
            with_value("units_last_week", 9, "many"),
            "units_last_week: wrong type (expected float64): 1 failing at rows 9; e.g. many",
        ),
        (
            with_value("units_sold", 10, -3.0),
            "units_sold: in_range(0.0, 100000.0): 1 failing at rows 10; e.g. -3.0",
        ),
        (
            with_value("units_sold", 11, float("inf")),
            "units_sold: in_range(0.0, 100000.0): 1 failing at rows 11",
        ),
        (with_value("units_sold", 12, None), "units_sold: null values: 1 failing at rows 12"),
        (
            with_value("week_start", 1, "2024-01-09"),
            "week_start: a Monday, as YYYY-MM-DD: 1 failing at rows 1",
        ),
        (
            with_value("week_start", 1, "09/01/2024"),
            "week_start: a Monday, as YYYY-MM-DD: 1 failing at rows 1",
        ),
        (with_value("store_id", 0, "store 1"), "store_id: str_matches('^S\\d{3}$'): 1 failing at rows 0"),
        (
            lambda table: pd.concat([table, table.head(1)], ignore_index=True),
            "week_start: duplicate rows on the unique columns: 2 failing at rows 0, 200",
        ),
        (lambda table: table.drop(columns="promotion"), "missing column: 1 failing; e.g. promotion"),
        (lambda table: table.assign(region="emea"), "unexpected column: 1 failing; e.g. region"),
        (
            lambda table: table.assign(units_sold=5.0),
            "the target column must vary: a constant teaches nothing",
        ),
    ],
    ids=[
        "null-price",
        "free",
        "unknown-promotion",
        "week-54",
        "week-0",
        "tiny-store",
        "unknown-holiday",
        "unknown-category",
        "wrong-type",
        "negative-target",
        "infinite-target",
        "null-target",
        "not-a-monday",
        "not-iso-date",
        "bad-store-id",
        "duplicate-week",
        "missing-column",
        "extra-column",
        "constant-target",
    ],
)
def test_corrupted_data_is_rejected_with_a_readable_report(
    sample: pd.DataFrame, corrupt: Corruption, expected_line: str
) -> None:
    report = validate_table(corrupt(sample), source="sales.csv")

    assert not report.is_valid
    rendered = report.render()
    assert rendered.startswith("sales.csv: INVALID (")
    assert expected_line in rendered


def test_all_problems_are_reported_together(sample: pd.DataFrame) -> None:
    corrupted = with_value("price", 5, 999.0)(with_value("category", 7, "toys")(sample))

    report = validate_table(corrupted)

    assert {violation.column for violation in report.violations} == {"price", "category"}


def test_cli_exits_non_zero_on_a_corrupt_file_and_zero_on_a_good_one(
    sample: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    sample.to_csv(good, index=False)
    with_value("units_sold", 3, None)(sample).to_csv(bad, index=False)

    assert validation.main([str(good)]) == 0
    assert validation.main([str(good), str(bad)]) == 1
    output = capsys.readouterr().out
    assert f"{good}: OK (200 rows" in output
    assert (
        f"{bad}: INVALID (200 rows, 1 problems)\n  - units_sold: null values: 1 failing at rows 3" in output
    )
