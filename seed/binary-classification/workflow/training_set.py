"""Point-in-time training sets: each label joined with the customer's features as they were then.

A label gets the latest feature record of its customer whose event_time <= label_time, so the
model never learns from a value recorded after the outcome it predicts. Labels with no such
record are dropped (an inner join): nothing was known about the customer at that time. Among
records with the same event time, the last one written wins (the offline store's
api_invocation_time; the later row of a file).

Two implementations of that one join:
- point_in_time_join(): pandas, on local files (the synthetic history, experiments, tests);
- point_in_time_query(), run by build_training_set_in_athena(): Athena SQL over the Glue table
  of the feature group's offline store, which holds every record ever ingested.

    python -m workflow.training_set local --labels data/generated/labels.csv \\
        --records data/generated/feature_records.csv --output data/generated/training_set.csv
    python -m workflow.training_set athena --labels-table churn_labels.labels \\
        --output-location s3://BUCKET/churn/data/training-sets/v1/ --manifest training_set.json

Both produce the customer table of the data contract and validate it, so the SageMaker Pipeline
trains on it as on any table: `python -m workflow.run_pipeline --dataset FILE`, or
`--training-set training_set.json`. Athena reads the labels from a Glue table with the label-table
columns (customer_id string, label_time double, churned int).

The athena command records what it built, for the model package's lineage (workflow/training_lineage.py):
its query also returns the event time of each row's feature record; the command validates the result,
writes the customer table (without that column) to <output location><query id>/training_set.csv,
and writes a manifest of it: that URI, the feature group and the event-time range of the records
joined, read from the very rows the model trains on.

The labels are binary (churned), so training sets feed binary_classification models only: both
commands refuse to run for a model whose problem_type (its settings) is another.
"""

import argparse
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd

from workflow.config import CONFIG_OPTION_HELP, ModelConfig, ProblemType, load_model_config, settings_source
from workflow.environment import BuildEnvironment, athena_workgroup
from workflow.feature_group import (
    FeatureGroupError,
    GlueTable,
    describe_feature_group,
    quote_identifier,
    require_contract,
)
from workflow.schema import (
    CHURNED_COLUMN,
    CUSTOMER_TABLES,
    EVENT_TIME_COLUMN,
    FEATURE_COLUMNS,
    FEATURE_RECORDS,
    ID_COLUMN,
    JOINED_TRAINING_SET,
    LABEL_TABLE,
    LABEL_TIME_COLUMN,
)
from workflow.training_lineage import ManifestError, TrainingSetManifest
from workflow.validation import validate_table

# The label table holds binary outcomes: a training set is the binary model's customer table.
TRAINING_SET_PROBLEM_TYPE: ProblemType = "binary_classification"
TRAINING_SET_TABLE = CUSTOMER_TABLES[TRAINING_SET_PROBLEM_TYPE]
TRAINING_SET_COLUMNS: tuple[str, ...] = tuple(TRAINING_SET_TABLE.columns)
RUNNING_QUERY_STATES = frozenset({"QUEUED", "RUNNING"})
# The file the athena command writes the training table to, in a folder named after its query.
TRAINING_SET_FILE = "training_set.csv"

_LABEL_POSITION = "__label_position"


class TrainingSetError(RuntimeError):
    """The training set could not be built."""


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity_column: str = ID_COLUMN,
    label_time_column: str = LABEL_TIME_COLUMN,
    event_time_column: str = EVENT_TIME_COLUMN,
) -> pd.DataFrame:
    """Each label row (in its order) with the event time and values of its as-of feature record.

    Times are epoch seconds without nulls (the label and feature-record contracts); labels
    without an earlier or simultaneous record are left out.
    """
    shared = (set(labels.columns) & set(features.columns)) - {entity_column}
    if shared:
        raise ValueError(f"labels and features both have the columns {sorted(shared)}")
    ordered_labels = labels.assign(
        **{
            _LABEL_POSITION: np.arange(len(labels)),
            label_time_column: labels[label_time_column].astype("float64"),
        }
    ).sort_values(label_time_column, kind="stable")
    # A stable sort keeps the file order among equal event times: merge_asof takes the last of them.
    ordered_features = features.astype({event_time_column: "float64"}).sort_values(
        event_time_column, kind="stable"
    )
    joined = pd.merge_asof(
        ordered_labels,
        ordered_features,
        left_on=label_time_column,
        right_on=event_time_column,
        by=entity_column,
        direction="backward",
        allow_exact_matches=True,
    )
    matched = joined.dropna(subset=[event_time_column]).sort_values(_LABEL_POSITION)
    # Unmatched labels made the feature columns nullable floats; the matched rows have none.
    return (
        matched.drop(columns=_LABEL_POSITION).astype(ordered_features.dtypes.to_dict()).reset_index(drop=True)
    )


def to_training_table(joined: pd.DataFrame) -> pd.DataFrame:
    """The customer table the pipeline trains on: the contract's columns, in its order."""
    return joined.loc[:, list(TRAINING_SET_COLUMNS)]


def point_in_time_query(
    *, labels_table: GlueTable, features_table: GlueTable, feature_columns: Sequence[str] = FEATURE_COLUMNS
) -> str:
    """Athena SQL for point_in_time_join() over the offline store: the training table's columns, then
    the event time of the feature record each row was joined with.

    The offline store is append-only: it holds every version of a record, possibly more than
    once, and a DeleteRecord appends a marker with is_deleted = true. Ranking comes first and the
    deletion filter after it, so a record deleted before label_time is not replaced by an older
    version of itself.
    """
    q = quote_identifier
    from_features = (*feature_columns, EVENT_TIME_COLUMN)
    selected_features = "".join(f"        features.{q(column)},\n" for column in from_features)
    output_columns = ", ".join(
        q(column) for column in (ID_COLUMN, *feature_columns, CHURNED_COLUMN, EVENT_TIME_COLUMN)
    )
    return f"""\
-- Point-in-time training set: each label with its customer's latest features at or before label_time.
SELECT {output_columns}
FROM (
    SELECT
        labels.{q(ID_COLUMN)},
        labels.{q(CHURNED_COLUMN)},
{selected_features}        features."is_deleted",
        ROW_NUMBER() OVER (
            PARTITION BY labels.{q(ID_COLUMN)}, labels.{q(LABEL_TIME_COLUMN)}
            ORDER BY features.{q(EVENT_TIME_COLUMN)} DESC, features."api_invocation_time" DESC,
                features."write_time" DESC
        ) AS "recency_rank"
    FROM {labels_table.sql()} AS labels
    JOIN {features_table.sql()} AS features
        ON features.{q(ID_COLUMN)} = labels.{q(ID_COLUMN)}
        AND features.{q(EVENT_TIME_COLUMN)} <= labels.{q(LABEL_TIME_COLUMN)}
) AS ranked
WHERE "recency_rank" = 1 AND NOT "is_deleted"
ORDER BY {q(ID_COLUMN)}
"""


@dataclass(frozen=True)
class AthenaSettings:
    workgroup: str
    output_location: str  # an S3 prefix; Athena writes <prefix><query id>.csv
    kms_key_arn: str | None = None
    timeout_seconds: float = 1800.0
    poll_seconds: float = 5.0

    def training_set_uri(self, query_id: str) -> str:
        """Where the athena command writes the training table the query gave."""
        return f"{self.output_location.rstrip('/')}/{query_id}/{TRAINING_SET_FILE}"


@dataclass(frozen=True)
class QueryResult:
    query_id: str
    uri: str  # Athena's result file, where the workgroup put it


def start_query(athena_client: Any, query: str, *, catalog: str, settings: AthenaSettings) -> str:
    result_configuration: dict[str, Any] = {"OutputLocation": settings.output_location}
    if settings.kms_key_arn:
        result_configuration["EncryptionConfiguration"] = {
            "EncryptionOption": "SSE_KMS",
            "KmsKey": settings.kms_key_arn,
        }
    response = athena_client.start_query_execution(
        QueryString=query,
        QueryExecutionContext={"Catalog": catalog},
        WorkGroup=settings.workgroup,
        ResultConfiguration=result_configuration,
    )
    return response["QueryExecutionId"]


def wait_for_query(
    athena_client: Any,
    query_id: str,
    *,
    settings: AthenaSettings,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Poll until the query ends; return its result file, or raise (stopping it past the deadline)."""
    deadline = clock() + settings.timeout_seconds
    while True:
        execution = athena_client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        status = execution["Status"]
        if status["State"] == "SUCCEEDED":
            return execution["ResultConfiguration"]["OutputLocation"]
        if status["State"] not in RUNNING_QUERY_STATES:
            reason = status.get("AthenaError", {}).get("ErrorMessage") or status.get("StateChangeReason", "")
            raise TrainingSetError(f"Athena query {query_id} {status['State']}: {reason}")
        if clock() + settings.poll_seconds > deadline:
            athena_client.stop_query_execution(QueryExecutionId=query_id)
            waited = f"{settings.timeout_seconds:.0f} s"
            raise TrainingSetError(f"Athena query {query_id} still {status['State']} after {waited}: stopped")
        sleep(settings.poll_seconds)


def build_training_set_in_athena(
    athena_client: Any,
    sagemaker_client: Any,
    *,
    feature_group_name: str,
    labels_table: GlueTable,
    settings: AthenaSettings,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> QueryResult:
    """Run the point-in-time query on the feature group's offline store; return its result file."""
    group = describe_feature_group(sagemaker_client, feature_group_name)
    if group.offline_store is None:
        raise TrainingSetError(
            f"feature group {group.name} has no offline store to build a training set from"
        )
    require_contract(group)
    query = point_in_time_query(labels_table=labels_table, features_table=group.offline_store.table)
    query_id = start_query(athena_client, query, catalog=group.offline_store.catalog, settings=settings)
    print(f"Athena query {query_id} started in workgroup {settings.workgroup}", flush=True)
    uri = wait_for_query(athena_client, query_id, settings=settings, sleep=sleep, clock=clock)
    return QueryResult(query_id, uri)


def read_s3_csv(s3_client: Any, uri: str) -> pd.DataFrame:
    bucket, key = _bucket_and_key(uri)
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return pd.read_csv(io.BytesIO(body))


def write_s3_csv(s3_client: Any, table: pd.DataFrame, uri: str, *, kms_key_arn: str | None) -> None:
    """The table as a CSV object; without a key, encrypted as the bucket's default says."""
    bucket, key = _bucket_and_key(uri)
    encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn} if kms_key_arn else {}
    s3_client.put_object(Bucket=bucket, Key=key, Body=table.to_csv(index=False).encode(), **encryption)


def _bucket_and_key(uri: str) -> tuple[str, str]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bucket, key


def run_local(args: argparse.Namespace) -> int:
    """Join local files; only inputs that meet their contracts are joined, only a valid result written."""
    labels, records = pd.read_csv(args.labels), pd.read_csv(args.records)
    reports = [
        validate_table(labels, source=str(args.labels), contract=LABEL_TABLE),
        validate_table(records, source=str(args.records), contract=FEATURE_RECORDS),
    ]
    if all(report.is_valid for report in reports):
        training_table = to_training_table(point_in_time_join(labels, records))
        reports.append(validate_table(training_table, TRAINING_SET_TABLE, source=str(args.output)))
    for report in reports:
        print(report.render())
    if not all(report.is_valid for report in reports):
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    training_table.to_csv(args.output, index=False)
    left_out = len(labels) - len(training_table)
    print(f"wrote {len(training_table)} rows to {args.output}; {left_out} labels had no earlier features")
    return 0


def run_athena(
    args: argparse.Namespace,
    athena_client: Any,
    sagemaker_client: Any,
    s3_client: Any,
    settings: AthenaSettings,
) -> int:
    """Build in Athena, validate the result like a local table, write the training table and its manifest."""
    result = build_training_set_in_athena(
        athena_client,
        sagemaker_client,
        feature_group_name=args.feature_group,
        labels_table=args.labels_table,
        settings=settings,
    )
    joined = read_s3_csv(s3_client, result.uri)
    report = validate_table(joined, JOINED_TRAINING_SET, source=result.uri)
    print(report.render())
    if not report.is_valid:
        return 1
    # Checked before anything is written: the manifest refuses what a package could not record.
    manifest = TrainingSetManifest.of_feature_records(
        training_data_s3_uri=settings.training_set_uri(result.query_id),
        feature_group_name=args.feature_group,
        event_times=joined[EVENT_TIME_COLUMN],
    )
    write_s3_csv(
        s3_client, to_training_table(joined), manifest.training_data_s3_uri, kms_key_arn=settings.kms_key_arn
    )
    if args.manifest:
        manifest.write(args.manifest)
    print(
        f"training set: {manifest.training_data_s3_uri} ({len(joined)} rows), from feature group"
        f" {manifest.feature_group_name}, event times {manifest.event_time_from} to {manifest.event_time_to}"
    )
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="join local CSV files with pandas")
    local.add_argument("--labels", type=Path, required=True, help="CSV file of the label table")
    local.add_argument("--records", type=Path, required=True, help="CSV file of feature records")
    local.add_argument("--output", type=Path, required=True, help="CSV file to write")
    local.add_argument("--config", type=Path, help=CONFIG_OPTION_HELP)

    athena = commands.add_parser("athena", help="join in Athena against the feature group's offline store")
    athena.add_argument("--labels-table", type=GlueTable.parse, required=True, help="database.table in Glue")
    athena.add_argument(
        "--feature-group", help="feature group name (default: feature_group_name of the model's settings)"
    )
    athena.add_argument("--config", type=Path, help=CONFIG_OPTION_HELP)
    athena.add_argument(
        "--output-location",
        help="S3 prefix for the result (default, in CodeBuild: the commit's training-sets/ folder)",
    )
    athena.add_argument("--kms-key-arn", help="key of the result file (default: KMS_KEY_ARN)")
    athena.add_argument(
        "--manifest",
        type=Path,
        help="JSON file to write what was built to (run_pipeline --training-set reads it)",
    )
    athena.add_argument("--timeout-minutes", type=float, default=30.0)
    args = parser.parse_args(argv)
    config = load_model_config(args.config)
    if config.problem_type != TRAINING_SET_PROBLEM_TYPE:
        parser.error(_unsupported_problem_type(config, settings_source(args.config)))
    if args.command == "athena" and args.feature_group is None:
        args.feature_group = config.feature_group_name
        if args.feature_group is None:
            parser.error(
                f"--feature-group is required: {settings_source(args.config)} sets no feature_group_name"
            )
    return args


def _unsupported_problem_type(config: ModelConfig, source: str) -> str:
    return (
        f"{source} sets problem_type {config.problem_type}, but the label table holds binary labels"
        f" ({CHURNED_COLUMN}): point-in-time training sets only feed {TRAINING_SET_PROBLEM_TYPE} models."
        " Train a multiclass model on a customer table with its own target (run_pipeline --dataset)"
    )


def athena_settings(args: argparse.Namespace) -> AthenaSettings:
    output_location = args.output_location
    if output_location is None:
        model_name = load_model_config(args.config).model_name
        output_location = BuildEnvironment.from_environment().training_set_prefix(model_name)
    return AthenaSettings(
        workgroup=athena_workgroup(),
        output_location=output_location,
        kms_key_arn=args.kms_key_arn or os.environ.get("KMS_KEY_ARN"),
        timeout_seconds=args.timeout_minutes * 60,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "local":
        return run_local(args)
    settings = athena_settings(args)
    session = boto3.Session(region_name=os.environ.get("AWS_REGION"))
    try:
        return run_athena(
            args, session.client("athena"), session.client("sagemaker"), session.client("s3"), settings
        )
    except (TrainingSetError, FeatureGroupError, ManifestError) as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
