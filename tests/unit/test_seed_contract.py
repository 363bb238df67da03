"""The contract between the platform and the seed it pushes: what one writes, the other accepts."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from config.schema import PlatformConfig
from mlops_constructs.model_project import SEED_DIRECTORY, model_settings, seed_asset


def _seed_config_module() -> ModuleType:
    """The seed's own model_config.json loader (pydantic only), imported from the seed folder."""
    spec = importlib.util.spec_from_file_location("seed_workflow_config", SEED_DIRECTORY / "workflow" / "config.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seed_config() -> ModuleType:
    return _seed_config_module()


def test_the_seed_accepts_the_settings_the_platform_writes(
    seed_config: ModuleType, default_config: PlatformConfig, tmp_path: Path
) -> None:
    staged = seed_asset(SEED_DIRECTORY, model_settings(default_config.models[0]))
    loaded = seed_config.load_model_config(staged / "model_config.json")
    assert loaded.model_name == "churn"
    assert loaded.pipeline_name == "churn-build"
    assert loaded.feature_group_name == "churn-customer-features"
    assert (loaded.metric.name, loaded.metric.threshold) == ("auc", 0.75)


def test_the_seed_default_matches_the_default_platform_config(
    seed_config: ModuleType, default_config: PlatformConfig
) -> None:
    """A data scientist running the seed locally gets the settings the platform would write."""
    shipped = json.loads((SEED_DIRECTORY / "model_config.json").read_text())
    assert shipped == model_settings(default_config.models[0])
    seed_config.load_model_config(SEED_DIRECTORY / "model_config.json")


def test_the_buildspecs_the_pipeline_names_exist() -> None:
    for buildspec in ("buildspec-test.yml", "buildspec-train.yml"):
        assert (SEED_DIRECTORY / buildspec).is_file()
