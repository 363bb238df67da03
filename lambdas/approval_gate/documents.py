"""What the gate reads of an approved package: its description, and the JSON documents it points at in S3
(the evaluation report, the bias report). A package the gate cannot read these of is invalid."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from lambdas.common.aws import aws_call, error_code, is_transient

# A report is a few kilobytes (a bias report with many facets, some hundreds); refuse to load anything
# far larger into memory.
MAX_DOCUMENT_BYTES = 1024 * 1024

# What DescribeModelPackage answers for a package that was deleted (or never existed).
PACKAGE_GONE_ERROR_CODES = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})


class InvalidPackage(Exception):
    """The approved package cannot be evaluated; the message says why."""


def describe_package(sagemaker: Any, model_package_arn: str) -> dict[str, Any]:
    def gone(exc: ClientError) -> str | None:
        return "the model package no longer exists" if error_code(exc) in PACKAGE_GONE_ERROR_CODES else None

    with aws_call("describe the model package", translate=invalid_package_when(gone)):
        package: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    return package


def read_json_document(s3: Any, uri: str, what: str) -> object:
    """The JSON document at the s3:// object `uri` (the package's `what`, e.g. "metrics file").

    A location that is not an object URI, an object that cannot be read (other than transiently), too
    large or not JSON makes the package invalid; a transient failure is retried (`RetryableError`)."""
    location = urlparse(uri)
    bucket, key = location.netloc, location.path.lstrip("/")
    if location.scheme != "s3" or not bucket or not key:
        raise InvalidPackage(f"its {what} location {uri!r} is not an s3:// object URI")

    def unreadable(exc: ClientError) -> str | None:
        return None if is_transient(exc) else f"its {what} {uri} cannot be read ({error_code(exc)})"

    with aws_call(f"read {uri}", translate=invalid_package_when(unreadable)):
        content = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_DOCUMENT_BYTES + 1)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidPackage(f"its {what} {uri} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document: object = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise InvalidPackage(f"its {what} {uri} is not valid JSON ({type(exc).__name__})") from exc
    return document


def invalid_package_when(explain: Callable[[ClientError], str | None]) -> Callable[[ClientError], Exception | None]:
    """An `aws_call` translation: the errors `explain` gives a reason for make the package invalid."""

    def translate(exc: ClientError) -> Exception | None:
        reason = explain(exc)
        return InvalidPackage(reason) if reason else None

    return translate
