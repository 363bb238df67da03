"""Processing job: score the trained model on the held-out test split.

Writes evaluation.json in the SageMaker model-quality format, under the section of the
model's problem type:
{"binary_classification_metrics": {"auc": {"value": ..., "standard_deviation": "NaN"}, ...}}
or {"multiclass_classification_metrics": {"accuracy": {...}, "weighted_f1": {...}}}.
The pipeline's condition step reads the gating metric from it, the model package
references it as its ModelQuality statistics, and the platform's approval gate reads
it again from S3.

It also writes the test split's predictions, predictions.csv (with a header): the true
`label`, the model's `prediction` and its `probability`, one row per customer. The
pipeline's model-quality check computes Model Monitor's baseline from them.
"""

from __future__ import annotations

import argparse
import json
import logging
import tarfile
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from csv_io import read_csv_directory
from inference import BINARY_CLASSIFICATION, MULTICLASS_CLASSIFICATION, ClassifierModel, model_fn

LOGGER = logging.getLogger("evaluate")

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "predictions.csv"
MODEL_ARCHIVE = "model.tar.gz"
# The columns of predictions.csv, which the model-quality check names (workflow/pipeline.py).
LABEL_COLUMN = "label"
PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"
# The names the pipeline condition and model_config.json "metric.name" can refer to, per problem type.
REPORTED_METRICS: dict[str, tuple[str, ...]] = {
    BINARY_CLASSIFICATION: ("auc", "f1", "accuracy", "precision", "recall"),
    MULTICLASS_CLASSIFICATION: ("accuracy", "weighted_f1"),
}


def unpack_model(model_dir: Path) -> Path:
    """SageMaker hands the training output over as model.tar.gz; a local run may pass a directory."""
    archive = model_dir / MODEL_ARCHIVE
    if archive.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
    return model_dir


def predict(model: ClassifierModel, test: pd.DataFrame) -> pd.DataFrame:
    """The true label of each test row beside the model's answer: the label and probability the
    endpoint would return (for a binary model, the probability of class 1)."""
    answers = model.predict(test)
    return pd.DataFrame(
        {
            LABEL_COLUMN: test[model.target].to_numpy(),
            PREDICTION_COLUMN: [answer.label for answer in answers],
            PROBABILITY_COLUMN: [answer.probability for answer in answers],
        }
    )


def compute_metrics(problem_type: str, predictions: pd.DataFrame) -> dict[str, float]:
    """The metrics of the model's answers (`predict`)."""
    truth = predictions[LABEL_COLUMN]
    labels = predictions[PREDICTION_COLUMN]
    if problem_type == MULTICLASS_CLASSIFICATION:
        return {
            "accuracy": float(accuracy_score(truth, labels)),
            "weighted_f1": float(f1_score(truth, labels, average="weighted")),
        }
    return {
        "auc": float(roc_auc_score(truth, predictions[PROBABILITY_COLUMN])),
        "f1": float(f1_score(truth, labels)),
        "accuracy": float(accuracy_score(truth, labels)),
        "precision": float(precision_score(truth, labels, zero_division=0)),
        "recall": float(recall_score(truth, labels)),
    }


def to_model_quality_report(
    problem_type: str, metrics: dict[str, float]
) -> dict[str, dict[str, dict[str, float | str]]]:
    # A single test split gives no spread: SageMaker's format spells that "NaN".
    return {
        f"{problem_type}_metrics": {
            name: {"value": metrics[name], "standard_deviation": "NaN"}
            for name in REPORTED_METRICS[problem_type]
        }
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/test"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--predictions-dir", type=Path, default=Path("/opt/ml/processing/predictions"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    model = model_fn(str(unpack_model(args.model_dir)))
    predictions = predict(model, read_csv_directory(args.test_dir))
    metrics = compute_metrics(model.problem_type, predictions)
    LOGGER.info("test metrics (%s): %s", model.problem_type, json.dumps(metrics))

    args.output_dir.mkdir(parents=True, exist_ok=True)
    report = to_model_quality_report(model.problem_type, metrics)
    (args.output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2))
    args.predictions_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.predictions_dir / PREDICTIONS_FILE, index=False)


if __name__ == "__main__":
    main()
