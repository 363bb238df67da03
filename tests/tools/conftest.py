"""Fixtures for the tools' tests: a fake AWS account (moto, in process) in the platform's region.

Clients are created with explicit fake credentials and region, and only ever used inside `mock_aws`,
so nothing here can reach AWS. They are created once per run: creating clients anew for every test
would dominate the suite's time.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config import load_config
from lambdas.common.contracts import (
    CSV_CONTENT_TYPE,
    INSTANCES_KEY,
    JSON_CONTENT_TYPE,
    SAMPLE_PAYLOADS_ARCHIVE,
    SAMPLE_PAYLOADS_FILE,
    InferenceContract,
)

# The fake account is in the platform's region, under the platform's name: what `rollback.main`
# reads from config/platform.yaml when --region and --platform-name are not given.
_PLATFORM_CONFIG = load_config()
REGION = _PLATFORM_CONFIG.environment.region
PLATFORM = _PLATFORM_CONFIG.name
ACCOUNT = "123456789012"  # moto's default account

_SESSION = boto3.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing", region_name=REGION
)


@cache
def client(service: str) -> Any:
    return _SESSION.client(service)


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh, empty fake account for one test."""
    with mock_aws():
        yield


# --- a model's package, its inference contract and sample payloads (the staging checks' tests) -----------

# One contract per problem type and format: JSON answers name attributes, CSV answers number columns.
CONTRACTS = {
    "binary-json": InferenceContract(
        "binary_classification", JSON_CONTENT_TYPE, JSON_CONTENT_TYPE, "label", probability_attribute="probability"
    ),
    "binary-csv": InferenceContract(
        "binary_classification", CSV_CONTENT_TYPE, CSV_CONTENT_TYPE, "1", probability_attribute="0"
    ),
    "multiclass-json": InferenceContract(
        "multiclass_classification", JSON_CONTENT_TYPE, JSON_CONTENT_TYPE, "species", probability_attribute="score"
    ),
    "multiclass-csv": InferenceContract("multiclass_classification", CSV_CONTENT_TYPE, CSV_CONTENT_TYPE, "0"),
    "regression-json": InferenceContract("regression", JSON_CONTENT_TYPE, JSON_CONTENT_TYPE, "price"),
    "regression-csv": InferenceContract("regression", CSV_CONTENT_TYPE, CSV_CONTENT_TYPE, "0"),
    # Requests and answers need not be in the same format.
    "regression-json-to-csv": InferenceContract("regression", JSON_CONTENT_TYPE, CSV_CONTENT_TYPE, "0"),
    "binary-csv-to-json": InferenceContract(
        "binary_classification", CSV_CONTENT_TYPE, JSON_CONTENT_TYPE, "label", probability_attribute="probability"
    ),
}
INSTANCES: list[dict[str, Any]] = [
    {"age": 34, "plan": "basic", "monthly_spend": 20.5},
    {"age": 61, "plan": "premium, annual", "monthly_spend": 99.0},
    {"age": 19, "plan": "basic", "monthly_spend": 0},
]
SAMPLE_BUCKET = "model-data"
SAMPLE_KEY = f"model/sample-payloads/abc123/{SAMPLE_PAYLOADS_ARCHIVE}"
SAMPLE_URL = f"s3://{SAMPLE_BUCKET}/{SAMPLE_KEY}"
PACKAGE_GROUP = "model"


def payload_document(instances: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps({INSTANCES_KEY: INSTANCES if instances is None else instances}).encode()


def sample_archive(content: bytes | None = None, *, member: str = SAMPLE_PAYLOADS_FILE) -> bytes:
    """A gzip tar archive holding `content` (by default the sample instances) as `member`."""
    data = payload_document() if content is None else content
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as archive:
        entry = tarfile.TarInfo(member)
        entry.size = len(data)
        archive.addfile(entry, io.BytesIO(data))
    return packed.getvalue()


def put_sample_archive(archive: bytes | None = None) -> str:
    """The archive in the model's data bucket (in moto); its URL."""
    s3 = client("s3")
    s3.create_bucket(Bucket=SAMPLE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=SAMPLE_BUCKET, Key=SAMPLE_KEY, Body=sample_archive() if archive is None else archive)
    return SAMPLE_URL


def create_package(*, properties: dict[str, str] | None = None, sample_url: str | None = None) -> str:
    """A versioned package of the model (in moto) recording `properties` and `sample_url`; its ARN."""
    sagemaker = client("sagemaker")
    if not sagemaker.list_model_package_groups(NameContains=PACKAGE_GROUP)["ModelPackageGroupSummaryList"]:
        sagemaker.create_model_package_group(ModelPackageGroupName=PACKAGE_GROUP)
    arguments: dict[str, Any] = {"ModelPackageGroupName": PACKAGE_GROUP}
    if properties:
        arguments["CustomerMetadataProperties"] = properties
    if sample_url:
        arguments["SamplePayloadUrl"] = sample_url
    arn: str = sagemaker.create_model_package(**arguments)["ModelPackageArn"]
    return arn


def prediction(contract: InferenceContract, number: int) -> dict[str, Any]:
    """A valid prediction for the contract's problem type, by attribute (varied with `number`)."""
    labels = {
        "binary_classification": number % 2,
        "multiclass_classification": ("setosa", "versicolor", 2)[number % 3],
        "regression": 100.5 + number,
    }
    values = {contract.prediction_attribute: labels[contract.problem_type]}
    if contract.probability_attribute is not None:
        values[contract.probability_attribute] = round(0.1 * (number % 11), 2)
    return values


def answer_body(contract: InferenceContract, predictions: list[dict[str, Any]]) -> bytes:
    """An endpoint's answer holding `predictions`, in the contract's accept type."""
    if contract.accept == JSON_CONTENT_TYPE:
        return json.dumps({"predictions": predictions}).encode()
    return csv_lines(predictions)


def batch_output(contract: InferenceContract, predictions: list[dict[str, Any]]) -> bytes:
    """A batch transform's results: one answer line per instance."""
    if contract.accept == JSON_CONTENT_TYPE:
        return b"".join(json.dumps({"predictions": [p]}).encode() + b"\n" for p in predictions)
    return csv_lines(predictions)


def csv_lines(predictions: list[dict[str, Any]]) -> bytes:
    """One CSV line per prediction, its attributes being column numbers."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for values in predictions:
        width = max(int(column) for column in values) + 1
        writer.writerow([values.get(str(column), "") for column in range(width)])
    return text.getvalue().encode()
