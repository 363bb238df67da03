"""Processing job: clean the raw customer table and split it into train/validation/test.

The target is that of --problem-type (binary_classification: churned, multiclass_classification:
next_action; see features.py), which the pipeline sets from model_config.json.

In SageMaker the raw CSV files are mounted under /opt/ml/processing/input and each
split directory under /opt/ml/processing is uploaded to S3 when the job ends.
Locally, pass --input-dir and --output-dir.

It also writes the training split's features as JSON Lines (train_features/), the
dataset the pipeline's data-quality baseline is computed from, and the test split as CSV
without a header (clarify_dataset/), the dataset of the pipeline's Clarify checks.

Feature encoding is deliberately not done here but inside the model pipeline
(train.py), so that the endpoint applies exactly the same transformation.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from csv_io import read_csv_directory
from features import FEATURES, ID_COLUMN, PROBLEM_TYPES, TARGET_COLUMNS
from inference import BINARY_CLASSIFICATION

LOGGER = logging.getLogger("preprocess")

TRAIN_FEATURES = "train_features"
CLARIFY_DATASET = "clarify_dataset"


def clean(raw: pd.DataFrame, problem_type: str) -> pd.DataFrame:
    """Keep one row per customer with a known label, and only the columns the model uses."""
    target = TARGET_COLUMNS[problem_type]
    deduplicated = raw.drop_duplicates(subset=ID_COLUMN, keep="last")
    labelled = deduplicated.dropna(subset=[target])
    dropped = len(raw) - len(labelled)
    if dropped:
        LOGGER.warning("dropped %d duplicate or unlabelled rows", dropped)
    columns = labelled.loc[:, [*FEATURES, target]]
    # A binary label read from a CSV with gaps comes as a float; the model answers 0 or 1.
    return columns.astype({target: "int64"}) if problem_type == BINARY_CLASSIFICATION else columns


def split(
    dataset: pd.DataFrame, target: str, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, pd.DataFrame]:
    """Stratified split, so every split keeps the class shares of the whole table."""
    train_and_validation, test = train_test_split(
        dataset, test_size=test_fraction, stratify=dataset[target], random_state=seed
    )
    validation_share = validation_fraction / (1.0 - test_fraction)
    train, validation = train_test_split(
        train_and_validation,
        test_size=validation_share,
        stratify=train_and_validation[target],
        random_state=seed,
    )
    return {"train": train, "validation": validation, "test": test}


def write_splits(splits: dict[str, pd.DataFrame], target: str, output_dir: Path) -> None:
    for name, frame in splits.items():
        split_dir = output_dir / name
        split_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(split_dir / f"{name}.csv", index=False)
        shares = frame[target].value_counts(normalize=True).round(3).to_dict()
        LOGGER.info("%s: %d rows, %s shares %s", name, len(frame), target, shares)


def write_train_features(train: pd.DataFrame, output_dir: Path) -> None:
    """The training split's feature columns, one JSON object per line and no label.

    Each line has the shape of one of the `instances` of an `application/json` request, keys
    and value types alike (an integer feature stays an integer), so the data-quality baseline
    computed from this file names and types its features as the endpoint receives them.
    """
    directory = output_dir / TRAIN_FEATURES
    directory.mkdir(parents=True, exist_ok=True)
    train.loc[:, list(FEATURES)].to_json(
        directory / f"{TRAIN_FEATURES}.jsonl", orient="records", lines=True, double_precision=15
    )


def clarify_columns(target: str) -> list[str]:
    """The columns of the Clarify dataset, in order: the features as the model reads them, then
    the target (the pipeline gives Clarify these as the dataset's headers)."""
    return [*FEATURES, target]


def write_clarify_dataset(test: pd.DataFrame, target: str, output_dir: Path) -> None:
    """The test split for Clarify: its columns in `clarify_columns` order, and no header row.

    Clarify reads a CSV dataset as rows of values named by the headers of its analysis config, so
    a header row would be read as one more customer. In text/csv requests it sends each row's
    features, in this order, as the endpoint expects them (jobs/inference.py); in application/json
    requests it names them with the headers.
    """
    directory = output_dir / CLARIFY_DATASET
    directory.mkdir(parents=True, exist_ok=True)
    test.loc[:, clarify_columns(target)].to_csv(
        directory / f"{CLARIFY_DATASET}.csv", index=False, header=False
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing"))
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, default=BINARY_CLASSIFICATION)
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    dataset = clean(read_csv_directory(args.input_dir), args.problem_type)
    target = TARGET_COLUMNS[args.problem_type]
    splits = split(dataset, target, args.validation_fraction, args.test_fraction, args.seed)
    write_splits(splits, target, args.output_dir)
    write_train_features(splits["train"], args.output_dir)
    write_clarify_dataset(splits["test"], target, args.output_dir)


if __name__ == "__main__":
    main()
