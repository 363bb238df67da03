"""Typed shapes of the approval gate: its configuration, the event it reads, the decisions it records.

Everything that crosses the function's boundary is validated here, once, by pydantic: the environment
at cold start (`GateSettings`), each EventBridge event (`ModelPackageStateChange`), each model's
registration (`ModelGate`, read by `registry`), and the audit record and outcome it produces
(`AuditRecord`, `Outcome`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from lambdas.common.contracts import (
    PACKAGE_ARN_PATTERN,
    SAGEMAKER_NAME_PATTERN,
    BiasPolicy,
    Direction,
    ServingMode,
    meets_threshold,
)
from lambdas.common.endpoints import ServingVariant
from lambdas.common.models import Model
from lambdas.common.settings import FunctionSettings, NonEmptyStr

# SageMaker's constraint on model package group and endpoint names (a serving stack's name is its
# endpoint's, so a batch model's production stack fits it too).
GroupName = Annotated[StrictStr, Field(pattern=f"^{SAGEMAKER_NAME_PATTERN}$")]
ServingName = GroupName
# An SSM parameter path ending in "/", under which the registration of a group is `<prefix><group>`.
RegistryPrefix = Annotated[StrictStr, Field(pattern=r"^(/[A-Za-z0-9_.-]+)+/$", max_length=500)]
REJECTED = "Rejected"

# Text that starts every ApprovalDescription the gate writes, so the Rejected event that its own
# rejection triggers can be recognised and not notified a second time.
GATE_REJECTION_PREFIX = "Rejected by the approval gate:"


class ModelGate(Model):
    """What the gate needs to know about one model: the registration of its model package group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: NonEmptyStr
    metric_name: NonEmptyStr
    # A package deploys when its metric is at least as good as the threshold: >= it when higher is
    # better (auc), <= it when lower is better (rmse).
    metric_direction: Direction
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    # CodePipeline's own constraint on pipeline names.
    deploy_pipeline_name: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9.@\-_]{1,100}$")]
    # How production serves: a real-time endpoint, or a batch transform.
    serving_mode: ServingMode
    # What the deploy pipeline deploys production to (contracts.serving_name): the endpoint of a
    # real-time model, the serving stack of a batch one. A package it serves is not deployed again.
    production_serving_name: ServingName
    # What a bias report outside the platform's bounds does (contracts.BiasPolicy); registrations written
    # before models had Clarify checks have none: their bias is not assessed.
    bias_policy: BiasPolicy = "none"

    @property
    def is_batch(self) -> bool:
        return self.serving_mode == "batch"


class GateSettings(FunctionSettings):
    """The approval gate's environment (and the common one, see `FunctionSettings`)."""

    # Where the models register themselves (contracts.model_registry_prefix), e.g. "/mlops/models/".
    model_registry_prefix: RegistryPrefix = Field(alias="MODEL_REGISTRY_PREFIX")
    idempotency_table_name: NonEmptyStr = Field(alias="IDEMPOTENCY_TABLE_NAME")
    # The role the function runs as (its stack sets it) and the function's name (Lambda sets it, and names
    # the role's session after it): together they tell the state changes the gate's own model card
    # updates cause (`is_own_change`). Only Lambda may assume that role, so nobody else's change matches.
    role_name: NonEmptyStr = Field(alias="GATE_ROLE_NAME")
    function_name: NonEmptyStr = Field(alias="AWS_LAMBDA_FUNCTION_NAME")

    def is_own_change(self, change: ModelPackageStateChange) -> bool:
        """Whether the gate itself made `change`: by its role, in the session Lambda opened for it."""
        identity = change.last_modified_by.iam_identity if change.last_modified_by else None
        arn = identity.arn if identity else None
        return (
            arn is not None
            and re.fullmatch(
                rf"arn:aws[a-z-]*:sts::\d{{12}}:assumed-role/{re.escape(self.role_name)}/{re.escape(self.function_name)}",
                arn,
            )
            is not None
        )


class IamIdentity(Model):
    model_config = ConfigDict(frozen=True, extra="ignore")

    arn: StrictStr | None = Field(default=None, alias="Arn")


class UserContext(Model):
    """SageMaker's record of who created or last modified the package."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_profile_name: StrictStr | None = Field(default=None, alias="UserProfileName")
    iam_identity: IamIdentity | None = Field(default=None, alias="IamIdentity")

    @property
    def name(self) -> str | None:
        return self.user_profile_name or (self.iam_identity.arn if self.iam_identity else None)


class ModelPackageStateChange(Model):
    """The `detail` of a "SageMaker Model Package State Change" event: the fields the gate uses."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # SageMaker's own constraint on group names: also what makes it part of a registration's name.
    model_package_group_name: GroupName = Field(alias="ModelPackageGroupName")
    model_package_arn: Annotated[StrictStr, Field(pattern=f"^{PACKAGE_ARN_PATTERN}$")] = Field(alias="ModelPackageArn")
    model_package_version: Annotated[StrictInt, Field(ge=1)] = Field(alias="ModelPackageVersion")
    model_approval_status: NonEmptyStr = Field(alias="ModelApprovalStatus")
    approval_description: StrictStr | None = Field(default=None, alias="ApprovalDescription")
    # When this status was set: tells a redelivery of one approval (same time) from a new approval of
    # the same version (a person re-approving after the gate rejected it), which must be judged again.
    last_modified_time: StrictInt | StrictFloat | StrictStr | None = Field(default=None, alias="LastModifiedTime")
    created_by: UserContext | None = Field(default=None, alias="CreatedBy")
    last_modified_by: UserContext | None = Field(default=None, alias="LastModifiedBy")

    @property
    def changed_by(self) -> str:
        """Who made this change: the last modifier (the approver), else the creator."""
        for user in (self.last_modified_by, self.created_by):
            if user is not None and user.name:
                return user.name
        return "unknown"


class ModelPackageStateChangeEvent(Model):
    """The EventBridge envelope; anything else delivered to the function is not for it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: NonEmptyStr
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ModelPackageStateChange


class MetricCheck(Model):
    model_config = ConfigDict(frozen=True)

    name: str
    value: float
    threshold: float
    direction: Direction

    @property
    def passed(self) -> bool:
        """At least as good as the threshold, in the metric's direction (the threshold itself passes)."""
        return meets_threshold(self.value, self.threshold, self.direction)


class GovernanceCheck(Model):
    """What the gate found of a package's governance: its model card, and its post-training bias against
    the platform's bounds (contracts.POST_TRAINING_BIAS_BOUNDS), judged by its model's bias policy."""

    model_config = ConfigDict(frozen=True)

    card_status: str | None
    bias_policy: BiasPolicy
    bias_report_uri: str | None = None
    bias_violations: tuple[str, ...] = ()

    @property
    def has_card(self) -> bool:
        return self.card_status is not None

    @property
    def blocking_reason(self) -> str | None:
        """Why the package may not deploy, or None."""
        if not self.has_card:
            return (
                "it has no model card (ModelCard): every package the platform deploys carries one; a repository"
                " seeded before model cards needs its seed's current code (docs/governance.md, Upgrading)"
            )
        if self.bias_policy != "block":
            return None
        if self.bias_report_uri is None:
            return "its model blocks on bias, and it has no post-training bias report (ModelMetrics.Bias)"
        if self.bias_violations:
            return f"its post-training bias is outside the platform's bounds: {'; '.join(self.bias_violations)}"
        return None


class Verdict(Model):
    """A change the gate will act on: the input of its one side-effecting step, `gate.act`.

    `metric` is set for an approval (once its metric was read) and None for a rejection; `serving` is
    the production variant a rejected package still serves, if any (for a batch model, the champion of
    its production serving stack). The idempotency key is taken
    from `change`: package ARN, approval status, version and the time it was set.
    """

    model_config = ConfigDict(frozen=True)

    change: ModelPackageStateChange
    model: ModelGate
    metric: MetricCheck | None = None
    # The package's card and bias (for an approval); for a rejection, only its card (None: no package).
    governance: GovernanceCheck | None = None
    serving: ServingVariant | None = None
    # For an approval: the documents it was judged on (as registered) that were written again since.
    written_again: tuple[str, ...] = ()


class Result(StrEnum):
    # The decisions, each audited:
    DEPLOY_STARTED = "deploy_started"
    # Short of the threshold in the metric's direction (below it for auc, above it for rmse).
    REJECTED_BELOW_THRESHOLD = "rejected_below_threshold"
    # No model card, or (for a model that blocks on bias) post-training bias outside the bounds.
    REJECTED_GOVERNANCE = "rejected_governance"
    REJECTION_NOTED = "rejection_noted"
    # Not decisions, only logged and counted:
    INVALID = "invalid"  # the event or the package cannot be acted on
    # Nothing to do: a pending package, the gate's own rejection, a stale event, a group no model registered.
    IGNORED = "ignored"
    ALREADY_SERVING = "already_serving"  # an approval of a package production serves already


class AuditRecord(Model):
    """The detail of the "Model Approval Decision" event, and the fields of its log line."""

    decision: Result
    changed_by: str
    model_package_arn: str
    model_package_group_name: str
    model_package_version: int
    model_name: str
    metric_name: str | None = None
    metric_value: float | None = None
    threshold: float | None = None
    metric_direction: Direction | None = None
    deploy_pipeline_name: str | None = None
    pipeline_execution_id: str | None = None
    # The package's model card status after the decision (None: the package has no card), and its bias
    # check: the model's policy and the violations found (None: not read).
    model_card_status: str | None = None
    bias_policy: BiasPolicy | None = None
    bias_violations: list[str] | None = None
    # The documents the decision read (as they were when the package was registered) that were written
    # again since: the version judged is not the current one (None: none read).
    written_since_registration: list[str] | None = None


class Outcome(Model):
    """What one invocation did. `replayed` marks an outcome returned from the idempotency store;
    `unregistered_group` names the group of an event ignored because no model registered it."""

    result: Result
    reason: str
    audit: AuditRecord | None = None
    replayed: bool = False
    unregistered_group: str | None = None
