"""The functions' assets as CDK synthesized them load in Lambda's way, with nothing from the repository.

Lambda puts the asset's root on the import path and imports the `Handler` setting's module. Each
asset holds the `lambdas` package with one handler's folder and the shared `lambdas.common`: the
test imports the handler in a fresh interpreter whose only project code is the asset.

The runtime deployed is the runtime tested: every function gets the Powertools layer of the release
that lambdas/*/requirements.txt and requirements-dev.txt pin and that the tests import.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_constructs.functions import LAMBDAS_DIRECTORY, POWERTOOLS_VERSION
from tests.conftest import ROOT, Synthesized
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
        # The names every part agrees on ship with every handler, byte for byte the repository's.
        contracts = root / "lambdas/common/contracts.py"
        assert contracts.is_file(), f"{name} lacks the contracts module"
        assert contracts.read_bytes() == (ROOT / "lambdas/common/contracts.py").read_bytes(), name
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
        [sys.executable, "-B", "-c", PROBE, function["Handler"]],
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


# Imports the handler as Lambda does, with tracing on as deployed (X-Ray's touch file under argv[2]), and
# reports the boto3 clients the import created, the libraries Powertools' Tracer patched and the
# project's pydantic models it built.
TRACED_PROBE = """
import importlib, json, sys
import botocore.session
import pydantic
from aws_xray_sdk.core import lambda_launcher, patcher
lambda_launcher.TOUCH_FILE_DIR = sys.argv[2]
lambda_launcher.TOUCH_FILE_PATH = f"{sys.argv[2]}/initialized"
created = []
create_client = botocore.session.Session.create_client
def counted(self, service_name, *args, **kwargs):
    created.append(service_name)
    return create_client(self, service_name, *args, **kwargs)
botocore.session.Session.create_client = counted
module_name, function_name = sys.argv[1].rsplit(".", 1)
module = importlib.import_module(module_name)
def subclasses(model):
    for subclass in model.__subclasses__():
        yield subclass
        yield from subclasses(subclass)
built = {m.__name__ for m in subclasses(pydantic.BaseModel) if m.__module__.startswith("lambdas.") and m.__pydantic_complete__}
print(json.dumps({
    "clients": created,
    "patched": sorted(patcher._PATCHED_MODULES),
    "traced": not module.tracer.disabled,
    "built": sorted(built),
}))
"""


@pytest.mark.parametrize("service", sorted(ENVIRONMENT_BY_SERVICE))
def test_a_cold_start_creates_no_client_builds_the_settings_only_and_traces_aws_calls(
    synthesized: Synthesized, service: str, tmp_path: Path
) -> None:
    """Clients are created at their first use (`lambdas.common.aws.LazyClient`), and models too
    (`lambdas.common.models.Model`): the import creates none and builds the settings it validates. The
    Tracer patches botocore, through which every AWS call goes, not every library X-Ray knows."""
    name, function = next(
        (name, function)
        for name, function in platform_functions(synthesized)
        if function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == service
    )
    root = asset_directory(synthesized, function)
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTHON") and key != "POWERTOOLS_TRACE_DISABLED"
    }
    lambda_runtime = {"LAMBDA_TASK_ROOT": str(root), "AWS_LAMBDA_FUNCTION_NAME": service}
    environment = inherited | ENVIRONMENT_BY_SERVICE[service] | lambda_runtime | {"PYTHONPATH": str(root)}

    probe = subprocess.run(  # noqa: S603 - this interpreter, our own synthesized asset
        [sys.executable, "-B", "-c", TRACED_PROBE, function["Handler"], str(tmp_path)],
        cwd=root,
        env=environment | {"AWS_DEFAULT_REGION": REGION},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert probe.returncode == 0, f"{name}: {probe.stderr[-2000:]}"
    settings = {"approval-gate": "GateSettings", "drift-alert": "DriftAlertSettings", "traffic-shift": "ShiftSettings"}
    assert json.loads(probe.stdout) == {
        "clients": [],
        "patched": ["botocore"],
        "traced": True,
        "built": sorted(["FunctionSettings", settings[service]]),
    }, name


# --- the Powertools release -----------------------------------------------------------------------

POWERTOOLS_PIN = re.compile(r"^aws-lambda-powertools(?:\[[a-z,-]+\])?==(?P<version>\S+)$")


def powertools_pins(requirements: Path) -> list[str]:
    return [
        match["version"]
        for line in requirements.read_text().splitlines()
        if (match := POWERTOOLS_PIN.match(line.split("#", 1)[0].strip()))
    ]


def test_requirements_pin_the_powertools_release_the_layer_is_resolved_for() -> None:
    handlers = sorted(path.parent for path in LAMBDAS_DIRECTORY.glob("*/handler.py"))
    assert [path.name for path in handlers] == ["approval_gate", "drift_alert", "traffic_shift"]
    for requirements in [*(handler / "requirements.txt" for handler in handlers), ROOT / "requirements-dev.txt"]:
        assert powertools_pins(requirements) == [POWERTOOLS_VERSION], requirements.relative_to(ROOT)


def test_the_tests_import_the_powertools_release_the_functions_run() -> None:
    assert importlib.metadata.version("aws-lambda-powertools") == POWERTOOLS_VERSION


def test_every_function_runs_the_layer_of_that_release(synthesized: Synthesized) -> None:
    """Resolved at deploy time from the parameter Powertools publishes for a release, an architecture and
    a runtime (/aws/service/powertools/python/{arch}/{runtime}/{version}): the function's own."""
    functions = 0
    for stack in synthesized.assembly.stacks:
        parameters = stack.template.get("Parameters", {})
        for resource in stack.template["Resources"].values():
            function = resource["Properties"]
            if resource["Type"] != "AWS::Lambda::Function" or not function.get("Handler", "").startswith("lambdas."):
                continue
            functions += 1
            ((architecture,), runtime) = function["Architectures"], function["Runtime"]
            (layer,) = function["Layers"]
            assert parameters[layer["Ref"]] == {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": f"/aws/service/powertools/python/{architecture}/{runtime}/{POWERTOOLS_VERSION}",
            }, stack.stack_name
    assert functions == len(ENVIRONMENT_BY_SERVICE)
