"""Processing job: score the trained model on the held-out test split.

Writes evaluation.json in the SageMaker model-quality format, under the section of the
model's problem type:
{"binary_classification_metrics": {"auc": {"value": ..., "standard_deviation": "NaN"}, ...}}
or {"multiclass_classification_metrics": {"accuracy": {...}, "weighted_f1": {...}}}.
The pipeline's condition step reads the gating metric from it, the model package
references it as its ModelQuality statistics, and the platform's approval gate reads
it again from S3.
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
MODEL_ARCHIVE = "model.tar.gz"
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


def compute_metrics(model: ClassifierModel, test: pd.DataFrame) -> dict[str, float]:
    """The metrics of the model's answers: the labels and probabilities the endpoint would return."""
    truth = test[model.target]
    answers = model.predict(test)
    labels = [answer.label for answer in answers]
    if model.problem_type == MULTICLASS_CLASSIFICATION:
        return {
            "accuracy": float(accuracy_score(truth, labels)),
            "weighted_f1": float(f1_score(truth, labels, average="weighted")),
        }
    # A binary answer's probability is that of class 1.
    return {
        "auc": float(roc_auc_score(truth, [answer.probability for answer in answers])),
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    model = model_fn(str(unpack_model(args.model_dir)))
    test = read_csv_directory(args.test_dir)
    metrics = compute_metrics(model, test)
    LOGGER.info("test metrics (%s): %s", model.problem_type, json.dumps(metrics))

    args.output_dir.mkdir(parents=True, exist_ok=True)
    report = to_model_quality_report(model.problem_type, metrics)
    (args.output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
