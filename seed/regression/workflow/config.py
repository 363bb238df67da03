"""The model's settings: what the platform's build projects set in MODEL_SETTINGS, else model_config.json.

The platform writes model_config.json when it creates the repository (local runs read it), and gives
its build projects the model's settings in the MODEL_SETTINGS environment variable (JSON, the same
contract): a model created from a SageMaker Projects template is named only when the project is
created, so its repository's model_config.json holds the template's example settings.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "model_config.json"
# The environment variable in which the platform's build projects give the model's settings as JSON.
# The platform spells it too (mlops_constructs/seeds.py); its tests check the two agree.
MODEL_SETTINGS_VARIABLE = "MODEL_SETTINGS"
# The --config option of the command-line tools, whose default (None) is load_model_config's.
CONFIG_OPTION_HELP = (
    f"JSON file of the model's settings (default: ${MODEL_SETTINGS_VARIABLE} if set, else model_config.json)"
)

# The metrics evaluate.py reports, and whether a higher or a lower value is the better model;
# tests/test_jobs.py checks the two lists agree.
MetricName = Literal["rmse", "mae", "mse", "r2"]
Direction = Literal["higher_is_better", "lower_is_better"]
METRIC_DIRECTIONS: dict[str, Direction] = {
    "rmse": "lower_is_better",
    "mae": "lower_is_better",
    "mse": "lower_is_better",
    "r2": "higher_is_better",
}

# The package's customer metadata properties that record the inference contract, and what
# jobs/inference.py answers: the prediction attribute of a JSON answer, or its CSV column.
PROBLEM_TYPE_PROPERTY = "mlops:problem-type"
ACCEPT_PROPERTY = "mlops:accept"
CONTENT_TYPE_PROPERTY = "mlops:content-type"
PREDICTION_ATTRIBUTE_PROPERTY = "mlops:prediction-attribute"
PROBABILITY_ATTRIBUTE_PROPERTY = "mlops:probability-attribute"
SERVED_PREDICTION_ATTRIBUTES = {"application/json": "prediction", "text/csv": "0"}
# The properties the pipeline records itself on every package (workflow/pipeline.py).
LINEAGE_PROPERTIES = frozenset(
    {"model_name", "source_commit", "training_data_s3_uri", "pipeline_execution_arn"}
)

# Naming rules of SageMaker and S3, checked here so a typo fails before any AWS call.
ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](-?[a-z0-9]){0,39}$")]
PackageGroupName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
PipelineName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
# SageMaker's tag rules (keys starting with "aws:" are AWS's own and refused by SageMaker itself).
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/=+\-@ ]+$", min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/=+\-@ ]*$", max_length=256)]
# CreateModelPackage's rules for CustomerMetadataProperties.
PropertyKey = Annotated[str, StringConstraints(pattern=r"^[\w\s.:/=+\-@]+$", min_length=1, max_length=128)]
PropertyValue = Annotated[str, StringConstraints(pattern=r"^[\w\s.:/=+\-@]*$", max_length=256)]
# A key prefix in the artifact bucket: relative, ends with a slash.
S3KeyPrefix = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!_.*'()\-][A-Za-z0-9!_.*'()\-/]*/$")]


class ModelConfigError(ValueError):
    """The model's settings are missing, not JSON, or do not match the expected settings."""


class _Settings(BaseModel):
    # Unknown keys are errors: a misspelt key would otherwise be silently ignored.
    # protected_namespaces=() because pydantic reserves "model_" names by default.
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class MetricGate(_Settings):
    name: MetricName
    direction: Direction
    threshold: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _direction_and_threshold_fit_the_metric(self) -> "MetricGate":
        expected = METRIC_DIRECTIONS[self.name]
        if self.direction != expected:
            raise ValueError(f"{self.name} is {expected}, not {self.direction}")
        if expected == "lower_is_better" and self.threshold <= 0:
            raise ValueError(f"{self.name} is an error, never below 0: the threshold must be above 0")
        if self.name == "r2" and self.threshold > 1:
            raise ValueError("r2 is at most 1: the threshold must be at most 1")
        return self

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower_is_better"


class PackageMetadata(_Settings):
    """What every model package the build registers records, besides its metrics and lineage."""

    # CreateModelPackage's Task: this template registers regression models only.
    task: Literal["REGRESSION"]
    customer_metadata_properties: dict[PropertyKey, PropertyValue] = Field(
        default_factory=dict, max_length=40
    )
    # Where the build uploads sample_payloads.json in the artifact bucket (one folder per commit).
    sample_payloads_prefix: S3KeyPrefix

    @field_validator("customer_metadata_properties")
    @classmethod
    def _contract_is_what_inference_serves(cls, properties: dict[str, str]) -> dict[str, str]:
        problems = []
        reserved = sorted(LINEAGE_PROPERTIES & set(properties))
        if reserved:
            problems.append(f"the pipeline records {', '.join(reserved)} itself")
        problem_type = properties.get(PROBLEM_TYPE_PROPERTY)
        if problem_type not in (None, "regression"):
            problems.append(f"{PROBLEM_TYPE_PROPERTY} is {problem_type!r}, but this model is a regression")
        if PROBABILITY_ATTRIBUTE_PROPERTY in properties:
            problems.append(f"a regression model answers no probability ({PROBABILITY_ATTRIBUTE_PROPERTY})")
        for key in (ACCEPT_PROPERTY, CONTENT_TYPE_PROPERTY):
            if properties.get(key, "application/json") not in SERVED_PREDICTION_ATTRIBUTES:
                problems.append(f"{key} must be application/json or text/csv (what jobs/inference.py serves)")
        accept = properties.get(ACCEPT_PROPERTY, "application/json")
        served = SERVED_PREDICTION_ATTRIBUTES.get(accept)
        declared = properties.get(PREDICTION_ATTRIBUTE_PROPERTY)
        if served is not None and declared not in (None, served):
            problems.append(
                f"{PREDICTION_ATTRIBUTE_PROPERTY} is {declared!r}, but jobs/inference.py answers {accept}"
                f" with the prediction as {served!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return properties


class ModelConfig(_Settings):
    model_name: ModelName
    model_package_group_name: PackageGroupName
    pipeline_name: PipelineName
    problem_type: str
    metric: MetricGate
    processing_instance_type: InstanceType
    training_instance_type: InstanceType
    inference_instance_types: list[InstanceType] = Field(min_length=1)
    # This template reads its training data from S3 only: it has no Feature Store code.
    feature_group_name: None = None
    # Tags every job of the pipeline carries. The platform scopes the pipeline role to jobs tagged with
    # this model (so no model's role can stop or read another model's jobs): keep the ones it writes.
    resource_tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=10)
    package_metadata: PackageMetadata

    @field_validator("problem_type")
    @classmethod
    def _is_regression(cls, problem_type: str) -> str:
        if problem_type != "regression":
            raise ValueError(
                f"{problem_type!r} is not what this template builds: it trains regression models only;"
                " a classifier starts from the binary-classification seed template"
            )
        return problem_type

    @field_validator("feature_group_name", mode="before")
    @classmethod
    def _no_feature_group(cls, name: Any) -> None:
        if name is not None:
            raise ValueError(
                f"must be null: this template reads its training data from S3 only and cannot use the"
                f" feature group {name!r} (the binary-classification seed template can)"
            )
        return None


def load_model_config(path: Path | None = None, environ: Mapping[str, str] = os.environ) -> ModelConfig:
    """The settings in `path`; by default those in MODEL_SETTINGS when it is set (in the platform's
    build projects), else those in model_config.json."""
    if path is None and environ.get(MODEL_SETTINGS_VARIABLE):
        return _validate(environ[MODEL_SETTINGS_VARIABLE], f"${MODEL_SETTINGS_VARIABLE}")
    path = path or DEFAULT_CONFIG_PATH
    try:
        text = path.read_text()
    except FileNotFoundError as error:
        raise ModelConfigError(f"{path}: file not found") from error
    return _validate(text, str(path))


def settings_source(path: Path | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """Where `load_model_config(path, environ)` reads the settings from: a file, or $MODEL_SETTINGS."""
    if path is None and environ.get(MODEL_SETTINGS_VARIABLE):
        return f"${MODEL_SETTINGS_VARIABLE}"
    return str(path or DEFAULT_CONFIG_PATH)


def _validate(text: str, source: str) -> ModelConfig:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelConfigError(f"{source}: not valid JSON ({error})") from error
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as error:
        raise ModelConfigError(f"{source} is invalid:\n{_describe(error)}") from error


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  - {location}: {problem['msg']}")
    return "\n".join(lines)
