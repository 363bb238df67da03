"""The pipeline scripts and the people's tools where a stage serves in its own account: what serves is
reached as a role there (SERVING_ROLE_ARN for the scripts, --serving-role-arn/--serving-profile for the
tools), everything else in this account; a refused AssumeRole fails them naming the role.

moto's accounts (tests/lambdas/serving_account.py): the serving account's resources are built through a
session of the role, so a reader with this account's credentials would not find them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.common.accounts import serving_session
from lambdas.common.contracts import SERVING_ROLE_ARN_ENV, model_package_group_name
from tests.lambdas.serving_account import ops_role_arn, signers, sts_refusing
from tests.tools.conftest import PLATFORM, REGION, client
from tools import lineage, resolve_champion, rollback, smoke_test

ROLE = ops_role_arn()
ENDPOINT = STACK = f"{PLATFORM}-churn-production"
PACKAGE = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/churn/3"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh fake account; the tools' own sessions take the tests' credentials from the environment."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def serving_endpoint() -> None:
    """The endpoint in the serving account, as its deploy leaves it (built as the role)."""
    sagemaker = serving_session(ROLE, session_name="deploy", region_name=REGION, base=boto3.Session()).client(
        "sagemaker"
    )
    role = f"arn:aws:iam::{ROLE.split(':')[4]}:role/serve"
    sagemaker.create_model(ModelName="churn-champion", ExecutionRoleArn=role, PrimaryContainer={"Image": "churn:1"})
    variant = {
        "VariantName": "champion",
        "ModelName": "churn-champion",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": 1.0,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="churn-config", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="churn-config")


# --- the deploy pipeline's scripts: SERVING_ROLE_ARN ----------------------------------------------------


def test_the_champion_resolution_reads_and_writes_what_serves_as_the_role_and_the_registry_here(aws: None) -> None:
    clients = resolve_champion.make_clients(REGION, ROLE)
    by_name = {
        "cloudformation": clients.cloudformation,
        "endpoint": clients.endpoint_reader,
        "monitoring output": clients.monitoring_writer,
        "registry": clients.sagemaker,
        "package configs": clients.s3,
    }
    with signers(by_name) as signed:
        clients.cloudformation.list_stacks()
        clients.endpoint_reader.list_endpoints()
        clients.monitoring_writer.list_buckets()
        clients.sagemaker.list_model_package_groups()
        clients.s3.list_buckets()
    assert signed == {
        "cloudformation": {"serving"},
        "endpoint": {"serving"},
        "monitoring output": {"serving"},
        "registry": {"own"},
        "package configs": {"own"},
    }
    # Without a role: this account's clients, one of each.
    alone = resolve_champion.make_clients(REGION)
    assert (alone.endpoint_reader, alone.monitoring_writer) == (alone.sagemaker, alone.s3)


def test_a_refused_role_fails_the_champion_resolution_naming_it(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SERVING_ROLE_ARN_ENV, ROLE)
    output = tmp_path / "champion.env"
    arguments = ["--stack-name", STACK, "--endpoint-name", ENDPOINT, "--new-package-arn", PACKAGE]
    arguments += ["--output", str(output), "--monitoring-output-s3-uri", "s3://serving/churn/monitoring"]
    arguments += ["--kms-key-arn", "arn:aws:kms:eu-west-1:210987654321:key/k", "--region", REGION]

    with sts_refusing():
        code = resolve_champion.main(arguments)

    assert code == resolve_champion.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("error: could not read what production serves, so nothing is deployed:")
    assert f"could not assume the serving role {ROLE}" in err
    assert not output.exists()


def test_the_smoke_test_describes_the_endpoint_as_the_role(aws: None) -> None:
    serving_endpoint()
    here = smoke_test.make_clients(REGION)
    sagemaker, runtime = smoke_test.endpoint_clients(REGION, ROLE, sagemaker=here[0], runtime=here[1])

    variants, problem = smoke_test.check_endpoint(sagemaker, ENDPOINT)

    assert (variants, problem) == (["champion"], None)
    with signers({"runtime": runtime}) as signed:
        runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=b"{}", ContentType="application/json")
    assert signed == {"runtime": {"serving"}}
    # This account serves nothing; without a role, the smoke test stays in it.
    assert smoke_test.check_endpoint(here[0], ENDPOINT)[1] is not None
    assert smoke_test.endpoint_clients(REGION, None, sagemaker=here[0], runtime=here[1]) == here[:2]


def test_a_refused_role_fails_the_smoke_test_naming_it(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SERVING_ROLE_ARN_ENV, ROLE)
    monkeypatch.setattr(smoke_test, "make_clients", lambda region: (client("sagemaker"), None, client("s3")))
    payloads = tmp_path / "payload.json"
    payloads.write_text(json.dumps({"instances": [{"age": 34}]}))
    contract = {"problem_type": "regression", "content_type": "text/csv", "accept": "text/csv"}
    client("sagemaker").create_model_package_group(ModelPackageGroupName="churn")
    package = client("sagemaker").create_model_package(ModelPackageGroupName="churn")["ModelPackageArn"]

    with sts_refusing():
        code = smoke_test.main(
            [
                *("--endpoint-name", ENDPOINT, "--model-package-arn", package, "--region", REGION, "--rounds", "1"),
                *(
                    "--payloads",
                    str(payloads),
                    "--fallback-contract",
                    json.dumps(contract | {"prediction_attribute": "0"}),
                ),
            ]
        )

    assert code == smoke_test.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"cannot describe endpoint {ENDPOINT}: ServingRoleError: could not assume the serving role {ROLE}" in err


# --- the people's tools: --serving-role-arn, --serving-profile ------------------------------------------


def _approved_package() -> str:
    sagemaker = client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=model_package_group_name("churn"))
    arn: str = sagemaker.create_model_package(
        ModelPackageGroupName=model_package_group_name("churn"), ModelApprovalStatus="Approved"
    )["ModelPackageArn"]
    return arn


def test_rollback_updates_the_serving_stack_as_the_role_and_keeps_the_registry_and_audit_here(aws: None) -> None:
    here = rollback.make_clients(REGION)
    serving = serving_session(ROLE, session_name=rollback.SESSION_NAME, region_name=REGION)
    clients = rollback.in_serving_account(here, serving)
    by_name: dict[str, Any] = {
        "cloudformation": clients.cloudformation,
        "monitoring output": clients.monitoring_writer,
        "registry": clients.sagemaker,
        "audit": clients.events,
        "package configs": clients.s3,
    }
    with signers(by_name) as signed:
        clients.cloudformation.list_stacks()
        clients.monitoring_writer.list_buckets()
        clients.sagemaker.list_model_package_groups()
        clients.events.list_event_buses()
        clients.s3.list_buckets()
    assert signed == {
        "cloudformation": {"serving"},
        "monitoring output": {"serving"},
        "registry": {"own"},
        "audit": {"own"},
        "package configs": {"own"},
    }
    assert rollback.in_serving_account(here, None) is here


def test_a_refused_role_fails_the_rollback_naming_it_before_any_change(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    package = _approved_package()
    arguments = ["--model", "churn", "--package-arn", package, "--yes", "--platform-name", PLATFORM]

    with sts_refusing():
        code = rollback.main([*arguments, "--region", REGION, "--serving-role-arn", ROLE])

    assert code == rollback.EXIT_FAILED
    assert f"could not assume the serving role {ROLE}" in capsys.readouterr().err


def test_lineage_reads_what_serves_as_the_role_and_fails_naming_a_refused_one(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    serving_endpoint()
    serving = serving_session(ROLE, session_name=lineage.SESSION_NAME, region_name=REGION)
    clients = lineage.in_serving_account(lineage.make_clients(REGION), serving)
    [variant] = lineage.served_variants(clients, ENDPOINT, batch=False)
    assert (variant.variant_name, variant.model_name) == ("champion", "churn-champion")

    with sts_refusing():
        code = lineage.main(
            ["--model", "churn", "--platform", PLATFORM, "--region", REGION, "--serving-role-arn", ROLE]
        )

    assert code == lineage.EXIT_READ_FAILED
    assert f"could not assume the serving role {ROLE}" in capsys.readouterr().err


@pytest.mark.parametrize("tool", [rollback, lineage])
def test_an_unknown_serving_profile_is_refused_before_any_call(
    tool: Any, aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setattr(tool, "make_clients", lambda region: pytest.fail("no client may be created"))
    arguments = ["--model", "churn", "--region", REGION, "--serving-profile", "production"]
    arguments += (
        ["--package-arn", PACKAGE, "--platform-name", PLATFORM] if tool is rollback else ["--platform", PLATFORM]
    )

    code = tool.main(arguments)

    assert code == (rollback.EXIT_USAGE if tool is rollback else lineage.EXIT_READ_FAILED)
    assert "error: the serving account cannot be reached: The config profile (production) could not be found" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("tool", [rollback, lineage])
def test_the_serving_options_are_documented(tool: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        tool.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--serving-profile NAME" in text
    assert "--serving-role-arn ARN" in text
    assert "Without either, one set of credentials is used for everything" in text
