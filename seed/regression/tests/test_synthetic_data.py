from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from workflow import synthetic_data
from workflow.schema import ID_COLUMNS, TARGET_COLUMN
from workflow.synthetic_data import generate_sales
from workflow.validation import validate_table


def test_the_same_seed_gives_the_same_table() -> None:
    assert_frame_equal(generate_sales(3, 4, 10, seed=7), generate_sales(3, 4, 10, seed=7))


def test_another_seed_gives_another_table() -> None:
    assert not generate_sales(3, 4, 10, seed=7).equals(generate_sales(3, 4, 10, seed=8))


def test_the_generated_table_meets_the_data_contract(sales: pd.DataFrame) -> None:
    report = validate_table(sales)

    assert report.is_valid, report.render()
    # Every store carries every product, every week.
    assert report.rows == 8 * 12 * 52
    assert sales.groupby(list(ID_COLUMNS[:2])).size().eq(52).all()


def test_the_weeks_cover_a_year_with_their_iso_week_numbers(sales: pd.DataFrame) -> None:
    starts = pd.to_datetime(sales["week_start"])

    assert sorted(sales["week_of_year"].unique()) == list(range(1, 53))
    assert (starts.dt.isocalendar().week == sales["week_of_year"]).all()


def test_last_weeks_units_are_the_previous_row_of_the_same_series(sales: pd.DataFrame) -> None:
    ordered = sales.sort_values(list(ID_COLUMNS))
    previous_week = ordered.groupby(["store_id", "product_id"])[TARGET_COLUMN].shift(1)
    known = previous_week.notna()

    # Only the first week of each of the 96 series has no earlier row (it was drawn as well).
    assert known.sum() == len(sales) - 96
    assert ordered.loc[known, "units_last_week"].equals(previous_week[known])


def test_the_target_is_a_non_negative_demand_of_a_realistic_scale(sales: pd.DataFrame) -> None:
    units = sales[TARGET_COLUMN]

    assert units.min() >= 0.0
    assert 30.0 < units.mean() < 60.0
    # Enough spread that a constant forecast misses the threshold (rmse 12) by far.
    assert units.std(ddof=0) > 20.0


def test_demand_follows_price_promotion_holidays_and_store_size(sales: pd.DataFrame) -> None:
    by_promotion = sales.groupby("promotion")[TARGET_COLUMN].mean()
    by_holiday = sales.groupby("holiday")[TARGET_COLUMN].mean()
    large_store = sales["store_size_sqm"] > sales["store_size_sqm"].median()
    promotion_discount = 1.0 - sales["price"] / sales.groupby("product_id")["price"].transform("median")

    assert by_promotion[1] > 1.3 * by_promotion[0]
    assert by_holiday[1] > 1.15 * by_holiday[0]
    assert sales.loc[large_store, TARGET_COLUMN].mean() > sales.loc[~large_store, TARGET_COLUMN].mean()
    assert promotion_discount[sales["promotion"] == 1].between(0.1, 0.35).all()
    assert promotion_discount[sales["promotion"] == 0].abs().lt(0.05).all()


def test_beverages_sell_most_in_summer(sales: pd.DataFrame) -> None:
    beverages = sales[sales["category"] == "beverages"]
    summer = beverages["week_of_year"].between(26, 34)
    winter = beverages["week_of_year"].isin([1, 2, 3, 4, 5, 50, 51, 52])

    assert beverages.loc[summer, TARGET_COLUMN].mean() > 1.3 * beverages.loc[winter, TARGET_COLUMN].mean()


def test_the_cli_writes_a_valid_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "generated" / "sales.csv"

    synthetic_data.main(["--stores", "2", "--products", "3", "--weeks", "5", "--output", str(output)])

    assert validate_table(pd.read_csv(output)).is_valid
    assert "wrote 30 store-product weeks" in capsys.readouterr().out
