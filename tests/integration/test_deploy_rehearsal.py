"""The deploy rehearsal (`make deploy-local`): bootstrap and asset publishing against a moto server.

The CLI bootstraps the stacks' environment on a local moto server and publishes the assets of the
session's synthesized assembly; the test then reads back what landed in the staging bucket.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Synthesized
from tools.deploy_rehearsal import Rehearsal, RehearsalFailed, check_published, file_assets, moto_server, rehearse
from tools.template_diff import Assembly


@pytest.fixture(scope="module")
def local_aws() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def rehearsal(synthesized: Synthesized, local_aws: str) -> Rehearsal:
    return rehearse(Assembly(Path(synthesized.assembly.directory)), local_aws)


def test_every_template_and_asset_is_published_where_its_stack_expects_it(
    rehearsal: Rehearsal, synthesized: Synthesized
) -> None:
    stacks = [stack.stack_name for stack in synthesized.assembly.stacks]
    assert {f"{stack}/{stack} Template" for stack in stacks} <= set(rehearsal.published)
    assert set(rehearsal.published) - {f"{stack}/{stack} Template" for stack in stacks} == {
        "mlops-approval/ApprovalGate/Handler/Function/Code",
        "mlops-churn-build/Project/Repository/PathResolvedCodeAsset",
        "mlops-churn-deploy/Automation/DriftAlert/Function/Code",
        "mlops-churn-deploy/Automation/TrafficShift/Function/Code",
        "mlops-churn-deploy/Deploy/DeployBundle",
        "mlops-churn-deploy/Deploy/RecordPreprocessor",
        # CDK's own handler that empties the default security group of the VPC created for Studio.
        "mlops-studio/mlops-studio/Custom::VpcRestrictDefaultSGCustomResourceProvider Code",
        # The SageMaker Projects products' templates, and their own assets (the same kinds as a model's,
        # named relative to the product's template), which CDK's BucketDeployment copies into the
        # product asset bucket at deployment. (A Git-host product's seed archive is the same zip as the
        # seeded repository's: one asset.)
        "mlops-projects/mlops-projects/BinaryClassificationTemplate Template",
        "mlops-projects/mlops-projects/RegressionTemplate Template",
        "mlops-projects/mlops-projects/BinaryClassificationGitTemplate Template",
        "mlops-projects/mlops-projects/RegressionGitTemplate Template",
        "mlops-projects/Project/Repository/PathResolvedCodeAsset",
        "mlops-projects/Automation/DriftAlert/Function/Code",
        "mlops-projects/Deploy/DeployBundle",
        "mlops-projects/Deploy/RecordPreprocessor",
        "mlops-projects/Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C/Code",
        "mlops-projects/ProductAssets/Bucket/ProductAssetsDeployment/AwsCliLayer/Code",
    }
    assert rehearsal.report().startswith("12 templates and 13 assets published as synthesized")


def test_the_published_archives_hold_what_each_consumer_needs(rehearsal: Rehearsal) -> None:
    gate = rehearsal.published["mlops-approval/ApprovalGate/Handler/Function/Code"]
    assert {"lambdas/approval_gate/handler.py", "lambdas/common/aws.py", "lambdas/common/contracts.py"} <= set(gate)
    seed = rehearsal.published["mlops-churn-build/Project/Repository/PathResolvedCodeAsset"]
    assert {"model_config.json", "buildspec-test.yml", "buildspec-train.yml"} <= set(seed)
    bundle = rehearsal.published["mlops-churn-deploy/Deploy/DeployBundle"]
    assert {
        "staging.template.json",
        "production.template.json",
        "tools/smoke_test.py",
        "tools/resolve_champion.py",
        "lambdas/common/contracts.py",
        "lambdas/common/serving_state.py",
    } <= set(bundle)


def test_an_asset_that_differs_from_the_published_object_is_caught(
    rehearsal: Rehearsal, synthesized: Synthesized, local_aws: str, tmp_path: Path
) -> None:
    _, source, destination = next(
        asset
        for asset in file_assets(Assembly(Path(synthesized.assembly.directory)))
        if asset[0] == "mlops-approval/ApprovalGate/Handler/Function/Code"
    )
    changed = tmp_path / source.name
    shutil.copytree(source, changed)
    (changed / "lambdas" / "common" / "aws.py").write_text("# not what was published\n")

    with pytest.raises(RehearsalFailed, match="differs"):
        check_published(changed, destination, local_aws)


def test_stacks_of_another_account_are_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "p-governance": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://210987654321/eu-west-1",
                        "properties": {"templateFile": "p-governance.template.json"},
                    }
                }
            }
        )
    )
    with pytest.raises(RehearsalFailed, match=r"accounts \['210987654321'\]"):
        rehearse(Assembly(tmp_path), "http://localhost:1")
