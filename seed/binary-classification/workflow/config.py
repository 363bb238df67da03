"""model_config.json: the model's settings, written by the platform when it creates the repo."""

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "model_config.json"

# The metrics evaluate.py reports; tests/test_jobs.py checks the two lists agree.
MetricName = Literal["auc", "f1", "precision", "recall", "accuracy"]

# Naming rules of SageMaker and S3, checked here so a typo fails before any AWS call.
ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](-?[a-z0-9]){0,39}$")]
PackageGroupName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
PipelineName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
FeatureGroupName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}$")]
# SageMaker's tag rules (keys starting with "aws:" are AWS's own and refused by SageMaker itself).
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/=+\-@ ]+$", min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/=+\-@ ]*$", max_length=256)]


class ModelConfigError(ValueError):
    """model_config.json is missing, not JSON, or does not match the expected settings."""


class _Settings(BaseModel):
    # Unknown keys are errors: a misspelt key would otherwise be silently ignored.
    # protected_namespaces=() because pydantic reserves "model_" names by default.
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class MetricGate(_Settings):
    name: MetricName
    threshold: float = Field(gt=0.0, le=1.0)


class ModelConfig(_Settings):
    model_name: ModelName
    model_package_group_name: PackageGroupName
    pipeline_name: PipelineName
    metric: MetricGate
    processing_instance_type: InstanceType
    training_instance_type: InstanceType
    inference_instance_types: list[InstanceType] = Field(min_length=1)
    # The Feature Store feature group the model's features are ingested into and its training
    # sets are built from; None (or absent) when the model uses no feature group.
    feature_group_name: FeatureGroupName | None = None
    # Tags every job of the pipeline carries. The platform scopes the pipeline role to jobs tagged with
    # this model (so no model's role can stop or read another model's jobs): keep the ones it writes.
    resource_tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=10)


def load_model_config(path: Path = DEFAULT_CONFIG_PATH) -> ModelConfig:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ModelConfigError(f"{path}: file not found") from error
    except json.JSONDecodeError as error:
        raise ModelConfigError(f"{path}: not valid JSON ({error})") from error
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as error:
        raise ModelConfigError(f"{path} is invalid:\n{_describe(error)}") from error


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  - {location}: {problem['msg']}")
    return "\n".join(lines)
