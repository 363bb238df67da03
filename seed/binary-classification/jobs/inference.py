"""Serving handlers for the SageMaker scikit-learn container, and the model loader.

train.py copies this file into the model artifact (code/inference.py) and the model
package points the container at it (SAGEMAKER_PROGRAM), so the endpoint needs nothing
but model.tar.gz. evaluate.py loads the model through the same `model_fn`, so the
metrics are measured on exactly what gets served.

Requests: `application/json` as {"instances": [{<feature>: value, ...}, ...]}, or
`text/csv` rows without header, columns in the order of `features` in
model_metadata.json. Responses: `application/json` as
{"predictions": [{"churn_probability": p, "churned": 0|1}, ...]}, or `text/csv` with
one probability per line.
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


@dataclass(frozen=True)
class ChurnModel:
    pipeline: Pipeline
    features: list[str]
    decision_threshold: float

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(frame.loc[:, self.features])[:, 1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame) >= self.decision_threshold).astype(int)


def model_fn(model_dir: str) -> ChurnModel:
    directory = Path(model_dir)
    metadata = json.loads((directory / METADATA_FILE).read_text())
    return ChurnModel(
        pipeline=joblib.load(directory / MODEL_FILE),
        features=list(metadata["features"]),
        decision_threshold=float(metadata["decision_threshold"]),
    )


def input_fn(request_body: str | bytes, content_type: str) -> pd.DataFrame:
    body = request_body.decode("utf-8") if isinstance(request_body, bytes) else request_body
    media_type = _media_type(content_type)
    if media_type == "application/json":
        return pd.DataFrame.from_records(json.loads(body)["instances"])
    if media_type == "text/csv":
        # Positional columns: predict_fn names them, it is the one that sees the model.
        return pd.read_csv(io.StringIO(body), header=None)
    raise ValueError(f"unsupported content type {content_type!r}: use application/json or text/csv")


def predict_fn(frame: pd.DataFrame, model: ChurnModel) -> list[dict[str, float | int]]:
    probabilities = model.predict_proba(_with_feature_names(frame, model.features))
    return [
        {"churn_probability": float(p), "churned": int(p >= model.decision_threshold)} for p in probabilities
    ]


def output_fn(predictions: list[dict[str, float | int]], accept: str) -> str:
    if _media_type(accept) == "text/csv":
        return "\n".join(str(p["churn_probability"]) for p in predictions)
    return json.dumps({"predictions": predictions})


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
