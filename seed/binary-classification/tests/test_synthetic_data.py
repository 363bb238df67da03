from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from workflow import synthetic_data
from workflow.config import ModelConfig
from workflow.schema import CHURNED_COLUMN, CUSTOMER_TABLES, NEXT_ACTION_COLUMN, NEXT_ACTIONS
from workflow.synthetic_data import generate_customers
from workflow.validation import validate_table

from .conftest import multiclass_config, use_as_repository_config


def test_the_same_seed_gives_the_same_table() -> None:
    assert_frame_equal(generate_customers(500, seed=7), generate_customers(500, seed=7))


def test_another_seed_gives_another_table() -> None:
    assert not generate_customers(500, seed=7).equals(generate_customers(500, seed=8))


def test_the_generated_table_meets_the_data_contract(customers: pd.DataFrame) -> None:
    report = validate_table(customers, CUSTOMER_TABLES["binary_classification"])

    assert report.is_valid, report.render()
    assert report.rows == 5000


def test_churn_is_a_realistic_minority(customers: pd.DataFrame) -> None:
    assert 0.15 < customers[CHURNED_COLUMN].mean() < 0.40


def test_churn_follows_the_usual_drivers(customers: pd.DataFrame) -> None:
    churn_by_contract = customers.groupby("contract_type")[CHURNED_COLUMN].mean()
    new_customers = customers["tenure_months"] < 12
    churn_by_support_calls = customers.groupby(customers["support_calls_90d"] >= 3)[CHURNED_COLUMN].mean()

    assert churn_by_contract["month-to-month"] > 2 * churn_by_contract["two-year"]
    assert (
        customers.loc[new_customers, CHURNED_COLUMN].mean()
        > customers.loc[~new_customers, CHURNED_COLUMN].mean()
    )
    assert churn_by_support_calls[True] > churn_by_support_calls[False]


class TestMulticlassTable:
    def test_it_has_the_same_customers_with_a_next_action_instead_of_churned(
        self, customers: pd.DataFrame, multiclass_customers: pd.DataFrame
    ) -> None:
        assert_frame_equal(
            multiclass_customers.drop(columns=NEXT_ACTION_COLUMN), customers.drop(columns=CHURNED_COLUMN)
        )

    def test_it_meets_the_multiclass_data_contract_only(self, multiclass_customers: pd.DataFrame) -> None:
        report = validate_table(multiclass_customers, CUSTOMER_TABLES["multiclass_classification"])

        assert report.is_valid, report.render()
        assert not validate_table(multiclass_customers, CUSTOMER_TABLES["binary_classification"]).is_valid

    def test_every_action_is_common_and_staying_the_most_common(
        self, multiclass_customers: pd.DataFrame
    ) -> None:
        shares = multiclass_customers[NEXT_ACTION_COLUMN].value_counts(normalize=True)

        assert set(shares.index) == set(NEXT_ACTIONS)
        assert shares.idxmax() == "stay"
        assert shares.min() > 0.15

    def test_cancelling_follows_the_drivers_of_churn_and_downgrading_those_of_the_bill(
        self, multiclass_customers: pd.DataFrame
    ) -> None:
        actions = pd.get_dummies(multiclass_customers[NEXT_ACTION_COLUMN])
        by_contract = actions.groupby(multiclass_customers["contract_type"]).mean()
        late_payer = multiclass_customers["late_payments_12m"] >= 2
        by_lateness = actions.groupby(late_payer).mean()

        assert by_contract.loc["month-to-month", "cancel"] > 3 * by_contract.loc["two-year", "cancel"]
        assert by_contract.loc["two-year", "downgrade"] > by_contract.loc["month-to-month", "downgrade"]
        assert by_lateness.loc[True, "downgrade"] > 1.5 * by_lateness.loc[False, "downgrade"]


@pytest.mark.parametrize(
    ("arguments", "target"),
    [
        ([], CHURNED_COLUMN),  # the example's model_config.json: binary_classification
        (["--problem-type", "multiclass_classification"], NEXT_ACTION_COLUMN),
    ],
)
def test_the_cli_writes_the_target_of_the_problem_type(
    example_repository: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    target: str,
) -> None:
    output = tmp_path / "customers.csv"

    synthetic_data.main(["--rows", "300", "--output", str(output), *arguments])

    assert pd.read_csv(output).columns[-1] == target
    assert f"wrote 300 customers ({target} " in capsys.readouterr().out


def test_without_a_problem_type_the_cli_generates_the_one_model_config_sets(
    config: ModelConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_as_repository_config(multiclass_config(config), tmp_path, monkeypatch)
    output = tmp_path / "customers.csv"

    synthetic_data.main(["--rows", "300", "--output", str(output)])

    assert pd.read_csv(output).columns[-1] == NEXT_ACTION_COLUMN
