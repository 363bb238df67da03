"""The train stage as CodeBuild runs it: bash runs its command with a stand-in `python` that records
its arguments, which the real commands' parsers then read. Both branches must call the commands as
they accept, and the feature-store branch must hand the builder's manifest to the pipeline run."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflow import run_pipeline, training_set

ROOT = Path(__file__).resolve().parents[1]


def train_stage_commands() -> list[str]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / "buildspec-train.yml").read_text())
    commands: list[str] = spec["phases"]["build"]["commands"]
    return commands


def run_train_stage(directory: Path, **variables: str) -> list[list[str]]:
    """The arguments of each `python` call of the stage's commands, in order."""
    calls = directory / "calls.jsonl"
    python = directory / "bin" / "python"
    python.parent.mkdir()
    recorder = "import json, os, sys; open(os.environ['CALLS'], 'a').write(json.dumps(sys.argv[1:]) + '\\n')"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{recorder}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    environment = {"PATH": f"{python.parent}:{os.environ['PATH']}", "CALLS": str(calls), **variables}
    for command in train_stage_commands():
        subprocess.run(["bash", "-ec", command], cwd=directory, env=environment, check=True)
    return [json.loads(line) for line in calls.read_text().splitlines()]


def module_arguments(call: list[str], module: str) -> list[str]:
    assert call[:2] == ["-m", module], call
    return call[2:]


@pytest.mark.usefixtures("example_repository")
def test_with_a_labels_table_the_pipeline_trains_on_the_manifest_the_builder_writes(tmp_path: Path) -> None:
    build, train = run_train_stage(
        tmp_path, TRAINING_LABELS_TABLE="churn_labels.labels", PIPELINE_WAIT_TIMEOUT_MINUTES="200"
    )

    built = training_set.parse_args(module_arguments(build, "workflow.training_set"))
    run = run_pipeline.parse_args(module_arguments(train, "workflow.run_pipeline"))
    assert (built.command, built.labels_table.sql()) == ("athena", '"churn_labels"."labels"')
    assert built.manifest is not None
    assert run.training_set == built.manifest
    assert (run.dataset, run.input_data_uri, run.timeout_minutes) == (None, None, 200)


def test_without_one_the_pipeline_trains_on_the_synthetic_table(tmp_path: Path) -> None:
    generate, train = run_train_stage(tmp_path)

    assert module_arguments(generate, "workflow.synthetic_data") == [
        "--output",
        "data/generated/customers.csv",
    ]
    run = run_pipeline.parse_args(module_arguments(train, "workflow.run_pipeline"))
    assert (run.dataset, run.training_set, run.timeout_minutes) == (
        Path("data/generated/customers.csv"),
        None,
        50,
    )
