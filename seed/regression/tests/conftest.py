"""Shared fixtures. Nothing here reaches AWS: moto fakes S3/SageMaker, botocore's Stubber the rest."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from sagemaker.core.config.config_manager import SageMakerConfig
from threadpoolctl import threadpool_limits

import evaluate
import preprocess
import train
from workflow.config import MODEL_SETTINGS_VARIABLE, ModelConfig, load_model_config
from workflow.environment import BuildEnvironment
from workflow.synthetic_data import generate_sales

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
# The platform's CodeBuild project names its model and gives its settings; a developer's shell may too.
# No test depends on them: the tests build their own settings (EXAMPLE_CONFIG_PATH below).
os.environ.pop("MODEL_NAME", None)
os.environ.pop(MODEL_SETTINGS_VARIABLE, None)

# On the small (2 vCPU) build machines, OpenMP threads make these small gradient-boosting
# fits many times slower than a single thread does.
threadpool_limits(limits=1)

# The SDK checks its defaults (workflow/pipeline.py: SDK_DEFAULTS) against a JSON schema at every
# lookup, some sixty times per pipeline definition: most of this suite's time. Each distinct
# config is still checked, once.
_validated_configs: set[str] = set()
_validate_sagemaker_config = SageMakerConfig.validate_sagemaker_config


def _validate_each_config_once(sagemaker_config: dict[str, Any] | None = None) -> None:
    key = json.dumps(sagemaker_config, sort_keys=True)
    if key not in _validated_configs:
        _validate_sagemaker_config(sagemaker_config)
        _validated_configs.add(key)


SageMakerConfig.validate_sagemaker_config = staticmethod(_validate_each_config_once)

REGION = "eu-west-1"
BUCKET = "mlops-artifacts-test"
# The settings of the model these tests build, train and check: the platform's example regression
# model (demand), as the platform writes them. Never this repository's model_config.json: the platform
# writes that file for whichever model the repository builds (any name, metric or contract; for a
# SageMaker Projects template, its defaults under a placeholder name), and the tests must pass for
# every one of them. tests/test_config.py checks that file. The platform's own tests keep this file
# equal to what it writes for its example model.
EXAMPLE_CONFIG_PATH = Path(__file__).resolve().with_name("example_model_config.json")


@pytest.fixture(scope="session")
def config() -> ModelConfig:
    """The example model's settings (EXAMPLE_CONFIG_PATH)."""
    return load_model_config(EXAMPLE_CONFIG_PATH)


@pytest.fixture(scope="session")
def sales() -> pd.DataFrame:
    """The synthetic table at its default size, as CI trains on it."""
    return generate_sales()


@pytest.fixture(scope="session")
def build_env() -> BuildEnvironment:
    return BuildEnvironment(
        pipeline_role_arn="arn:aws:iam::123456789012:role/demand-pipeline",
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
def local_run(sales: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """preprocess -> train -> evaluate on the synthetic table, with the paths SageMaker would mount."""
    root = tmp_path_factory.mktemp("local_run")
    (root / "input").mkdir()
    sales.to_csv(root / "input" / "sales.csv", index=False)
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


class FakeClock:
    """Time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    """A SageMaker client and its Stubber; every queued answer must have been asked for."""
    client = boto3.client("sagemaker", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()
