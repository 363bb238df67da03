"""The sample payloads registered with every model package.

sample_payloads.json holds a request body the model answers, {"instances": [{<feature>: value,
...}, ...]}, one instance per object, keyed by exactly the model's features (jobs/features.py).
The build checks it, packs it as a gzip tar archive with the one member sample_payloads.json
(the layout SageMaker's SamplePayloadUrl expects) and uploads it, KMS-encrypted, to
s3://<ARTIFACT_BUCKET>/<package_metadata.sample_payloads_prefix><commit>/sample_payloads.tar.gz;
the pipeline registers that URL as the package's SamplePayloadUrl, and the platform smoke-tests
the deployed model with these payloads.
"""

import gzip
import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.model_code import REPOSITORY_ROOT

DEFAULT_SAMPLE_PAYLOADS_PATH = REPOSITORY_ROOT / "sample_payloads.json"
MEMBER_NAME = "sample_payloads.json"
ARCHIVE_NAME = "sample_payloads.tar.gz"


class SamplePayloadError(ValueError):
    """The sample payload file is missing, not JSON, or not a request the model answers."""


def check_sample_payloads(path: Path, features: Sequence[str]) -> list[dict[str, Any]]:
    """The instances of the file; raises SamplePayloadError naming every problem."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise SamplePayloadError(f"{path}: file not found") from error
    except json.JSONDecodeError as error:
        raise SamplePayloadError(f"{path}: not valid JSON ({error})") from error
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list) or not instances:
        raise SamplePayloadError(
            f'{path}: expected {{"instances": [...]}} with at least one instance, one object per instance'
        )
    problems = [
        problem
        for index, instance in enumerate(instances)
        for problem in _problems(index, instance, features)
    ]
    if problems:
        raise SamplePayloadError(f"{path} is not a request the model answers:\n" + "\n".join(problems))
    return instances


def _problems(index: int, instance: object, features: Sequence[str]) -> list[str]:
    where = f"  - instances[{index}]"
    if not isinstance(instance, dict):
        return [f"{where}: expected an object of features, got {type(instance).__name__}"]
    missing = [name for name in features if name not in instance]
    unexpected = sorted(set(instance) - set(features))
    problems = []
    if missing:
        problems.append(f"{where}: missing features {', '.join(missing)}")
    if unexpected:
        problems.append(f"{where}: not features of the model: {', '.join(unexpected)}")
    return problems


def pack_sample_payloads(path: Path) -> bytes:
    """A .tar.gz holding the file as its one member; the same bytes for the same file."""
    payload = path.read_bytes()
    member = tarfile.TarInfo(MEMBER_NAME)
    member.size = len(payload)
    member.mode = 0o644
    archive = io.BytesIO()
    # Fixed timestamps (tar member and gzip header) keep the archive reproducible.
    with (
        gzip.GzipFile(fileobj=archive, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as tar,
    ):
        tar.addfile(member, io.BytesIO(payload))
    return archive.getvalue()


def sample_payload_url(config: ModelConfig, env: BuildEnvironment) -> str:
    """Where this commit's archive goes: one folder per commit, never overwritten by another."""
    prefix = config.package_metadata.sample_payloads_prefix
    return f"s3://{env.artifact_bucket}/{prefix}{env.source_commit}/{ARCHIVE_NAME}"


def upload_sample_payloads(path: Path, config: ModelConfig, env: BuildEnvironment, s3_client: Any) -> str:
    """Pack the (checked) file, upload it encrypted with KMS_KEY_ARN and return its URL."""
    url = sample_payload_url(config, env)
    bucket, key = url.removeprefix("s3://").split("/", 1)
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=pack_sample_payloads(path),
        ContentType="application/gzip",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=env.kms_key_arn,
    )
    return url
