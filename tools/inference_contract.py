"""What the deploy pipeline's staging checks send to a model: its inference contract and sample payloads.

Shared by the real-time smoke test (`tools/smoke_test.py`) and the batch check (`tools/batch_check.py`),
which encode the requests and judge the answers with `tools/answers.py`. For one model package it resolves:

- the inference contract (`lambdas.common.contracts.InferenceContract`): the one the package records in
  its CustomerMetadataProperties; for a package that records none (built before builds recorded it),
  `--fallback-contract`, the model's contract from its configuration as a JSON object of the contract's
  fields. A package recording an invalid contract is refused, fallback or not: its build is wrong.
- the sample payloads, documents of `{"instances": [{<feature>: value, ...}, ...]}`: the `--payloads`
  files when given, else the package's SamplePayloadUrl, an s3:// URL of a gzip tar archive holding
  SAMPLE_PAYLOADS_FILE. Only that member is read, in memory, within size limits. For a CSV contract every
  instance must list the same features in the same order (CSV rows are positional).

Standard library, boto3 and `lambdas.common.{contracts,errors}` only: it ships in the deploy bundle.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import io
import json
import sys
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.contracts import (
    CONTRACT_PROPERTIES,
    CSV_CONTENT_TYPE,
    INSTANCES_KEY,
    PACKAGE_ARN,
    SAMPLE_PAYLOADS_FILE,
    InferenceContract,
)
from lambdas.common.errors import error_code, error_message

# Sample payloads are a handful of instances: anything near these limits is a mistake (or an attack).
MAX_ARCHIVE_BYTES: Final = 1024 * 1024
MAX_PAYLOADS_BYTES: Final = 1024 * 1024
# The unpacked tar is read into memory before its members are looked at, so a gzip bomb stops here.
MAX_UNPACKED_ARCHIVE_BYTES: Final = 2 * MAX_PAYLOADS_BYTES
# The readable report lists this many problems, then counts the rest: 90 identical lines help nobody.
MAX_REPORTED_PROBLEMS: Final = 20
CONTRACT_FIELDS: Final = tuple(field.name for field in dataclasses.fields(InferenceContract))
OPTIONAL_CONTRACT_FIELDS: Final = ("probability_attribute",)

ContractSource = Literal["package", "fallback"]
Instance = Mapping[str, Any]


class UnusableInput(ValueError):
    """The arguments or the package cannot be checked (exit 2); the message says what to do."""


class ContractError(UnusableInput):
    """No usable inference contract."""


class PayloadError(UnusableInput):
    """No usable sample payloads; the message names the file or URL and the problem."""


class AwsReadError(RuntimeError):
    """AWS could not be read (access denied, throttling, no connection): the check fails (exit 1)."""


@dataclass(frozen=True)
class Payload:
    """One payload document: its name (for the requests' names) and its instances."""

    name: str
    instances: tuple[Instance, ...]


@dataclass(frozen=True)
class Sample:
    """What a check sends a package, how it judges the answers, and where both came from."""

    model_package_arn: str
    contract: InferenceContract
    contract_source: ContractSource
    payloads: tuple[Payload, ...]
    payloads_source: str

    @property
    def instances(self) -> list[Instance]:
        return [instance for payload in self.payloads for instance in payload.instances]

    def summary(self) -> dict[str, Any]:
        return {
            "model_package": self.model_package_arn,
            "contract": dataclasses.asdict(self.contract),
            "contract_source": self.contract_source,
            "payloads": self.payloads_source,
        }


# --- arguments ----------------------------------------------------------------------------------------


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that say which package is checked, with which contract and payloads."""
    parser.add_argument(
        "--model-package-arn", required=True, type=_package_arn, help="the versioned model package being checked"
    )
    parser.add_argument(
        "--fallback-contract",
        type=_fallback_contract,
        metavar="JSON",
        help="the model's inference contract, used when the package records none: a JSON object of "
        f"{', '.join(CONTRACT_FIELDS)} (an empty value means none)",
    )
    parser.add_argument(
        "--payloads",
        nargs="+",
        type=Path,
        metavar="FILE",
        help='JSON files of {"instances": [...]} to send instead of the package\'s sample payloads',
    )


def _package_arn(text: str) -> str:
    if not PACKAGE_ARN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a versioned model package ARN: {text!r}")
    return text


def _fallback_contract(text: str) -> InferenceContract | None:
    try:
        return parse_fallback_contract(text)
    except ContractError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_fallback_contract(text: str) -> InferenceContract | None:
    """The contract `--fallback-contract` gives, None for an empty value; ContractError when unusable."""
    if not text.strip():
        return None
    try:
        values = json.loads(text)
    except ValueError as error:
        raise ContractError(f"the fallback contract is not JSON: {error}") from None
    if not isinstance(values, dict):
        raise ContractError(f"the fallback contract must be a JSON object of {', '.join(CONTRACT_FIELDS)}")
    problems = [f"unknown field {name!r}" for name in values if name not in CONTRACT_FIELDS]
    problems += [
        f"no {name}" for name in CONTRACT_FIELDS if name not in OPTIONAL_CONTRACT_FIELDS and values.get(name) is None
    ]
    problems += [
        f"{name} must be a string" for name, value in values.items() if value is not None and not isinstance(value, str)
    ]
    if problems:
        raise ContractError("the fallback contract is unusable: " + "; ".join(problems))
    try:
        return InferenceContract(**values)
    except ValueError as error:
        raise ContractError(f"the fallback contract is unusable: {error}") from None


# --- the package: its contract and sample payloads ------------------------------------------------------


def resolve_sample(
    sagemaker: Any,
    s3: Any,
    *,
    model_package_arn: str,
    fallback_contract: InferenceContract | None,
    payloads: Sequence[Payload] | None,
) -> Sample:
    """The package's contract and the payloads to send it (`payloads` when given, else the package's).

    UnusableInput when there is no usable contract or payload; AwsReadError when AWS cannot be read.
    """
    package = describe_package(sagemaker, model_package_arn)
    contract, contract_source = package_contract(package, fallback_contract)
    if payloads:
        payloads_source = ", ".join(payload.name for payload in payloads)
    else:
        payloads_source = package.get("SamplePayloadUrl") or ""
        if not payloads_source:
            raise PayloadError(
                f"model package {model_package_arn} has no SamplePayloadUrl (it was built before builds registered "
                'their sample payloads): pass --payloads FILE ..., JSON files of {"instances": [...]}'
            )
        payloads = [download_sample_payloads(s3, payloads_source)]
    check_payloads_fit(contract, payloads)
    return Sample(model_package_arn, contract, contract_source, tuple(payloads), payloads_source)


def describe_package(sagemaker: Any, model_package_arn: str) -> Mapping[str, Any]:
    try:
        package: Mapping[str, Any] = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    except (ClientError, BotoCoreError) as error:
        raise AwsReadError(f"cannot describe model package {model_package_arn}: {aws_error_text(error)}") from error
    return package


def package_contract(
    package: Mapping[str, Any], fallback: InferenceContract | None
) -> tuple[InferenceContract, ContractSource]:
    """The contract the package records, else the fallback; ContractError when it records an invalid one or
    neither exists."""
    arn = package.get("ModelPackageArn", "the model package")
    try:
        recorded = InferenceContract.from_properties(package.get("CustomerMetadataProperties") or {})
    except ValueError as error:
        raise ContractError(
            f"{arn} records an unusable inference contract in its CustomerMetadataProperties ({error}): "
            "fix the model's build and register a new package"
        ) from None
    if recorded is not None:
        return recorded, "package"
    if fallback is not None:
        return fallback, "fallback"
    raise ContractError(
        f"{arn} records no inference contract (CustomerMetadataProperties {', '.join(CONTRACT_PROPERTIES.values())}) "
        "and no --fallback-contract was given: pass the model's contract from its configuration, "
        f"a JSON object of {', '.join(CONTRACT_FIELDS)}"
    )


def download_sample_payloads(s3: Any, url: str) -> Payload:
    """The payload in the package's sample archive (SamplePayloadUrl)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key:
        raise PayloadError(f"the package's SamplePayloadUrl {url!r} is not an s3://bucket/key URL")
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        with response["Body"] as body:
            if response.get("ContentLength", 0) > MAX_ARCHIVE_BYTES:
                raise PayloadError(f"{url}: the archive is larger than {MAX_ARCHIVE_BYTES} bytes")
            data = body.read(MAX_ARCHIVE_BYTES + 1)
    except (ClientError, BotoCoreError) as error:
        raise AwsReadError(f"cannot read the sample payloads {url}: {aws_error_text(error)}") from error
    if len(data) > MAX_ARCHIVE_BYTES:
        raise PayloadError(f"{url}: the archive is larger than {MAX_ARCHIVE_BYTES} bytes")
    return read_sample_archive(data, url)


def read_sample_archive(data: bytes, source: str) -> Payload:
    """The payload of a gzip tar archive's SAMPLE_PAYLOADS_FILE member (nothing else is read, nothing written)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            unpacked = unzipped.read(MAX_UNPACKED_ARCHIVE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise PayloadError(f"{source}: not a gzip archive: {error}") from None
    if len(unpacked) > MAX_UNPACKED_ARCHIVE_BYTES:
        raise PayloadError(f"{source}: the archive unpacks to more than {MAX_UNPACKED_ARCHIVE_BYTES} bytes")
    try:
        with tarfile.open(fileobj=io.BytesIO(unpacked), mode="r:") as archive:
            # Only the member at the archive's top, by its exact name: "../x" or "dir/x" are not it.
            member = next((m for m in archive if m.name.removeprefix("./") == SAMPLE_PAYLOADS_FILE), None)
            if member is None:
                raise PayloadError(f"{source}: the archive holds no {SAMPLE_PAYLOADS_FILE}")
            if not member.isfile():
                raise PayloadError(f"{source}: {SAMPLE_PAYLOADS_FILE} in the archive is not a regular file")
            if member.size > MAX_PAYLOADS_BYTES:
                raise PayloadError(f"{source}: {SAMPLE_PAYLOADS_FILE} is larger than {MAX_PAYLOADS_BYTES} bytes")
            extracted = archive.extractfile(member)
            content = extracted.read() if extracted else b""
    except tarfile.TarError as error:
        raise PayloadError(f"{source}: not a tar archive: {error}") from None
    return parse_payload(content, name=SAMPLE_PAYLOADS_FILE, source=f"{source}: {SAMPLE_PAYLOADS_FILE}")


def read_payload_files(paths: Sequence[Path]) -> tuple[Payload, ...]:
    payloads = []
    for path in paths:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise PayloadError(f"{path}: cannot read the payload file: {error.strerror}") from error
        payloads.append(parse_payload(content, name=path.name, source=str(path)))
    return tuple(payloads)


def parse_payload(content: bytes, *, name: str, source: str) -> Payload:
    """A payload document, `{"instances": [{<feature>: value, ...}, ...]}`; PayloadError naming `source`."""
    try:
        document = json.loads(content)
    except ValueError as error:
        raise PayloadError(f"{source}: not valid JSON: {error}") from None
    instances = document.get(INSTANCES_KEY) if isinstance(document, dict) else None
    if not isinstance(instances, list) or not instances:
        raise PayloadError(f'{source}: expected {{"{INSTANCES_KEY}": [...]}} with at least one instance')
    for number, instance in enumerate(instances, start=1):
        if not isinstance(instance, dict) or not instance:
            raise PayloadError(f"{source}: instance {number} is not an object of features")
    return Payload(name, tuple(instances))


def check_payloads_fit(contract: InferenceContract, payloads: Sequence[Payload]) -> None:
    """CSV rows are positional: every instance must list the same features in the same order, each value
    a number or a string. PayloadError naming the first instance that does not."""
    if contract.content_type != CSV_CONTENT_TYPE:
        return
    first: tuple[str, list[str]] | None = None
    for payload in payloads:
        for number, instance in enumerate(payload.instances, start=1):
            where = f"{payload.name} instance {number}"
            for feature, value in instance.items():
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise PayloadError(
                        f"{where}: {feature} is {json.dumps(value)}; a CSV field must be a number or a string"
                    )
            if first is None:
                first = (where, list(instance))
            elif list(instance) != first[1]:
                raise PayloadError(
                    f"{where} does not list the features of {first[0]} in the same order: CSV rows are positional"
                )


# --- reporting ----------------------------------------------------------------------------------------


def aws_error_text(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        return f"{error_code(error)}: {error_message(error)}"
    return f"{type(error).__name__}: {error}"  # below the API: no credentials, no connection


def format_problems(title: str, problems: Sequence[str]) -> str:
    """The readable list of problems for stderr: `title FAILED: n problem(s)`, then the first ones."""
    lines = [f"{title} FAILED: {len(problems)} problem(s)"]
    lines += [f"  - {problem}" for problem in problems[:MAX_REPORTED_PROBLEMS]]
    if len(problems) > MAX_REPORTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - MAX_REPORTED_PROBLEMS} more")
    return "\n".join(lines)


# The checks' exit status: passed, failed, or bad arguments / unusable input.
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def exit_without_sample(error: UnusableInput | AwsReadError, *, title: str, summary: Mapping[str, Any]) -> int:
    """Report why a check has nothing to send, and its exit status: unusable input is a usage error
    (stderr only); AWS that cannot be read fails the check (`summary` on stdout, the problem on stderr)."""
    if isinstance(error, UnusableInput):
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(summary, indent=2))
    print(format_problems(title, [str(error)]), file=sys.stderr)
    return EXIT_FAILED
