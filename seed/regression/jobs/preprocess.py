"""Processing job: clean the raw weekly-sales table and split it into train/validation/test.

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
from features import FEATURES, ID_COLUMNS, TARGET_COLUMN

LOGGER = logging.getLogger("preprocess")

TRAIN_FEATURES = "train_features"
SPLITS = ("train", "validation", "test")
CLARIFY_DATASET = "clarify_dataset"
# The columns of the Clarify dataset, in order: the features as the model reads them, then the target
# (the pipeline gives Clarify these as the dataset's headers).
CLARIFY_COLUMNS: tuple[str, ...] = (*FEATURES, TARGET_COLUMN)


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per store, product and week with a known target, and only the model's columns."""
    deduplicated = raw.drop_duplicates(subset=list(ID_COLUMNS), keep="last")
    with_target = deduplicated.dropna(subset=[TARGET_COLUMN])
    dropped = len(raw) - len(with_target)
    if dropped:
        LOGGER.warning("dropped %d duplicate rows or rows without units sold", dropped)
    return with_target.loc[:, [*FEATURES, TARGET_COLUMN]].astype({TARGET_COLUMN: "float64"})


def split(
    dataset: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, pd.DataFrame]:
    """A seeded random split of the rows (the weeks of every series land in every split)."""
    train_and_validation, test = train_test_split(dataset, test_size=test_fraction, random_state=seed)
    validation_share = validation_fraction / (1.0 - test_fraction)
    train, validation = train_test_split(train_and_validation, test_size=validation_share, random_state=seed)
    return dict(zip(SPLITS, (train, validation, test), strict=True))


def write_splits(splits: dict[str, pd.DataFrame], output_dir: Path) -> None:
    for name, frame in splits.items():
        split_dir = output_dir / name
        split_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(split_dir / f"{name}.csv", index=False)
        LOGGER.info("%s: %d rows, mean %.2f units sold", name, len(frame), frame[TARGET_COLUMN].mean())


def write_train_features(train: pd.DataFrame, output_dir: Path) -> None:
    """The training split's feature columns, one JSON object per line and no target.

    Each line has the shape of one of the `instances` of an `application/json` request, keys
    and value types alike (an integer feature stays an integer, a price stays a decimal), so the
    data-quality baseline computed from this file names and types its features as the endpoint
    receives them.
    """
    directory = output_dir / TRAIN_FEATURES
    directory.mkdir(parents=True, exist_ok=True)
    train.loc[:, list(FEATURES)].to_json(
        directory / f"{TRAIN_FEATURES}.jsonl", orient="records", lines=True, double_precision=15
    )


def write_clarify_dataset(test: pd.DataFrame, output_dir: Path) -> None:
    """The test split for Clarify: its columns in CLARIFY_COLUMNS order, and no header row.

    Clarify reads a CSV dataset as rows of values named by the headers of its analysis config, so
    a header row would be read as one more week of sales. It sends each row's features, in this
    order, to the model as the rows of a text/csv request (jobs/inference.py).
    """
    directory = output_dir / CLARIFY_DATASET
    directory.mkdir(parents=True, exist_ok=True)
    test.loc[:, list(CLARIFY_COLUMNS)].to_csv(directory / f"{CLARIFY_DATASET}.csv", index=False, header=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing"))
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    dataset = clean(read_csv_directory(args.input_dir))
    splits = split(dataset, args.validation_fraction, args.test_fraction, args.seed)
    write_splits(splits, args.output_dir)
    write_train_features(splits["train"], args.output_dir)
    write_clarify_dataset(splits["test"], args.output_dir)


if __name__ == "__main__":
    main()
