"""The platform configuration as typed, validated data.

Every model is strict (a YAML ``123`` is not a string) and forbids unknown keys, so a typo fails at
synth time instead of being silently ignored. Name rules mirror what the AWS APIs would reject at
deploy time, so a bad name fails in seconds, not in the middle of a CloudFormation rollout.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

# Every region the platform can be deployed to (commercial, GovCloud, China). A typo such as
# "eu-west1" must fail here rather than as an opaque bootstrap error.
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

# Lower-case so one name serves CodeCommit, S3 prefixes, SageMaker and stack names; 32 characters
# leave room for suffixes such as "-production" within SageMaker's 63-character endpoint names.
ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](-?[a-z0-9])*$", min_length=2, max_length=32)]
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

    def registry_reader_accounts(self) -> list[str]:
        """The other accounts that read model packages (the platform's own account needs no grant)."""
        accounts = (self.deployment_accounts.staging, self.deployment_accounts.production)
        return sorted({account for account in accounts if account and account != self.account})

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region not in KNOWN_REGIONS:
            raise ValueError(f"'{region}' is not an AWS region (e.g. eu-west-1)")
        return region


class AlertsConfig(StrictModel):
    emails: list[EmailAddress] = Field(default_factory=list)


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
    log_days: int = 365
    access_log_days: int = Field(default=365, ge=1)
    audit_log_glacier_after_days: int = Field(default=90, ge=1)
    noncurrent_version_days: int = Field(default=90, ge=1)
    audit_event_days: int = Field(default=730, ge=1)

    @field_validator("log_days")
    @classmethod
    def _cloudwatch_retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"{days} is not a CloudWatch Logs retention; use one of {sorted(LOG_RETENTION_DAYS)}")
        return days


class MetricConfig(StrictModel):
    """The evaluation metric a model must reach to be registered and deployed."""

    name: Literal["auc", "f1", "accuracy", "precision", "recall"]
    threshold: float = Field(ge=0, le=1)


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


class ModelConfig(StrictModel):
    name: ModelName
    description: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    metric: MetricConfig
    instance_types: InstanceTypesConfig = InstanceTypesConfig()
    variants: VariantWeightsConfig
    feature_group: FeatureGroupName | None = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=40)


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

    @model_validator(mode="after")
    def _models_use_declared_feature_groups(self) -> PlatformConfig:
        declared = {group.name for group in self.feature_groups}
        for index, model in enumerate(self.models):
            if model.feature_group is not None and model.feature_group not in declared:
                raise ValueError(
                    f"models[{index}].feature_group '{model.feature_group}' is not declared in feature_groups"
                )
        return self

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


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)
