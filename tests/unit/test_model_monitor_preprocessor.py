"""The Model Monitor record preprocessor: captured request bodies to the baseline's flat records."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from mlops_constructs.runtime.model_monitor_preprocessor import preprocess_handler
from mlops_constructs.seeds import seed_template

SEED_DIRECTORY = seed_template("binary-classification")
SAMPLE_PAYLOADS = json.loads((SEED_DIRECTORY / "sample_payloads.json").read_text())


@dataclass
class CapturedInput:
    data: str
    encoding: str = "JSON"


@dataclass
class InferenceRecord:
    endpoint_input: CapturedInput


class Logger:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def test_every_instance_becomes_one_flat_record_with_its_features() -> None:
    record = InferenceRecord(CapturedInput(json.dumps(SAMPLE_PAYLOADS)))
    assert preprocess_handler(record) == SAMPLE_PAYLOADS["instances"]


def test_base64_captures_are_decoded() -> None:
    body = base64.b64encode(json.dumps(SAMPLE_PAYLOADS).encode()).decode()
    assert preprocess_handler(InferenceRecord(CapturedInput(body, "BASE64"))) == SAMPLE_PAYLOADS["instances"]


def test_the_records_have_the_baselines_keys() -> None:
    """The baseline profiles jobs/features.py's FEATURES; the captured records must have the same keys."""
    features_module = (SEED_DIRECTORY / "jobs" / "features.py").read_text()
    namespace: dict[str, object] = {}
    exec(compile(features_module, str(Path("features.py")), "exec"), namespace)  # noqa: S102 - our own seed file
    for record in preprocess_handler(InferenceRecord(CapturedInput(json.dumps(SAMPLE_PAYLOADS)))):
        features = namespace["FEATURES"]
        assert isinstance(features, tuple)
        assert set(record) == set(features)


def test_an_unparseable_capture_is_skipped_with_a_log_line() -> None:
    logger = Logger()
    for body in ("not json", json.dumps({"rows": []}), json.dumps({"instances": [1, 2]}), json.dumps([1])):
        assert preprocess_handler(InferenceRecord(CapturedInput(body)), logger) == []
    assert len(logger.warnings) == 4
