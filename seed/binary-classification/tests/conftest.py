"""Shared fixtures. Nothing here reaches AWS: moto fakes S3/SageMaker, botocore's Stubber the rest."""

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir
from moto import mock_aws
from threadpoolctl import threadpool_limits

import evaluate
import preprocess
import train
import workflow.config
from workflow.config import MODEL_SETTINGS_VARIABLE, ModelConfig, ProblemType, load_model_config
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
# The build sets the model's settings here; no test depends on them: the tests build their own
# settings (EXAMPLE_CONFIG_PATH below).
os.environ.pop(MODEL_SETTINGS_VARIABLE, None)

# The SageMaker SDK validates its defaults config (pipeline.SDK_DEFAULTS) against its JSON schema at
# every one of the ~170 lookups a pipeline definition makes, a quarter of a second each: most of the
# time these tests would spend. The config is one constant, so validate each distinct one once.
from sagemaker.core.config.config_manager import SageMakerConfig

_validate_sdk_config = SageMakerConfig.validate_sagemaker_config
_valid_sdk_configs: set[str] = set()


def _validate_sdk_config_once(sagemaker_config: dict[str, Any] | None = None) -> None:
    key = json.dumps(sagemaker_config, sort_keys=True, default=str)
    if key not in _valid_sdk_configs:
        _validate_sdk_config(sagemaker_config)
        _valid_sdk_configs.add(key)


SageMakerConfig.validate_sagemaker_config = staticmethod(_validate_sdk_config_once)

# MLflow reads its MLFLOW_* variables (a developer's shell may name a real tracking server); no test
# depends on them: the tests that track point MLflow at a local store of their own (mlflow_store).
for _variable in [name for name in os.environ if name.startswith("MLFLOW_")]:
    del os.environ[_variable]

# Property tests explore the same examples on every run, and keep Hypothesis' files out of this
# folder: the platform pushes the folder, as it is, into every new model repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hypothesis-model-build")
settings.register_profile("seed", database=None, derandomize=True, deadline=None)
settings.load_profile("seed")

# On the small (2 vCPU) build machines, OpenMP threads make these small gradient-boosting
# fits about 20 times slower than a single thread does.
threadpool_limits(limits=1)

REGION = "eu-west-1"
BUCKET = "mlops-artifacts-test"
FEATURE_GROUP = "churn-customer-features"
OFFLINE_STORE_DATABASE = "sagemaker_featurestore"
OFFLINE_STORE_TABLE = "churn_customer_features_1704067200"

# The feature definitions the platform creates for the churn feature group (config/platform.yaml).
PLATFORM_FEATURE_DEFINITIONS = [
    {"FeatureName": "customer_id", "FeatureType": "String"},
    {"FeatureName": "event_time", "FeatureType": "Fractional"},
    {"FeatureName": "tenure_months", "FeatureType": "Integral"},
    {"FeatureName": "monthly_charges", "FeatureType": "Fractional"},
    {"FeatureName": "total_charges", "FeatureType": "Fractional"},
    {"FeatureName": "support_calls_90d", "FeatureType": "Integral"},
    {"FeatureName": "late_payments_12m", "FeatureType": "Integral"},
    {"FeatureName": "senior_citizen", "FeatureType": "Integral"},
    {"FeatureName": "paperless_billing", "FeatureType": "Integral"},
    {"FeatureName": "contract_type", "FeatureType": "String"},
    {"FeatureName": "payment_method", "FeatureType": "String"},
    {"FeatureName": "internet_service", "FeatureType": "String"},
]


def feature_group_description(**changes: Any) -> dict[str, Any]:
    """DescribeFeatureGroup's answer for the platform's churn feature group, with changes."""
    return {
        "FeatureGroupArn": f"arn:aws:sagemaker:{REGION}:123456789012:feature-group/{FEATURE_GROUP}",
        "FeatureGroupName": FEATURE_GROUP,
        "RecordIdentifierFeatureName": "customer_id",
        "EventTimeFeatureName": "event_time",
        "FeatureDefinitions": PLATFORM_FEATURE_DEFINITIONS,
        "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
        "FeatureGroupStatus": "Created",
        "OnlineStoreConfig": {"EnableOnlineStore": True},
        "OfflineStoreConfig": {
            "S3StorageConfig": {"S3Uri": "s3://mlops-features-test/offline-store"},
            "DataCatalogConfig": {
                "TableName": OFFLINE_STORE_TABLE,
                "Catalog": "AwsDataCatalog",
                "Database": OFFLINE_STORE_DATABASE,
            },
        },
        "NextToken": "",
    } | changes


@pytest.fixture(scope="session")
def customers() -> pd.DataFrame:
    return generate_customers()


@pytest.fixture(scope="session")
def multiclass_customers() -> pd.DataFrame:
    return generate_customers(problem_type="multiclass_classification")


# The settings of the model these tests build, train and check: the platform's example model (churn,
# binary, with a feature group), as the platform writes them. Never this repository's model_config.json:
# the platform writes that file for whichever model the repository builds (any name, problem type,
# contract or feature group; for a SageMaker Projects template, its defaults under a placeholder name),
# and the tests must pass for every one of them. tests/test_config.py checks that file. The platform's
# own tests keep this file equal to what it writes for its example model.
EXAMPLE_CONFIG_PATH = Path(__file__).resolve().with_name("example_model_config.json")


@pytest.fixture(scope="session")
def config() -> ModelConfig:
    """The example model's settings (EXAMPLE_CONFIG_PATH)."""
    return load_model_config(EXAMPLE_CONFIG_PATH)


def use_as_repository_config(config: ModelConfig, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make `config`, written to `directory`, the model_config.json that the commands read by default."""
    path = write_model_config(directory, config)
    monkeypatch.setattr(workflow.config, "DEFAULT_CONFIG_PATH", path)
    return path


@pytest.fixture
def example_repository(config: ModelConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of the example model: the commands read its settings when given no --config."""
    directory = tmp_path / "repository"
    directory.mkdir()
    return use_as_repository_config(config, directory, monkeypatch)


def multiclass_config(config: ModelConfig) -> ModelConfig:
    """The example's settings, as the platform writes them for a multiclass model."""
    package = config.package_metadata
    contract = package.customer_metadata_properties.model_copy(
        update={"problem_type": "multiclass_classification"}
    )
    clarify = config.clarify.model_copy(update={"label_values": ["cancel"]}) if config.clarify else None
    return config.model_copy(
        update={
            "problem_type": "multiclass_classification",
            # What this table's multiclass model clears (README).
            "metric": config.metric.model_copy(update={"name": "weighted_f1", "threshold": 0.55}),
            "package_metadata": package.model_copy(update={"customer_metadata_properties": contract}),
            # Its positive outcome is a class: cancelling.
            "clarify": clarify,
        }
    )


@pytest.fixture(scope="session")
def build_env() -> BuildEnvironment:
    return BuildEnvironment(
        pipeline_role_arn="arn:aws:iam::123456789012:role/churn-pipeline",
        artifact_bucket=BUCKET,
        kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        region=REGION,
        source_commit="4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
        source_repository="https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/churn-model-build",
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
fake_aws_for_module = pytest.fixture(_fake_account, scope="module")


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
    """Another binary model, unlike the example in every setting the pipeline reads: its names, a
    lower-is-better gate, instance types, a CSV contract, and no facets (`clarify` null)."""
    package = config.package_metadata
    contract = package.customer_metadata_properties.model_copy(
        update={
            "content_type": "text/csv",
            "accept": "text/csv",
            "prediction_attribute": "0",
            "probability_attribute": "1",
        }
    )
    return config.model_copy(
        update={
            "model_name": "fraud",
            "model_package_group_name": "fraud-models",
            "pipeline_name": "fraud-build",
            "metric": config.metric.model_copy(
                update={"name": "f1", "threshold": 0.6, "direction": "lower_is_better"}
            ),
            "inference_instance_types": ["ml.c5.xlarge", "ml.m5.xlarge"],
            "package_metadata": package.model_copy(
                update={
                    "sample_payloads_prefix": "fraud/sample-payloads/",
                    "customer_metadata_properties": contract,
                }
            ),
            "resource_tags": {"mlops:model": "fraud"},
            "clarify": None,
        }
    )


@pytest.fixture(scope="session")
def built_pipeline(config: ModelConfig, build_env: BuildEnvironment) -> BuiltPipeline:
    """The example model's pipeline."""
    return build_pipeline(config, build_env)


@pytest.fixture(scope="session")
def multiclass_pipeline(config: ModelConfig, build_env: BuildEnvironment) -> BuiltPipeline:
    return build_pipeline(multiclass_config(config), build_env)


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


def write_model_config(directory: Path, config: ModelConfig) -> Path:
    """model_config.json as the platform writes it (the contract under its mlops:* names)."""
    path = directory / "model_config.json"
    path.write_text(config.model_dump_json(by_alias=True, indent=2))
    return path


def run_jobs(table: pd.DataFrame, root: Path, problem_type: ProblemType) -> Path:
    """preprocess -> train -> evaluate on a table, with the paths and arguments of the pipeline."""
    (root / "input").mkdir()
    table.to_csv(root / "input" / "customers.csv", index=False)
    preprocess.main(
        ["--input-dir", str(root / "input"), "--output-dir", str(root), "--problem-type", problem_type]
    )
    train.main(
        [
            "--train-dir", str(root / "train"),
            "--validation-dir", str(root / "validation"),
            "--model-dir", str(root / "model"),
            "--problem-type", problem_type,
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


@pytest.fixture(scope="session")
def local_run(customers: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The binary model of the example's settings, trained and evaluated locally."""
    return run_jobs(customers, tmp_path_factory.mktemp("local_run"), "binary_classification")


@pytest.fixture(scope="session")
def multiclass_run(multiclass_customers: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multiclass model (next_action), trained and evaluated locally."""
    return run_jobs(
        multiclass_customers, tmp_path_factory.mktemp("multiclass_run"), "multiclass_classification"
    )


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


def stubbed(service: str) -> Iterator[tuple[Any, Stubber]]:
    """A client of `service` and its Stubber; every queued answer must have been asked for."""
    client = boto3.client(service, region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    yield from stubbed("sagemaker")
