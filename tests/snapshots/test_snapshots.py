"""One snapshot per stack and per rendered serving template, of every configuration the suite synthesizes.
Asset hashes are normalized so a code change in a Lambda does not churn them.

Update after an intended change with: .venv/bin/python -m pytest tests/snapshots --snapshot-update
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import Synthesized

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template)))


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_every_stack_has_a_snapshot(synthesized: Synthesized, snapshot_json: SnapshotAssertion) -> None:
    for stack in synthesized.assembly.stacks:
        assert normalized(stack.template) == snapshot_json(name=stack.stack_name)


def test_every_stack_of_the_other_model_kinds_has_a_snapshot(
    synthesized: Synthesized, any_model: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    """The stacks the default configuration does not have: a regression, a multiclass and a batch model's."""
    default = {stack.stack_name for stack in synthesized.assembly.stacks}
    for stack in any_model.assembly.stacks:
        if stack.stack_name not in default:
            assert normalized(stack.template) == snapshot_json(name=stack.stack_name)


def test_every_stack_of_the_several_accounts_layout_has_a_snapshot(
    several_accounts: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    """Staging and production in their own accounts: the target stacks, and the tooling stacks they change."""
    for stack in several_accounts.assembly.stacks:
        assert normalized(stack.template) == snapshot_json(name=f"several-accounts-{stack.stack_name}")


def test_a_projects_roles_in_the_stage_accounts_have_a_snapshot(
    several_accounts: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    """The roles template a project's StackSets deploy into each stage account (rendered once per stage)."""
    projects = several_accounts.platform.projects
    assert projects is not None
    product_stack = projects.templates["binary-classification"]
    [path] = Path(several_accounts.assembly.directory).glob(f"*{product_stack.node.id}*.product.template.json")
    resources = json.loads(path.read_text())["Resources"].values()
    stack_sets = [r["Properties"] for r in resources if r["Type"] == "AWS::CloudFormation::StackSet"]
    assert len(stack_sets) == 2
    for stack_set in stack_sets:
        account = stack_set["StackInstancesGroup"][0]["DeploymentTargets"]["Accounts"][0]
        template = json.loads(stack_set["TemplateBody"])
        assert normalized(template) == snapshot_json(name=f"several-accounts-project-roles-{account}")


def test_every_serving_template_has_a_snapshot(any_model: Synthesized, snapshot_json: SnapshotAssertion) -> None:
    """What each deploy pipeline deploys, per model kind and stage (the default model's included)."""
    for deploy in any_model.platform.model_deploys.values():
        for stage, template in deploy.deploy.templates.items():
            assert normalized(template) == snapshot_json(name=f"{deploy.deploy.stack_names[stage]}.template")


def test_every_product_template_has_a_snapshot(synthesized: Synthesized, snapshot_json: SnapshotAssertion) -> None:
    """What Service Catalog provisions for a SageMaker Project, per seed template."""
    projects = synthesized.platform.projects
    assert projects is not None
    directory = Path(synthesized.assembly.directory)
    for seed, product_stack in projects.templates.items():
        [path] = directory.glob(f"*{product_stack.node.id}*.product.template.json")
        assert normalized(json.loads(path.read_text())) == snapshot_json(name=f"project-{seed}.product.template")
