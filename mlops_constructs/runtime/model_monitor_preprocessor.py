"""Model Monitor record preprocessor: captured `{"instances": [...]}` requests -> flat feature records.

Data capture stores each request body as sent, e.g. `{"instances": [{"tenure_months": 3, ...}, ...]}`,
while Model Monitor's analyzer profiles flat records, and the build pipeline's baseline profiles one
JSON object of features per line (seed/binary-classification: train_features.jsonl). This handler, run by the
monitoring job for every captured record, returns one flat record per instance with exactly the
feature keys the baseline has, so the monitor compares like with like. A request it cannot parse
becomes no record (and a log line) rather than failing the whole monitoring run.

Standard library only: it runs inside the Model Monitor container, network isolated.
"""

from __future__ import annotations

import base64
import json
from typing import Any


def instances(body: str | bytes, encoding: str = "JSON") -> list[dict[str, Any]]:
    """The feature records of one captured request body (`encoding` as data capture writes it)."""
    text = base64.b64decode(body).decode("utf-8") if encoding.upper() == "BASE64" else body
    payload = json.loads(text)
    records = payload.get("instances") if isinstance(payload, dict) else None
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise ValueError('expected {"instances": [{feature: value, ...}, ...]}')
    return records


def preprocess_handler(inference_record: Any, logger: Any = None) -> list[dict[str, Any]]:
    """Model Monitor's entry point: the captured request's instances, one flat record each."""
    endpoint_input = inference_record.endpoint_input
    try:
        return instances(endpoint_input.data, getattr(endpoint_input, "encoding", "JSON"))
    except (ValueError, UnicodeDecodeError) as error:
        if logger is not None:
            logger.warning(f"skipping a captured request that is not a JSON instances body: {error}")
        return []
