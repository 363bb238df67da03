"""Training job: fit a gradient-boosted classifier (and, if binary, pick its decision threshold).

--problem-type (set by the pipeline from model_config.json) chooses the target (features.py):
a binary model learns churned (0/1) and gets the probability cut-off with the best F1 on the
validation split; a multiclass model learns next_action with a multinomial (softmax) loss and
answers its most probable class.

SageMaker passes the channels and the model directory as SM_CHANNEL_<NAME> and
SM_MODEL_DIR, and each hyperparameter as a `--name value` argument. Locally, pass
the directories as arguments.

Everything written to the model directory becomes model.tar.gz: the fitted
scikit-learn pipeline, its metadata (problem type, features, target, classes, threshold,
versions) and the serving code under code/, so the artifact is self-contained.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import precision_recall_curve, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from csv_io import read_csv_directory
from features import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, PROBLEM_TYPES, TARGET_COLUMNS
from inference import BINARY_CLASSIFICATION, METADATA_FILE, MODEL_FILE, POSITIVE_CLASS

LOGGER = logging.getLogger("train")

# Defaults for local runs; the pipeline passes the same file's values to the training job,
# where they show up as the job's hyperparameters.
HYPERPARAMETERS = json.loads(Path(__file__).with_name("hyperparameters.json").read_text())

SERVING_CODE_DIR = "code"
SERVING_SCRIPT = "inference.py"


def read_split(channel_dir: Path, target: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = read_csv_directory(channel_dir)
    return frame.loc[:, list(FEATURES)], frame[target]


def build_pipeline(learning_rate: float, max_iter: int, max_leaf_nodes: int, seed: int) -> Pipeline:
    encode = ColumnTransformer(
        [
            # Unknown categories at serving time are encoded as all zeros instead of failing.
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ("numeric", "passthrough", list(NUMERIC_FEATURES)),
        ],
        verbose_feature_names_out=False,
    )
    # With more than two classes the log loss is multinomial: one tree per class per iteration.
    classifier = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=max_leaf_nodes,
        l2_regularization=1.0,
        random_state=seed,
    )
    return Pipeline([("encode", encode), ("classify", classifier)])


def best_f1_threshold(labels: pd.Series, probabilities: np.ndarray) -> float:
    """Probability cut-off with the best F1 on held-out data (the positive class is usually the minority)."""
    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    # The last precision/recall pair has no threshold: it is the "predict nothing" point.
    f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
    return float(thresholds[int(np.argmax(f1))])


def save_model(pipeline: Pipeline, problem_type: str, threshold: float | None, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / MODEL_FILE)
    metadata = {
        "problem_type": problem_type,
        "features": list(FEATURES),
        "target": TARGET_COLUMNS[problem_type],
        # As in the training data (tolist() turns numpy scalars into JSON's int and str).
        "classes": pipeline.classes_.tolist(),
        "decision_threshold": threshold,
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
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, default=BINARY_CLASSIFICATION)
    for name, value in HYPERPARAMETERS.items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    target = TARGET_COLUMNS[args.problem_type]
    train_features, train_labels = read_split(args.train_dir, target)
    validation_features, validation_labels = read_split(args.validation_dir, target)

    pipeline = build_pipeline(args.learning_rate, args.max_iter, args.max_leaf_nodes, args.seed)
    pipeline.fit(train_features, train_labels)

    threshold = None
    if args.problem_type == BINARY_CLASSIFICATION:
        if sorted(pipeline.classes_.tolist()) != [0, POSITIVE_CLASS]:
            raise ValueError(f"a binary target has the classes 0 and 1, {target} has {pipeline.classes_}")
        positive_column = pipeline.classes_.tolist().index(POSITIVE_CLASS)
        validation_probabilities = pipeline.predict_proba(validation_features)[:, positive_column]
        threshold = best_f1_threshold(validation_labels, validation_probabilities)
        LOGGER.info(
            "validation AUC %.4f, decision threshold %.3f",
            roc_auc_score(validation_labels, validation_probabilities),
            threshold,
        )
    else:
        LOGGER.info("validation accuracy %.4f", pipeline.score(validation_features, validation_labels))
    save_model(pipeline, args.problem_type, threshold, args.model_dir)


if __name__ == "__main__":
    main()
