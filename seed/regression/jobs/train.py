"""Training job: fit a gradient-boosted regressor of the units a store sells of a product in a week.

SageMaker passes the channels and the model directory as SM_CHANNEL_<NAME> and
SM_MODEL_DIR, and each hyperparameter as a `--name value` argument. Locally, pass
the directories as arguments.

Everything written to the model directory becomes model.tar.gz: the fitted
scikit-learn pipeline, its metadata (features, versions) and the serving code under
code/, so the artifact is self-contained.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

import joblib
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from csv_io import read_csv_directory
from features import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET_COLUMN
from inference import METADATA_FILE, MODEL_FILE

LOGGER = logging.getLogger("train")

# Defaults for local runs; the pipeline passes the same file's values to the training job,
# where they show up as the job's hyperparameters.
HYPERPARAMETERS = json.loads(Path(__file__).with_name("hyperparameters.json").read_text())

SERVING_CODE_DIR = "code"
SERVING_SCRIPT = "inference.py"


def read_split(channel_dir: Path) -> tuple[pd.DataFrame, pd.Series]:
    frame = read_csv_directory(channel_dir)
    return frame.loc[:, list(FEATURES)], frame[TARGET_COLUMN]


def build_pipeline(
    learning_rate: float, max_iter: int, max_leaf_nodes: int, min_samples_leaf: int, seed: int
) -> Pipeline:
    encode = ColumnTransformer(
        [
            # Unknown categories at serving time are encoded as all zeros instead of failing.
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ("numeric", "passthrough", list(NUMERIC_FEATURES)),
        ],
        verbose_feature_names_out=False,
    )
    regressor = HistGradientBoostingRegressor(
        loss="squared_error",
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=max_leaf_nodes,
        min_samples_leaf=min_samples_leaf,
        # The validation split measures the model; the same iterations on every run.
        early_stopping=False,
        random_state=seed,
    )
    return Pipeline([("encode", encode), ("regress", regressor)])


def save_model(pipeline: Pipeline, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / MODEL_FILE)
    metadata = {
        "features": list(FEATURES),
        "target": TARGET_COLUMN,
        "scikit_learn_version": sklearn.__version__,
    }
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    serving_dir = model_dir / SERVING_CODE_DIR
    serving_dir.mkdir(exist_ok=True)
    shutil.copy2(Path(__file__).with_name(SERVING_SCRIPT), serving_dir / SERVING_SCRIPT)


def _sagemaker_path(variable: str, path_under_opt_ml: str) -> Path:
    return Path(os.environ.get(variable, f"/opt/ml/{path_under_opt_ml}"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--train-dir", type=Path, default=_sagemaker_path("SM_CHANNEL_TRAIN", "input/data/train")
    )
    parser.add_argument(
        "--validation-dir",
        type=Path,
        default=_sagemaker_path("SM_CHANNEL_VALIDATION", "input/data/validation"),
    )
    parser.add_argument("--model-dir", type=Path, default=_sagemaker_path("SM_MODEL_DIR", "model"))
    for name, value in HYPERPARAMETERS.items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    train_features, train_target = read_split(args.train_dir)
    validation_features, validation_target = read_split(args.validation_dir)

    pipeline = build_pipeline(
        args.learning_rate, args.max_iter, args.max_leaf_nodes, args.min_samples_leaf, args.seed
    )
    pipeline.fit(train_features, train_target)

    predicted = pipeline.predict(validation_features)
    LOGGER.info(
        "validation rmse %.3f, r2 %.4f",
        root_mean_squared_error(validation_target, predicted),
        r2_score(validation_target, predicted),
    )
    save_model(pipeline, args.model_dir)


if __name__ == "__main__":
    main()
