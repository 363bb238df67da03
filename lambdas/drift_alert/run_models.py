"""Typed shapes of the drift alert's other event: a run of a Clarify monitor (bias or feature attribution
drift) that ended with violations, "SageMaker Processing Job State Change" on EventBridge, and what the
function finds out about the run. Validated by pydantic, as `models` validates the alarms'.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic import ConfigDict, Field, StrictStr

from lambdas.common.contracts import MODEL_BIAS, Stage
from lambdas.common.models import Model
from lambdas.common.settings import NonEmptyStr
from lambdas.drift_alert.models import EventModel, MonitoredEndpoint, Violation

ProcessingJobDetailType = Literal["SageMaker Processing Job State Change"]
PROCESSING_JOB_DETAIL_TYPE: Final[str] = get_args(ProcessingJobDetailType)[0]
# The serving templates monitor production only: every run the function gets is production's.
MONITORED_STAGE: Final[Stage] = "production"


class ProcessingJobStateChange(EventModel):
    """The fields the function uses of the event's detail (DescribeProcessingJob's answer, in effect)."""

    job_name: NonEmptyStr = Field(alias="ProcessingJobName")
    status: NonEmptyStr = Field(alias="ProcessingJobStatus")
    exit_message: StrictStr = Field(default="", alias="ExitMessage")
    # A monitoring schedule's runs only: arn:<partition>:sagemaker:<region>:<account>:monitoring-schedule/<name>.
    monitoring_schedule_arn: StrictStr | None = Field(default=None, alias="MonitoringScheduleArn")


class ProcessingJobStateChangeEvent(EventModel):
    id: NonEmptyStr
    source: Literal["aws.sagemaker"]
    detail_type: ProcessingJobDetailType = Field(alias="detail-type")
    time: StrictStr | None = None
    detail: ProcessingJobStateChange


class MonitoringRun(Model):
    """A run the function acts on: of a configured endpoint's (or batch transform's) Clarify monitor,
    ended with violations."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_time: str | None
    endpoint_name: str
    endpoint: MonitoredEndpoint
    kind: str  # MODEL_BIAS or MODEL_EXPLAINABILITY
    schedule_name: str
    job_name: str
    exit_message: str

    @property
    def trigger_name(self) -> str:
        return self.job_name

    @property
    def trigger_label(self) -> str:
        return f"monitoring run {self.job_name} of {self.schedule_name}"

    @property
    def drift_words(self) -> str:
        """What the run found, in words."""
        return "bias drift" if self.kind == MODEL_BIAS else "feature attribution drift"

    def retraining_fields(self) -> dict[str, str]:
        return {
            "monitoring_schedule": self.schedule_name,
            "processing_job_name": self.job_name,
            "run_event_id": self.event_id,
        }


class RunFindings(Model):
    """The run's violations, as its constraint_violations.json lists them (as far as readable)."""

    model_config = ConfigDict(frozen=True)

    report_uri: str | None = None  # s3:// URI of constraint_violations.json
    report_url: str | None = None  # the same object in the S3 console
    violations: list[Violation] = Field(default_factory=list)
    # Why something above is missing (no report, report not understood, ...).
    notes: list[str] = Field(default_factory=list)
