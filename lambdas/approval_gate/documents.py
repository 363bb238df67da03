"""What the gate reads of an approved package: its description, and the JSON documents it points at in S3
(the evaluation report, the bias report). A package the gate cannot read these of is invalid.

The documents are read as they were when the package was registered (`RegisteredDocuments`): they lie
under the model's pipeline outputs in its data bucket, which the model's build can write, so a push between
registration and approval could replace them. Only approvers can change the package itself; what it points
at is judged in the version that was current at its `CreationTime`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of an S3 key's history: a version of the object, or a deletion (a delete marker)."""

    version_id: str
    last_modified: datetime
    deleted: bool = False


def registered_version(
    history: list[ObjectVersion], registered_at: datetime
) -> tuple[ObjectVersion | None, list[ObjectVersion]]:
    """The entry of `history` (newest first) that was current at `registered_at`, and the entries after it.

    S3 keeps LastModified to the second: a version written in the second the package was registered
    counts as registered. None: nothing was current then (the object was not written yet, or was deleted).
    """
    for position, entry in enumerate(history):
        if entry.last_modified <= registered_at:
            return (None if entry.deleted else entry), history[:position]
    return None, history


class RegisteredDocuments:
    """Reads the JSON documents a package points at as they were when it was registered, and keeps which of
    them were written again since (`written_again`: the alert and the audit say so)."""

    def __init__(self, s3: Any, package: Mapping[str, Any]) -> None:
        self.s3 = s3
        self.registered_at: datetime | None = package.get("CreationTime")
        self.written_again: list[str] = []

    def read_json(self, uri: str, what: str) -> object:
        """The JSON document at the s3:// object `uri` (the package's `what`, e.g. "metrics file"), in the
        version that was current when the package was registered.

        A location that is not an object URI, an object that did not exist then or cannot be read (other
        than transiently), too large or not JSON makes the package invalid; a transient failure is retried
        (`RetryableError`)."""
        location = urlparse(uri)
        bucket, key = location.netloc, location.path.lstrip("/")
        if location.scheme != "s3" or not bucket or not key:
            raise InvalidPackage(f"its {what} location {uri!r} is not an s3:// object URI")
        if not isinstance(self.registered_at, datetime):
            raise InvalidPackage(f"its description has no CreationTime: its {what} cannot be read as registered")
        with aws_call(f"list the versions of {uri}", translate=invalid_package_when(unreadable(what, uri))):
            history = object_history(self.s3, bucket, key)
        version, newer = registered_version(history, self.registered_at)
        if version is None:
            written_after = " (it was written after)" if any(not entry.deleted for entry in newer) else ""
            raise InvalidPackage(
                f"its {what} {uri} did not exist when the package was registered"
                f" ({self.registered_at.astimezone(UTC).isoformat(timespec='seconds')}){written_after}"
            )
        if newer:
            self.written_again.append(uri)
        with aws_call(f"read {uri}", translate=invalid_package_when(unreadable(what, uri))):
            answer = self.s3.get_object(Bucket=bucket, Key=key, VersionId=version.version_id)
            content = answer["Body"].read(MAX_DOCUMENT_BYTES + 1)
        if len(content) > MAX_DOCUMENT_BYTES:
            raise InvalidPackage(f"its {what} {uri} is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            document: object = json.loads(content)
        except (ValueError, RecursionError) as exc:
            raise InvalidPackage(f"its {what} {uri} is not valid JSON ({type(exc).__name__})") from exc
        return document


def object_history(s3: Any, bucket: str, key: str) -> list[ObjectVersion]:
    """The versions and deletions of exactly `key`, newest first. An unversioned bucket's object is its one
    version, "null". S3 lists a key's versions newest first and its delete markers apart: merged by time, a
    deletion in the same second as a version counts as the newer."""
    entries: list[ObjectVersion] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        entries += [
            ObjectVersion(version["VersionId"], version["LastModified"])
            for version in page.get("Versions", [])
            if version["Key"] == key
        ]
        entries += [
            ObjectVersion(marker["VersionId"], marker["LastModified"], deleted=True)
            for marker in page.get("DeleteMarkers", [])
            if marker["Key"] == key
        ]
    # A stable sort: versions of the same second keep S3's order (newest first).
    return sorted(entries, key=lambda entry: (entry.last_modified, entry.deleted), reverse=True)


def unreadable(what: str, uri: str) -> Callable[[ClientError], str | None]:
    """Why a document cannot be read, for an error that is not transient (access denied, no such bucket)."""

    def explain(exc: ClientError) -> str | None:
        return None if is_transient(exc) else f"its {what} {uri} cannot be read ({error_code(exc)})"

    return explain


def invalid_package_when(explain: Callable[[ClientError], str | None]) -> Callable[[ClientError], Exception | None]:
    """An `aws_call` translation: the errors `explain` gives a reason for make the package invalid."""

    def translate(exc: ClientError) -> Exception | None:
        reason = explain(exc)
        return InvalidPackage(reason) if reason else None

    return translate
