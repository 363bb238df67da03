"""app.py end to end: `cdk synth` with a config override, and a bad config failing before any construct.

Each run of the app is a process of its own, started in the background as the session starts
(tests/conftest.py); the tests collect them last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.background import Background, Start
from tests.conftest import ROOT, Synthesized, cdk_json_context, write_config


@dataclass(frozen=True)
class AppRun:
    config_path: Path
    output: Path
    run: Future[subprocess.CompletedProcess[str]]
    background: Background

    def result(self) -> subprocess.CompletedProcess[str]:
        return self.background.result(self.run)


def run_app(start: Start, mutate: Callable[[dict[str, Any]], None], name: str, cost: float) -> AppRun:
    """Run app.py as the CDK CLI does (context and output directory through the environment), with
    `-c config=` the default configuration changed by `mutate`, in the background."""
    directory = start.tmp_path_factory.mktemp(Path(name).stem)
    config_path = write_config(directory, mutate, name)
    env = os.environ | {
        "CDK_CONTEXT_JSON": json.dumps(cdk_json_context() | {"config": str(config_path)}),
        "CDK_OUTDIR": str(directory / "cdk.out"),
    }
    command = [sys.executable, str(ROOT / "app.py")]
    run = start.background.run(command, cwd=ROOT, env=env, timeout=900, cost=cost)
    return AppRun(config_path, directory / "cdk.out", run, start.background)


def _on_the_moon(start: Start) -> AppRun:
    return run_app(start, lambda raw: raw["environment"].update(region="moon-1"), "bad.yaml", cost=2.0)


@pytest.mark.background(start=_on_the_moon)
def test_bad_config_fails_naming_file_and_field(started: AppRun) -> None:
    result = started.result()
    assert result.returncode != 0
    assert f"{started.config_path}: environment.region: Value error, 'moon-1' is not an AWS region" in result.stderr
    assert not list(started.output.glob("*.template.json")), "nothing may be synthesized from a bad config"


def _in_an_unserved_region(start: Start) -> AppRun:
    return run_app(start, lambda raw: raw["environment"].update(region="ca-west-1"), "unserved.yaml", cost=2.0)


@pytest.mark.background(start=_in_an_unserved_region)
def test_a_region_the_platform_cannot_serve_fails_synth_without_a_traceback(started: AppRun) -> None:
    result = started.result()
    assert result.returncode != 0
    assert (
        f"{started.config_path}: environment.region: Value error, the platform cannot serve models in 'ca-west-1'"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not list(started.output.glob("*.template.json"))


def _teamb(start: Start) -> AppRun:
    # A whole synthesis, with the compliance checks.
    return run_app(start, lambda raw: raw.update(name="teamb"), "teamb.yaml", cost=10.0)


@pytest.mark.background(start=_teamb)
def test_config_override_synthesizes_with_the_compliance_checks(started: AppRun) -> None:
    result = started.result()
    assert result.returncode == 0, result.stderr
    assert (started.output / "teamb-governance.template.json").exists()
    report = json.loads((started.output / "validation-report.json").read_text())
    assert report["pluginReports"] == [], "the rule packs ran and found nothing"


# Flags kept off their recommended value, and why.
FLAGS_KEPT = {
    # Exports: CloudFormation refuses to delete or replace what another stack still imports (the key,
    # the topics, the roles); weak references would let an update of one stack break its consumers.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
}


def test_every_feature_flag_of_aws_cdk_lib_is_set_deliberately(synthesized: Synthesized) -> None:
    """cdk.json sets each flag the library knows (to its recommended value unless a reason is written
    here): an upgrade that brings new flags fails this test until someone decides on them, with
    `npx cdk flags --unstable=flags --set --safe` showing which ones leave the templates as they are."""
    manifest = json.loads((Path(synthesized.assembly.directory) / "manifest.json").read_text())
    report = manifest["artifacts"]["aws-cdk-lib/feature-flag-report"]["properties"]["flags"]
    unset = sorted(name for name, flag in report.items() if "userValue" not in flag)
    off_recommendation = {
        name: flag.get("userValue")
        for name, flag in report.items()
        if "recommendedValue" in flag and flag.get("userValue") != flag["recommendedValue"]
    }
    assert unset == []
    assert off_recommendation == FLAGS_KEPT
