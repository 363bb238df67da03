"""The contract between the platform and the seeds it pushes: what one writes, the other accepts."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from config import DEFAULT_CONFIG_PATH, load_config
from config.schema import ModelConfig, PlatformConfig, SeedName
from lambdas.common.contracts import (
    MLFLOW_RUN_ID_PROPERTY,
    MLFLOW_TRACKING_SERVER_ARN_PROPERTY,
    MLFLOW_TRACKING_URI_VARIABLE,
    POST_TRAINING_BIAS_BOUNDS,
)
from mlops_constructs.model_project import CLARIFY_CONFIGS_PREFIX
from mlops_constructs.seeds import (
    MODEL_SETTINGS_VARIABLE,
    PLACEHOLDER_MODEL_NAME,
    SEEDS_DIRECTORY,
    model_settings,
    seed_asset,
    seed_template,
)
from tests import seed_runs
from tests.background import Background
from tests.seed_runs import (
    EXAMPLE,
    GROUPS,
    REPOSITORY_SETTINGS_TESTS,
    SEED_REPOSITORIES,
    SHIPPED_FOR,
    plan,
)
from tools import lineage_records


def _seed_config_module(seed: SeedName) -> ModuleType:
    """A seed's own model_config.json loader (pydantic only), imported from the seed folder."""
    return _seed_module(seed, "workflow/config.py")


def _seed_module(seed: SeedName, relative_path: str) -> ModuleType:
    """A module of a seed that imports nothing else of the seed, imported from the seed folder."""
    name = f"seed_{seed.replace('-', '_')}_{relative_path.removesuffix('.py').replace('/', '_')}"
    spec = importlib.util.spec_from_file_location(name, seed_template(seed) / relative_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> PlatformConfig:
    return load_config(EXAMPLE)


def test_every_seed_template_is_known() -> None:
    assert sorted(path.name for path in SEEDS_DIRECTORY.iterdir() if path.is_dir()) == sorted(SHIPPED_FOR)


def test_each_seed_accepts_the_settings_the_platform_writes_for_its_models(example: PlatformConfig) -> None:
    checked: dict[str, list[str]] = {}
    for model in example.models:
        staged = seed_asset(seed_template(model.seed), model_settings(model))
        loaded = _seed_config_module(model.seed).load_model_config(staged / "model_config.json")
        assert loaded.model_name == model.name
        assert loaded.problem_type == model.problem_type
        assert (loaded.metric.name, loaded.metric.threshold, loaded.metric.direction) == (
            model.metric.name,
            model.metric.threshold,
            model.metric_direction,
        )
        checked.setdefault(model.seed, []).append(model.name)
    # Every seed, and the multiclass flag of the classification seed, is exercised.
    assert checked == {
        "binary-classification": ["churn", "ticket-routing", "renewals"],
        "regression": ["demand"],
    }


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seed_reads_the_settings_variable_the_platform_sets(seed: SeedName) -> None:
    assert _seed_config_module(seed).MODEL_SETTINGS_VARIABLE == MODEL_SETTINGS_VARIABLE


def test_each_seed_accepts_the_settings_the_platform_gives_its_builds(example: PlatformConfig) -> None:
    for model in example.models:
        seed_config = _seed_config_module(model.seed)
        settings = json.dumps(model_settings(model))
        loaded = seed_config.load_model_config(environ={MODEL_SETTINGS_VARIABLE: settings})
        staged = seed_asset(seed_template(model.seed), model_settings(model))
        assert loaded == seed_config.load_model_config(staged / "model_config.json")


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seed_accepts_the_placeholder_a_projects_repository_holds(seed: SeedName) -> None:
    """A model named at deploy time starts from settings under the placeholder name (test_project_settings.py)."""
    path, name = SHIPPED_FOR[seed]
    model = next(m for m in load_config(path).models if m.name == name)
    staged = seed_asset(seed_template(seed), model_settings(model.model_copy(update={"name": PLACEHOLDER_MODEL_NAME})))
    loaded = _seed_config_module(seed).load_model_config(staged / "model_config.json")
    assert (loaded.model_name, loaded.pipeline_name) == (PLACEHOLDER_MODEL_NAME, f"{PLACEHOLDER_MODEL_NAME}-build")


def test_the_settings_carry_the_packages_contract(example: PlatformConfig) -> None:
    demand = next(model for model in example.models if model.name == "demand")
    metadata = model_settings(demand)["package_metadata"]
    assert metadata == {
        "task": "REGRESSION",
        "customer_metadata_properties": {
            "mlops:problem-type": "regression",
            "mlops:content-type": "application/json",
            "mlops:accept": "application/json",
            "mlops:prediction-attribute": "prediction",
        },
        "sample_payloads_prefix": "demand/sample-payloads/",
    }


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seeds_default_matches_the_model_it_is_shipped_for(seed: SeedName) -> None:
    """A data scientist running a seed locally gets the settings the platform would write."""
    path, name = SHIPPED_FOR[seed]
    model: ModelConfig = next(m for m in load_config(path).models if m.name == name)
    shipped = json.loads((seed_template(seed) / "model_config.json").read_text())
    assert shipped == model_settings(model)
    _seed_config_module(seed).load_model_config(seed_template(seed) / "model_config.json")


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_the_buildspecs_the_pipeline_names_exist(seed: SeedName) -> None:
    for buildspec in ("buildspec-test.yml", "buildspec-train.yml"):
        assert (seed_template(seed) / buildspec).is_file()


def test_the_sample_payloads_each_seed_registers_exist() -> None:
    for seed in SHIPPED_FOR:
        payloads = json.loads((seed_template(seed) / "sample_payloads.json").read_text())
        assert payloads["instances"], seed


def test_packages_are_registered_for_every_instance_type_they_are_served_on(example: PlatformConfig) -> None:
    """SageMaker refuses to serve a package on an instance type it was not registered for."""
    types = {model.name: model_settings(model)["inference_instance_types"] for model in example.models}
    assert types == {
        "churn": ["ml.m5.large"],
        "demand": ["ml.m5.large"],
        "ticket-routing": ["ml.m5.large"],
        "renewals": ["ml.m5.large", "ml.m5.xlarge"],  # its batch transform runs on ml.m5.xlarge
    }


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seeds_tests_use_the_settings_of_the_model_it_is_shipped_for(seed: SeedName) -> None:
    """The seed's tests build and check an example model of their own (never the repository's
    model_config.json, which is another model's in every repository but the example's): what the
    platform writes for it."""
    path, name = SHIPPED_FOR[seed]
    model = next(m for m in load_config(path).models if m.name == name)
    example = json.loads((seed_template(seed) / "tests" / "example_model_config.json").read_text())
    assert example == model_settings(model)


# --- the seeds' own tests, in the repositories the platform creates ---------------------------------------


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seeds_model_card_states_the_bias_bounds_the_gate_applies(seed: SeedName) -> None:
    """The card says whether each facet's bias is within the bounds; the gate rejects by the same ones."""
    module = _seed_module(seed, "jobs/model_card.py")
    assert dict(POST_TRAINING_BIAS_BOUNDS) == module.POST_TRAINING_BIAS_BOUNDS


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seed_uploads_its_clarify_configs_where_the_monitors_may_read_them(seed: SeedName) -> None:
    """The build uploads the analysis configs under <artifact bucket>/<model>/clarify/<commit>/, the prefix
    the monitoring role reads (ModelProject.grant_read_monitoring_baselines)."""
    source = (seed_template(seed) / "workflow" / "registration.py").read_text()
    assert CLARIFY_CONFIGS_PREFIX.format(model="churn") == "churn/clarify/"
    assert 'f"{jobs.prefix}/clarify/{jobs.env.source_commit}/{name}"' in source
    assert (
        'self.prefix = f"s3://{env.artifact_bucket}/{config.model_name}"'
        in (seed_template(seed) / "workflow" / "pipeline_jobs.py").read_text()
    )


def test_the_classification_seed_records_its_training_set_where_the_lineage_tool_reads_it() -> None:
    """The package's Feature Store metadata (keys and "none" sentinel), spelt by the seed and read by
    `make lineage`: the seed is standalone, so it keeps its own copy."""
    constants = _module_constants(seed_template("binary-classification") / "workflow" / "training_lineage.py")
    assert {
        name: constants[name]
        for name in ("TRAINING_DATA_KEY", "FEATURE_GROUP_KEY", "EVENT_TIME_FROM_KEY", "EVENT_TIME_TO_KEY")
    } == {
        "TRAINING_DATA_KEY": lineage_records.TRAINING_DATA_KEY,
        "FEATURE_GROUP_KEY": lineage_records.FEATURE_GROUP_KEY,
        "EVENT_TIME_FROM_KEY": lineage_records.EVENT_TIME_FROM_KEY,
        "EVENT_TIME_TO_KEY": lineage_records.EVENT_TIME_TO_KEY,
    }
    assert constants["NOT_FROM_A_FEATURE_GROUP"] == lineage_records.NO_FEATURE_STORE


def _module_constants(path: Path) -> dict[str, Any]:
    """The module-level constants (`NAME = <literal>`) of a seed module, read without importing it (the
    seed's modules import the SageMaker SDK, which the platform's virtualenv does not have)."""
    tree = ast.parse(path.read_text())
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seed_tracks_experiments_where_the_platform_says_and_records_the_run_where_lineage_reads_it(
    seed: SeedName,
) -> None:
    """The Train build's variable naming the tracking server, and the package's metadata keys that link it
    to its MLflow run (read by `make lineage`): the seed is standalone, so it keeps its own copies."""
    workflow = seed_template(seed) / "workflow"
    assert (
        _module_constants(workflow / "environment.py")["MLFLOW_TRACKING_URI_VARIABLE"] == MLFLOW_TRACKING_URI_VARIABLE
    )
    step = _module_constants(workflow / "experiment_step.py")
    assert (step["MLFLOW_RUN_ID_KEY"], step["MLFLOW_TRACKING_SERVER_ARN_KEY"]) == (
        MLFLOW_RUN_ID_PROPERTY,
        MLFLOW_TRACKING_SERVER_ARN_PROPERTY,
    )
    assert set(lineage_records.MLFLOW_KEYS) == {MLFLOW_RUN_ID_PROPERTY, MLFLOW_TRACKING_SERVER_ARN_PROPERTY}


def _pins(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.lower()] = version
    return pins


@pytest.mark.parametrize("seed", sorted(SHIPPED_FOR))
def test_each_seeds_mlflow_client_is_of_the_servers_release_line(seed: SeedName) -> None:
    """SageMaker's advice: the client of the tracking server's version (3.0.x: mlflow 3.0.0). The build
    (requirements.txt) and the LogExperiment job (experiment_job/requirements.txt) pin the same client."""
    server_line = load_config(DEFAULT_CONFIG_PATH).experiments
    assert server_line is not None
    build = _pins(seed_template(seed) / "requirements.txt")
    job = _pins(seed_template(seed) / "experiment_job" / "requirements.txt")
    assert build["mlflow-skinny"] == job["mlflow-skinny"]
    assert build["sagemaker-mlflow"] == job["sagemaker-mlflow"]
    major_minor = ".".join(server_line.mlflow_version.split(".")[:2])
    assert build["mlflow-skinny"].startswith(f"{major_minor}.")


# --- the seeds' whole suites, in the repositories the platform creates (tests/seed_runs.py) --------------


@pytest.mark.background(start=seed_runs.start)
@pytest.mark.parametrize("group", GROUPS)
def test_the_seeds_tests_pass_in_every_repository_the_platform_creates(
    group: str, started: seed_runs.Started, background: Background
) -> None:
    """A repository's Test stage runs the seed's tests: they pass whatever model the platform wrote its
    model_config.json for (for a SageMaker Projects template, the product's defaults under the placeholder
    name), and whatever settings its build gives (MODEL_SETTINGS). The seed's tests read model_config.json
    only in REPOSITORY_SETTINGS_TESTS, which run in each repository of the group; its whole suite runs once
    per seed, in the seed's repository least like its example. Started as the session starts
    (tests/conftest.py), beside the other tests."""
    runs = started[group]
    assert {run.repository.name for run, _ in runs} >= {
        repository.name for repository in SEED_REPOSITORIES if repository.group == group
    }
    assert any(not run.tests for run, _ in runs), "the seed's whole suite"
    assert test_the_seeds_tests_pass_in_every_repository_the_platform_creates.__name__ == seed_runs.TEST
    for run, future in runs:
        result = background.result(future)
        assert result.returncode == 0, run.describe(result)


def test_the_whole_suite_of_each_seed_runs_once_and_its_settings_tests_in_every_other_repository(
    tmp_path: Path,
) -> None:
    runs = plan(GROUPS, tmp_path)
    assert sorted((run.repository.name, run.tests) for run in runs) == [
        ("binary-classification project", REPOSITORY_SETTINGS_TESTS),
        ("churn", REPOSITORY_SETTINGS_TESTS),
        ("demand", REPOSITORY_SETTINGS_TESTS),
        ("regression project", ()),
        ("renewals", REPOSITORY_SETTINGS_TESTS),
        ("ticket-routing", ()),
    ]
    for run in runs:
        assert json.loads((run.checkout / "model_config.json").read_text()) == run.repository.settings
    # Only the group's own runs and its seed's whole suite when one group is selected.
    assert sorted((run.repository.name, run.tests) for run in plan(["regression:regression"], tmp_path / "one")) == [
        ("demand", REPOSITORY_SETTINGS_TESTS),
        ("regression project", ()),
    ]


def test_every_model_and_project_repository_is_run() -> None:
    assert sorted(repository.name for repository in SEED_REPOSITORIES) == [
        "binary-classification project",
        "churn",
        "demand",
        "regression project",
        "renewals",
        "ticket-routing",
    ]
    assert GROUPS == [
        "binary-classification:binary_classification",
        "binary-classification:multiclass_classification",
        "regression:regression",
    ]
