"""Validate tables against their data contract and report every problem at once.

    python -m workflow.validation data/generated/customers.csv
    python -m workflow.validation --contract feature-records data/generated/feature_records.csv

The customer table's target depends on the problem type (the model's settings, or --problem-type).

Exits 1, with a report grouped by column and check, when any table breaks the contract.
"""

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.errors
import pandera.pandas as pa

from workflow.config import CONFIG_OPTION_HELP, ProblemType, load_model_config
from workflow.schema import CUSTOMER_TABLES, FEATURE_RECORDS, LABEL_TABLE

MAX_EXAMPLES = 5

CUSTOMERS_CONTRACT = "customers"
CONTRACTS = {"feature-records": FEATURE_RECORDS, "labels": LABEL_TABLE}

# pandera's check identifiers, in words a data scientist reading a CI log expects.
_CHECK_WORDING = {
    "column_in_schema": "unexpected column",
    "column_in_dataframe": "missing column",
    "not_nullable": "null values",
    "field_uniqueness": "duplicate values",
    "multiple_fields_uniqueness": "duplicate rows on the unique columns",
}
_DTYPE_CHECK = re.compile(r"^dtype\('(?P<dtype>[^']+)'\)$")


@dataclass(frozen=True)
class Violation:
    column: str
    check: str
    failing_values: int
    examples: tuple[str, ...]
    rows: tuple[int, ...]


@dataclass(frozen=True)
class ValidationReport:
    source: str
    contract: str
    rows: int
    violations: tuple[Violation, ...]

    @property
    def is_valid(self) -> bool:
        return not self.violations

    def render(self) -> str:
        if self.is_valid:
            return f"{self.source}: OK ({self.rows} rows match the {self.contract} contract)"
        lines = [f"{self.source}: INVALID ({self.rows} rows, {len(self.violations)} problems)"]
        for violation in self.violations:
            examples = ", ".join(violation.examples)
            where = f" at rows {', '.join(map(str, violation.rows))}" if violation.rows else ""
            lines.append(
                f"  - {violation.column}: {violation.check}:"
                f" {violation.failing_values} failing{where}; e.g. {examples}"
            )
        return "\n".join(lines)


def validate_table(
    table: pd.DataFrame, contract: pa.DataFrameSchema, source: str = "table"
) -> ValidationReport:
    try:
        contract.validate(table, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        return ValidationReport(source, str(contract.name), len(table), _violations(errors.failure_cases))
    return ValidationReport(source, str(contract.name), len(table), ())


def validate_csv(path: Path, contract: pa.DataFrameSchema) -> ValidationReport:
    return validate_table(pd.read_csv(path), contract, source=str(path))


def _violations(failure_cases: pd.DataFrame) -> tuple[Violation, ...]:
    """One violation per (column, check) instead of one line per failing cell."""
    cases = failure_cases.assign(column=failure_cases["column"].fillna("<table>"))
    violations = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        examples = tuple(str(value) for value in group["failure_case"].drop_duplicates().head(MAX_EXAMPLES))
        rows = tuple(int(index) for index in group["index"].dropna().drop_duplicates().head(MAX_EXAMPLES))
        violations.append(Violation(str(column), _in_words(str(check)), len(group), examples, rows))
    return tuple(violations)


def _in_words(check: str) -> str:
    dtype = _DTYPE_CHECK.match(check)
    if dtype:
        return f"wrong type (expected {dtype['dtype']})"
    return _CHECK_WORDING.get(check, check)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", type=Path, help="CSV files to validate")
    parser.add_argument(
        "--contract", choices=sorted([CUSTOMERS_CONTRACT, *CONTRACTS]), default=CUSTOMERS_CONTRACT
    )
    parser.add_argument("--config", type=Path, help=CONFIG_OPTION_HELP)
    parser.add_argument(
        "--problem-type",
        choices=sorted(CUSTOMER_TABLES),
        help="the target of the customer table (default: problem_type of --config)",
    )
    args = parser.parse_args(argv)
    if args.contract == CUSTOMERS_CONTRACT:
        problem_type: ProblemType = args.problem_type or load_model_config(args.config).problem_type
        contract = CUSTOMER_TABLES[problem_type]
    else:
        contract = CONTRACTS[args.contract]
    reports = [validate_csv(path, contract) for path in args.paths]
    for report in reports:
        print(report.render())
    return 0 if all(report.is_valid for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
