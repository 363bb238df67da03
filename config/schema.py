"""The platform configuration as typed, validated data.

Every model is strict (a YAML ``123`` is not a string) and forbids unknown keys, so a typo fails at
synth time instead of being silently ignored. Name rules mirror what the AWS APIs would reject at
deploy time, so a bad name fails in seconds, not in the middle of a CloudFormation rollout.
"""

from __future__ import annotations

import re
import zoneinfo
from collections import Counter
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from config.delivery import DeliveryConfig
from config.experiments import ExperimentsConfig
from config.regions import SUPPORTED_REGIONS
from config.sources import BRANCH_NAME, CONNECTION_ARN, GIT_HOST_REPOSITORY
from lambdas.common.contracts import (
    CSV_CONTENT_TYPE,
    HIGHER_IS_BETTER,
    JSON_CONTENT_TYPE,
    LOWER_IS_BETTER,
    METRIC_DIRECTIONS,
    MODEL_NAME_PATTERN,
    MODELS_NAMESPACE,
    PLATFORM_NAMESPACE,
    STAGES,
    BiasPolicy,
    ContentType,
    Direction,
    InferenceContract,
    ProblemType,
    RiskRating,
    ServingMode,
    Stage,
    metric_direction,
    mlflow_registration_suffix,
    mlflow_tracking_server_name,
    reserved_segment,
)

# Every AWS region (commercial, GovCloud, China), so that a typo such as "eu-west1" reads as one.
# Which of them the platform can serve is decided by config/regions.py alone.
KNOWN_REGIONS = frozenset(
    {
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
        "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
        "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
        "ca-west-1", "cn-north-1", "cn-northwest-1", "eu-central-1", "eu-central-2", "eu-north-1",
        "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
        "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2",
        "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2",
    }
)  # fmt: skip

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
     3288, 3653}
)  # fmt: skip
# The longest Object Lock retention the configuration accepts for trail files (ten years).
MAX_TRAIL_OBJECT_LOCK_DAYS = 3653


def _no_stage_segment(name: str) -> str:
    if name in (MODELS_NAMESPACE, PLATFORM_NAMESPACE):
        # `/<platform>/models/<group>` registers each model and `/<platform>/platform/<key>` holds the
        # platform's shared values: a model of either name would own `/<platform>/<name>/data-bucket`.
        raise ValueError(f"{name!r} is reserved: it names a path of the platform's SSM parameters")
    segment = reserved_segment(name)
    if segment is not None:
        raise ValueError(
            f"a model name may not contain the stage word {segment!r} as a hyphen-separated part "
            f"({', '.join(STAGES)} end the names of a model's stage resources)"
        )
    return name


# Lower-case so one name serves CodeCommit, S3 prefixes, SageMaker and stack names; 32 characters
# leave room for suffixes such as "-production" within SageMaker's 63-character endpoint names.
# No stage word as a segment: a model's stage resources are named `<platform>-<model>-<stage>...`, so a
# model `demand-production` would own names under model `demand`'s production prefix (contracts module).
ModelName = Annotated[
    str,
    StringConstraints(pattern=f"^{MODEL_NAME_PATTERN}$", min_length=2, max_length=32),
    AfterValidator(_no_stage_segment),
]
# SageMaker feature group names: ^[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}
FeatureGroupName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}$", max_length=64)]
# SageMaker feature names: ^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}
FeatureName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$", max_length=64)]
InstanceType = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")]
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


def _not_aws_reserved(key: str) -> str:
    if key.lower().startswith("aws:"):
        raise ValueError("tag keys starting with 'aws:' are reserved by AWS")
    return key


TagKey = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_ .:/=+\-@]+$", max_length=128), AfterValidator(_not_aws_reserved)
]
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_ .:/=+\-@]*$", max_length=256)]

# SageMaker's limit on the number of features in one feature group.
MAX_FEATURES_PER_GROUP = 2500


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]


class DeploymentAccountsConfig(StrictModel):
    """Accounts that deploy the registry's packages; they get read access to the model groups."""

    staging: AccountId | None = None
    production: AccountId | None = None


class EnvironmentConfig(StrictModel):
    """Where the platform is deployed."""

    account: AccountId = Field(description="12-digit AWS account id, quoted in YAML so leading zeros survive")
    region: str
    deployment_accounts: DeploymentAccountsConfig = DeploymentAccountsConfig()

    def stage_account(self, stage: Stage) -> str:
        """The account a stage serves in: its deployment account, else the platform's (tooling) account."""
        return getattr(self.deployment_accounts, stage) or self.account

    def remote_stages(self) -> list[Stage]:
        """The stages that serve in an account of their own (a `<name>-target-<stage>` stack each)."""
        return [stage for stage in STAGES if self.stage_account(stage) != self.account]

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region not in KNOWN_REGIONS:
            raise ValueError(f"'{region}' is not an AWS region (e.g. eu-west-1)")
        if region not in SUPPORTED_REGIONS:
            raise ValueError(
                f"the platform cannot serve models in '{region}': SageMaker publishes no Model Monitor analyzer"
                f" or no Clarify image there (config/regions.py); use one of {', '.join(sorted(SUPPORTED_REGIONS))}"
            )
        return region


class AlertsConfig(StrictModel):
    emails: list[EmailAddress] = Field(default_factory=list)
    # Who is asked to approve production deployments (they assume the ModelApprover role to do so).
    approver_emails: list[EmailAddress] = Field(default_factory=list)


class BudgetConfig(StrictModel):
    monthly_limit_usd: float = Field(gt=0)
    alert_thresholds_percent: list[Annotated[float, Field(gt=0, le=200)]] = Field(default_factory=lambda: [80.0, 100.0])

    @field_validator("alert_thresholds_percent")
    @classmethod
    def _distinct_thresholds(cls, thresholds: list[float]) -> list[float]:
        if not thresholds:
            raise ValueError("at least one threshold is needed")
        if len(set(thresholds)) != len(thresholds):
            raise ValueError("thresholds must be distinct")
        return thresholds


class RetentionConfig(StrictModel):
    """How long each kind of record is kept.

    Trail files are never deleted by the platform (they only move to Glacier) and S3 Object Lock
    keeps every version of them undeletable for `trail_object_lock_days` after it is written:
    GOVERNANCE lets a principal with s3:BypassGovernanceRetention remove a version early,
    COMPLIANCE lets nobody, not even the account root, for the whole period.
    """

    log_days: int = 365
    access_log_days: int = Field(default=365, ge=1)
    audit_log_glacier_after_days: int = Field(default=90, ge=1)
    noncurrent_version_days: int = Field(default=90, ge=1)
    audit_event_days: int = Field(default=730, ge=1)
    trail_object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    # At most ten years: a COMPLIANCE lock cannot be shortened, so a typo here would be paid for by
    # storing every trail file for decades.
    trail_object_lock_days: int = Field(default=365, ge=1, le=MAX_TRAIL_OBJECT_LOCK_DAYS)

    @field_validator("log_days")
    @classmethod
    def _cloudwatch_retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"{days} is not a CloudWatch Logs retention; use one of {sorted(LOG_RETENTION_DAYS)}")
        return days


# The seed templates, and the one a problem type gets by default (multiclass reuses the classifier's:
# its model_config.json says which kind of classifier to train).
SeedName = Literal["binary-classification", "regression"]
DEFAULT_SEEDS: dict[ProblemType, SeedName] = {
    "binary_classification": "binary-classification",
    "multiclass_classification": "binary-classification",
    "regression": "regression",
}
# The attributes each seed template's serving script answers, by the format of the answer.
DEFAULT_ATTRIBUTES: dict[tuple[bool, str], dict[str, str | None]] = {
    (True, JSON_CONTENT_TYPE): {"prediction_attribute": "label", "probability_attribute": "probability"},
    (True, CSV_CONTENT_TYPE): {"prediction_attribute": "0", "probability_attribute": "1"},
    (False, JSON_CONTENT_TYPE): {"prediction_attribute": "prediction", "probability_attribute": None},
    (False, CSV_CONTENT_TYPE): {"prediction_attribute": "0", "probability_attribute": None},
}
# Metrics bounded by [0, 1] (r2 may be any value up to 1; errors any value from 0).
UNIT_INTERVAL_METRICS = frozenset({"auc", "f1", "accuracy", "precision", "recall", "weighted_f1"})


class MetricConfig(StrictModel):
    """The evaluation metric a model must reach to be registered and deployed: which ones a model may
    use, and whether higher or lower is better, depend on its problem type (contracts.METRIC_DIRECTIONS)."""

    name: Annotated[str, StringConstraints(min_length=1)]
    threshold: float = Field(allow_inf_nan=False)


class InferenceConfig(StrictModel):
    """How the model is called and how its answers read (see contracts.InferenceContract). Defaults:
    what the model's seed template serves."""

    content_type: ContentType = JSON_CONTENT_TYPE
    accept: ContentType = JSON_CONTENT_TYPE
    prediction_attribute: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    probability_attribute: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class InstanceTypesConfig(StrictModel):
    processing: InstanceType = "ml.m5.large"
    training: InstanceType = "ml.m5.large"
    inference: InstanceType = "ml.m5.large"


class VariantWeightsConfig(StrictModel):
    """Initial traffic split, in percent, of the production A/B endpoint."""

    champion_percent: float = Field(gt=0, lt=100)
    challenger_percent: float = Field(gt=0, lt=100)

    @model_validator(mode="after")
    def _sums_to_hundred(self) -> VariantWeightsConfig:
        total = self.champion_percent + self.challenger_percent
        if abs(total - 100) > 1e-9:
            raise ValueError(f"champion_percent + challenger_percent must be 100, got {total:g}")
        return self


class ServerlessConfig(StrictModel):
    """Serverless inference (staging: pay per request)."""

    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(default=5, ge=1, le=200)


class AutoscalingConfig(StrictModel):
    """Target tracking on invocations per instance, per variant."""

    min_instances: int = Field(default=1, ge=1)
    max_instances: int = Field(default=4, ge=1, le=100)
    target_invocations_per_instance: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> AutoscalingConfig:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min_instances ({self.min_instances}) is above max_instances ({self.max_instances})")
        return self


class StageServingConfig(StrictModel):
    """How one stage serves: instances (optionally autoscaled) or serverless, never both."""

    instance_type: InstanceType | None = Field(default=None, description="default: the model's inference instance type")
    initial_instance_count: int = Field(default=1, ge=1)
    autoscaling: AutoscalingConfig | None = None
    serverless: ServerlessConfig | None = None

    @model_validator(mode="after")
    def _serverless_excludes_instances(self) -> StageServingConfig:
        if self.serverless is not None:
            if self.autoscaling is not None:
                raise ValueError("serverless endpoints scale on their own: remove autoscaling or serverless")
            if self.instance_type is not None:
                raise ValueError("serverless endpoints have no instance type: remove instance_type or serverless")
        if self.autoscaling is not None and not (
            self.autoscaling.min_instances <= self.initial_instance_count <= self.autoscaling.max_instances
        ):
            raise ValueError("initial_instance_count must lie between autoscaling min_instances and max_instances")
        return self


class RolloutConfig(StrictModel):
    """Blue/green traffic shifting of production updates, rolled back by the endpoint's alarms."""

    mode: Literal["canary", "linear"] = "canary"
    step_percent: int = Field(default=10, ge=1, le=50)
    wait_minutes: int = Field(default=5, ge=1, le=60)
    baking_minutes: int = Field(default=10, ge=0, le=60)


class ServingAlarmsConfig(StrictModel):
    """Per-variant alarm thresholds; the 5xx and latency alarms also roll production updates back."""

    latency_p99_ms: int = Field(default=500, ge=1)
    error_5xx_percent: float = Field(default=1.0, gt=0, le=100)
    error_4xx_percent: float = Field(default=5.0, gt=0, le=100)
    period_minutes: int = Field(default=5, ge=1, le=60)


def _scheduler_expression(expression: str) -> str:
    """What EventBridge Scheduler accepts: cron with six fields, one of day-of-month and day-of-week
    `?`, or a rate with a singular unit for 1 and a plural one otherwise."""
    if cron := re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression):
        if (cron[3] == "?") == (cron[5] == "?"):
            raise ValueError("a cron expression needs '?' in exactly one of day-of-month and day-of-week")
        return expression
    if rate := re.fullmatch(r"rate\(([1-9]\d*) (minute|hour|day)(s?)\)", expression):
        if (rate[1] == "1") == (rate[3] == "s"):
            raise ValueError(f"say rate(1 {rate[2]}) or rate(N {rate[2]}s)")
        return expression
    raise ValueError("expected cron(minutes hours day-of-month month day-of-week year) or rate(N unit)")


def _time_zone(name: str) -> str:
    # zoneinfo reads the pinned tzdata package when the machine has no time zone database.
    if name not in zoneinfo.available_timezones():
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Paris)")
    return name


ScheduleExpression = Annotated[str, AfterValidator(_scheduler_expression)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")]


class BatchServingConfig(StrictModel):
    """A scheduled batch transform: input read from a prefix, results written to another.

    Default locations: `batch/input/` and `batch/output/` of the model's data bucket (KMS).
    """

    schedule_expression: ScheduleExpression
    instance_type: InstanceType | None = Field(default=None, description="default: the model's inference instance type")
    instance_count: int = Field(default=1, ge=1, le=100)
    input_s3_uri: S3Uri | None = None
    output_s3_uri: S3Uri | None = None
    # CodeBuild runs the staging check for at most 36 hours, 15 minutes of which are its own.
    max_runtime_minutes: int = Field(default=240, ge=10, le=36 * 60 - 15)
    # UTC unless set (EventBridge Scheduler's time zones, e.g. Europe/Paris).
    schedule_timezone: TimeZone = "UTC"

    @field_validator("input_s3_uri")
    @classmethod
    def _input_is_a_folder(cls, uri: str | None) -> str | None:
        # A transform reads every object under its S3Prefix: "scores" would also read "scores-old/".
        return None if uri is None else uri.rstrip("/") + "/"

    @field_validator("output_s3_uri")
    @classmethod
    def _output_without_slash(cls, uri: str | None) -> str | None:
        # Each run writes <output>/<execution id>/.
        return None if uri is None else uri.rstrip("/")

    @model_validator(mode="after")
    def _distinct_locations(self) -> BatchServingConfig:
        if self.input_s3_uri and self.output_s3_uri:
            source, target = self.input_s3_uri.rstrip("/") + "/", self.output_s3_uri.rstrip("/") + "/"
            if source.startswith(target) or target.startswith(source):
                raise ValueError("input_s3_uri and output_s3_uri may not contain one another")
        return self


class ServingConfig(StrictModel):
    mode: ServingMode = "realtime"
    batch: BatchServingConfig | None = None
    staging: StageServingConfig = StageServingConfig(serverless=ServerlessConfig())
    production: StageServingConfig = StageServingConfig(autoscaling=AutoscalingConfig())
    data_capture_percent: int = Field(default=20, ge=0, le=100)
    rollout: RolloutConfig = RolloutConfig()
    alarms: ServingAlarmsConfig = ServingAlarmsConfig()
    smoke_test_max_p95_ms: int = Field(default=1000, ge=1)

    @field_validator("production")
    @classmethod
    def _production_on_instances(cls, production: StageServingConfig) -> StageServingConfig:
        if production.serverless is not None:
            raise ValueError("production runs on instances: it needs data capture, A/B variants and guardrails")
        return production

    @model_validator(mode="after")
    def _batch_settings_for_batch_models(self) -> ServingConfig:
        if self.mode == "batch":
            if self.batch is None:
                raise ValueError("a batch model needs batch: {schedule_expression, ...}")
            endpoint_only = sorted(
                {"staging", "production", "rollout", "alarms", "smoke_test_max_p95_ms", "data_capture_percent"}
                & self.model_fields_set
            )
            if endpoint_only:
                raise ValueError(f"{', '.join(endpoint_only)} only apply to real-time models (mode: realtime)")
        elif self.batch is not None:
            raise ValueError("batch settings need mode: batch")
        return self


class MonitoringConfig(StrictModel):
    """Model Monitor on the production endpoint, and what drift sets off."""

    instance_type: InstanceType = "ml.m5.large"
    # Features whose baseline drift metric gets an alarm (default: the model's feature group's features).
    drift_alarm_features: list[FeatureName] | None = None
    drift_threshold: float = Field(default=0.2, gt=0, le=1)
    # s3:// prefix where labels (ground truth) for captured requests land; enables model-quality monitoring.
    ground_truth_s3_uri: (
        Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")] | None
    ) = None
    # How late labels land after the prediction they label: each hourly model-quality run joins the
    # hour of predictions that ended this many hours ago (a nightly batch scored today is labelled later).
    ground_truth_delay_hours: int = Field(default=1, ge=1, le=24 * 14)
    retrain_on_drift: bool = True
    retrain_cooldown_hours: int = Field(default=24, ge=1, le=24 * 30)


LabelValue = Annotated[str, StringConstraints(min_length=1, max_length=256)] | int | float


class ClarifyFacetConfig(StrictModel):
    """A sensitive group: a feature column and the values (or, for a numeric column, the one threshold
    above which a row belongs to the group) that Clarify compares with every other row."""

    name: FeatureName
    values: list[LabelValue] = Field(min_length=1)


class ClarifyConfig(StrictModel):
    """Clarify's bias checks of the build: pre-training (data) and post-training (model) bias of each
    facet, registered with the package and checked again in production (when ground truth is configured).

    `label_values`: the outcomes counted as positive (a classifier's labels), or, for regression, the
    one threshold above which a prediction counts as positive. `block_on_bias_violation`: the approval
    gate rejects a package whose post-training bias is outside the platform's bounds
    (contracts.POST_TRAINING_BIAS_BOUNDS); false records the violations and deploys."""

    facets: list[ClarifyFacetConfig] = Field(min_length=1)
    label_values: list[LabelValue] = Field(min_length=1)
    block_on_bias_violation: bool = True

    @field_validator("facets")
    @classmethod
    def _one_entry_per_facet(cls, facets: list[ClarifyFacetConfig]) -> list[ClarifyFacetConfig]:
        repeated = sorted(name for name, count in Counter(facet.name for facet in facets).items() if count > 1)
        if repeated:
            raise ValueError(f"facet {', '.join(repeated)} is listed more than once")
        return facets

    @property
    def bias_policy(self) -> BiasPolicy:
        return "block" if self.block_on_bias_violation else "report"


class ModelCardConfig(StrictModel):
    """What every package's model card says beyond what the build measures: who owns the model, what it
    is for and not for, and how risky a wrong answer is."""

    intended_uses: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    limitations: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    risk_rating: RiskRating
    owner: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class BusinessMetricConfig(StrictModel):
    """A custom CloudWatch metric per variant (dimensions EndpointName, VariantName): successes."""

    namespace: Annotated[str, StringConstraints(pattern=r"^[^:][^:]{0,254}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    # Whether more of it per invocation is better (conversions) or worse (complaints, refunds).
    direction: Direction = HIGHER_IS_BETTER


class TrafficShiftConfig(StrictModel):
    """The scheduled A/B decision: shift traffic to the challenger, promote it, or roll it back."""

    enabled: bool = True
    business_metric: BusinessMetricConfig
    schedule_minutes: int = Field(default=60, ge=5, le=24 * 60)
    min_samples_per_variant: int = Field(default=1000, ge=100)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    step_percent: int = Field(default=10, ge=1, le=50)
    # At most 50: above it the challenger would carry most traffic, which the deploy pipeline reads as
    # "promoted" (it takes the heavier variant as the champion) before the test has decided.
    max_challenger_percent: int = Field(default=50, ge=1, le=50)
    latency_ratio_limit: float = Field(default=1.5, gt=1)


SourceProvider = Literal["codecommit", "codeconnections"]


class CodeCommitSource(StrictModel):
    """The platform creates the repository, seeded with the model's seed template."""

    provider: Literal["codecommit"] = "codecommit"


class CodeConnectionsSource(StrictModel):
    """A repository on GitHub, GitLab or Bitbucket, reached through an AWS CodeConnections connection
    (created and authorized in the console once; CloudFormation cannot seed such a repository)."""

    provider: Literal["codeconnections"]
    connection_arn: CONNECTION_ARN
    repository: GIT_HOST_REPOSITORY
    branch: BRANCH_NAME = "main"


ModelSource = Annotated[CodeCommitSource | CodeConnectionsSource, Field(discriminator="provider")]


class ModelConfig(StrictModel):
    name: ModelName
    description: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    # Declared before the fields validated against it (pydantic validates in this order).
    problem_type: ProblemType = "binary_classification"
    seed: SeedName
    metric: MetricConfig
    inference: InferenceConfig
    instance_types: InstanceTypesConfig = InstanceTypesConfig()
    serving: ServingConfig = ServingConfig()
    # The A/B split and the traffic shift of a real-time model's production endpoint.
    variants: VariantWeightsConfig | None = None
    monitoring: MonitoringConfig = MonitoringConfig()
    traffic_shift: TrafficShiftConfig | None = None
    feature_group: FeatureGroupName | None = None
    # Clarify's bias checks (none: the build explains the model, SHAP, but does not assess its bias).
    clarify: ClarifyConfig | None = None
    # The model card's owner, uses, limitations and risk (none: the card says they are not stated).
    card: ModelCardConfig | None = None
    # Where the model's code lives: a CodeCommit repository the platform seeds (default), or a Git host.
    source: ModelSource = CodeCommitSource()
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=40)

    @model_validator(mode="before")
    @classmethod
    def _defaults_of_the_problem_type(cls, data: Any) -> Any:
        """The seed and the inference contract default to what the problem type's seed template serves."""
        if not isinstance(data, dict) or data.get("problem_type", "binary_classification") not in DEFAULT_SEEDS:
            return data
        problem_type = data.get("problem_type", "binary_classification")
        data = {"seed": DEFAULT_SEEDS[problem_type], **data}
        inference = data.get("inference", {})
        if isinstance(inference, dict):
            accept = inference.get("accept", JSON_CONTENT_TYPE)
            classification = problem_type != "regression"
            defaults = DEFAULT_ATTRIBUTES.get((classification, accept), {})
            data["inference"] = {key: value for key, value in defaults.items() if value is not None} | inference
        return data

    @field_validator("seed")
    @classmethod
    def _seed_fits(cls, seed: SeedName, info: ValidationInfo) -> SeedName:
        problem_type = info.data.get("problem_type")
        if problem_type is not None and (seed == "regression") != (problem_type == "regression"):
            raise ValueError(f"the {seed} seed template cannot build a {problem_type} model")
        return seed

    @field_validator("metric")
    @classmethod
    def _metric_fits(cls, metric: MetricConfig, info: ValidationInfo) -> MetricConfig:
        problem_type = info.data.get("problem_type")
        if problem_type is None:
            return metric
        if metric.name not in METRIC_DIRECTIONS[problem_type]:
            _raise_at(
                "name",
                metric.name,
                f"{metric.name!r} is not a {problem_type} metric; use one of {', '.join(METRIC_DIRECTIONS[problem_type])}",
            )
        if metric.name in UNIT_INTERVAL_METRICS and not 0 <= metric.threshold <= 1:
            _raise_at("threshold", metric.threshold, f"{metric.name} lies between 0 and 1")
        if metric.name == "r2" and metric.threshold > 1:
            _raise_at("threshold", metric.threshold, "r2 is at most 1")
        if metric_direction(problem_type, metric.name) == LOWER_IS_BETTER and metric.threshold <= 0:
            _raise_at("threshold", metric.threshold, f"{metric.name} is an error: a threshold above 0 is needed")
        return metric

    @field_validator("inference")
    @classmethod
    def _contract_fits(cls, inference: InferenceConfig, info: ValidationInfo) -> InferenceConfig:
        problem_type = info.data.get("problem_type")
        if problem_type is not None:
            try:
                InferenceContract(problem_type=problem_type, **inference.model_dump())
            except ValueError as error:
                raise ValueError(str(error).removeprefix("invalid inference contract: ")) from None
        return inference

    @model_validator(mode="after")
    def _serving_mode_settings(self) -> ModelConfig:
        if self.serving.mode == "batch":
            endpoint_only = [name for name in ("variants", "traffic_shift") if getattr(self, name) is not None]
            if endpoint_only:
                raise ValueError(f"{', '.join(endpoint_only)} only apply to real-time models (serving.mode: realtime)")
        elif self.variants is None:
            raise ValueError("a real-time model needs variants: {champion_percent, challenger_percent}")
        if self.monitoring.drift_alarm_features and not self.contract.names_features:
            raise ValueError(
                f"monitoring.drift_alarm_features needs inference.content_type {JSON_CONTENT_TYPE}: the builds'"
                " data-quality baselines profile named features, which header-less CSV rows do not carry"
            )
        if self.clarify is not None:
            self._clarify_fits(self.clarify)
        if self.feature_group is not None and self.seed == "regression":
            raise ValueError("the regression seed template reads its data from S3, not from a feature group")
        return self

    def _clarify_fits(self, clarify: ClarifyConfig) -> None:
        if self.problem_type == "regression":
            threshold = clarify.label_values
            if len(threshold) != 1 or isinstance(threshold[0], str | bool):
                raise ValueError(
                    "clarify.label_values of a regression model is one number: the threshold above which a"
                    " prediction counts as positive"
                )

    @property
    def bias_policy(self) -> BiasPolicy:
        """What the approval gate does with the package's bias report (contracts.BiasPolicy)."""
        return "none" if self.clarify is None else self.clarify.bias_policy

    @property
    def contract(self) -> InferenceContract:
        """The model's inference contract (what its packages record and its serving is checked against)."""
        return InferenceContract(problem_type=self.problem_type, **self.inference.model_dump())

    @property
    def metric_direction(self) -> Direction:
        return metric_direction(self.problem_type, self.metric.name)

    @property
    def is_batch(self) -> bool:
        return self.serving.mode == "batch"

    @property
    def endpoint_variants(self) -> VariantWeightsConfig:
        """The A/B split of a real-time model (validated present)."""
        if self.variants is None:
            raise ValueError(f"model {self.name!r} serves in batch: it has no endpoint variants")
        return self.variants

    @property
    def batch(self) -> BatchServingConfig:
        """The batch settings of a batch model (validated present)."""
        if self.serving.batch is None:
            raise ValueError(f"model {self.name!r} serves in real time: it has no batch settings")
        return self.serving.batch


def _raise_at(field: str, value: object, message: str) -> None:
    """Fail validation at `field` of the value being validated (so the error names e.g. metric.name)."""
    raise ValidationError.from_exception_data(
        "MetricConfig",
        [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=(field,), input=value)],
    )


class FeatureConfig(StrictModel):
    name: FeatureName
    type: Literal["String", "Integral", "Fractional"]


class FeatureGroupConfig(StrictModel):
    name: FeatureGroupName
    description: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    record_identifier: FeatureName
    event_time: FeatureName
    features: list[FeatureConfig] = Field(min_length=2, max_length=MAX_FEATURES_PER_GROUP)
    online_store: bool = True
    # Records expire from the online store this many days after their event time (None: never).
    online_ttl_days: int | None = Field(default=None, ge=1, le=36500)
    offline_store: bool = True
    offline_table_format: Literal["Glue", "Iceberg"] = "Glue"
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=40)

    @model_validator(mode="after")
    def _identifier_and_event_time_are_features(self) -> FeatureGroupConfig:
        types = {feature.name: feature.type for feature in self.features}
        if len(types) != len(self.features):
            raise ValueError(f"duplicate feature names: {_duplicates([f.name for f in self.features])}")
        if self.record_identifier not in types:
            raise ValueError(f"record_identifier '{self.record_identifier}' is not one of the features")
        if types[self.record_identifier] == "Fractional":
            raise ValueError("record_identifier must be a String or Integral feature")
        if self.event_time not in types:
            raise ValueError(f"event_time '{self.event_time}' is not one of the features")
        if types[self.event_time] not in ("String", "Fractional"):
            raise ValueError("event_time must be a String (ISO-8601) or Fractional (epoch seconds) feature")
        if not (self.online_store or self.offline_store):
            raise ValueError("a feature group needs an online store, an offline store or both")
        if self.online_ttl_days is not None and not self.online_store:
            raise ValueError("online_ttl_days needs online_store: true")
        reserved = {"write_time", "api_invocation_time", "is_deleted"} & set(types)
        if reserved:
            raise ValueError(f"feature names reserved by the offline store: {', '.join(sorted(reserved))}")
        return self


class CreatedNetworkConfig(StrictModel):
    """A VPC the platform creates for Studio: private subnets only, no NAT, VPC endpoints instead."""

    cidr: Annotated[str, StringConstraints(pattern=r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$")] = "10.40.0.0/16"
    max_azs: int = Field(default=2, ge=2, le=3)


class StudioNetworkConfig(StrictModel):
    """Either an existing VPC (`vpc_id`, `subnet_ids`) or one the platform creates (`create`)."""

    vpc_id: Annotated[str, StringConstraints(pattern=r"^vpc-[0-9a-f]{8,17}$")] | None = None
    subnet_ids: list[Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        default_factory=list, max_length=16
    )
    create: CreatedNetworkConfig | None = None

    @model_validator(mode="after")
    def _one_network(self) -> StudioNetworkConfig:
        existing = self.vpc_id is not None or bool(self.subnet_ids)
        if existing == (self.create is not None):
            raise ValueError("give either vpc_id and subnet_ids (an existing VPC) or create (a new one), not both")
        if existing and (self.vpc_id is None or not self.subnet_ids):
            raise ValueError("an existing VPC needs both vpc_id and subnet_ids")
        if len(set(self.subnet_ids)) != len(self.subnet_ids):
            raise ValueError("duplicate subnet ids")
        return self


# SageMaker user profile names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
UserProfileName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]


class StudioUserConfig(StrictModel):
    name: UserProfileName
    persona: Literal["data_scientist", "model_approver"]


class StudioConfig(StrictModel):
    """A SageMaker Studio domain for the personas: IAM auth, VPC only, encrypted with the platform key."""

    enabled: bool = True
    network: StudioNetworkConfig = StudioNetworkConfig(create=CreatedNetworkConfig())
    users: list[StudioUserConfig] = Field(default_factory=list, max_length=100)

    @field_validator("users")
    @classmethod
    def _unique_users(cls, users: list[StudioUserConfig]) -> list[StudioUserConfig]:
        duplicates = _duplicates([user.name.lower() for user in users])
        if duplicates:
            raise ValueError(f"duplicate user profile names: {', '.join(duplicates)}")
        return users


class ProjectsConfig(StrictModel):
    """SageMaker Projects: a Service Catalog portfolio the data scientists create model projects from in
    Studio, one product per seed template, each provisioning what a model declared in `models` gets."""

    enabled: bool = True
    templates: list[SeedName] = Field(default_factory=lambda: list(get_args(SeedName)), min_length=1)
    # Where a project's code lives: a CodeCommit repository the platform seeds, or the team's repository
    # on GitHub, GitLab or Bitbucket (a product per seed template and source).
    sources: list[SourceProvider] = Field(default_factory=lambda: list(get_args(SourceProvider)), min_length=1)

    @field_validator("templates", "sources")
    @classmethod
    def _unique(cls, values: list[str], info: ValidationInfo) -> list[str]:
        duplicates = _duplicates(list(values))
        if duplicates:
            raise ValueError(f"duplicate project {info.field_name}: {', '.join(duplicates)}")
        return values


class PlatformConfig(StrictModel):
    """The whole platform: what `config/platform.yaml` holds."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")] = Field(
        description="prefix of stack names; lower-case, 3-20 characters"
    )
    environment: EnvironmentConfig
    alerts: AlertsConfig = AlertsConfig()
    budget: BudgetConfig
    retention: RetentionConfig = RetentionConfig()
    models: list[ModelConfig] = Field(min_length=1)
    feature_groups: list[FeatureGroupConfig] = Field(default_factory=list)
    studio: StudioConfig = StudioConfig(enabled=False)
    projects: ProjectsConfig = ProjectsConfig(enabled=False)
    # The platform's own self-mutating delivery pipeline (none: deployed with `cdk deploy`).
    delivery: DeliveryConfig | None = None
    # A managed MLflow tracking server the builds and Studio log runs to (none: nothing is tracked).
    experiments: ExperimentsConfig | None = None

    @model_validator(mode="after")
    def _serving_in_other_accounts(self) -> PlatformConfig:
        """What cannot serve in a deployment account yet is refused by name, never deployed half-way."""
        if not self.environment.remote_stages():
            return self
        for index, model in enumerate(self.models):
            if model.is_batch:
                raise _field_error(
                    ("models", index, "serving", "mode"),
                    "a batch model cannot serve in environment.deployment_accounts yet (its transforms read the"
                    " model's data bucket through an SSM parameter of the tooling account); serve it in the"
                    " platform's account or use mode: realtime",
                    model.serving.mode,
                )
        return self

    @model_validator(mode="after")
    def _no_model_named_like_a_synced_group(self) -> PlatformConfig:
        """The tracking server syncs each MLflow registered model `X` into the group `X-<suffix>`
        (contracts.mlflow_registration_suffix): a model named so would share its group with a synced one."""
        if self.experiments is None:
            return self
        suffix = mlflow_registration_suffix(mlflow_tracking_server_name(self.name))
        for index, model in enumerate(self.models):
            if model.name.endswith(f"-{suffix}"):
                raise _field_error(
                    ("models", index, "name"),
                    f"a model name may not end with '-{suffix}': the MLflow tracking server registers its"
                    f" models in groups named <name>-{suffix}",
                    model.name,
                )
        return self

    @model_validator(mode="after")
    def _models_use_declared_feature_groups(self) -> PlatformConfig:
        declared = {group.name for group in self.feature_groups}
        for index, model in enumerate(self.models):
            if model.feature_group is not None and model.feature_group not in declared:
                raise ValueError(
                    f"models[{index}].feature_group '{model.feature_group}' is not declared in feature_groups"
                )
            group = next((g for g in self.feature_groups if g.name == model.feature_group), None)
            if model.clarify is not None and group is not None:
                features = {f.name for f in group.features} - {group.record_identifier, group.event_time}
                unknown = [facet.name for facet in model.clarify.facets if facet.name not in features]
                if unknown:
                    raise ValidationError.from_exception_data(
                        "PlatformConfig",
                        [
                            InitErrorDetails(
                                type=PydanticCustomError(
                                    "value_error",
                                    f"{', '.join(unknown)} is not a feature of the model's feature group"
                                    f" '{group.name}' (facets are features the model receives)",
                                ),
                                loc=("models", index, "clarify", "facets"),
                                input=unknown,
                            )
                        ],
                    )
        return self

    def monitored_features(self, model: ModelConfig) -> list[str]:
        """The features whose drift is alarmed: configured, else the model's feature group's features."""
        if not model.contract.names_features:
            return []  # no data-quality monitoring of CSV requests (ModelConfig._serving_mode_settings)
        if model.monitoring.drift_alarm_features is not None:
            return list(model.monitoring.drift_alarm_features)
        group = next((g for g in self.feature_groups if g.name == model.feature_group), None)
        if group is None:
            return []
        return [f.name for f in group.features if f.name not in (group.record_identifier, group.event_time)]

    @field_validator("models", "feature_groups")
    @classmethod
    def _unique_names(
        cls, items: list[ModelConfig] | list[FeatureGroupConfig]
    ) -> list[ModelConfig] | list[FeatureGroupConfig]:
        # SageMaker names are case-insensitive for uniqueness, so compare lower-cased.
        duplicates = _duplicates([item.name.lower() for item in items])
        if duplicates:
            raise ValueError(f"duplicate names: {', '.join(duplicates)}")
        return items


def _field_error(loc: tuple[str | int, ...], message: str, value: object) -> ValidationError:
    """A validation error located at `loc` (the loader names the file and this field)."""
    return ValidationError.from_exception_data(
        "PlatformConfig",
        [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)],
    )


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)
