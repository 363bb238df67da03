"""Processing job: score the trained model on the held-out test split.

Writes evaluation.json in the SageMaker model-quality format
({"regression_metrics": {"rmse": {"value": ..., "standard_deviation": "NaN"}, ...}}).
The pipeline's condition step reads the gating metric from it, the model package
references it as its ModelQuality statistics, and the platform's approval gate reads
it again from S3.

It also writes the test split's predictions, predictions.csv (with a header): the actual
units sold (`label`) and the model's forecast (`prediction`), one row per store, product and
week. The pipeline's model-quality check computes Model Monitor's baseline from them.
"""

from __future__ import annotations

import argparse
import json
import logging
import tarfile
from pathlib import Path

import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from csv_io import read_csv_directory
from features import TARGET_COLUMN
from inference import DemandModel, model_fn

LOGGER = logging.getLogger("evaluate")

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "predictions.csv"
# The columns of predictions.csv, which the model-quality check names (workflow/registration.py).
LABEL_COLUMN = "label"
PREDICTION_COLUMN = "prediction"
MODEL_ARCHIVE = "model.tar.gz"
REPORT_SECTION = "regression_metrics"
# The names the pipeline condition and model_config.json "metric.name" can refer to.
REPORTED_METRICS = ("rmse", "mae", "mse", "r2")


def unpack_model(model_dir: Path) -> Path:
    """SageMaker hands the training output over as model.tar.gz; a local run may pass a directory."""
    archive = model_dir / MODEL_ARCHIVE
    if archive.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
    return model_dir


def predict(model: DemandModel, test: pd.DataFrame) -> pd.DataFrame:
    """The actual units sold of each test row beside the model's forecast, as the endpoint answers it."""
    return pd.DataFrame(
        {LABEL_COLUMN: test[TARGET_COLUMN].to_numpy(), PREDICTION_COLUMN: model.predict(test)}
    )


def compute_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    """The metrics of the model's forecasts (`predict`)."""
    actual = predictions[LABEL_COLUMN]
    predicted = predictions[PREDICTION_COLUMN]
    mse = float(mean_squared_error(actual, predicted))
    return {
        "rmse": mse**0.5,
        "mae": float(mean_absolute_error(actual, predicted)),
        "mse": mse,
        "r2": float(r2_score(actual, predicted)),
    }


def to_model_quality_report(metrics: dict[str, float]) -> dict[str, dict[str, dict[str, float | str]]]:
    # A single test split gives no spread: SageMaker's format spells that "NaN".
    return {
        REPORT_SECTION: {
            name: {"value": metrics[name], "standard_deviation": "NaN"} for name in REPORTED_METRICS
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
    test = read_csv_directory(args.test_dir)
    predictions = predict(model, test)
    metrics = compute_metrics(predictions)
    LOGGER.info("test metrics: %s", json.dumps(metrics))
    # What the metrics mean: the error of always forecasting the test split's own mean.
    LOGGER.info("a constant forecast would have rmse %.3f", float(test[TARGET_COLUMN].std(ddof=0)))

    args.output_dir.mkdir(parents=True, exist_ok=True)
    report = to_model_quality_report(metrics)
    (args.output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2))
    args.predictions_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.predictions_dir / PREDICTIONS_FILE, index=False)


if __name__ == "__main__":
    main()
