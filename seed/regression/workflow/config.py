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
# The media type of requests and answers when the contract names none.
DEFAULT_MEDIA_TYPE = "application/json"
# The properties the pipeline records itself on every package (workflow/registration.py).
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


# Clarify's settings: a facet value is a category (a string) or a number, as the feature column holds it.
FacetValue = StrictStr | StrictInt | StrictFloat
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

    @property
    def content_type(self) -> str:
        """The media type the platform sends the model's requests in."""
        return self.customer_metadata_properties.get(CONTENT_TYPE_PROPERTY, DEFAULT_MEDIA_TYPE)

    @property
    def accept(self) -> str:
        """The media type the platform reads the model's answers in."""
        return self.customer_metadata_properties.get(ACCEPT_PROPERTY, DEFAULT_MEDIA_TYPE)

    @property
    def prediction_attribute(self) -> str:
        """Where an answer in `accept` carries the forecast (what jobs/inference.py answers)."""
        return SERVED_PREDICTION_ATTRIBUTES[self.accept]

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
            if properties.get(key, DEFAULT_MEDIA_TYPE) not in SERVED_PREDICTION_ATTRIBUTES:
                problems.append(f"{key} must be application/json or text/csv (what jobs/inference.py serves)")
        accept = properties.get(ACCEPT_PROPERTY, DEFAULT_MEDIA_TYPE)
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
    """jobs/features.py: the model's feature columns (tests/test_jobs.py checks they are those of
    workflow/schema.py)."""
    return load_job_module("features")


class Facet(_Settings):
    """A group Clarify compares with every other row: the rows whose feature `name` has one of `values`.

    Clarify reads a string column, and an integer column with few distinct values (holiday,
    promotion, even store_size_sqm), as categories: the group is the rows with one of `values`. It
    reads a decimal column (price, units_last_week) as continuous: `values` is then one threshold, and
    the group the rows above it.
    """

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
    """Clarify's bias checks: each facet against the positive outcomes, before and after training.

    A regression model's outcome is positive above one threshold, `label_values` (units sold in a
    week): for the actual sales as for the forecast.
    """

    facets: list[Facet] = Field(min_length=1)
    label_values: list[StrictInt | StrictFloat] = Field(min_length=1, max_length=1)
    bias_policy: BiasPolicy

    @field_validator("facets")
    @classmethod
    def _one_entry_per_facet(cls, facets: list[Facet]) -> list[Facet]:
        repeated = sorted(name for name, count in Counter(f.name for f in facets).items() if count > 1)
        if repeated:
            raise ValueError(f"facet {', '.join(repeated)} is listed more than once")
        return facets

    @field_validator("label_values")
    @classmethod
    def _threshold_is_a_quantity(cls, values: list[float]) -> list[float]:
        if not 0 <= values[0] < float("inf"):
            raise ValueError("the threshold of a positive outcome is a number of units, at least 0")
        return values

    @property
    def threshold(self) -> float:
        """The units above which a forecast (or the actual sales) counts as a positive outcome."""
        return float(self.label_values[0])


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
    # Clarify's bias checks; None (or absent: the settings CloudFormation renders for a SageMaker Project
    # drop null values) means the build explains the model (SHAP) but does not assess its bias.
    clarify: ClarifySettings | None = None
    card: CardSettings
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
