"""Serving handlers for the SageMaker scikit-learn container, and the model loader.

train.py copies this file into the model artifact (code/inference.py) and the model
package points the container at it (SAGEMAKER_PROGRAM), so the endpoint needs nothing
but model.tar.gz. evaluate.py loads the model through the same `model_fn`, so the
metrics are measured on exactly what gets served.

Requests: `application/json` as {"instances": [{<feature>: value, ...}, ...]}, or
`text/csv` rows without header, columns in the order of `features` in
model_metadata.json. Responses: `application/json` as
{"predictions": [{"prediction": <units>}, ...]}, one per instance, or `text/csv` with
one number per line. A batch transform sends one JSON document, or several CSV rows,
per request: both are scored as a whole.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

MODEL_FILE = "model.joblib"
METADATA_FILE = "model_metadata.json"
JSON_CONTENT_TYPE = "application/json"
CSV_CONTENT_TYPE = "text/csv"
INSTANCES_KEY = "instances"
PREDICTIONS_KEY = "predictions"
PREDICTION_ATTRIBUTE = "prediction"


@dataclass(frozen=True)
class DemandModel:
    pipeline: Pipeline
    features: list[str]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ValueError(f"missing features: {', '.join(missing)}")
        # Units sold are never negative, whatever a regressor extrapolates to.
        predicted: np.ndarray = np.clip(self.pipeline.predict(frame.loc[:, self.features]), 0.0, None)
        return predicted


def model_fn(model_dir: str) -> DemandModel:
    directory = Path(model_dir)
    metadata = json.loads((directory / METADATA_FILE).read_text())
    return DemandModel(pipeline=joblib.load(directory / MODEL_FILE), features=list(metadata["features"]))


def input_fn(request_body: str | bytes, content_type: str) -> pd.DataFrame:
    body = request_body.decode("utf-8") if isinstance(request_body, bytes) else request_body
    media_type = _media_type(content_type)
    if media_type == JSON_CONTENT_TYPE:
        return _instances(json.loads(body))
    if media_type == CSV_CONTENT_TYPE:
        if not body.strip():
            raise ValueError("empty text/csv request: send one row of feature values per line")
        # Positional columns: predict_fn names them, it is the one that sees the model.
        return pd.read_csv(io.StringIO(body), header=None)
    raise ValueError(f"unsupported content type {content_type!r}: use application/json or text/csv")


def predict_fn(frame: pd.DataFrame, model: DemandModel) -> list[float]:
    return [float(units) for units in model.predict(_with_feature_names(frame, model.features))]


def output_fn(predictions: list[float], accept: str) -> tuple[str, str]:
    """The answer and its content type (the container sends a bare string as text/html)."""
    media_type = _media_type(accept)
    if media_type == CSV_CONTENT_TYPE:
        return "\n".join(str(units) for units in predictions), CSV_CONTENT_TYPE
    if media_type in (JSON_CONTENT_TYPE, "*/*", ""):
        answer = {PREDICTIONS_KEY: [{PREDICTION_ATTRIBUTE: units} for units in predictions]}
        return json.dumps(answer), JSON_CONTENT_TYPE
    raise ValueError(f"unsupported accept {accept!r}: use application/json or text/csv")


def _instances(document: object) -> pd.DataFrame:
    instances = document.get(INSTANCES_KEY) if isinstance(document, dict) else None
    if not isinstance(instances, list) or not instances:
        raise ValueError('expected {"instances": [{<feature>: value, ...}, ...]} with at least one instance')
    if not all(isinstance(instance, dict) for instance in instances):
        raise ValueError("every instance must be an object of feature values")
    return pd.DataFrame.from_records(instances)


def _media_type(header: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`."""
    return (header or "").split(";", 1)[0].strip().lower()


def _with_feature_names(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    if not pd.api.types.is_integer_dtype(frame.columns):
        return frame
    if frame.shape[1] != len(features):
        raise ValueError(
            f"expected {len(features)} CSV columns ({', '.join(features)}), got {frame.shape[1]}"
        )
    return frame.set_axis(features, axis="columns")
