"""config/regions.py against the SageMaker Python SDK the seed pins: same accounts, same image URIs, for
Model Monitor's analyzer and Clarify's processing image; the regions served are those with both.

The SDK lives in the seed's own virtualenv (.venv-seed, installed by `make test`), never in the
platform's. Without it these tests fail rather than skip: a skipped comparison would let the table
drift from the SDK unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from config.regions import (
    CLARIFY_IMAGE_ACCOUNTS,
    CLARIFY_IMAGE_VERSION,
    CLARIFY_PROCESSING_REPOSITORY,
    MODEL_MONITOR_ANALYZER_REPOSITORY,
    MODEL_MONITOR_IMAGE_ACCOUNTS,
    SUPPORTED_REGIONS,
    clarify_image_uri,
    model_monitor_image_uri,
)
from config.schema import KNOWN_REGIONS
from tests.background import Background, Start
from tests.conftest import ROOT

SEED_VENV = ROOT / ".venv-seed"
INSTALL_HINT = "run `make test` (it installs .venv-seed from seed/binary-classification/requirements.txt)"
# SDK regions the table leaves out on purpose, and why (see config/regions.py).
LEFT_OUT = {
    "us-isof-east-1": "aws-iso-f partition: its own ECR domain, not a platform target",
    "us-isof-south-1": "aws-iso-f partition: its own ECR domain, not a platform target",
}


def seed_python() -> Path:
    python = SEED_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"the seed's virtualenv {SEED_VENV} is missing: {INSTALL_HINT}")
    return python


# Regions with a Model Monitor image but, in the SDK's table, no Clarify image: the platform does not serve there.
NO_CLARIFY = {"eu-south-2", "il-central-1", "me-central-1"}


def sdk_image_config(name: str) -> dict[str, Any]:
    """The SDK's image_uri_config/<name>.json (SDK v3 ships it in sagemaker.core)."""
    seed_python()
    found = sorted(SEED_VENV.glob(f"lib/python*/site-packages/sagemaker/**/image_uri_config/{name}.json"))
    if len(found) != 1:
        pytest.fail(f"expected one {name}.json in the seed's SageMaker SDK, found {found}: {INSTALL_HINT}")
    config: dict[str, Any] = json.loads(found[0].read_text())
    return config


@pytest.fixture(scope="module")
def sdk_model_monitor() -> dict[str, Any]:
    (version,) = sdk_image_config("model-monitor")["versions"].values()
    return dict(version)


@pytest.fixture(scope="module")
def sdk_clarify() -> dict[str, Any]:
    """Clarify's processing image, the one version the SDK knows (the image URIs' tag)."""
    versions = sdk_image_config("clarify")["processing"]["versions"]
    assert list(versions) == [CLARIFY_IMAGE_VERSION], "the SDK has another Clarify image version: update the table"
    return dict(versions[CLARIFY_IMAGE_VERSION])


def test_every_sdk_region_is_served_with_the_sdks_account(sdk_model_monitor: dict[str, Any]) -> None:
    registries: dict[str, str] = sdk_model_monitor["registries"]
    assert set(LEFT_OUT) <= set(registries), "a region left out on purpose is gone from the SDK: update LEFT_OUT"
    expected = {region: account for region, account in registries.items() if region not in LEFT_OUT}
    assert expected == MODEL_MONITOR_IMAGE_ACCOUNTS


def test_every_sdk_clarify_region_is_served_with_the_sdks_account(sdk_clarify: dict[str, Any]) -> None:
    registries: dict[str, str] = sdk_clarify["registries"]
    assert set(LEFT_OUT) <= set(registries), "a region left out on purpose is gone from the SDK: update LEFT_OUT"
    expected = {region: account for region, account in registries.items() if region not in LEFT_OUT}
    assert expected == CLARIFY_IMAGE_ACCOUNTS


def test_the_repository_is_the_sdks(sdk_model_monitor: dict[str, Any], sdk_clarify: dict[str, Any]) -> None:
    assert sdk_model_monitor["repository"] == MODEL_MONITOR_ANALYZER_REPOSITORY
    assert sdk_clarify["repository"] == CLARIFY_PROCESSING_REPOSITORY


def test_the_platform_serves_the_regions_with_both_images(
    sdk_model_monitor: dict[str, Any], sdk_clarify: dict[str, Any]
) -> None:
    """Production runs Model Monitor and Clarify's monitors: a region lacking either image is not served."""
    both = (set(sdk_model_monitor["registries"]) & set(sdk_clarify["registries"])) - set(LEFT_OUT)
    assert both == SUPPORTED_REGIONS
    assert set(MODEL_MONITOR_IMAGE_ACCOUNTS) - set(CLARIFY_IMAGE_ACCOUNTS) == NO_CLARIFY
    assert not NO_CLARIFY & SUPPORTED_REGIONS
    assert "us-gov-west-1" in set(CLARIFY_IMAGE_ACCOUNTS) - SUPPORTED_REGIONS, "Clarify alone does not serve"


FRAMEWORKS = ("model-monitor", "clarify")


def _sdk_uris(start: Start) -> Future[subprocess.CompletedProcess[str]] | None:
    """The SDK's own image_uris.retrieve of each of FRAMEWORKS for every served region, in the seed's
    interpreter, started in the background as the session starts (none without it: the test fails)."""
    python = SEED_VENV / "bin" / "python"
    if not python.exists():
        return None
    script = (
        "import json, sys\n"
        "from sagemaker.core import image_uris\n"
        "frameworks, regions = json.loads(sys.argv[1])\n"
        "print(json.dumps({f: {r: image_uris.retrieve(f, r) for r in regions} for f in frameworks}))\n"
    )
    return start.background.run(
        [str(python), "-c", script, json.dumps([FRAMEWORKS, sorted(SUPPORTED_REGIONS)])],
        cwd=ROOT,
        # Nothing may reach AWS: no credentials, no instance metadata.
        env={"PATH": os.environ["PATH"], "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull},
        timeout=300,
        cost=4.0,
    )


@pytest.mark.background(start=_sdk_uris)
def test_image_uris_are_the_ones_the_sdk_retrieves(
    started: Future[subprocess.CompletedProcess[str]] | None, background: Background
) -> None:
    """Domain included (amazonaws.com.cn in China), Clarify's version tag too: the SDK's own, every region."""
    seed_python()
    assert started is not None
    result = background.result(started)
    assert result.returncode == 0, f"{result.stderr[-2000:]}\n{INSTALL_HINT}"
    uris: dict[str, dict[str, str]] = json.loads(result.stdout.strip().splitlines()[-1])
    served = sorted(SUPPORTED_REGIONS)
    assert {region: model_monitor_image_uri(region) for region in served} == uris["model-monitor"]
    assert {region: clarify_image_uri(region) for region in served} == uris["clarify"]


@pytest.mark.parametrize(
    ("region", "uri"),
    [
        ("eu-west-1", "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"),
        ("cn-northwest-1", "453252182341.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sagemaker-model-monitor-analyzer"),
    ],
)
def test_image_uri_of_a_commercial_and_a_china_region(region: str, uri: str) -> None:
    assert model_monitor_image_uri(region) == uri


def test_a_region_without_the_image_has_no_uri() -> None:
    with pytest.raises(ValueError, match="no analyzer image in ca-west-1"):
        model_monitor_image_uri("ca-west-1")
    with pytest.raises(ValueError, match="Clarify publishes no processing image in il-central-1"):
        clarify_image_uri("il-central-1")


def test_clarify_image_of_a_commercial_and_a_china_region() -> None:
    assert (
        clarify_image_uri("eu-west-1")
        == "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"
    )
    assert clarify_image_uri("cn-northwest-1") == (
        "122578899357.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sagemaker-clarify-processing:1.0"
    )


def test_every_served_region_is_a_known_region() -> None:
    """Otherwise the schema would reject a region the platform can serve as a typo."""
    assert SUPPORTED_REGIONS <= KNOWN_REGIONS
    assert "ca-west-1" in KNOWN_REGIONS - SUPPORTED_REGIONS, "the config tests' unserved region"
