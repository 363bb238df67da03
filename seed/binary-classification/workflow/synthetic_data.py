"""A deterministic synthetic customer-churn table, so the project runs without any download.

Churn follows a logistic model of the usual drivers (month-to-month contracts, short
tenure, high charges, support calls, late payments, electronic checks, fiber
customers) plus noise, so a model has a real but imperfect signal to learn.

    python -m workflow.synthetic_data --output data/generated/customers.csv
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.schema import (
    CONTRACT_TYPES,
    ID_COLUMN,
    INTERNET_SERVICES,
    MAX_LATE_PAYMENTS_12M,
    MAX_MONTHLY_CHARGES,
    MAX_TENURE_MONTHS,
    MIN_MONTHLY_CHARGES,
    PAYMENT_METHODS,
    TARGET_COLUMN,
)

DEFAULT_ROWS = 5000
DEFAULT_SEED = 42
DEFAULT_OUTPUT = Path("data/generated/customers.csv")

# Customers on longer contracts have been around longer: gamma (shape, scale) per contract.
_TENURE_GAMMA = {"month-to-month": (1.2, 12.0), "one-year": (2.5, 12.0), "two-year": (4.0, 11.0)}
_BASE_MONTHLY_CHARGE = {"dsl": 55.0, "fiber-optic": 85.0, "none": 22.0}


def generate_customers(n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACT_TYPES, size=n_rows, p=[0.55, 0.25, 0.20])
    internet = rng.choice(INTERNET_SERVICES, size=n_rows, p=[0.35, 0.45, 0.20])
    payment = rng.choice(PAYMENT_METHODS, size=n_rows, p=[0.35, 0.20, 0.22, 0.23])

    tenure = _tenure_months(rng, contract)
    monthly = _monthly_charges(rng, internet)
    total = np.round(monthly * tenure * rng.uniform(0.9, 1.1, n_rows), 2)
    is_fiber = internet == "fiber-optic"
    is_electronic_check = payment == "electronic-check"
    support_calls = rng.poisson(0.8 + 0.8 * is_fiber)
    late_payments = np.minimum(
        rng.poisson(0.3 + 0.9 * is_electronic_check + 0.3 * (payment == "mailed-check")),
        MAX_LATE_PAYMENTS_12M,
    )
    senior = (rng.random(n_rows) < 0.16).astype("int64")
    paperless = (rng.random(n_rows) < 0.6).astype("int64")

    customers = pd.DataFrame(
        {
            ID_COLUMN: [f"C{i:06d}" for i in range(1, n_rows + 1)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls_90d": support_calls.astype("int64"),
            "late_payments_12m": late_payments.astype("int64"),
            "senior_citizen": senior,
            "paperless_billing": paperless,
            "contract_type": contract,
            "payment_method": payment,
            "internet_service": internet,
        }
    )
    customers[TARGET_COLUMN] = draw_churn(rng, customers)
    return customers


def churn_logit(customers: pd.DataFrame) -> np.ndarray:
    """Log-odds of churning given a customer's features: the usual drivers, without noise."""
    return (
        -2.9
        + 1.6 * (customers["contract_type"] == "month-to-month").to_numpy()
        - 1.0 * (customers["contract_type"] == "two-year").to_numpy()
        - 0.045 * customers["tenure_months"].to_numpy()
        + 0.015 * (customers["monthly_charges"].to_numpy() - 60.0)
        + 0.55 * customers["support_calls_90d"].to_numpy()
        + 0.35 * customers["late_payments_12m"].to_numpy()
        + 0.5 * (customers["payment_method"] == "electronic-check").to_numpy()
        + 0.4 * (customers["internet_service"] == "fiber-optic").to_numpy()
        + 0.3 * customers["senior_citizen"].to_numpy()
        + 0.2 * customers["paperless_billing"].to_numpy()
    )


def draw_churn(rng: np.random.Generator, customers: pd.DataFrame) -> np.ndarray:
    """Churned (1) or not (0), drawn from the logistic model plus noise the features do not explain."""
    logit = churn_logit(customers) + rng.normal(0.0, 0.5, len(customers))
    return (rng.random(len(customers)) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")


def _tenure_months(rng: np.random.Generator, contract: np.ndarray) -> np.ndarray:
    shape = np.array([_TENURE_GAMMA[c][0] for c in contract])
    scale = np.array([_TENURE_GAMMA[c][1] for c in contract])
    return np.clip(np.rint(rng.gamma(shape, scale)), 0, MAX_TENURE_MONTHS).astype("int64")


def _monthly_charges(rng: np.random.Generator, internet: np.ndarray) -> np.ndarray:
    base = np.array([_BASE_MONTHLY_CHARGE[i] for i in internet])
    noisy = base + rng.normal(0.0, 10.0, len(internet))
    return np.round(np.clip(noisy, MIN_MONTHLY_CHARGES, MAX_MONTHLY_CHARGES), 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    customers = generate_customers(args.rows, args.seed)
    customers.to_csv(args.output, index=False)
    print(
        f"wrote {len(customers)} customers ({customers[TARGET_COLUMN].mean():.1%} churned) to {args.output}"
    )


if __name__ == "__main__":
    main()
