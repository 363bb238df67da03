"""What the lineage tool answers (tools/lineage.py): one record per served variant and what it came from.

The records are plain dataclasses, printed as the tool's tree or, with --json, as they are (`asdict`).
Times are ISO-8601 strings; None is a record SageMaker or the platform does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.contracts import MLFLOW_RUN_ID_PROPERTY, MLFLOW_TRACKING_SERVER_ARN_PROPERTY

# The package's customer metadata (CustomerMetadataProperties) the tool reads, as the build's
# registration step writes it: the raw training data, an s3:// prefix; and, for a model trained on
# Feature Store data, the feature group's name and the event-time range of the records read, ISO-8601
# UTC (`2026-10-01T00:00:00Z`), `from` inclusive, `to` exclusive. Any other key is shown as it is.
TRAINING_DATA_KEY = "training_data_s3_uri"
FEATURE_GROUP_KEY = "feature_group_name"
EVENT_TIME_FROM_KEY = "event_time_from"
EVENT_TIME_TO_KEY = "event_time_to"
# The MLflow run the build logged (parameters, metrics, Clarify results, the model) and its tracking
# server: the package's metadata keys are contracts (lambdas/common/contracts.py, "experiments").
MLFLOW_KEYS = (MLFLOW_RUN_ID_PROPERTY, MLFLOW_TRACKING_SERVER_ARN_PROPERTY)
READ_METADATA_KEYS = (TRAINING_DATA_KEY, FEATURE_GROUP_KEY, EVENT_TIME_FROM_KEY, EVENT_TIME_TO_KEY, *MLFLOW_KEYS)
# What the seeds record under the Feature Store keys when the training set came from no feature group
# (CreateModelPackage accepts no empty metadata value): read as "not recorded".
NO_FEATURE_STORE = "none"


@dataclass
class ObjectVersion:
    key: str
    version_id: str | None  # None: written while the bucket was unversioned (S3 answers the version id "null")
    last_modified: str


@dataclass
class DataLocation:
    """The objects under an S3 location as they were at `as_of` (the training job's start)."""

    uri: str
    as_of: str | None = None  # None: not in S3, not listed
    objects: list[ObjectVersion] = field(default_factory=list)  # the version of each key current at as_of
    more: int = 0  # further keys current at as_of, not listed
    later: int = 0  # keys written only after as_of (unversioned: possibly overwritten since, content lost)


@dataclass
class TrainingLineage:
    step_name: str
    job_arn: str
    status: str | None = None
    started: str | None = None
    ended: str | None = None
    inputs: dict[str, DataLocation] = field(default_factory=dict)  # by channel


@dataclass
class ExperimentRun:
    """The MLflow run the build logged this package's training to (its experiment is the model's)."""

    run_id: str
    tracking_server_arn: str | None  # None: the package names no server


@dataclass
class ApprovalDecision:
    """One "Model Approval Decision" of the approval gate, as the audit bus logged it."""

    time: str | None
    decision: str | None
    changed_by: str | None  # who set the package's approval status (the approver, or the rejecter)
    metric_name: str | None = None
    metric_value: float | None = None
    threshold: float | None = None
    metric_direction: str | None = None
    model_card_status: str | None = None
    bias_policy: str | None = None
    bias_violations: list[str] | None = None  # None: not read
    deploy_pipeline_name: str | None = None
    pipeline_execution_id: str | None = None


@dataclass
class ModelCardSummary:
    """The package's model card: its status and what its content says (SageMaker's model package card
    schema); the content fields are None where the card does not state them."""

    status: str | None
    readable: bool = True  # False: the content is not a JSON object
    owner: str | None = None  # model_overview.model_creator
    risk_rating: str | None = None  # intended_uses.risk_rating
    intended_uses: str | None = None  # intended_uses.intended_uses
    evaluations: list[str] = field(default_factory=list)  # names of evaluation_details entries
    bias_assessed: bool | None = None  # an evaluation about bias with metrics; None: no evaluation_details


@dataclass
class LineageEntity:
    """An ascendant of the package in SageMaker's lineage graph (QueryLineage's Vertex)."""

    lineage_type: str | None  # Artifact, TrialComponent, Action or Context
    type: str | None  # DataSet, Image, Code, Model, SageMakerTrainingJob, ...
    arn: str


@dataclass
class PackageLineage:
    arn: str
    approval: str | None = None
    approval_description: str | None = None
    # The approval gate's decisions on this package, oldest first; None: the audit log group does not exist yet.
    approval_decisions: list[ApprovalDecision] | None = field(default_factory=list)
    repository: str | None = None
    commit: str | None = None
    pipeline_execution: str | None = None
    customer_metadata: dict[str, str] = field(default_factory=dict)
    experiment_run: ExperimentRun | None = None  # None: built without experiment tracking
    feature_group: str | None = None
    event_time_from: str | None = None
    event_time_to: str | None = None
    training_data: DataLocation | None = None
    model_card: ModelCardSummary | None = None  # None: registered before model cards
    metrics: dict[str, str] = field(default_factory=dict)  # report (e.g. ModelQuality.Statistics) -> S3 URI
    training: list[TrainingLineage] = field(default_factory=list)
    # Ascendants in SageMaker's lineage graph; None: SageMaker has no lineage entity for the package.
    sagemaker_lineage: list[LineageEntity] | None = None


@dataclass
class VariantLineage:
    variant: str | None  # None for a package given with --package
    model: str | None
    traffic_percent: float | None
    package: PackageLineage | None


@dataclass
class Lineage:
    serving: str | None  # the endpoint or serving stack read; None with --package
    kind: str  # "endpoint", "serving stack" or "package"
    variants: list[VariantLineage]
