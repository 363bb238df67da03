"""Ingest feature records into the model's feature group with PutRecord (Feature Store runtime).

    python -m workflow.ingest_features --records data/generated/feature_records.csv
    python -m workflow.ingest_features --feature-group churn-customer-features --records FILE

Every row is validated against the feature-records contract, and the feature group's definition
against the contract, before the first record is written. Records are written by a few threads
at once; throttling, 5xx answers and dropped connections are retried with exponential backoff,
a bounded number of times. Prints a summary (ingested, failed, seconds) and exits 1 listing
every failed record when any failed. A record goes to the online store at once and is
replicated to the offline store (the source of training sets) within about 15 minutes.
"""

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
)
from botocore.exceptions import ReadTimeoutError as BotocoreReadTimeoutError

from workflow.config import CONFIG_OPTION_HELP, load_model_config, settings_source
from workflow.feature_group import FeatureGroup, FeatureGroupError, describe_feature_group, require_contract
from workflow.schema import EVENT_TIME_COLUMN, FEATURE_RECORDS, ID_COLUMN
from workflow.validation import ValidationReport, validate_table

DEFAULT_CONCURRENCY = 4
MAX_LISTED_FAILURES = 20

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalFailure",
    }
)
# The request may not have reached the service, or its answer was lost: writing again is safe,
# because a record with the same identifier and event time replaces itself.
RETRYABLE_CONNECTION_ERRORS = (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    BotocoreReadTimeoutError,
)


class InvalidRecordsError(ValueError):
    """The records break the feature-records contract; nothing was written."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.render())
        self.report = report


def _full_jitter(ceiling: float) -> float:
    return random.uniform(0.0, ceiling)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, so that throttled threads do not retry in lockstep."""

    max_attempts: int = 5
    base_delay_seconds: float = 0.2
    max_delay_seconds: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float], float] = _full_jitter

    def wait_before_retry(self, retry: int) -> None:
        self.sleep(self.jitter(min(self.max_delay_seconds, self.base_delay_seconds * 2**retry)))


@dataclass(frozen=True)
class FailedRecord:
    record_identifier: str
    event_time: str
    error: str

    def render(self) -> str:
        return f"{ID_COLUMN}={self.record_identifier} {EVENT_TIME_COLUMN}={self.event_time}: {self.error}"


@dataclass(frozen=True)
class IngestionSummary:
    feature_group_name: str
    ingested: int
    failures: tuple[FailedRecord, ...]
    seconds: float

    @property
    def failed(self) -> int:
        return len(self.failures)

    def render(self) -> str:
        return (
            f"{self.feature_group_name}: {self.ingested} records ingested, {self.failed} failed,"
            f" in {self.seconds:.1f} s"
        )

    def render_failures(self) -> str:
        lines = [f"failed records of {self.feature_group_name}:"]
        lines += [f"  - {failure.render()}" for failure in self.failures[:MAX_LISTED_FAILURES]]
        if self.failed > MAX_LISTED_FAILURES:
            lines.append(f"  ... and {self.failed - MAX_LISTED_FAILURES} more")
        return "\n".join(lines)


def to_feature_values(record: Mapping[str, Any], feature_types: Mapping[str, str]) -> list[dict[str, str]]:
    """PutRecord's Record: every value as a string, integers without a decimal point."""
    return [
        {"FeatureName": name, "ValueAsString": _as_string(value, feature_types[name])}
        for name, value in record.items()
    ]


def _as_string(value: Any, feature_type: str) -> str:
    if feature_type == "Integral":
        return str(int(value))
    if feature_type == "Fractional":
        # repr of a float is the shortest string that reads back as the same double.
        return repr(float(value))
    return str(value)


def put_record(
    featurestore_client: Any, feature_group_name: str, values: list[dict[str, str]], retry: RetryPolicy
) -> str | None:
    """Write one record; None once written, else why it failed (after retries, if retryable)."""
    for attempt in range(1, retry.max_attempts + 1):
        try:
            featurestore_client.put_record(FeatureGroupName=feature_group_name, Record=values)
            return None
        except ClientError as error:
            code = error.response["Error"].get("Code", "Unknown")
            reason = f"{code}: {error.response['Error'].get('Message', '')}".rstrip(": ")
            if not _is_retryable(error):
                return reason
        except RETRYABLE_CONNECTION_ERRORS as error:
            reason = f"{type(error).__name__}: {error}"
        if attempt < retry.max_attempts:
            retry.wait_before_retry(attempt - 1)
    return f"{reason} (gave up after {retry.max_attempts} attempts)"


def _is_retryable(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error.response["Error"].get("Code") in RETRYABLE_ERROR_CODES or status >= 500


def ingest_records(
    sagemaker_client: Any,
    featurestore_client: Any,
    feature_group_name: str,
    records: pd.DataFrame,
    *,
    source: str = "records",
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetryPolicy = RetryPolicy(),
    clock: Callable[[], float] = time.monotonic,
) -> IngestionSummary:
    """Validate, check the feature group, then write every record; raise before any write on a problem."""
    report = validate_table(records, source=source, contract=FEATURE_RECORDS)
    if not report.is_valid:
        raise InvalidRecordsError(report)
    group = describe_feature_group(sagemaker_client, feature_group_name)
    _require_writable(group)

    started = clock()
    rows = records.to_dict(orient="records")

    def write(record: dict[str, Any]) -> FailedRecord | None:
        error = put_record(
            featurestore_client, group.name, to_feature_values(record, group.feature_types), retry
        )
        if error is None:
            return None
        return FailedRecord(str(record[ID_COLUMN]), repr(float(record[EVENT_TIME_COLUMN])), error)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="put-record") as pool:
        outcomes = list(pool.map(write, rows))
    failures = tuple(outcome for outcome in outcomes if outcome is not None)
    return IngestionSummary(group.name, len(rows) - len(failures), failures, clock() - started)


def _require_writable(group: FeatureGroup) -> None:
    if group.status != "Created":
        raise FeatureGroupError(f"feature group {group.name} is {group.status}, not Created")
    require_contract(group)


def run(
    sagemaker_client: Any,
    featurestore_client: Any,
    feature_group_name: str,
    records_path: Path,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetryPolicy = RetryPolicy(),
) -> int:
    """The CLI's work once the clients exist: the exit code, with the report on stdout/stderr."""
    try:
        summary = ingest_records(
            sagemaker_client,
            featurestore_client,
            feature_group_name,
            pd.read_csv(records_path),
            source=str(records_path),
            concurrency=concurrency,
            retry=retry,
        )
    except (InvalidRecordsError, FeatureGroupError) as problem:
        print(f"nothing ingested: {problem}", file=sys.stderr)
        return 1
    print(summary.render())
    if summary.failures:
        print(summary.render_failures(), file=sys.stderr)
        return 1
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=Path, required=True, help="CSV file of feature records")
    parser.add_argument(
        "--feature-group", help="feature group name (default: feature_group_name of the model's settings)"
    )
    parser.add_argument("--config", type=Path, help=CONFIG_OPTION_HELP)
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="records written at once"
    )
    parser.add_argument("--max-attempts", type=int, default=RetryPolicy.max_attempts, help="per record")
    args = parser.parse_args(argv)
    if args.feature_group is None:
        args.feature_group = load_model_config(args.config).feature_group_name
        if args.feature_group is None:
            parser.error(
                f"--feature-group is required: {settings_source(args.config)} sets no feature_group_name"
            )
    if not 1 <= args.concurrency <= 16:
        parser.error("--concurrency must be between 1 and 16")
    if args.max_attempts < 1:
        parser.error("--max-attempts must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    session = boto3.Session(region_name=os.environ.get("AWS_REGION"))
    # put_record retries by itself (RetryPolicy), so botocore must not retry as well: attempts
    # would multiply. One connection per thread.
    featurestore_client = session.client(
        "sagemaker-featurestore-runtime",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=args.concurrency),
    )
    return run(
        session.client("sagemaker"),
        featurestore_client,
        args.feature_group,
        args.records,
        concurrency=args.concurrency,
        retry=RetryPolicy(max_attempts=args.max_attempts),
    )


if __name__ == "__main__":
    sys.exit(main())
