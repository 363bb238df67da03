"""Shared fixtures. Nothing here reaches AWS: moto fakes S3/SageMaker, botocore's Stubber the rest."""

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws
from threadpoolctl import threadpool_limits

import evaluate
import preprocess
import train
from workflow.environment import BuildEnvironment
from workflow.synthetic_data import generate_customers

# conftest is imported before any test module, hence before the SageMaker SDK, which needs a
# region at import time. Fake credentials make sure a developer's real ones are never used.
os.environ.update(
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    # The SDK would otherwise ask IAM to simulate the pipeline role's policies.
    SAGEMAKER_VALIDATE_ROLE="false",
)
os.environ.pop("AWS_PROFILE", None)

# On the small (2 vCPU) build machines, OpenMP threads make these small gradient-boosting
# fits about 20 times slower than a single thread does.
threadpool_limits(limits=1)

REGION = "eu-west-1"
BUCKET = "mlops-artifacts-test"


@pytest.fixture(scope="session")
def customers() -> pd.DataFrame:
    return generate_customers()


@pytest.fixture(scope="session")
def build_env() -> BuildEnvironment:
    return BuildEnvironment(
        pipeline_role_arn="arn:aws:iam::123456789012:role/churn-pipeline",
        artifact_bucket=BUCKET,
        kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        region=REGION,
        source_commit="4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
    )


def _fake_account() -> Iterator[None]:
    """A moto account holding the artifact bucket the platform would have created."""
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield


fake_aws = pytest.fixture(_fake_account)
fake_aws_for_module = pytest.fixture(_fake_account, scope="module")


@pytest.fixture(scope="session")
def local_run(customers: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """preprocess -> train -> evaluate on the synthetic table, with the paths SageMaker would mount."""
    root = tmp_path_factory.mktemp("local_run")
    (root / "input").mkdir()
    customers.to_csv(root / "input" / "customers.csv", index=False)
    preprocess.main(["--input-dir", str(root / "input"), "--output-dir", str(root)])
    train.main(
        [
            "--train-dir", str(root / "train"),
            "--validation-dir", str(root / "validation"),
            "--model-dir", str(root / "model"),
        ]
    )  # fmt: skip
    evaluate.main(
        [
            "--model-dir", str(root / "model"),
            "--test-dir", str(root / "test"),
            "--output-dir", str(root / "evaluation"),
        ]
    )  # fmt: skip
    return root
