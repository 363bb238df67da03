"""The functions' assets as CDK synthesized them load in Lambda's way, with nothing from the repository.

Lambda puts the asset's root on the import path and imports the `Handler` setting's module. Each
asset holds the `lambdas` package with one handler's folder and the shared `lambdas.common`: the
test imports the handler in a fresh interpreter whose only project code is the asset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Synthesized
from tests.lambdas.conftest import GATE_ENVIRONMENT, REGION
from tests.lambdas.drift_alert_world import DRIFT_ENVIRONMENT
from tests.lambdas.traffic_shift_world import SHIFT_ENVIRONMENT

ENVIRONMENT_BY_SERVICE = {
    "approval-gate": GATE_ENVIRONMENT,
    "drift-alert": DRIFT_ENVIRONMENT,
    "traffic-shift": SHIFT_ENVIRONMENT,
}
# Imports the handler the way Lambda's bootstrap does and reports where each module came from.
PROBE = """
import importlib, json, sys
module_name, function_name = sys.argv[1].rsplit(".", 1)
module = importlib.import_module(module_name)
assert callable(getattr(module, function_name)), sys.argv[1]
print(json.dumps(sorted({m.__file__ for n, m in sys.modules.items() if n.startswith("lambdas") and m.__file__})))
"""


def platform_functions(synthesized: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{stack.stack_name}/{logical_id}", resource["Properties"])
        for stack in synthesized.assembly.stacks
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler", "").startswith("lambdas.")
    ]


def asset_directory(synthesized: Synthesized, function: dict[str, Any]) -> Path:
    asset_hash = function["Code"]["S3Key"].removesuffix(".zip")
    return Path(synthesized.assembly.directory) / f"asset.{asset_hash}"


def test_every_handler_of_the_platform_is_deployed(synthesized: Synthesized) -> None:
    services = {
        function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for _, function in platform_functions(synthesized)
    }
    assert services == set(ENVIRONMENT_BY_SERVICE)


def test_each_asset_holds_its_handler_and_the_shared_package_only(synthesized: Synthesized) -> None:
    for name, function in platform_functions(synthesized):
        handler_package = function["Handler"].split(".")[1]
        root = asset_directory(synthesized, function)
        files = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}
        packages = {Path(file).parts[1] for file in files if file.count("/") >= 2}
        assert packages == {handler_package, "common"}, name
        assert "lambdas/__init__.py" in files, name
        assert f"lambdas/{handler_package}/handler.py" in files, name
        assert not [file for file in files if file.endswith((".pyc", "README.md", "requirements.txt"))], name


@pytest.mark.parametrize("service", sorted(ENVIRONMENT_BY_SERVICE))
def test_the_asset_imports_its_handler_as_lambda_does(synthesized: Synthesized, service: str) -> None:
    name, function = next(
        (name, function)
        for name, function in platform_functions(synthesized)
        if function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == service
    )
    root = asset_directory(synthesized, function)
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment = inherited | ENVIRONMENT_BY_SERVICE[service] | {"AWS_DEFAULT_REGION": REGION, "PYTHONPATH": str(root)}

    probe = subprocess.run(  # noqa: S603 - this interpreter, our own synthesized asset
        [sys.executable, "-c", PROBE, function["Handler"]],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert probe.returncode == 0, f"{name}: {probe.stderr[-2000:]}"
    loaded = [Path(file) for file in json.loads(probe.stdout)]
    assert loaded, name
    assert all(file.is_relative_to(root) for file in loaded), f"{name} loaded project code from outside its asset"
    assert any(file.parts[-2] == "common" for file in loaded), f"{name} does not use lambdas.common"
