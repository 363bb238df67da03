"""app.py end to end: `cdk synth` with a config override, and a bad config failing before any construct."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Synthesized, cdk_json_context, write_config


def run_app(tmp_path: Path, config_path: Path) -> subprocess.CompletedProcess[str]:
    """Run app.py as the CDK CLI does: context and output directory through the environment."""
    env = os.environ | {
        "CDK_CONTEXT_JSON": json.dumps(cdk_json_context() | {"config": str(config_path)}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    return subprocess.run(  # noqa: S603 - our own app
        [sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_bad_config_fails_naming_file_and_field(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, lambda raw: raw["environment"].update(region="moon-1"), "bad.yaml")
    result = run_app(tmp_path, config_path)
    assert result.returncode != 0
    assert f"{config_path}: environment.region: Value error, 'moon-1' is not an AWS region" in result.stderr
    assert not list((tmp_path / "cdk.out").glob("*.template.json")), "nothing may be synthesized from a bad config"


def test_a_region_the_platform_cannot_serve_fails_synth_without_a_traceback(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, lambda raw: raw["environment"].update(region="ca-west-1"), "unserved.yaml")
    result = run_app(tmp_path, config_path)
    assert result.returncode != 0
    assert f"{config_path}: environment.region: Value error, the platform cannot serve models in 'ca-west-1'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "cdk.out").glob("*.template.json"))


def test_config_override_synthesizes_with_the_compliance_checks(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, lambda raw: raw.update(name="teamb"), "teamb.yaml")
    result = run_app(tmp_path, config_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cdk.out" / "teamb-governance.template.json").exists()
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
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
