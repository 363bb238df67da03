import pandas as pd
from pandas.testing import assert_frame_equal

from workflow.schema import TARGET_COLUMN
from workflow.synthetic_data import generate_customers
from workflow.validation import validate_table


def test_the_same_seed_gives_the_same_table() -> None:
    assert_frame_equal(generate_customers(500, seed=7), generate_customers(500, seed=7))


def test_another_seed_gives_another_table() -> None:
    assert not generate_customers(500, seed=7).equals(generate_customers(500, seed=8))


def test_the_generated_table_meets_the_data_contract(customers: pd.DataFrame) -> None:
    report = validate_table(customers)

    assert report.is_valid, report.render()
    assert report.rows == 5000


def test_churn_is_a_realistic_minority(customers: pd.DataFrame) -> None:
    assert 0.15 < customers[TARGET_COLUMN].mean() < 0.40


def test_churn_follows_the_usual_drivers(customers: pd.DataFrame) -> None:
    churn_by_contract = customers.groupby("contract_type")[TARGET_COLUMN].mean()
    new_customers = customers["tenure_months"] < 12
    churn_by_support_calls = customers.groupby(customers["support_calls_90d"] >= 3)[TARGET_COLUMN].mean()

    assert churn_by_contract["month-to-month"] > 2 * churn_by_contract["two-year"]
    assert (
        customers.loc[new_customers, TARGET_COLUMN].mean()
        > customers.loc[~new_customers, TARGET_COLUMN].mean()
    )
    assert churn_by_support_calls[True] > churn_by_support_calls[False]
