"""Columns the model reads and the target it learns, shared by the job scripts.

This folder is uploaded as the source directory of the SageMaker jobs, which run
`python preprocess.py` (and friends) from inside it: the scripts therefore import
each other as top-level modules (`import features`), never as a package.
"""

ID_COLUMN = "customer_id"

# The target of each problem type (problem_type in model_config.json, which the pipeline passes
# to the jobs as --problem-type): what the model predicts.
TARGET_COLUMNS: dict[str, str] = {
    "binary_classification": "churned",
    "multiclass_classification": "next_action",
}
PROBLEM_TYPES: tuple[str, ...] = tuple(TARGET_COLUMNS)
# The classes of each target, as the training data spells them (and the model answers them).
TARGET_CLASSES: dict[str, tuple[int | str, ...]] = {
    "binary_classification": (0, 1),
    "multiclass_classification": ("stay", "downgrade", "cancel"),
}

NUMERIC_FEATURES: tuple[str, ...] = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls_90d",
    "late_payments_12m",
    "senior_citizen",
    "paperless_billing",
)

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "contract_type",
    "payment_method",
    "internet_service",
)

FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
