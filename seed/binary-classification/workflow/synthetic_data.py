"""A deterministic synthetic customer table, so the project runs without any download.

The target depends on the model's problem type (the model's settings, or --problem-type):

- binary_classification: `churned` (0/1). Churn follows a logistic model of the usual drivers
  (month-to-month contracts, short tenure, high charges, support calls, late payments,
  electronic checks, fiber customers) plus noise, so a model has a real but imperfect signal.
- multiclass_classification: `next_action`, what the customer does next: `stay`, `downgrade`
  (to a cheaper plan) or `cancel`. A multinomial logistic model of the same features: cancelling
  has the drivers of churn, downgrading those of a bill that hurts (high charges, late payments,
  seniors, fiber) without the urge to leave.

    python -m workflow.synthetic_data --output data/generated/customers.csv
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.config import CONFIG_OPTION_HELP, ProblemType, load_model_config
from workflow.schema import (
    CHURNED_COLUMN,
    CONTRACT_TYPES,
    ID_COLUMN,
    INTERNET_SERVICES,
    MAX_LATE_PAYMENTS_12M,
    MAX_MONTHLY_CHARGES,
    MAX_TENURE_MONTHS,
    MIN_MONTHLY_CHARGES,
    NEXT_ACTION_COLUMN,
    NEXT_ACTIONS,
    PAYMENT_METHODS,
    TARGET_COLUMNS,
)

DEFAULT_ROWS = 5000
DEFAULT_SEED = 42
DEFAULT_OUTPUT = Path("data/generated/customers.csv")

# Customers on longer contracts have been around longer: gamma (shape, scale) per contract.
_TENURE_GAMMA = {"month-to-month": (1.2, 12.0), "one-year": (2.5, 12.0), "two-year": (4.0, 11.0)}
_BASE_MONTHLY_CHARGE = {"dsl": 55.0, "fiber-optic": 85.0, "none": 22.0}


def generate_customers(
    n_rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    problem_type: ProblemType = "binary_classification",
) -> pd.DataFrame:
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
    if problem_type == "binary_classification":
        customers[CHURNED_COLUMN] = draw_churn(rng, customers)
    else:
        customers[NEXT_ACTION_COLUMN] = draw_next_action(rng, customers)
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


def next_action_logits(customers: pd.DataFrame) -> np.ndarray:
    """Log-odds of each next action against staying, one column per NEXT_ACTIONS, without noise."""
    stay = np.zeros(len(customers))
    downgrade = (
        -2.5
        + 0.03 * (customers["monthly_charges"].to_numpy() - 60.0)
        + 0.6 * customers["late_payments_12m"].to_numpy()
        + 0.7 * customers["senior_citizen"].to_numpy()
        + 0.6 * (customers["internet_service"] == "fiber-optic").to_numpy()
        # Long-standing customers rather trade down than leave.
        + 0.015 * customers["tenure_months"].to_numpy()
    )
    cancel = churn_logit(customers)
    logits = {"stay": stay, "downgrade": downgrade, "cancel": cancel}
    return np.column_stack([logits[action] for action in NEXT_ACTIONS])


def draw_next_action(rng: np.random.Generator, customers: pd.DataFrame) -> np.ndarray:
    """One of NEXT_ACTIONS per customer, drawn from the multinomial model plus unexplained noise."""
    logits = next_action_logits(customers) + rng.normal(0.0, 0.5, (len(customers), len(NEXT_ACTIONS)))
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    drawn = (rng.random((len(customers), 1)) > probabilities.cumsum(axis=1)).sum(axis=1)
    return np.asarray(NEXT_ACTIONS)[np.minimum(drawn, len(NEXT_ACTIONS) - 1)]


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
    parser.add_argument("--config", type=Path, help=CONFIG_OPTION_HELP)
    parser.add_argument(
        "--problem-type", choices=sorted(TARGET_COLUMNS), help="default: problem_type of --config"
    )
    args = parser.parse_args(argv)
    problem_type = args.problem_type or load_model_config(args.config).problem_type
    args.output.parent.mkdir(parents=True, exist_ok=True)
    customers = generate_customers(args.rows, args.seed, problem_type)
    customers.to_csv(args.output, index=False)
    target = customers[TARGET_COLUMNS[problem_type]]
    shares = ", ".join(
        f"{label}: {share:.1%}" for label, share in target.value_counts(normalize=True).items()
    )
    print(f"wrote {len(customers)} customers ({target.name} {shares}) to {args.output}")


if __name__ == "__main__":
    main()
