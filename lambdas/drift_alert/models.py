"""Typed shapes of the drift alert: its configuration, the events it reads, what it finds and records.

Everything that crosses the function's boundary is validated here, once, by pydantic: the environment
at cold start (`DriftAlertSettings`), each EventBridge event (`AlarmStateChangeEvent`; a Clarify
monitoring run's in `run_models`), and the events and outcome it produces (`RetrainingRequest`,
`AuditRecord` or `RunAuditRecord`, `Outcome`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import ConfigDict, Field, Json, StrictBool, StrictInt, StrictStr

from lambdas.common.aws import ServingRoleArn
from lambdas.common.contracts import MODEL_QUALITY, SERVING_ROLE_ARN_ENV, ServingMode
from lambdas.common.endpoints import ServingVariant
from lambdas.common.models import Model
from lambdas.common.settings import FunctionSettings, NonEmptyStr

# SageMaker's constraint on endpoint names (a batch model's production serving stack has its endpoint's name).
EndpointName = Annotated[StrictStr, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]

ALARM = "ALARM"
# Model Monitor's check type of a distribution that moved away from the baseline.
BASELINE_DRIFT_CHECK = "baseline_drift_check"


class MonitoredEndpoint(Model):
    """What the function needs to know about one model's production, keyed by its serving name
    (contracts.serving_name): the endpoint of a real-time model, the batch transform of a batch one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The model's build stack starts its build pipeline on retraining requests for this name.
    model_name: NonEmptyStr
    # A batch transform has no endpoint: what it serves is its serving stack's champion.
    serving_mode: ServingMode
    retrain_on_drift: StrictBool
    # At most one retraining request per model within this many hours.
    retrain_cooldown_hours: Annotated[StrictInt, Field(ge=1, le=24 * 366)]

    @property
    def is_batch(self) -> bool:
        return self.serving_mode == "batch"


class DriftAlertSettings(FunctionSettings):
    """The drift alert's environment (and the common one, see `FunctionSettings`)."""

    endpoints: Json[Annotated[dict[EndpointName, MonitoredEndpoint], Field(min_length=1)]] = Field(
        alias="MODELS_CONFIG"
    )
    # DynamoDB's constraint on table names.
    state_table_name: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")] = Field(alias="STATE_TABLE_NAME")
    # The role that reads what serves (endpoints, serving stacks, monitoring runs and reports) in the
    # production account; "": this account serves.
    serving_role_arn: ServingRoleArn = Field(default="", alias=SERVING_ROLE_ARN_ENV)


# --- The event: "CloudWatch Alarm State Change", the fields the function uses ----------------------


class EventModel(Model):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class AlarmState(EventModel):
    value: NonEmptyStr
    reason: StrictStr = ""
    timestamp: StrictStr | None = None


class Metric(EventModel):
    namespace: StrictStr | None = None
    name: StrictStr | None = None
    dimensions: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class MetricStat(EventModel):
    metric: Metric


class AlarmMetric(EventModel):
    """One entry of the alarm's metrics: a metric (`metricStat`) or a math expression (no metricStat)."""

    metric_stat: MetricStat | None = Field(default=None, alias="metricStat")


class AlarmConfiguration(EventModel):
    description: StrictStr | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)  # absent for composite alarms


class AlarmStateChange(EventModel):
    alarm_name: NonEmptyStr = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)

    @property
    def metrics(self) -> list[Metric]:
        return [entry.metric_stat.metric for entry in self.configuration.metrics if entry.metric_stat]


class AlarmStateChangeEvent(EventModel):
    """The EventBridge envelope; anything else delivered to the function is not for it."""

    id: NonEmptyStr
    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    time: StrictStr | None = None
    detail: AlarmStateChange


class Trigger(Protocol):
    """What an alert is about, as the claims and the retraining request name it: an alarm's state change,
    or a monitoring run that found violations (each one EventBridge event)."""

    @property
    def event_id(self) -> str: ...

    @property
    def endpoint_name(self) -> str: ...

    @property
    def endpoint(self) -> MonitoredEndpoint: ...

    @property
    def trigger_name(self) -> str: ...

    @property
    def trigger_label(self) -> str: ...

    def retraining_fields(self) -> dict[str, str]: ...


class DriftAlarm(Model):
    """An alarm the function acts on: a transition to ALARM of a drift or model-quality alarm of a
    configured endpoint or batch transform."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_time: str | None
    change: AlarmStateChange
    endpoint_name: str
    endpoint: MonitoredEndpoint
    # The monitoring the alarm watches, by its name: DATA_QUALITY (drift) or MODEL_QUALITY.
    kind: str

    @property
    def trigger_name(self) -> str:
        return self.change.alarm_name

    @property
    def trigger_label(self) -> str:
        return f"alarm {self.change.alarm_name}"

    def retraining_fields(self) -> dict[str, str]:
        return {"alarm_name": self.change.alarm_name, "alarm_event_id": self.event_id}


# --- What the function finds out about the alarm ---------------------------------------------------


class Violation(Model):
    """One entry of Model Monitor's or Clarify's constraint_violations.json.

    Data-quality reports name a feature; model-quality reports name a metric instead; Clarify's bias
    drift reports a metric of a facet's value (`CI` of `age`=`40`), its feature attribution drift
    reports the attributions (`shap`) of a label.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    feature_name: NonEmptyStr | None = None
    metric_name: NonEmptyStr | None = None
    facet: StrictStr | None = None
    facet_value: StrictStr | StrictInt | float | None = None
    label: StrictStr | None = None
    constraint_check_type: NonEmptyStr
    description: StrictStr = ""

    @property
    def subject(self) -> str:
        if self.facet is not None:
            return f"{self.metric_name or 'bias'} of {self.facet}={self.facet_value}"
        if self.label is not None:
            return f"{self.metric_name or 'attributions'} of {self.label}"
        return self.feature_name or self.metric_name or "(whole dataset)"


class MonitoringFindings(Model):
    """The latest execution of the endpoint's monitoring schedule and the violations it reported."""

    model_config = ConfigDict(frozen=True)

    kind: str  # DATA_QUALITY or MODEL_QUALITY: the schedule's monitoring
    schedule_name: str
    execution_status: str | None = None
    scheduled_time: str | None = None
    failure_reason: str | None = None
    report_uri: str | None = None  # s3:// URI of constraint_violations.json
    report_url: str | None = None  # the same object in the S3 console
    violations: list[Violation] = Field(default_factory=list)
    # Why something above is missing (no execution yet, no report, report unreadable, ...).
    notes: list[str] = Field(default_factory=list)

    @property
    def drift_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.constraint_check_type == BASELINE_DRIFT_CHECK]

    @property
    def other_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.constraint_check_type != BASELINE_DRIFT_CHECK]


class Enrichment(Model):
    """Everything the alert says beyond the alarm itself."""

    model_config = ConfigDict(frozen=True)

    # The endpoint's variants; for a batch transform, the champion of its serving stack.
    variants: list[ServingVariant] = Field(default_factory=list)
    endpoint_notes: list[str] = Field(default_factory=list)
    monitoring: MonitoringFindings
    # Features the alarm's own metrics watch (feature_baseline_drift_<feature>).
    alarm_features: list[str] = Field(default_factory=list)
    # Model-quality metrics the alarm's own metrics watch (auc, rmse, ...).
    alarm_metrics: list[str] = Field(default_factory=list)

    @property
    def model_quality(self) -> bool:
        return self.monitoring.kind == MODEL_QUALITY

    @property
    def drifted_features(self) -> list[str]:
        """Features with a baseline drift violation in the report, and those whose drift metric alarmed."""
        reported = {v.subject for v in self.monitoring.drift_violations}
        return sorted(reported | set(self.alarm_features))

    @property
    def degraded_metrics(self) -> list[str]:
        """Model-quality metrics the report finds in violation, and those whose alarm went off (worse than
        their threshold: below it for auc, above it for rmse)."""
        reported = {v.metric_name for v in self.monitoring.violations if v.metric_name}
        return sorted(reported | set(self.alarm_metrics))


class Retraining(StrEnum):
    REQUESTED = "requested"
    SKIPPED_COOLDOWN = "skipped_cooldown"
    DISABLED = "disabled"
    SKIPPED_NO_DRIFT = "skipped_no_drift"
    FAILED = "failed"  # the audit bus refused the request (not a transient error); the alert says why


class RetrainingRequest(Model):
    """The detail of the "Retraining Requested" event, which the model's build stack turns into a build run
    (matching its `model_name`). An alarm's request names the alarm and its event; a Clarify monitoring
    run's names the run (serialized without the other's fields: `detail`)."""

    model_config = ConfigDict(frozen=True)

    model_name: str
    endpoint_name: str
    alarm_name: str | None = None
    alarm_event_id: str | None = None
    monitoring_schedule: str | None = None
    processing_job_name: str | None = None
    run_event_id: str | None = None
    requested_at: str

    def detail(self) -> str:
        return self.model_dump_json(exclude_none=True)


class RetrainingDecision(Model):
    model_config = ConfigDict(frozen=True)

    retraining: Retraining
    # The EventId of the "Retraining Requested" event put for this alarm, or for the one holding the cool-down.
    retraining_request_id: str | None = None
    # Set when a request is made or the cool-down holds: when retraining was last requested, and until
    # when no new request is made; what requested it ("alarm <name>", "monitoring run <job> of <schedule>").
    last_requested_at: str | None = None
    cooldown_until: str | None = None
    claimed_by: str | None = None
    # This delivery repeats an alarm event whose request is already recorded: nothing was requested again.
    replayed: bool = False
    error: str | None = None


# --- What the function records ------------------------------------------------------------------------


class Result(StrEnum):
    # A drift or model-quality alarm, or a Clarify run with violations: alert published, retraining decided, audited.
    ALERTED = "alerted"
    # Another alarm of the same endpoint already alerted the same monitoring execution (one
    # execution drives every feature's alarm): that alert lists this alarm's features too. For a
    # Clarify run: another event of the same run (its processing job) already alerted it.
    ALREADY_ALERTED = "already_alerted"
    # Not a transition to ALARM of an alarm of a configured endpoint the function acts on, nor a run of a
    # configured endpoint's Clarify monitor that found violations.
    IGNORED = "ignored"
    # Neither a CloudWatch alarm state change nor a SageMaker processing job state change event (ignored
    # too, logged as a warning: never retried).
    MALFORMED = "malformed"


class PackageRecord(Model):
    variant_name: str
    model_package_arn: str | None
    weight: float | None


class AuditRecord(Model):
    """The detail of the "Drift Alert" event, and the fields of the alarm's log line."""

    endpoint_name: str
    model_name: str
    alarm_name: str
    alarm_event_id: str
    state_reason: str
    monitoring_schedule: str
    execution_status: str | None
    features: list[str]
    violations_report: str | None
    packages: list[PackageRecord]
    retraining: Retraining
    retraining_request_id: str | None
    retraining_replayed: bool = False


class RunAuditRecord(Model):
    """The detail of the "Drift Alert" event of a Clarify monitoring run, and the fields of its log line."""

    endpoint_name: str
    model_name: str
    stage: str
    kind: str  # MODEL_BIAS or MODEL_EXPLAINABILITY
    monitoring_schedule: str
    processing_job_name: str
    run_event_id: str
    exit_message: str
    violations: list[str]  # "<subject> (<check>): <description>"
    violations_report: str | None
    packages: list[PackageRecord]
    retraining: Retraining
    retraining_request_id: str | None
    retraining_replayed: bool = False


class Outcome(Model):
    """What one invocation did. `replayed` marks an outcome returned from the idempotency store."""

    result: Result
    reason: str
    audit: AuditRecord | RunAuditRecord | None = None
    replayed: bool = False
