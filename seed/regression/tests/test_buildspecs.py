"""The CodeBuild stages: what they run, with which of the platform's variables, hiding no failure."""

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Ways a shell command can let a failure through; CodeBuild fails a phase on a non-zero exit only.
FAILURE_HIDERS = ("|| true", "||true", "|| :", "2>/dev/null", "set +e", "; true", "exit 0")


def build_commands(name: str) -> list[str]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    commands: list[str] = spec["phases"]["build"]["commands"]
    return commands


@pytest.mark.parametrize("name", ["buildspec-test.yml", "buildspec-train.yml"])
def test_no_stage_hides_a_failure(name: str) -> None:
    text = (ROOT / name).read_text()

    assert [hider for hider in FAILURE_HIDERS if hider in text] == []


def test_the_test_stage_lints_validates_and_tests() -> None:
    commands = build_commands("buildspec-test.yml")

    assert commands == [
        "ruff check .",
        "ruff format --check .",
        "mypy",
        "python -m workflow.synthetic_data --output data/generated/sales.csv",
        "python -m workflow.validation data/generated/sales.csv",
        "python -m workflow.sample_payloads sample_payloads.json",
        "python -m pytest -q tests",
    ]


def test_the_train_stage_runs_the_pipeline_within_the_platforms_timeout() -> None:
    *_, run = build_commands("buildspec-train.yml")

    assert run.startswith("python -m workflow.run_pipeline --dataset data/generated/sales.csv")
    assert '--timeout-minutes "${PIPELINE_WAIT_TIMEOUT_MINUTES:-50}"' in run
