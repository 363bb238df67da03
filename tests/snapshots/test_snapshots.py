"""One snapshot per stack. Asset hashes are normalized so a code change in a Lambda does not churn them.

Update after an intended change with: .venv/bin/python -m pytest tests/snapshots --snapshot-update
"""

from __future__ import annotations

import json
import re
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
