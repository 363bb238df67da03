"""The seeds' own tests, in copies of the repositories the platform creates (tests/unit/test_seed_contract.py).

The session starts them in the background as it begins (`start`, tests/conftest.py), so that they run on
the cores the test process leaves free while the other tests run; the contract's tests collect them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config import DEFAULT_CONFIG_PATH, load_config
from config.schema import SeedName
from mlops_constructs.model_product import product_templates
from mlops_constructs.seeds import (
    MODEL_SETTINGS_VARIABLE,
    PLACEHOLDER_MODEL_NAME,
    model_settings,
    seed_asset,
    seed_template,
)
from tests.background import Start

ROOT = DEFAULT_CONFIG_PATH.parent.parent
EXAMPLE = DEFAULT_CONFIG_PATH.parent / "examples" / "any-model.yaml"
# The model each seed's shipped model_config.json is written for, and the configuration declaring it.
SHIPPED_FOR: dict[SeedName, tuple[Path, str]] = {
    "binary-classification": (DEFAULT_CONFIG_PATH, "churn"),
    "regression": (EXAMPLE, "demand"),
}
SEED_VENV = ROOT / ".venv-seed"
MISSING_VENV = f"the seeds' virtualenv {SEED_VENV} is missing: run `make test` (it installs it)"
# The seed test modules that read the repository's model_config.json, all that differs between two
# repositories of one seed: the others build their own settings (the seed's example model's), each seed's
# conftest drops MODEL_SETTINGS (and MODEL_NAME, which the classification seed never reads), and
# seed_asset writes nothing else per repository. (Each seed's other modules pass with no model_config.json.)
REPOSITORY_SETTINGS_TESTS = ("tests/test_config.py",)
# The name a SageMaker Project gives its model: its build's MODEL_SETTINGS (the repository holds the placeholder).
PROJECT_MODEL_NAME = "fraud-project"
# One run may take this long (seconds); the whole suite of a seed takes about a minute on one core.
TIMEOUT = 900


@dataclass(frozen=True)
class SeedRepository:
    """A repository the platform creates from a seed: its model_config.json, and the settings its
    build projects give the build (MODEL_NAME, MODEL_SETTINGS)."""

    name: str
    seed: SeedName
    settings: dict[str, Any]
    build_settings: dict[str, Any]

    @property
    def group(self) -> str:
        return f"{self.seed}:{self.settings['problem_type']}"


def _seed_repositories() -> list[SeedRepository]:
    """A repository for each model of the example configuration, and the one every SageMaker Project
    of each seed starts with: the product's defaults under the placeholder name."""
    repositories = [
        SeedRepository(model.name, model.seed, model_settings(model), model_settings(model))
        for model in load_config(EXAMPLE).models
    ]
    for template in product_templates(sorted(SHIPPED_FOR), ["codecommit"]):
        repositories.append(
            SeedRepository(
                f"{template.seed} project",
                template.seed,
                model_settings(template.model.model_copy(update={"name": PLACEHOLDER_MODEL_NAME})),
                model_settings(template.model.model_copy(update={"name": PROJECT_MODEL_NAME})),
            )
        )
    return repositories


def distance_from_the_example(repository: SeedRepository) -> int:
    """How many of the settings differ from those the seed's tests use (its example model's)."""
    example = json.loads((seed_template(repository.seed) / "tests" / "example_model_config.json").read_text())
    return sum(
        json.dumps(repository.settings.get(key), sort_keys=True) != json.dumps(example.get(key), sort_keys=True)
        for key in example
    )


SEED_REPOSITORIES = _seed_repositories()
# The contract's tests are by seed and problem type (the groups of repositories).
GROUPS = sorted({repository.group for repository in SEED_REPOSITORIES})


@dataclass(frozen=True)
class SeedRun:
    """The seed's tests (none: the whole suite) in a copy of what the platform pushes into a repository."""

    repository: SeedRepository
    checkout: Path
    tests: tuple[str, ...]

    @property
    def command(self) -> list[str]:
        return [str(SEED_VENV / "bin" / "python"), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *self.tests]

    @property
    def environment(self) -> dict[str, str]:
        # Nothing of this process's own: no AWS credentials, pytest options or import path.
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "PYTEST_")) and name != "PYTHONPATH"
        }
        # As in the repository's Test stage: the build project names the model and gives its settings.
        return environment | {
            "MODEL_NAME": str(self.repository.build_settings["model_name"]),
            MODEL_SETTINGS_VARIABLE: json.dumps(self.repository.build_settings),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    @property
    def cost(self) -> float:
        """Roughly how long it runs (seconds on one core): the longest start first."""
        modules = len(self.tests) or len(list((self.checkout / "tests").glob("test_*.py")))
        return 5.0 + 3.0 * modules

    def describe(self, result: subprocess.CompletedProcess[str]) -> str:
        ran = " ".join(self.tests) or "the whole suite"
        return f"{self.repository.name} ({ran}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"


def plan(groups: list[str], directory: Path) -> list[SeedRun]:
    """The runs of the seeds of `groups`: per seed, the whole suite once, in its repository least like the
    seed's example (whichever group that is in), and the tests that read model_config.json in each of the
    seed's other repositories of `groups`.

    Composes the checkouts: call it from one thread (seed_asset calls the CDK, jsii, which hangs when
    called from two).
    """
    runs: list[SeedRun] = []
    for seed in sorted({repository.seed for repository in SEED_REPOSITORIES if repository.group in groups}):
        first, *others = sorted(
            (repository for repository in SEED_REPOSITORIES if repository.seed == seed),
            key=distance_from_the_example,
            reverse=True,
        )
        for repository, tests in [(first, ()), *((other, REPOSITORY_SETTINGS_TESTS) for other in others)]:
            if repository.group in groups or not tests:
                checkout = _checkout(repository, directory / repository.name.replace(" ", "-"))
                runs.append(SeedRun(repository, checkout, tests))
    return runs


def _checkout(repository: SeedRepository, directory: Path) -> Path:
    # seed_asset composes a shared, content-addressed directory: the tests run in a copy of it.
    return Path(shutil.copytree(seed_asset(seed_template(repository.seed), repository.settings), directory))


# The test of the seeds' suites, by group (tests/unit/test_seed_contract.py).
TEST = "test_the_seeds_tests_pass_in_every_repository_the_platform_creates"
Started = dict[str, list[tuple[SeedRun, Future[subprocess.CompletedProcess[str]]]]]


def start(start: Start) -> Started:
    """The runs of the selected groups, started in the background: by group, the runs its test checks
    (its repositories', and its seed's whole suite)."""
    if not (SEED_VENV / "bin" / "python").exists():
        pytest.fail(MISSING_VENV)
    groups = [group for group in GROUPS if start.selected(TEST, group=group)]
    # Composed first, in the test process's one thread (jsii hangs when called from two); then run.
    runs = plan(groups, start.tmp_path_factory.mktemp("seed-runs"))
    started = [
        (run, start.background.run(run.command, cwd=run.checkout, env=run.environment, timeout=TIMEOUT, cost=run.cost))
        for run in runs
    ]
    return {
        group: [
            (run, future)
            for run, future in started
            if run.repository.group == group or (not run.tests and group.startswith(f"{run.repository.seed}:"))
        ]
        for group in groups
    }
