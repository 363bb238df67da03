"""The sample payloads registered with each package: checked against the model, packed, uploaded."""

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest

import features
from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.model_code import model_features
from workflow.sample_payloads import (
    DEFAULT_SAMPLE_PAYLOADS_PATH,
    SamplePayloadError,
    check_sample_payloads,
    pack_sample_payloads,
    sample_payload_url,
    upload_sample_payloads,
)

from .conftest import BUCKET, REGION

INSTANCE: dict[str, Any] = json.loads(DEFAULT_SAMPLE_PAYLOADS_PATH.read_text())["instances"][0]


def write_payloads(directory: Path, document: object) -> Path:
    path = directory / "sample_payloads.json"
    path.write_text(json.dumps(document))
    return path


def unpack(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}  # type: ignore[union-attr]


def test_the_model_features_are_those_of_the_jobs() -> None:
    assert model_features() == features.FEATURES


def test_the_shipped_payloads_are_a_request_the_model_answers() -> None:
    instances = check_sample_payloads(DEFAULT_SAMPLE_PAYLOADS_PATH, model_features())

    assert len(instances) == 8
    assert all(list(instance) == list(features.FEATURES) for instance in instances)


def test_the_keys_may_come_in_any_order(tmp_path: Path) -> None:
    reordered = dict(reversed(list(INSTANCE.items())))

    assert check_sample_payloads(write_payloads(tmp_path, {"instances": [reordered]}), features.FEATURES)


@pytest.mark.parametrize(
    ("document", "expected_message"),
    [
        ([INSTANCE], r'expected \{"instances": \[...\]\} with at least one instance'),
        ({"records": [INSTANCE]}, r'expected \{"instances": \[...\]\}'),
        ({"instances": []}, "with at least one instance"),
        ({"instances": INSTANCE}, r'expected \{"instances": \[...\]\}'),
        ({"instances": [INSTANCE, [1, 2, 3]]}, r"instances\[1\]: expected an object of features, got list"),
        (
            {"instances": [{k: v for k, v in INSTANCE.items() if k != "tenure_months"}]},
            r"instances\[0\]: missing features tenure_months",
        ),
        ({"instances": [INSTANCE | {"churned": 1}]}, r"instances\[0\]: not features of the model: churned"),
    ],
    ids=["no-object", "no-instances", "empty", "instances-not-a-list", "not-an-object", "missing", "extra"],
)
def test_a_payload_the_model_cannot_answer_is_refused(
    tmp_path: Path, document: object, expected_message: str
) -> None:
    with pytest.raises(SamplePayloadError, match=expected_message):
        check_sample_payloads(write_payloads(tmp_path, document), features.FEATURES)


def test_every_bad_instance_is_reported_at_once(tmp_path: Path) -> None:
    without_charges = {k: v for k, v in INSTANCE.items() if k != "monthly_charges"}
    document = {"instances": [INSTANCE, without_charges, INSTANCE | {"region": "emea"}, "C000001"]}

    with pytest.raises(SamplePayloadError) as error:
        check_sample_payloads(write_payloads(tmp_path, document), features.FEATURES)

    assert str(error.value).splitlines()[1:] == [
        "  - instances[1]: missing features monthly_charges",
        "  - instances[2]: not features of the model: region",
        "  - instances[3]: expected an object of features, got str",
    ]


def test_a_missing_or_malformed_file_is_refused(tmp_path: Path) -> None:
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"instances": [')

    with pytest.raises(SamplePayloadError, match="file not found"):
        check_sample_payloads(tmp_path / "absent.json", features.FEATURES)
    with pytest.raises(SamplePayloadError, match="not valid JSON"):
        check_sample_payloads(malformed, features.FEATURES)


def test_the_archive_holds_exactly_the_file_and_is_reproducible() -> None:
    archive = pack_sample_payloads(DEFAULT_SAMPLE_PAYLOADS_PATH)

    assert unpack(archive) == {"sample_payloads.json": DEFAULT_SAMPLE_PAYLOADS_PATH.read_bytes()}
    assert archive[:2] == b"\x1f\x8b"  # gzip
    assert pack_sample_payloads(DEFAULT_SAMPLE_PAYLOADS_PATH) == archive


def test_the_archive_goes_under_the_prefix_of_the_config_one_folder_per_commit(
    config: ModelConfig, build_env: BuildEnvironment
) -> None:
    assert sample_payload_url(config, build_env) == (
        f"s3://{BUCKET}/churn/sample-payloads/{build_env.source_commit}/sample_payloads.tar.gz"
    )


def test_the_upload_is_encrypted_with_the_platform_key(
    fake_aws: None, config: ModelConfig, build_env: BuildEnvironment
) -> None:
    s3 = boto3.client("s3", region_name=REGION)

    url = upload_sample_payloads(DEFAULT_SAMPLE_PAYLOADS_PATH, config, build_env, s3)

    key = f"churn/sample-payloads/{build_env.source_commit}/sample_payloads.tar.gz"
    assert url == f"s3://{BUCKET}/{key}"
    uploaded = s3.get_object(Bucket=BUCKET, Key=key)
    assert uploaded["ServerSideEncryption"] == "aws:kms"
    assert uploaded["SSEKMSKeyId"] == build_env.kms_key_arn
    assert unpack(uploaded["Body"].read()) == {
        "sample_payloads.json": DEFAULT_SAMPLE_PAYLOADS_PATH.read_bytes()
    }
