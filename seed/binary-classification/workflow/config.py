"""The model's settings: what the platform's build projects set in MODEL_SETTINGS, else model_config.json.

The platform writes model_config.json when it creates the repository (local runs read it), and gives
its build projects the model's settings in the MODEL_SETTINGS environment variable (JSON, the same
contract): a model created from a SageMaker Projects template is named only when the project is
created, so its repository's model_config.json holds the template's example settings.
"""

import importlib.util
import json
import os
from collections import Counter
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_PATH = REPOSITORY_ROOT / "model_config.json"
JOBS_DIR = REPOSITORY_ROOT / "jobs"
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


# Clarify's settings: a facet value is a category (a string) or a number, as the feature column holds
# it; a label value is one of the target's classes (jobs/features.py, TARGET_CLASSES).
FacetValue = StrictStr | StrictInt | StrictFloat
LabelValue = StrictStr | StrictInt
# What the platform's approval gate does with a package whose post-training bias is outside its
# bounds: reject it (block), or record the violations and deploy it (report).
BiasPolicy = Literal["block", "report"]
RiskRating = Literal["low", "medium", "high", "unknown"]
CardText = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


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


def load_job_module(name: str, jobs_dir: Path = JOBS_DIR) -> ModuleType:
    """The script `name`.py of jobs/, read by path.

    The scripts run inside SageMaker as top-level modules, not as a package of this repository; and
    this module imports nothing else of the repository, because the platform's tests load it alone.
    """
    path = jobs_dir / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"model_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _model_features() -> Any:
    """jobs/features.py: the model's feature columns and the classes of each target."""
    return load_job_module("features")


class Facet(_Settings):
    """A sensitive group: the rows whose feature `name` has one of `values` (for a numeric feature
    that Clarify finds continuous, the one threshold above which a row belongs to the group)."""

    name: str
    values: list[FacetValue] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _is_a_feature(cls, name: str) -> str:
        features = _model_features().FEATURES
        if name not in features:
            raise ValueError(
                f"{name!r} is not a feature of the model (jobs/features.py: {', '.join(features)})"
            )
        return name

    @model_validator(mode="after")
    def _values_have_the_features_type(self) -> "Facet":
        categorical = self.name in _model_features().CATEGORICAL_FEATURES
        wrong = [value for value in self.values if isinstance(value, str) != categorical]
        if wrong:
            expected = "categories (strings)" if categorical else "numbers"
            raise ValueError(f"the values of {self.name!r} are {expected}, not {wrong!r}")
        return self


class ClarifySettings(_Settings):
    """Clarify's bias checks: each facet against the positive labels, before and after training."""

    facets: list[Facet] = Field(min_length=1)
    # The outcomes counted as positive: some of the target's classes, never all of them.
    label_values: list[LabelValue] = Field(min_length=1)
    bias_policy: BiasPolicy

    @field_validator("facets")
    @classmethod
    def _one_entry_per_facet(cls, facets: list[Facet]) -> list[Facet]:
        repeated = sorted(name for name, count in Counter(f.name for f in facets).items() if count > 1)
        if repeated:
            raise ValueError(f"facet {', '.join(repeated)} is listed more than once")
        return facets


class CardSettings(_Settings):
    """What every package's model card states besides what the build measures."""

    description: CardText
    intended_uses: CardText
    limitations: CardText
    risk_rating: RiskRating
    owner: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


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
    # Clarify's bias checks; None (or absent: the settings CloudFormation renders for a SageMaker Project
    # drop null values) means the build explains the model (SHAP) but does not assess its bias.
    clarify: ClarifySettings | None = None
    card: CardSettings

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

    @field_validator("clarify")
    @classmethod
    def _label_values_are_classes(
        cls, clarify: ClarifySettings | None, info: ValidationInfo
    ) -> ClarifySettings | None:
        problem_type = info.data.get("problem_type")
        if clarify is None or problem_type is None:  # nothing to check, or already reported
            return clarify
        classes = _model_features().TARGET_CLASSES[problem_type]
        unknown = [value for value in clarify.label_values if value not in classes]
        if unknown:
            raise ValueError(
                f"label_values {unknown!r} are not classes of a {problem_type} model"
                f" (one or more of {', '.join(map(repr, classes))})"
            )
        if set(clarify.label_values) >= set(classes):
            raise ValueError("label_values name every class: leave out at least one, the negative outcome")
        return clarify


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
