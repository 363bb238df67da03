"""Serving handlers for the SageMaker scikit-learn container, and the model loader.

train.py copies this file into the model artifact (code/inference.py) and the model
package points the container at it (SAGEMAKER_PROGRAM), so the endpoint needs nothing
but model.tar.gz: this file imports none of its neighbours. evaluate.py loads the model
through the same `model_fn` and scores its answers, so the metrics are measured on
exactly what gets served.

Requests, one per real-time invocation or batch-transform mini-batch:
- `application/json`: one document {"instances": [{<feature>: value, ...}, ...]}
  (a batch transform over JSON Lines sends one line, that is one document, per request);
- `text/csv`: one or more rows without header, columns in the order of `features` in
  model_metadata.json.

Answers, one prediction per instance or row, in order:
- `application/json`: {"predictions": [{"label": <label>, "probability": <p>}, ...]};
- `text/csv`: one `label,probability` line per row.

A binary model answers label 0 or 1 (the decision threshold chosen in training applied to
the probability) and the probability of class 1. A multiclass model answers the most probable
class, as it is spelt in the training data, and that class's probability.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import pandas as pd
from sklearn.pipeline import Pipeline

MODEL_FILE = "model.joblib"
METADATA_FILE = "model_metadata.json"

BINARY_CLASSIFICATION = "binary_classification"
MULTICLASS_CLASSIFICATION = "multiclass_classification"
# The positive class of a binary model, whose probability a binary answer carries.
POSITIVE_CLASS = 1

JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv"
# The answer's field names: model_config.json declares them to the platform as
# mlops:prediction-attribute and mlops:probability-attribute.
PREDICTION_ATTRIBUTE = "label"
PROBABILITY_ATTRIBUTE = "probability"

Label = int | str


@dataclass(frozen=True)
class Prediction:
    label: Label
    probability: float


@dataclass(frozen=True)
class ClassifierModel:
    pipeline: Pipeline
    features: list[str]
    target: str
    problem_type: str
    # In the order of the pipeline's predict_proba columns.
    classes: list[Label]
    # Binary models only: the probability of class 1 from which the answer is 1.
    decision_threshold: float | None

    def __post_init__(self) -> None:
        if self.problem_type not in (BINARY_CLASSIFICATION, MULTICLASS_CLASSIFICATION):
            raise ValueError(f"unknown problem_type {self.problem_type!r} in {METADATA_FILE}")

    def predict(self, frame: pd.DataFrame) -> list[Prediction]:
        probabilities = self.pipeline.predict_proba(frame.loc[:, self.features])
        if self.problem_type == BINARY_CLASSIFICATION:
            threshold = self.decision_threshold
            if threshold is None:
                raise ValueError(f"a binary model needs its decision_threshold in {METADATA_FILE}")
            positive = probabilities[:, self.classes.index(POSITIVE_CLASS)]
            return [Prediction(int(p >= threshold), float(p)) for p in positive]
        best = probabilities.argmax(axis=1)
        return [
            Prediction(self.classes[column], float(probabilities[row, column]))
            for row, column in enumerate(best)
        ]


def model_fn(model_dir: str) -> ClassifierModel:
    directory = Path(model_dir)
    metadata = json.loads((directory / METADATA_FILE).read_text())
    threshold = metadata.get("decision_threshold")
    return ClassifierModel(
        pipeline=joblib.load(directory / MODEL_FILE),
        features=list(metadata["features"]),
        target=str(metadata["target"]),
        problem_type=str(metadata["problem_type"]),
        classes=list(metadata["classes"]),
        decision_threshold=None if threshold is None else float(threshold),
    )


def input_fn(request_body: str | bytes, content_type: str) -> pd.DataFrame:
    body = request_body.decode("utf-8") if isinstance(request_body, bytes) else request_body
    media_type = _media_type(content_type)
    if media_type == JSON_MEDIA_TYPE:
        return pd.DataFrame.from_records(_instances(body))
    if media_type == CSV_MEDIA_TYPE:
        # Positional columns: predict_fn names them, it is the one that sees the model.
        return pd.read_csv(io.StringIO(body), header=None)
    raise ValueError(f"unsupported content type {content_type!r}: use {JSON_MEDIA_TYPE} or {CSV_MEDIA_TYPE}")


def predict_fn(frame: pd.DataFrame, model: ClassifierModel) -> list[Prediction]:
    return model.predict(_with_feature_names(frame, model.features))


def output_fn(predictions: list[Prediction], accept: str) -> tuple[str, str]:
    """The answer and its content type: the container would send a bare string as text/html, which
    data capture and Model Monitor would not read as the JSON or CSV it is."""
    if _media_type(accept) == CSV_MEDIA_TYPE:
        lines = io.StringIO()
        writer = csv.writer(lines, lineterminator="\n")
        writer.writerows((p.label, p.probability) for p in predictions)
        # No newline after the last line: batch transform adds one between answers itself.
        return lines.getvalue().removesuffix("\n"), CSV_MEDIA_TYPE
    answer = {
        "predictions": [
            {PREDICTION_ATTRIBUTE: p.label, PROBABILITY_ATTRIBUTE: p.probability} for p in predictions
        ]
    }
    return json.dumps(answer), JSON_MEDIA_TYPE


def _instances(body: str) -> list[dict[str, object]]:
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise ValueError(
            f'the {JSON_MEDIA_TYPE} body must be one JSON document {{"instances": [...]}} ({error})'
        ) from error
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list) or not all(isinstance(item, dict) for item in instances):
        raise ValueError('the JSON body must be {"instances": [{<feature>: value, ...}, ...]}')
    return instances


def _media_type(header: str) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`."""
    return header.split(";", 1)[0].strip().lower()


def _with_feature_names(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    if not pd.api.types.is_integer_dtype(frame.columns):
        return frame
    if frame.shape[1] != len(features):
        raise ValueError(
            f"expected {len(features)} CSV columns ({', '.join(features)}), got {frame.shape[1]}"
        )
    return frame.set_axis(features, axis="columns")
