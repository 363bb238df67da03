"""The lineage tool's reads (tools/lineage.py): a model package and everything it came from, as records.

Each read goes through `reading`, which turns a failure into ReadFailed naming the call and the
resource; the one answer that means "nothing there yet" is an audit log group that does not exist.

- The approval gate's decisions: the audit bus copies every `mlops.*` event to the log group
  `contracts.audit_log_group_name` (mlops_constructs/audit.py); FilterLogEvents finds the package's
  "Model Approval Decision" events there. Who approved is the decision's `changed_by`, not the
  package's LastModifiedBy: the gate itself updates the package (its model card) after the approver.
- Input data: each S3 location's object versions current at the training job's start
  (ListObjectVersions). A bucket without versioning keeps no earlier content: its objects are what is
  there now, and one written since the start is counted, not listed.
- SageMaker's lineage graph: QueryLineage starts from lineage entities only (artifacts, actions,
  contexts, trial components; its StartArns pattern refuses a model package ARN), so the package's
  artifact (the one whose SourceUri is the package ARN, as the SageMaker SDK's LineageQuery finds it)
  is looked up first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.contracts import (
    APPROVAL_GATE_DETAIL_TYPE,
    APPROVAL_GATE_SOURCE,
    MLFLOW_RUN_ID_PROPERTY,
    MLFLOW_TRACKING_SERVER_ARN_PROPERTY,
)
from lambdas.common.errors import error_code, error_message
from tools.lineage_records import (
    EVENT_TIME_FROM_KEY,
    EVENT_TIME_TO_KEY,
    FEATURE_GROUP_KEY,
    NO_FEATURE_STORE,
    TRAINING_DATA_KEY,
    ApprovalDecision,
    DataLocation,
    ExperimentRun,
    LineageEntity,
    ModelCardSummary,
    ObjectVersion,
    PackageLineage,
    TrainingLineage,
)

# Objects listed per S3 location; the rest are counted.
MAX_LISTED_OBJECTS = 20
# How far up SageMaker's lineage graph to look: data set -> processing job -> data set -> training job -> model.
LINEAGE_MAX_DEPTH = 10
UNVERSIONED = "null"  # the version id S3 answers for an object written while versioning was off
# SageMaker's lineage entities in the order the tool lists them.
LINEAGE_TYPES = ("Artifact", "TrialComponent", "Action", "Context")


class ReadFailed(Exception):
    """An AWS read failed; the message names the call and the resource."""


@dataclass(frozen=True)
class AwsClients:
    """`sagemaker`, `logs` and `s3` read the registry, the audit log group and the data (the tooling account);
    `cloudformation` reads the serving stack. `serving_sagemaker` reads the endpoint where it is in another
    account (None: `sagemaker` does)."""

    sagemaker: Any
    cloudformation: Any
    logs: Any
    s3: Any
    serving_sagemaker: Any = None

    @property
    def endpoint_reader(self) -> Any:
        return self.serving_sagemaker or self.sagemaker


@contextmanager
def reading(operation: str, resource: str) -> Iterator[None]:
    """Any failure of the read becomes ReadFailed naming the call and the resource."""
    try:
        yield
    except ClientError as error:
        raise ReadFailed(f"{operation} {resource} failed: {error_code(error)}: {error_message(error)}") from error
    except BotoCoreError as error:
        raise ReadFailed(f"{operation} {resource} failed: {error}") from error


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def describe_package(clients: AwsClients, arn: str, *, audit_log_group: str) -> PackageLineage:
    """The package, its approval decisions, the execution and training jobs behind it, their data."""
    with reading("DescribeModelPackage", arn):
        package = clients.sagemaker.describe_model_package(ModelPackageName=arn)
    metadata = package.get("MetadataProperties", {})
    customer = dict(package.get("CustomerMetadataProperties", {}))
    lineage = PackageLineage(
        arn=arn,
        approval=package.get("ModelApprovalStatus"),
        approval_description=package.get("ApprovalDescription"),
        repository=metadata.get("Repository"),
        commit=metadata.get("CommitId"),
        pipeline_execution=metadata.get("GeneratedBy"),
        customer_metadata=customer,
        experiment_run=experiment_run(customer),
        feature_group=feature_store_value(customer.get(FEATURE_GROUP_KEY)),
        event_time_from=feature_store_value(customer.get(EVENT_TIME_FROM_KEY)),
        event_time_to=feature_store_value(customer.get(EVENT_TIME_TO_KEY)),
        model_card=model_card_summary(package.get("ModelCard")),
        metrics=metrics_reports(package.get("ModelMetrics", {})),
    )
    lineage.approval_decisions = approval_decisions(clients.logs, audit_log_group, arn)
    starts: list[datetime] = []
    if lineage.pipeline_execution:
        lineage.training, starts = training_of(clients, lineage.pipeline_execution)
    if training_data := customer.get(TRAINING_DATA_KEY):
        # As the first training job found it; without one, as it was when the package was registered.
        as_of = min(starts, default=package["CreationTime"])
        lineage.training_data = data_location(clients.s3, training_data, as_of=as_of)
    lineage.sagemaker_lineage = ascendants(clients.sagemaker, arn)
    return lineage


def experiment_run(customer_metadata: Mapping[str, str]) -> ExperimentRun | None:
    """The MLflow run the build logged to; None for a package built without experiment tracking."""
    run_id = customer_metadata.get(MLFLOW_RUN_ID_PROPERTY)
    if not run_id:
        return None
    return ExperimentRun(run_id=run_id, tracking_server_arn=customer_metadata.get(MLFLOW_TRACKING_SERVER_ARN_PROPERTY))


def metrics_reports(metrics: Mapping[str, Any]) -> dict[str, str]:
    """The package's metrics reports by `<section>.<report>` (ModelQuality.Statistics, Bias.Report, ...)."""
    return {
        f"{section}.{report}": source["S3Uri"]
        for section, reports in metrics.items()
        for report, source in reports.items()
        if isinstance(source, Mapping) and source.get("S3Uri")
    }


# --- the approval gate's decisions ---------------------------------------------------------------


def approval_decisions(logs: Any, log_group: str, package_arn: str) -> list[ApprovalDecision] | None:
    """The gate's decisions on the package, oldest first; None when the audit log group does not exist yet."""
    pattern = f'{{ ($.source = "{APPROVAL_GATE_SOURCE}") && ($.detail.model_package_arn = "{package_arn}") }}'
    decisions: list[ApprovalDecision] = []
    with reading("FilterLogEvents", f"{log_group} (decisions on {package_arn})"):
        try:
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=log_group, filterPattern=pattern):
                decisions += [d for event in page.get("events", []) if (d := decision_of(event, package_arn))]
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
    return sorted(decisions, key=lambda decision: decision.time or "")


def decision_of(log_event: Mapping[str, Any], package_arn: str) -> ApprovalDecision | None:
    """The decision a logged event holds, if it is the gate's decision on the package."""
    try:
        event = json.loads(log_event.get("message", ""))
    except ValueError:
        return None
    detail = event.get("detail") if isinstance(event, dict) else None
    if (
        not isinstance(detail, dict)
        or event.get("source") != APPROVAL_GATE_SOURCE
        or event.get("detail-type") != APPROVAL_GATE_DETAIL_TYPE
        or detail.get("model_package_arn") != package_arn
    ):
        return None
    return ApprovalDecision(
        time=event_time(event.get("time"), log_event.get("timestamp")),
        **{name: detail.get(name) for name in (f.name for f in fields(ApprovalDecision)) if name != "time"},
    )


def event_time(time: object, timestamp: object) -> str | None:
    """The event's own time (EventBridge's `time`), else the log event's timestamp (milliseconds)."""
    if isinstance(time, str):
        try:
            return iso(datetime.fromisoformat(time))
        except ValueError:
            pass
    if isinstance(timestamp, int):
        return iso(datetime.fromtimestamp(timestamp / 1000, UTC))
    return None


# --- training jobs and their data ----------------------------------------------------------------


def training_of(clients: AwsClients, execution_arn: str) -> tuple[list[TrainingLineage], list[datetime]]:
    """The execution's training steps, each with its job's times and input data; and the jobs' starts."""
    steps: list[TrainingLineage] = []
    with reading("ListPipelineExecutionSteps", execution_arn):
        for page in clients.sagemaker.get_paginator("list_pipeline_execution_steps").paginate(
            PipelineExecutionArn=execution_arn
        ):
            steps += [
                TrainingLineage(step_name=step["StepName"], job_arn=step["Metadata"]["TrainingJob"]["Arn"])
                for step in page["PipelineExecutionSteps"]
                if step.get("Metadata", {}).get("TrainingJob", {}).get("Arn")
            ]
    starts = []
    for step in steps:
        with reading("DescribeTrainingJob", step.job_arn):
            job = clients.sagemaker.describe_training_job(TrainingJobName=step.job_arn.rsplit("/", 1)[-1])
        start = job.get("TrainingStartTime") or job["CreationTime"]
        starts.append(start)
        step.status = job.get("TrainingJobStatus")
        step.started = iso(job.get("TrainingStartTime"))
        step.ended = iso(job.get("TrainingEndTime"))
        step.inputs = {
            channel["ChannelName"]: data_location(
                clients.s3,
                channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", ""),
                as_of=start,
            )
            for channel in job.get("InputDataConfig", [])
        }
    return steps, starts


def data_location(s3: Any, uri: str, *, as_of: datetime) -> DataLocation:
    """The objects under `uri` (an s3:// prefix) in the versions current at `as_of`."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        return DataLocation(uri or "(not in S3)")
    with reading("ListObjectVersions", uri):
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix))
    current, later = versions_at(pages, as_of)
    return DataLocation(
        uri=uri,
        as_of=iso(as_of),
        objects=current[:MAX_LISTED_OBJECTS],
        more=max(len(current) - MAX_LISTED_OBJECTS, 0),
        later=later,
    )


def versions_at(pages: Iterable[Mapping[str, Any]], as_of: datetime) -> tuple[list[ObjectVersion], int]:
    """Each key's version current at `as_of`, by key, and how many keys were only written after it.

    A key's current version is its latest one written at or before `as_of`, unless a delete marker
    written after that version, and still before `as_of`, had deleted it then. Markers written after
    `as_of` (what deletes an object today) do not matter: the version was there at the time.
    """
    # key -> ((when, whether it is the key's newest entry of all), version id; None for a delete marker).
    # Of two entries written in the same second, the one S3 marks IsLatest is the later.
    latest: dict[str, tuple[tuple[datetime, bool], str | None]] = {}
    written_later: set[str] = set()
    for page in pages:
        entries = [(entry, entry["VersionId"]) for entry in page.get("Versions", [])]
        entries += [(marker, None) for marker in page.get("DeleteMarkers", [])]
        for entry, version_id in entries:
            key, order = entry["Key"], (entry["LastModified"], bool(entry.get("IsLatest")))
            if order[0] > as_of:
                written_later.add(key)
            elif key not in latest or order > latest[key][0]:
                latest[key] = (order, version_id)
    current = [
        ObjectVersion(key, None if version_id == UNVERSIONED else version_id, written.isoformat())
        for key, ((written, _), version_id) in sorted(latest.items())
        if version_id is not None
    ]
    return current, len(written_later - latest.keys())


# --- SageMaker's lineage graph -------------------------------------------------------------------


def ascendants(sagemaker: Any, package_arn: str) -> list[LineageEntity] | None:
    """What SageMaker's lineage graph says the package came from; None when it has no entity for it."""
    with reading("ListArtifacts", package_arn):
        pages = sagemaker.get_paginator("list_artifacts").paginate(SourceUri=package_arn)
        artifact = next((a["ArtifactArn"] for page in pages for a in page.get("ArtifactSummaries", [])), None)
    if artifact is None:
        return None
    found: dict[str, LineageEntity] = {}
    query: dict[str, Any] = {
        "StartArns": [artifact],
        "Direction": "Ascendants",
        "IncludeEdges": False,
        "MaxDepth": LINEAGE_MAX_DEPTH,
    }
    with reading("QueryLineage", f"{artifact} (the artifact of {package_arn})"):
        while True:  # QueryLineage has no paginator
            page = sagemaker.query_lineage(**query)
            for vertex in page.get("Vertices", []):
                found[vertex["Arn"]] = LineageEntity(vertex.get("LineageType"), vertex.get("Type"), vertex["Arn"])
            if not page.get("NextToken"):
                break
            query["NextToken"] = page["NextToken"]
    return sorted(found.values(), key=lineage_order)


def lineage_order(entity: LineageEntity) -> tuple[int, str, str]:
    known = entity.lineage_type in LINEAGE_TYPES
    return (LINEAGE_TYPES.index(entity.lineage_type) if known else len(LINEAGE_TYPES), entity.type or "", entity.arn)


# --- the model card ------------------------------------------------------------------------------


def model_card_summary(card: Mapping[str, Any] | None) -> ModelCardSummary | None:
    """The card's status and what its content (SageMaker's model package card schema) says; None: no card."""
    if not card:
        return None
    summary = ModelCardSummary(status=card.get("ModelCardStatus"))
    if card.get("ModelCardContent") is None:
        return summary
    try:
        content = json.loads(card["ModelCardContent"])
    except ValueError:
        content = None
    if not isinstance(content, dict):
        summary.readable = False
        return summary
    summary.owner = text(content, "model_overview", "model_creator")
    summary.risk_rating = text(content, "intended_uses", "risk_rating")
    summary.intended_uses = text(content, "intended_uses", "intended_uses")
    evaluations = content.get("evaluation_details")
    if isinstance(evaluations, list):
        sections = [entry for entry in evaluations if isinstance(entry, dict)]
        summary.evaluations = [str(entry["name"]) for entry in sections if entry.get("name")]
        # A card that did not assess bias may still say so in a section named for it, with no metrics.
        summary.bias_assessed = any(
            "bias" in str(entry.get("name", "")).lower() and bool(entry.get("metric_groups")) for entry in sections
        )
    return summary


def text(content: Mapping[str, Any], section: str, name: str) -> str | None:
    value = content.get(section)
    value = value.get(name) if isinstance(value, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def feature_store_value(value: str | None) -> str | None:
    """A Feature Store metadata value, None when the package records none (absent, or the seeds' sentinel)."""
    return None if value in (None, NO_FEATURE_STORE) else value
