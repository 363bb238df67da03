"""`make diff`: what a change does to the templates and assets, with no AWS account.

The pairing and the asset comparison run on small hand-written assemblies; the `cdk diff` step and
the serving templates run on the real platform, synthesized with a changed A/B split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from config.schema import PlatformConfig
from stacks.platform import build_platform
from tests.conftest import Synthesized, cdk_json_context
from tools.template_diff import Assembly, Difference, asset_diff, cdk_diff, compare, main


def write_assembly(root: Path, stacks: dict[str, dict[str, dict[str, str]]]) -> Assembly:
    """An assembly with `stacks`: stack name -> asset display name -> {file: content} (a directory asset)."""
    root.mkdir(parents=True)
    artifacts: dict[str, Any] = {}
    for stack, assets in stacks.items():
        template = f"{stack}.template.json"
        (root / template).write_text(json.dumps({"Resources": {}}))
        artifacts[stack] = {"type": "aws:cloudformation:stack", "properties": {"templateFile": template}}
        files: dict[str, Any] = {"t": {"displayName": f"{stack} Template", "source": {"path": template}}}
        for display_name, contents in assets.items():
            directory = f"asset.{abs(hash(json.dumps(contents, sort_keys=True)))}"
            for name, text in contents.items():
                (root / directory / name).parent.mkdir(parents=True, exist_ok=True)
                (root / directory / name).write_text(text)
            files[display_name] = {"displayName": display_name, "source": {"path": directory, "packaging": "zip"}}
        (root / f"{stack}.assets.json").write_text(json.dumps({"files": files}))
    (root / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return Assembly(root)


def no_stack_changes(current: Assembly, stack: str, base_template: Path) -> str:
    return ""


def by_name(differences: list[Difference]) -> dict[str, Difference]:
    return {difference.name: difference for difference in differences}


def test_stacks_and_assets_are_paired_by_name_and_construct_path(tmp_path: Path) -> None:
    base = write_assembly(
        tmp_path / "base",
        {"p-old": {}, "p-deploy": {"Fn/Code": {"handler.py": "v1", "gone.py": "x"}, "Seed": {"a.py": "a"}}},
    )
    current = write_assembly(
        tmp_path / "current",
        {"p-new": {}, "p-deploy": {"Fn/Code": {"handler.py": "v2", "lib/new.py": "y"}, "Seed": {"a.py": "a"}}},
    )

    differences = by_name(compare(base, current, diff_stack=no_stack_changes))

    assert {name: d.change for name, d in differences.items()} == {
        "p-old": "removed",
        "p-new": "added",
        "p-deploy": "unchanged",
        "p-deploy/Fn/Code": "changed",
        "p-deploy/Seed": "unchanged",
    }
    assert differences["p-deploy/Fn/Code"].report.splitlines() == ["+ lib/new.py", "- gone.py", "~ handler.py"]


def test_a_changed_template_inside_an_asset_is_shown_as_a_json_diff(tmp_path: Path) -> None:
    before, after = tmp_path / "asset.1", tmp_path / "asset.2"
    for directory, weight in ((before, 90), (after, 80)):
        directory.mkdir()
        (directory / "production.template.json").write_text(json.dumps({"Weight": weight, "Other": [1, 2]}))
        (directory / "smoke_test.py").write_text("same")

    report = asset_diff(before, after)

    assert report.splitlines()[0] == "~ production.template.json"
    assert '- "Weight": 90' in report
    assert '+ "Weight": 80' in report
    assert "smoke_test.py" not in report
    assert asset_diff(before, before) == "", "the same staged asset (same hash) has nothing to show"


@pytest.fixture(scope="module")
def other_split(default_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """The default platform with an 80/20 A/B split instead of 90/10."""
    model = default_config.models[0]
    variants = model.endpoint_variants.model_copy(update={"champion_percent": 80, "challenger_percent": 20})
    config = default_config.model_copy(update={"models": [model.model_copy(update={"variants": variants})]})
    outdir = tmp_path_factory.mktemp("other-split")
    app = App(context=cdk_json_context(), outdir=str(outdir))
    build_platform(app, config)
    app.synth()
    return Assembly(outdir)


def test_a_new_split_changes_the_production_template_and_nothing_else(
    other_split: Assembly, synthesized: Synthesized
) -> None:
    current = Assembly(Path(synthesized.assembly.directory))

    differences = by_name(compare(other_split, current, diff_stack=no_stack_changes))

    changed = {name for name, difference in differences.items() if difference.change != "unchanged"}
    assert changed == {"mlops-churn-deploy/Deploy/DeployBundle"}
    report = differences["mlops-churn-deploy/Deploy/DeployBundle"].report
    assert report.splitlines()[0] == "~ production.template.json"
    assert '-      "InitialVariantWeight": 80,' in report
    assert '+      "InitialVariantWeight": 90,' in report


def test_cdk_diff_reports_a_changed_stack_and_nothing_for_an_equal_one(
    other_split: Assembly, synthesized: Synthesized
) -> None:
    current = Assembly(Path(synthesized.assembly.directory))
    base_stacks = other_split.stacks()

    assert cdk_diff(current, "mlops-governance", base_stacks["mlops-governance"]) == ""
    report = cdk_diff(current, "mlops-churn-deploy", base_stacks["mlops-churn-deploy"])
    assert "Stack mlops-churn-deploy" in report
    assert "[~] AWS::CodePipeline::Pipeline" in report  # its source, the deploy bundle, moved


def test_an_unknown_revision_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base", "no-such-revision-anywhere"]) == 2
    assert "git archive no-such-revision-anywhere" in capsys.readouterr().err
