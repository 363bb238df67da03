"""Shared fixtures. Nothing here reaches AWS: moto fakes S3/SageMaker, botocore's Stubber the rest."""

import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from sagemaker.core import common_utils
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
# MLflow reads its MLFLOW_* variables (a developer's shell may name a real tracking server); no test
# depends on them: the tests that track point MLflow at a local store of their own (mlflow_store).
for _variable in [name for name in os.environ if name.startswith("MLFLOW_")]:
    del os.environ[_variable]

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

# The SDK reads botocore's endpoint data (a large JSON file) afresh for each image URI it looks up,
# a dozen times per pipeline definition: read it once. The data does not change while tests run.
common_utils._botocore_resolver = functools.cache(common_utils._botocore_resolver)

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
        source_repository="https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/demand-model-build",
    )


def _create_artifact_bucket() -> None:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def _fake_account() -> Iterator[None]:
    """A moto account holding the artifact bucket the platform would have created."""
    with mock_aws():
        _create_artifact_bucket()
        yield


fake_aws = pytest.fixture(_fake_account)


@dataclass(frozen=True)
class BuiltPipeline:
    """A pipeline definition, as the build upserts it, and the files the SDK uploaded to build it."""

    definition: dict[str, Any]
    uploaded: dict[str, bytes]


def build_pipeline(config: ModelConfig, env: BuildEnvironment) -> BuiltPipeline:
    """The model's pipeline definition, built offline in an account of its own."""
    from workflow.pipeline import get_pipeline, pipeline_session

    with mock_aws():
        _create_artifact_bucket()
        definition = json.loads(get_pipeline(config, env, pipeline_session(config, env)).definition())
        s3 = boto3.client("s3", region_name=REGION)
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        uploaded = {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}
    return BuiltPipeline(definition, uploaded)


def other_model_config(config: ModelConfig) -> ModelConfig:
    """Another regression model, unlike the example in every setting the pipeline reads: its names, a
    higher-is-better gate (r2), instance types, CSV answers, and no facets (`clarify` null)."""
    package = config.package_metadata
    return config.model_copy(
        update={
            "model_name": "footfall",
            "model_package_group_name": "footfall-models",
            "pipeline_name": "footfall-build",
            "metric": config.metric.model_copy(
                update={"name": "r2", "direction": "higher_is_better", "threshold": 0.8}
            ),
            "inference_instance_types": ["ml.c5.xlarge", "ml.m5.xlarge"],
            "resource_tags": {"mlops:model": "footfall"},
            "clarify": None,
            "package_metadata": package.model_copy(
                update={
                    "sample_payloads_prefix": "footfall/sample-payloads/",
                    "customer_metadata_properties": {
                        "mlops:accept": "text/csv",
                        "mlops:prediction-attribute": "0",
                    },
                }
            ),
        }
    )


@pytest.fixture(scope="session")
def built_pipeline(config: ModelConfig, build_env: BuildEnvironment) -> BuiltPipeline:
    """The example model's pipeline."""
    return build_pipeline(config, build_env)


@pytest.fixture(scope="session")
def other_model_pipeline(config: ModelConfig, build_env: BuildEnvironment) -> BuiltPipeline:
    return build_pipeline(other_model_config(config), build_env)


# The tracking server the platform names in MLFLOW_TRACKING_URI when it tracks experiments.
TRACKING_SERVER_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-mlflow"


@pytest.fixture(scope="session")
def tracked_pipeline(config: ModelConfig, build_env: BuildEnvironment) -> BuiltPipeline:
    """The example model's pipeline, built where the platform tracks experiments."""
    return build_pipeline(config, replace(build_env, mlflow_tracking_uri=TRACKING_SERVER_ARN))


@pytest.fixture(scope="session")
def tracked_other_model_pipeline(config: ModelConfig, build_env: BuildEnvironment) -> BuiltPipeline:
    """Another model's (no facets), built where the platform tracks experiments."""
    return build_pipeline(
        other_model_config(config), replace(build_env, mlflow_tracking_uri=TRACKING_SERVER_ARN)
    )


@pytest.fixture
def mlflow_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow's process-wide state as a new process has it, and restored after the test: the tracking
    and registry URIs and the experiment that mlflow.set_tracking_uri, set_registry_uri and
    set_experiment keep (and write into os.environ, for subprocesses)."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils
    import mlflow.tracking.fluent as fluent

    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    yield
    # None was set when the session started (above); monkeypatch puts back what a test set itself.
    for variable in [name for name in os.environ if name.startswith("MLFLOW_")]:
        del os.environ[variable]


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_state: None) -> str:
    """A local MLflow file store (tracking and model registry) standing in for the tracking server,
    named by MLFLOW_TRACKING_URI as the platform names the server to the build and the LogExperiment job."""
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    return uri


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
            "--predictions-dir", str(root / "predictions"),
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
