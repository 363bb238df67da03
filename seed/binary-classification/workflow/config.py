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
    ValidationInfo,
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

# The problem types this template builds; "regression" has a seed template of its own.
ProblemType = Literal["binary_classification", "multiclass_classification"]
# The metrics evaluate.py reports for each problem type; tests/test_jobs.py checks they agree.
MetricName = Literal["auc", "f1", "accuracy", "precision", "recall", "weighted_f1"]
METRICS_BY_PROBLEM_TYPE: dict[str, tuple[MetricName, ...]] = {
    "binary_classification": ("auc", "f1", "accuracy", "precision", "recall"),
    "multiclass_classification": ("accuracy", "weighted_f1"),
}
MetricDirection = Literal["higher_is_better", "lower_is_better"]
# What jobs/inference.py reads and answers, and the names of the fields of its answer
# (tests/test_jobs.py checks them against the serving code).
MediaType = Literal["application/json", "text/csv"]
PredictionAttribute = Literal["label", "0"]
ProbabilityAttribute = Literal["probability", "1"]
# JSON answers name the fields; CSV answers (`label,probability` lines) number the columns.
ANSWER_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "application/json": ("label", "probability"),
    "text/csv": ("0", "1"),
}

# Naming rules of SageMaker and S3, checked here so a typo fails before any AWS call.
ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](-?[a-z0-9]){0,39}$")]
PackageGroupName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
PipelineName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
FeatureGroupName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}$")]
# SageMaker's tag rules (keys starting with "aws:" are AWS's own and refused by SageMaker itself).
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/=+\-@ ]+$", min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/=+\-@ ]*$", max_length=256)]
# An S3 key prefix ("folder/sub/"): safe characters, no empty segment, ending with a slash.
KeyPrefix = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$", max_length=512)
]


class ModelConfigError(ValueError):
    """The model's settings are missing, not JSON, or do not match the expected settings."""


class _Settings(BaseModel):
    # Unknown keys are errors: a misspelt key would otherwise be silently ignored.
    # protected_namespaces=() because pydantic reserves "model_" names by default.
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class MetricGate(_Settings):
    name: MetricName
    threshold: float = Field(gt=0.0, le=1.0)
    direction: MetricDirection

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_is_better"


class InferenceContract(_Settings):
    """The customer metadata properties that tell the platform how to call the model."""

    problem_type: ProblemType = Field(alias="mlops:problem-type")
    content_type: MediaType = Field(alias="mlops:content-type")
    accept: MediaType = Field(alias="mlops:accept")
    prediction_attribute: PredictionAttribute = Field(alias="mlops:prediction-attribute")
    probability_attribute: ProbabilityAttribute = Field(alias="mlops:probability-attribute")

    def as_properties(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)

    @model_validator(mode="after")
    def _attributes_of_the_answer_format(self) -> "InferenceContract":
        expected = ANSWER_ATTRIBUTES[self.accept]
        if (self.prediction_attribute, self.probability_attribute) != expected:
            raise ValueError(
                f"answers in {self.accept} carry the label and the probability as {expected[0]!r} and"
                f" {expected[1]!r} (jobs/inference.py), not {self.prediction_attribute!r} and"
                f" {self.probability_attribute!r}"
            )
        return self


class PackageMetadata(_Settings):
    """What the model package carries besides the model: its task, contract and sample payloads."""

    task: Literal["CLASSIFICATION"]
    customer_metadata_properties: InferenceContract
    # Under the artifact bucket; the build uploads <prefix><commit>/sample_payloads.tar.gz.
    sample_payloads_prefix: KeyPrefix


class ModelConfig(_Settings):
    model_name: ModelName
    model_package_group_name: PackageGroupName
    pipeline_name: PipelineName
    # Declared before the settings whose validity depends on it (validators see earlier fields only).
    problem_type: ProblemType
    metric: MetricGate
    package_metadata: PackageMetadata
    processing_instance_type: InstanceType
    training_instance_type: InstanceType
    inference_instance_types: list[InstanceType] = Field(min_length=1)
    # The Feature Store feature group the model's features are ingested into and its training
    # sets are built from; None (or absent) when the model uses no feature group.
    feature_group_name: FeatureGroupName | None = None
    # Tags every job of the pipeline carries. The platform scopes the pipeline role to jobs tagged with
    # this model (so no model's role can stop or read another model's jobs): keep the ones it writes.
    resource_tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=10)

    @field_validator("problem_type", mode="before")
    @classmethod
    def _refuse_regression(cls, value: Any) -> Any:
        if value == "regression":
            raise ValueError(
                "regression is not built by this repository (seeded from the classification template);"
                " create the model from the regression seed template instead"
            )
        return value

    @field_validator("metric")
    @classmethod
    def _metric_fits_the_problem_type(cls, metric: MetricGate, info: ValidationInfo) -> MetricGate:
        problem_type = info.data.get("problem_type")
        if problem_type is None:  # already reported
            return metric
        allowed = METRICS_BY_PROBLEM_TYPE[problem_type]
        if metric.name not in allowed:
            raise ValueError(
                f"metric.name {metric.name!r} is not reported for {problem_type}"
                f" (use one of {', '.join(allowed)})"
            )
        return metric

    @field_validator("package_metadata")
    @classmethod
    def _contract_names_the_problem_type(
        cls, metadata: PackageMetadata, info: ValidationInfo
    ) -> PackageMetadata:
        problem_type = info.data.get("problem_type")
        declared = metadata.customer_metadata_properties.problem_type
        if problem_type is not None and declared != problem_type:
            raise ValueError(
                f"customer_metadata_properties.mlops:problem-type is {declared!r}"
                f" but problem_type is {problem_type!r}"
            )
        return metadata


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
