"""sample_payloads.json: the requests every model package records as its SamplePayloadUrl.

    python -m workflow.sample_payloads sample_payloads.json

The file is one `application/json` request, {"instances": [{<feature>: value, ...}, ...]},
whose instances carry exactly the model's features, each meeting the data contract. The
platform's smoke test and batch check send it to what they deploy, so the build checks it
before packing it (a gzip tar holding the file alone, as CreateModelPackage requires) and
uploading it, KMS-encrypted, next to the commit it was built from.
"""

import argparse
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd

from workflow.schema import FEATURE_COLUMNS, REQUEST_INSTANCES
from workflow.validation import validate_table

SAMPLE_PAYLOADS_FILE = "sample_payloads.json"
DEFAULT_SAMPLE_PAYLOADS = Path(__file__).resolve().parents[1] / SAMPLE_PAYLOADS_FILE
INSTANCES_KEY = "instances"


class SamplePayloadsError(ValueError):
    """sample_payloads.json is not a request the model can answer."""


def validate_sample_payloads(path: Path) -> dict[str, Any]:
    """The request document, or SamplePayloadsError naming every problem found."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise SamplePayloadsError(f"{path}: file not found") from error
    except json.JSONDecodeError as error:
        raise SamplePayloadsError(f"{path}: not valid JSON ({error})") from error
    instances = document.get(INSTANCES_KEY) if isinstance(document, dict) else None
    if not isinstance(document, dict) or set(document) != {INSTANCES_KEY} or not isinstance(instances, list):
        raise SamplePayloadsError(
            f'{path}: expected one object, {{"{INSTANCES_KEY}": [...]}}, and nothing else'
        )
    if not instances:
        raise SamplePayloadsError(f"{path}: {INSTANCES_KEY} is empty")
    problems = [
        problem
        for position, instance in enumerate(instances)
        for problem in _key_problems(position, instance)
    ]
    if not problems:
        report = validate_table(
            pd.DataFrame.from_records(instances), source=path.name, contract=REQUEST_INSTANCES
        )
        problems = [] if report.is_valid else report.render().splitlines()[1:]
    if problems:
        raise SamplePayloadsError(f"{path} is not a request the model answers:\n" + "\n".join(problems))
    return document


def _key_problems(position: int, instance: object) -> list[str]:
    if not isinstance(instance, dict):
        return [f"  - instance {position}: not an object of feature values"]
    problems = []
    missing = [name for name in FEATURE_COLUMNS if name not in instance]
    unknown = sorted(set(instance) - set(FEATURE_COLUMNS))
    if missing:
        problems.append(f"  - instance {position}: missing features {', '.join(missing)}")
    if unknown:
        problems.append(f"  - instance {position}: not features of the model: {', '.join(unknown)}")
    return problems


def pack_sample_payloads(path: Path) -> bytes:
    """A gzip tar holding the file, byte for byte, as its only member; the same bytes on every run."""
    content = path.read_bytes()
    member = tarfile.TarInfo(SAMPLE_PAYLOADS_FILE)
    member.size = len(content)
    member.mode = 0o644
    member.mtime = 0
    archive = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=archive, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as tar,
    ):
        tar.addfile(member, io.BytesIO(content))
    return archive.getvalue()


def upload_sample_payloads(archive: bytes, url: str, *, kms_key_arn: str, s3_client: Any) -> str:
    bucket, key = url.removeprefix("s3://").split("/", 1)
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=archive,
        ContentType="application/gzip",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key_arn,
    )
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, nargs="?", default=DEFAULT_SAMPLE_PAYLOADS)
    args = parser.parse_args(argv)
    try:
        document = validate_sample_payloads(args.path)
    except SamplePayloadsError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args.path}: OK ({len(document[INSTANCES_KEY])} instances with the model's features)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
