from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from workflow import validation
from workflow.feature_history import FeatureHistory, generate_feature_history
from workflow.schema import CUSTOMER_TABLES, FEATURE_COLUMNS, FEATURE_RECORDS, LABEL_TABLE
from workflow.validation import validate_table

BINARY_TABLE = CUSTOMER_TABLES["binary_classification"]
MULTICLASS_TABLE = CUSTOMER_TABLES["multiclass_classification"]

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
def sample(customers: pd.DataFrame) -> pd.DataFrame:
    return customers.head(200).copy()


@pytest.mark.parametrize(
    ("corrupt", "expected_line"),
    [
        (with_value("tenure_months", 3, None), "tenure_months: null values: 1 failing at rows 3"),
        (
            with_value("monthly_charges", 5, 999.0),
            "monthly_charges: in_range(15.0, 150.0): 1 failing at rows 5",
        ),
        (with_value("tenure_months", 8, -1), "tenure_months: in_range(0, 72): 1 failing at rows 8; e.g. -1"),
        (
            with_value("support_calls_90d", 9, "many"),
            "support_calls_90d: wrong type (expected int64): 1 failing at rows 9; e.g. many",
        ),
        (with_value("contract_type", 7, "weekly"), "contract_type: isin("),
        (with_value("customer_id", 11, "C000013"), "customer_id: duplicate values: 2 failing at rows 11, 12"),
        (
            lambda table: table.drop(columns="payment_method"),
            "missing column: 1 failing; e.g. payment_method",
        ),
        (lambda table: table.assign(region="emea"), "unexpected column: 1 failing; e.g. region"),
        (lambda table: table.assign(churned=0), "the target column must contain every class (0, 1)"),
        (with_value("churned", 4, 2), "churned: isin([0, 1]): 1 failing at rows 4; e.g. 2"),
        (
            lambda table: table.rename(columns={"churned": "next_action"}),
            "unexpected column: 1 failing; e.g. next_action",
        ),
    ],
    ids=[
        "null",
        "above-range",
        "below-range",
        "wrong-type",
        "unknown-category",
        "duplicate-id",
        "missing-column",
        "extra-column",
        "single-class",
        "unknown-class",
        "multiclass-target",
    ],
)
def test_corrupted_data_is_rejected_with_a_readable_report(
    sample: pd.DataFrame, corrupt: Corruption, expected_line: str
) -> None:
    report = validate_table(corrupt(sample), BINARY_TABLE, source="customers.csv")

    assert not report.is_valid
    rendered = report.render()
    assert rendered.startswith("customers.csv: INVALID (200 rows")
    assert expected_line in rendered


def test_an_unknown_category_is_shown_with_its_value(sample: pd.DataFrame) -> None:
    rendered = validate_table(with_value("contract_type", 7, "weekly")(sample), BINARY_TABLE).render()

    assert (
        "contract_type: isin(('month-to-month', 'one-year', 'two-year')): 1 failing at rows 7; e.g. weekly"
        in rendered
    )


def test_all_problems_are_reported_together(sample: pd.DataFrame) -> None:
    corrupted = with_value("monthly_charges", 5, 999.0)(with_value("contract_type", 7, "weekly")(sample))

    report = validate_table(corrupted, BINARY_TABLE)

    assert {violation.column for violation in report.violations} == {"monthly_charges", "contract_type"}


@pytest.fixture
def multiclass_sample(multiclass_customers: pd.DataFrame) -> pd.DataFrame:
    return multiclass_customers.head(200).copy()


def test_a_multiclass_table_meets_the_multiclass_contract(multiclass_sample: pd.DataFrame) -> None:
    report = validate_table(multiclass_sample, MULTICLASS_TABLE)

    assert report.is_valid, report.render()


@pytest.mark.parametrize(
    ("corrupt", "expected_line"),
    [
        (
            with_value("next_action", 3, "upgrade"),
            "next_action: isin(('stay', 'downgrade', 'cancel')): 1 failing",
        ),
        (with_value("next_action", 3, None), "next_action: null values: 1 failing at rows 3"),
        (
            lambda table: table.assign(next_action="stay"),
            "the target column must contain every class (stay, downgrade, cancel)",
        ),
        (
            lambda table: table.assign(next_action=table["next_action"].replace("cancel", "stay")),
            "the target column must contain every class (stay, downgrade, cancel)",
        ),
        (lambda table: table.assign(churned=0), "unexpected column: 1 failing; e.g. churned"),
        (lambda table: table.drop(columns="next_action"), "missing column: 1 failing; e.g. next_action"),
    ],
    ids=["unknown-class", "null", "single-class", "missing-class", "binary-target", "no-target"],
)
def test_a_corrupted_multiclass_table_is_rejected(
    multiclass_sample: pd.DataFrame, corrupt: Corruption, expected_line: str
) -> None:
    report = validate_table(corrupt(multiclass_sample), MULTICLASS_TABLE)

    assert not report.is_valid
    assert expected_line in report.render()


def test_cli_checks_the_customer_table_of_the_problem_type(
    example_repository: Path,
    sample: pd.DataFrame,
    multiclass_sample: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    binary, multiclass = tmp_path / "binary.csv", tmp_path / "multiclass.csv"
    sample.to_csv(binary, index=False)
    multiclass_sample.to_csv(multiclass, index=False)

    # The example's model_config.json sets binary_classification.
    assert validation.main([str(binary)]) == 0
    assert validation.main([str(multiclass)]) == 1
    assert validation.main(["--problem-type", "multiclass_classification", str(multiclass)]) == 0
    assert validation.main(["--problem-type", "multiclass_classification", str(binary)]) == 1
    assert "multiclass.csv: OK (200 rows match the customer table (multiclass_classification) contract)" in (
        capsys.readouterr().out
    )


def test_cli_exits_non_zero_on_a_corrupt_file_and_zero_on_a_good_one(
    example_repository: Path, sample: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    sample.to_csv(good, index=False)
    with_value("tenure_months", 3, None)(sample).to_csv(bad, index=False)

    assert validation.main([str(good)]) == 0
    assert validation.main([str(good), str(bad)]) == 1
    output = capsys.readouterr().out
    assert f"{good}: OK (200 rows" in output
    assert f"{bad}: INVALID" in output


@pytest.fixture(scope="module")
def history() -> FeatureHistory:
    return generate_feature_history(40, snapshots=3, seed=3)


def with_duplicate_of_first_row(table: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([table, table.head(1)], ignore_index=True)


@pytest.mark.parametrize(
    ("corrupt", "expected_line"),
    [
        (with_value("event_time", 4, float("inf")), "event_time: finite epoch seconds: 1 failing at rows 4"),
        (with_value("event_time", 4, None), "event_time: null values: 1 failing at rows 4"),
        (with_value("event_time", 4, -5.0), "event_time: greater_than_or_equal_to(0): 1 failing at rows 4"),
        (lambda table: table.drop(columns="event_time"), "missing column: 1 failing; e.g. event_time"),
        (with_duplicate_of_first_row, "customer_id: duplicate rows on the unique columns: 2 failing"),
        # The column rules are the customer table's own.
        (
            with_value("monthly_charges", 5, 999.0),
            "monthly_charges: in_range(15.0, 150.0): 1 failing at rows 5",
        ),
        (with_value("contract_type", 2, "weekly"), "contract_type: isin("),
        # Labels are not features: they live in the label table.
        (lambda table: table.assign(churned=0), "unexpected column: 1 failing; e.g. churned"),
    ],
    ids=[
        "infinite-time",
        "null-time",
        "negative-time",
        "no-time",
        "duplicate-record",
        "above-range",
        "unknown-category",
        "label-column",
    ],
)
def test_corrupted_feature_records_are_rejected(
    history: FeatureHistory, corrupt: Corruption, expected_line: str
) -> None:
    report = validate_table(corrupt(history.records), source="records.csv", contract=FEATURE_RECORDS)

    assert not report.is_valid
    assert expected_line in report.render()


def test_feature_records_apply_the_customer_tables_rules_to_every_feature() -> None:
    for feature in FEATURE_COLUMNS:
        record_rule, table_rule = FEATURE_RECORDS.columns[feature], BINARY_TABLE.columns[feature]

        assert str(record_rule.dtype) == str(table_rule.dtype), feature
        assert record_rule.checks == table_rule.checks, feature


def test_whole_epoch_seconds_are_accepted_as_event_times(history: FeatureHistory) -> None:
    whole_seconds = history.records.assign(event_time=history.records["event_time"].round().astype("int64"))

    assert validate_table(whole_seconds, contract=FEATURE_RECORDS).is_valid


@pytest.mark.parametrize(
    ("corrupt", "expected_line"),
    [
        (with_value("label_time", 1, float("-inf")), "label_time: greater_than_or_equal_to(0)"),
        (with_value("churned", 2, 2), "churned: isin([0, 1]): 1 failing at rows 2"),
        (with_duplicate_of_first_row, "label_time: duplicate rows on the unique columns: 2 failing"),
    ],
    ids=["infinite-time", "unknown-label", "duplicate-label"],
)
def test_corrupted_labels_are_rejected(
    history: FeatureHistory, corrupt: Corruption, expected_line: str
) -> None:
    report = validate_table(corrupt(history.labels), contract=LABEL_TABLE)

    assert not report.is_valid
    assert expected_line in report.render()


def test_cli_validates_against_the_contract_it_is_asked_for(
    example_repository: Path, history: FeatureHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = tmp_path / "records.csv"
    history.records.to_csv(records, index=False)

    assert validation.main(["--contract", "feature-records", str(records)]) == 0
    assert validation.main([str(records)]) == 1
    output = capsys.readouterr().out
    assert f"{records}: OK ({len(history.records)} rows match the feature records contract)" in output
    assert f"{records}: INVALID" in output
