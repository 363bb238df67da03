"""The contract between the platform and the seeds it pushes: what one writes, the other accepts."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from config import DEFAULT_CONFIG_PATH, load_config
from config.schema import ModelConfig, PlatformConfig, SeedName
from mlops_constructs.seeds import SEEDS_DIRECTORY, model_settings, seed_asset, seed_template

EXAMPLE = DEFAULT_CONFIG_PATH.parent / "examples" / "any-model.yaml"
# The model each seed's shipped model_config.json is written for, and the configuration declaring it.
SHIPPED_FOR: dict[SeedName, tuple[Path, str]] = {
    "binary-classification": (DEFAULT_CONFIG_PATH, "churn"),
    "regression": (EXAMPLE, "demand"),
}


def _seed_config_module(seed: SeedName) -> ModuleType:
    """A seed's own model_config.json loader (pydantic only), imported from the seed folder."""
    name = f"seed_config_{seed.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, seed_template(seed) / "workflow" / "config.py")
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
