"""The values that tie the platform's parts together, each defined once (DESIGN.md convention 3).

Constructs, handlers, the scripts the pipelines run, the tools and the tests import these; a literal
copied between two of them is a defect. Dependency-free (standard library only): it ships in every
Lambda asset and in the deploy pipeline's bundle, where nothing else of the platform is installed.

Naming: a model's stage resources are called `<platform>-<model>-<stage>` (serving stack, endpoint,
dashboard) and the names of everything else that belongs to a stage start with that name and a
hyphen (alarms, monitoring schedules). Model names are lower-case letters, digits and single
hyphens, and may not contain a stage word as a hyphen-separated segment: so no model's names can
fall under another model's `<platform>-<model>-<stage>-*` (e.g. `demand`'s never match `demand-v2`'s,
and a model `demand-production` cannot exist to match `demand`'s production prefix).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

# --- models and stages ----------------------------------------------------------------------------

Stage = Literal["staging", "production"]
STAGES: Final[tuple[Stage, ...]] = ("staging", "production")
# Lower-case letters, digits, single hyphens (a model name is part of stack, endpoint and bucket names).
MODEL_NAME_PATTERN: Final = r"[a-z0-9](?:-?[a-z0-9])*"
MODEL_NAME = re.compile(f"^{MODEL_NAME_PATTERN}$")


def reserved_segment(model_name: str) -> str | None:
    """The stage word `model_name` contains as a segment (which would break the naming scheme), if any."""
    return next((segment for segment in model_name.split("-") if segment in STAGES), None)


def serving_name(platform_name: str, model_name: str, stage: Stage) -> str:
    """The serving stack, the endpoint and the dashboard of one stage of a model."""
    return f"{platform_name}-{model_name}-{stage}"


def model_package_group_name(model_name: str) -> str:
    """A model's Model Registry group: named after the model (the approval gate, the deploy pipeline's
    package reads, the rollback tool and the build's registration all find it by this name)."""
    return model_name


# The path segment under which models register themselves, and the one under which the governance
# stack publishes the platform's shared resources (a model may be called neither).
MODELS_NAMESPACE: Final = "models"
PLATFORM_NAMESPACE: Final = "platform"
# What the governance stack publishes there, for what is deployed without this app's cross-stack
# references (a SageMaker Projects product, another account's stacks): key -> what it holds.
PLATFORM_PARAMETERS: Final = {
    "key-arn": "ARN of the platform KMS key",
    "access-log-bucket": "name of the S3 access-log bucket",
    "artifact-bucket": "name of the artifact bucket",
    "alert-topic-arn": "ARN of the alert topic",
    "approval-topic-arn": "ARN of the approvals topic",
    "audit-bus-name": "name of the audit event bus",
    "permissions-boundary-arn": "ARN of the permissions boundary every platform role carries",
    "data-scientist-role-arn": "ARN of the data-scientist persona role",
    "model-approver-role-arn": "ARN of the model-approver persona role",
    # Role names too: a template cannot cut a name out of an ARN it reads from SSM (Fn::Split does not
    # take dynamic references), and policies are attached to roles by name.
    "data-scientist-role-name": "name of the data-scientist persona role",
    "model-approver-role-name": "name of the model-approver persona role",
    "log-retention-days": "CloudWatch Logs retention, in days",
    # Published by the approval stack; every other value by the governance stack ...
    "approval-gate-role-name": "name of the approval gate's role (a project's template grants it its model)",
    # ... but this one, by the experiments stack (only when `experiments:` is configured).
    "mlflow-artifact-bucket": "name of the MLflow tracking server's artifact bucket",
}


def platform_parameter_name(platform_name: str, key: str) -> str:
    """The SSM parameter holding one of the platform's shared values (a key of PLATFORM_PARAMETERS)."""
    if key not in PLATFORM_PARAMETERS:
        raise ValueError(f"{key!r} is not a published platform value; one of {', '.join(PLATFORM_PARAMETERS)}")
    return f"/{platform_name}/{PLATFORM_NAMESPACE}/{key}"


def model_registry_prefix(platform_name: str) -> str:
    """Where models register themselves with the platform (SSM Parameter Store): one parameter per
    model package group under this path, written by the stack that deploys the model."""
    return f"/{platform_name}/{MODELS_NAMESPACE}/"


def model_registration_parameter(platform_name: str, group_name: str) -> str:
    """The SSM parameter that registers one model package group: what the approval gate needs of its
    model, as JSON (see mlops_constructs/registration.py)."""
    return f"{model_registry_prefix(platform_name)}{group_name}"


# --- what a model is: its problem type, its metric's direction, its inference contract ---------------

ProblemType = Literal["binary_classification", "multiclass_classification", "regression"]
PROBLEM_TYPES: Final[tuple[ProblemType, ...]] = get_args(ProblemType)
Direction = Literal["higher_is_better", "lower_is_better"]
HIGHER_IS_BETTER: Final[Direction] = "higher_is_better"
LOWER_IS_BETTER: Final[Direction] = "lower_is_better"
# The evaluation metrics each problem type may gate on, named as SageMaker's model-quality reports
# (the build's evaluation report, Model Monitor's statistics and CloudWatch metrics) name them.
METRIC_DIRECTIONS: Final[Mapping[ProblemType, Mapping[str, Direction]]] = {
    "binary_classification": {
        "auc": HIGHER_IS_BETTER,
        "f1": HIGHER_IS_BETTER,
        "accuracy": HIGHER_IS_BETTER,
        "precision": HIGHER_IS_BETTER,
        "recall": HIGHER_IS_BETTER,
    },
    "multiclass_classification": {"accuracy": HIGHER_IS_BETTER, "weighted_f1": HIGHER_IS_BETTER},
    "regression": {"rmse": LOWER_IS_BETTER, "mae": LOWER_IS_BETTER, "mse": LOWER_IS_BETTER, "r2": HIGHER_IS_BETTER},
}
# Model Monitor's model-quality problem types, and CreateModelPackage's Task, per problem type.
MONITOR_PROBLEM_TYPES: Final[Mapping[ProblemType, str]] = {
    "binary_classification": "BinaryClassification",
    "multiclass_classification": "MulticlassClassification",
    "regression": "Regression",
}
PACKAGE_TASKS: Final[Mapping[ProblemType, str]] = {
    "binary_classification": "CLASSIFICATION",
    "multiclass_classification": "CLASSIFICATION",
    "regression": "REGRESSION",
}


def metric_direction(problem_type: str, metric: str) -> Direction:
    """Whether a higher or a lower `metric` is better; ValueError for a metric the problem type has not."""
    directions = METRIC_DIRECTIONS.get(problem_type)  # type: ignore[call-overload]
    if directions is None:
        raise ValueError(f"unknown problem type {problem_type!r}; one of {', '.join(PROBLEM_TYPES)}")
    if metric not in directions:
        raise ValueError(f"{metric!r} is not a {problem_type} metric; one of {', '.join(directions)}")
    direction: Direction = directions[metric]
    return direction


def meets_threshold(value: float, threshold: float, direction: Direction) -> bool:
    """Whether `value` is at least as good as `threshold` (the threshold itself passes)."""
    return value >= threshold if direction == HIGHER_IS_BETTER else value <= threshold


def threshold_words(direction: Direction) -> tuple[str, str]:
    """How a value that passes and one that fails compare with the threshold, in words."""
    return (">=", "below") if direction == HIGHER_IS_BETTER else ("<=", "above")


def metrics_section(problem_type: str) -> str:
    """The section of a SageMaker model-quality report holding a problem type's metrics."""
    return f"{problem_type}_metrics"


# The inference contract: how a model is called and how its answers read. JSON requests are
# {"instances": [{<feature>: value, ...}, ...]} and JSON answers {"predictions": [{...}, ...]}, one
# prediction per instance, each with the prediction attribute (and, for a classifier, the probability
# attribute) as keys. CSV requests are rows of feature values; CSV answers one line per row, the
# attributes being 0-based column numbers.
ContentType = Literal["application/json", "text/csv"]
JSON_CONTENT_TYPE: Final[ContentType] = "application/json"
CSV_CONTENT_TYPE: Final[ContentType] = "text/csv"
CONTENT_TYPES: Final[tuple[ContentType, ...]] = get_args(ContentType)
INSTANCES_KEY: Final = "instances"
PREDICTIONS_KEY: Final = "predictions"
# A package's CustomerMetadataProperties carry the contract it was built with, under these keys.
# The build uploads the seed's sample requests as <prefix>/<commit>/<SAMPLE_PAYLOADS_ARCHIVE> in the
# model's data bucket and registers that URL as the package's SamplePayloadUrl; the archive holds
# SAMPLE_PAYLOADS_FILE, one {"instances": [...]} document, which the smoke test and the batch check send.
SAMPLE_PAYLOADS_PREFIX: Final = "{model}/sample-payloads/"
SAMPLE_PAYLOADS_ARCHIVE: Final = "sample_payloads.tar.gz"
SAMPLE_PAYLOADS_FILE: Final = "sample_payloads.json"
CONTRACT_PROPERTIES: Final = {
    "problem_type": "mlops:problem-type",
    "content_type": "mlops:content-type",
    "accept": "mlops:accept",
    "prediction_attribute": "mlops:prediction-attribute",
    "probability_attribute": "mlops:probability-attribute",
}


@dataclass(frozen=True)
class InferenceContract:
    """How one model is called and how its answers read (config, and the packages its build registers)."""

    problem_type: ProblemType
    content_type: str
    accept: str
    prediction_attribute: str
    probability_attribute: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.problem_type not in PROBLEM_TYPES:
            problems.append(f"problem type {self.problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")
        for field, value in (("content type", self.content_type), ("accept", self.accept)):
            if value not in CONTENT_TYPES:
                problems.append(f"{field} {value!r} is not one of {', '.join(CONTENT_TYPES)}")
        attributes = [("prediction", self.prediction_attribute), ("probability", self.probability_attribute)]
        for name, attribute in attributes:
            if attribute is None:
                continue
            if not attribute:
                problems.append(f"the {name} attribute is empty")
            elif self.accept == CSV_CONTENT_TYPE and not attribute.isdigit():
                problems.append(f"the {name} attribute of CSV answers must be a column number, not {attribute!r}")
        if self.probability_attribute is not None and self.problem_type == "regression":
            problems.append("a regression model answers no probability")
        if problems:
            raise ValueError("invalid inference contract: " + "; ".join(problems))

    @property
    def is_classification(self) -> bool:
        return self.problem_type != "regression"

    @property
    def names_features(self) -> bool:
        """Whether requests name their features (JSON), as the builds' data-quality baselines do."""
        return self.content_type == JSON_CONTENT_TYPE

    def monitor_attribute(self, attribute: str) -> str:
        """Where Model Monitor finds `attribute` in a captured answer to a request (its first instance)."""
        return f"{PREDICTIONS_KEY}[0].{attribute}" if self.accept == JSON_CONTENT_TYPE else attribute

    def to_properties(self) -> dict[str, str]:
        """The package's CustomerMetadataProperties that record the contract."""
        values = {
            "problem_type": self.problem_type,
            "content_type": self.content_type,
            "accept": self.accept,
            "prediction_attribute": self.prediction_attribute,
            "probability_attribute": self.probability_attribute,
        }
        return {CONTRACT_PROPERTIES[field]: value for field, value in values.items() if value is not None}

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> InferenceContract | None:
        """The contract a package records, None when it records none; ValueError when it is invalid."""
        values = {field: properties.get(key) for field, key in CONTRACT_PROPERTIES.items()}
        if not any(values.values()):
            return None
        missing = [
            CONTRACT_PROPERTIES[f] for f in CONTRACT_PROPERTIES if f != "probability_attribute" and not values[f]
        ]
        if missing:
            raise ValueError(f"incomplete inference contract: no {', '.join(missing)}")
        return cls(**values)  # type: ignore[arg-type]


# --- model packages -------------------------------------------------------------------------------

# SageMaker's rule for the names of endpoints, model package groups and most of its resources.
SAGEMAKER_NAME_PATTERN: Final = r"[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}"
# A versioned package (the only kind that belongs to a group): model-package/<group>/<version>. The group
# part is SageMaker's own name rule, so a package of any group (not only a platform model's) is an ARN.
PACKAGE_ARN_PATTERN: Final = (
    rf"arn:aws(?:-cn|-us-gov)?:sagemaker:[a-z0-9-]+:\d{{12}}:model-package/{SAGEMAKER_NAME_PATTERN}/[1-9]\d*"
)
PACKAGE_ARN = re.compile(f"^{PACKAGE_ARN_PATTERN}$")
APPROVED: Final = "Approved"


def package_group(package_arn: str) -> str | None:
    """The group of a versioned package ARN, or None when `package_arn` is not one."""
    if not PACKAGE_ARN.fullmatch(package_arn):
        return None
    return package_arn.rsplit("/", 2)[1]


# --- experiments: the managed MLflow tracking server ------------------------------------------------

# The variable the platform sets on a model's Train build to the tracking server's ARN (only when
# `experiments:` is configured); MLflow reads it itself, and the `sagemaker-mlflow` plugin takes an ARN.
MLFLOW_TRACKING_URI_VARIABLE: Final = "MLFLOW_TRACKING_URI"
# The package's CustomerMetadataProperties that link it to its MLflow run (written only when tracking is on).
MLFLOW_RUN_ID_PROPERTY: Final = "mlflow_run_id"
MLFLOW_TRACKING_SERVER_ARN_PROPERTY: Final = "mlflow_tracking_server_arn"


def mlflow_tracking_server_name(platform_name: str) -> str:
    """The platform's MLflow tracking server (one per platform, account and region)."""
    return f"{platform_name}-mlflow"


def mlflow_tracking_server_arn(platform_name: str, *, partition: str, region: str, account: str) -> str:
    """The tracking server's ARN, computable where the server is not in reach (a project's template)."""
    name = mlflow_tracking_server_name(platform_name)
    return f"arn:{partition}:sagemaker:{region}:{account}:mlflow-tracking-server/{name}"


def mlflow_registration_suffix(tracking_server_name: str) -> str:
    """What automatic model registration appends to an MLflow registered model's name for its SageMaker
    group (`<registered model>-<suffix>`): the first six hex digits of SHA-256 of the server's name."""
    return hashlib.sha256(tracking_server_name.encode()).hexdigest()[:6]


# --- the deploy pipeline and the serving templates it deploys --------------------------------------

# The deploy pipeline's variable the approval gate sets to the approved package's ARN.
DEPLOY_PIPELINE_VARIABLE: Final = "ModelPackageArn"
# The serving templates' parameters set per deployment (the deploy pipeline, the rollback tool) ...
CHAMPION_PARAMETER: Final = "ChampionModelPackageArn"
CHALLENGER_PARAMETER: Final = "ChallengerModelPackageArn"  # production only; "" means no challenger
NO_CHALLENGER: Final = ""
BASELINE_STATISTICS_PARAMETER: Final = "BaselineStatisticsS3Uri"
BASELINE_CONSTRAINTS_PARAMETER: Final = "BaselineConstraintsS3Uri"
# The champion's Clarify baselines: the analysis config each Clarify monitor runs (its ConfigUri) and the
# constraints it judges a run against (production only; bias only where ground truth is configured).
# The explainability monitor's config is not the package's own but one written for the deployment from
# it, naming the model Clarify explains (`clarify_config_uri`; lambdas/common/serving_state.py).
BIAS_ANALYSIS_CONFIG_PARAMETER: Final = "BiasAnalysisConfigS3Uri"
BIAS_CONSTRAINTS_PARAMETER: Final = "BiasConstraintsS3Uri"
EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER: Final = "ExplainabilityAnalysisConfigS3Uri"
EXPLAINABILITY_CONSTRAINTS_PARAMETER: Final = "ExplainabilityConstraintsS3Uri"
# The names the champion's analysis configs give its features, by which Clarify's monitors find them in a
# captured JSON request (`clarify_feature_names`; production templates of models whose requests are JSON).
CLARIFY_FEATURES_PARAMETER: Final = "ClarifyFeatureNames"
# ... where a package carries each baseline: DriftCheckBaselines.<section>.<kind>.S3Uri ("" when it has
# none, as a package registered before its build ran that check: the template then creates no monitor) ...
BASELINE_PARAMETERS: Final[Mapping[str, tuple[str, str]]] = {
    BASELINE_STATISTICS_PARAMETER: ("ModelDataQuality", "Statistics"),
    BASELINE_CONSTRAINTS_PARAMETER: ("ModelDataQuality", "Constraints"),
    BIAS_ANALYSIS_CONFIG_PARAMETER: ("Bias", "ConfigFile"),
    BIAS_CONSTRAINTS_PARAMETER: ("Bias", "PostTrainingConstraints"),
    EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER: ("Explainability", "ConfigFile"),
    EXPLAINABILITY_CONSTRAINTS_PARAMETER: ("Explainability", "Constraints"),
}
# ... and the parameters the deploy stack sets once: the model's name and the settings a SageMaker
# Projects product takes as its own parameters (so that one template serves any model, and a Project's
# model, whose name, threshold and inference instance type are known at deploy time only, too), and
# the platform resources it owns. A template declares the settings only where it uses them: the
# threshold (a Number) in production's model-quality alarm, the inference instance type where no
# instance type of the stage's (or the batch transform's) own applies.
MODEL_NAME_PARAMETER: Final = "ModelName"
METRIC_THRESHOLD_PARAMETER: Final = "MetricThreshold"
INFERENCE_INSTANCE_TYPE_PARAMETER: Final = "InferenceInstanceType"
EXECUTION_ROLE_PARAMETER: Final = "ExecutionRoleArn"
KMS_KEY_PARAMETER: Final = "KmsKeyArn"
DATA_CAPTURE_PARAMETER: Final = "DataCaptureS3Uri"
ALERT_TOPIC_PARAMETER: Final = "AlertTopicArn"
MONITORING_ROLE_PARAMETER: Final = "MonitoringRoleArn"
MONITORING_OUTPUT_PARAMETER: Final = "MonitoringOutputS3Uri"
RECORD_PREPROCESSOR_PARAMETER: Final = "RecordPreprocessorS3Uri"
ENDPOINT_OUTPUT: Final = "EndpointName"
# What the deploy pipeline's champion resolution (tools/resolve_champion.py) exports to the pipeline,
# and the production template's parameter each one sets.
CHAMPION_VARIABLES: Final = {
    "CHAMPION_ARN": CHAMPION_PARAMETER,
    "CHALLENGER_ARN": CHALLENGER_PARAMETER,
    "BASELINE_STATISTICS": BASELINE_STATISTICS_PARAMETER,
    "BASELINE_CONSTRAINTS": BASELINE_CONSTRAINTS_PARAMETER,
    "BIAS_ANALYSIS_CONFIG": BIAS_ANALYSIS_CONFIG_PARAMETER,
    "BIAS_CONSTRAINTS": BIAS_CONSTRAINTS_PARAMETER,
    "EXPLAINABILITY_ANALYSIS_CONFIG": EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER,
    "EXPLAINABILITY_CONSTRAINTS": EXPLAINABILITY_CONSTRAINTS_PARAMETER,
    "CLARIFY_FEATURES": CLARIFY_FEATURES_PARAMETER,
}
# What the deploy pipeline sets in the champion resolution's environment besides the new package: where
# production's monitors write (the explainability monitor's config for the deployment goes there, see
# `clarify_config_uri`) and the platform key that encrypts it.
MONITORING_OUTPUT_VARIABLE: Final = "MONITORING_OUTPUT_S3_URI"
MONITORING_KEY_VARIABLE: Final = "MONITORING_KMS_KEY_ARN"
# The endpoint's variants.
CHAMPION_VARIANT: Final = "champion"
CHALLENGER_VARIANT: Final = "challenger"
VARIANTS: Final = (CHAMPION_VARIANT, CHALLENGER_VARIANT)

# --- batch serving -------------------------------------------------------------------------------

ServingMode = Literal["realtime", "batch"]
SERVING_MODES: Final[tuple[ServingMode, ...]] = get_args(ServingMode)
# Where a batch model reads its input and writes its results by default, in the model's data bucket,
# and where the deploy pipeline's staging check runs the new package on a sample.
BATCH_INPUT_PREFIX: Final = "batch/input/"
BATCH_OUTPUT_PREFIX: Final = "batch/output/"
BATCH_STAGING_PREFIX: Final = "batch/staging/"
# The batch templates' own parameters (set once by the deploy stack; the data bucket's name is read
# from the build stack's SSM parameter at deploy time) and output ...
TRANSFORM_ROLE_PARAMETER: Final = "TransformPipelineRoleArn"
SCHEDULER_ROLE_PARAMETER: Final = "SchedulerRoleArn"
DEAD_LETTER_QUEUE_PARAMETER: Final = "DeadLetterQueueArn"
DATA_BUCKET_PARAMETER: Final = "ModelDataBucket"
TRANSFORM_PIPELINE_OUTPUT: Final = "TransformPipelineName"
# ... and the parameters of the SageMaker Pipeline that runs one transform (the schedule passes none:
# the defaults are the configured locations; the staging check passes a sample's).
TRANSFORM_INPUT_PARAMETER: Final = "InputS3Uri"
TRANSFORM_OUTPUT_PARAMETER: Final = "OutputS3Uri"


def data_bucket_parameter_name(platform_name: str, model_name: str) -> str:
    """The SSM parameter in which a model's build stack publishes its data bucket's name (the batch
    templates read it at deploy time, so the deploy stack needs nothing from the build stack)."""
    return f"/{platform_name}/{model_name}/data-bucket"


# --- monitoring -------------------------------------------------------------------------------------

DATA_QUALITY: Final = "data-quality"
MODEL_QUALITY: Final = "model-quality"
# Where Model Monitor publishes its per-feature drift metrics (feature_baseline_drift_<feature>): an
# endpoint's with the dimensions Endpoint and MonitoringSchedule, a batch transform's with the latter only.
DATA_METRICS_NAMESPACE: Final = "aws/sagemaker/Endpoints/data-metrics"
BATCH_DATA_METRICS_NAMESPACE: Final = "aws/sagemaker/ModelMonitoring/data-metrics"
FEATURE_DRIFT_METRIC_PREFIX: Final = "feature_baseline_drift_"
# A drift alarm is `<endpoint>-drift-<feature>`: the drift alert's rule matches the prefix.
DRIFT_ALARM_INFIX: Final = "-drift-"
VIOLATIONS_REPORT_NAME: Final = "constraint_violations.json"
# A monitoring run that found violations: its execution status, and how its processing job's exit
# message starts (Model Monitor's and Clarify's monitors alike).
COMPLETED_WITH_VIOLATIONS: Final = "CompletedWithViolations"


def monitoring_schedule_name(endpoint_name: str, kind: str) -> str:
    """The endpoint's monitoring schedule of `kind` (DATA_QUALITY, MODEL_QUALITY, MODEL_BIAS or
    MODEL_EXPLAINABILITY)."""
    return f"{endpoint_name}-{kind}"


def alerted_run_schedules(endpoint_name: str) -> dict[str, str]:
    """The endpoint's monitoring schedules whose runs the drift alert acts on, by kind: Clarify's bias
    and feature attribution drift monitors, whose violations no CloudWatch metric carries (the drift
    alert's rule matches their runs that end COMPLETED_WITH_VIOLATIONS)."""
    return {kind: monitoring_schedule_name(endpoint_name, kind) for kind in (MODEL_BIAS, MODEL_EXPLAINABILITY)}


def drift_alarm_prefix(endpoint_name: str) -> str:
    return f"{endpoint_name}{DRIFT_ALARM_INFIX}"


def drift_alarm_name(endpoint_name: str, feature: str) -> str:
    return f"{drift_alarm_prefix(endpoint_name)}{feature}"


def drift_metric_name(feature: str) -> str:
    return f"{FEATURE_DRIFT_METRIC_PREFIX}{feature}"


# Where Model Monitor publishes its model-quality metrics (auc, f1, accuracy, ...: named as in config).
MODEL_METRICS_NAMESPACE: Final = "aws/sagemaker/Endpoints/model-metrics"
BATCH_MODEL_METRICS_NAMESPACE: Final = "aws/sagemaker/ModelMonitoring/model-metrics"
# The model-quality alarm is `<endpoint>-model-quality-<metric>`: the model's gate metric in production.
MODEL_QUALITY_ALARM_INFIX: Final = f"-{MODEL_QUALITY}-"
# The alarms the drift alert acts on, by the monitoring they watch: its rule matches these prefixes.
ALERTED_ALARM_INFIXES: Final = {DATA_QUALITY: DRIFT_ALARM_INFIX, MODEL_QUALITY: MODEL_QUALITY_ALARM_INFIX}


def model_quality_alarm_name(endpoint_name: str, metric: str) -> str:
    return f"{endpoint_name}{MODEL_QUALITY_ALARM_INFIX}{metric}"


def alerted_alarm_prefixes(endpoint_name: str) -> dict[str, str]:
    """The prefixes of the endpoint's alarms the drift alert acts on, by monitoring kind."""
    return {kind: f"{endpoint_name}{infix}" for kind, infix in ALERTED_ALARM_INFIXES.items()}


# Clarify's monitors: where they find features and answers in the captures, and the model the
# explainability monitor explains. A captured JSON request is {"instances": [{<feature>: value, ...}, ...]}:
# Clarify reads its features as rows of values, in the order of the analysis config's headers, which
# name them (`clarify_features_attribute` selects them by name). The explainability monitor explains
# every record of a request (`first_only=False`, with the answer's `predictions[*]`); the bias monitor
# joins a request's one label, as model quality does, with its first record (`first_only=True`, with
# `InferenceContract.monitor_attribute`). A CSV request's rows are the features already: no attribute.

# CloudFormation's limit on a monitoring job definition's FeaturesAttribute (and InferenceAttribute).
MONITOR_ATTRIBUTE_MAX_LENGTH: Final = 256
# How the champion resolution passes the feature names to the template (CLARIFY_FEATURES_PARAMETER), and
# how the template joins them quoted (`clarify_features_attribute`): by commas, which a feature name may
# not hold, nor anything JSON or a quoted JMESPath name would escape (`"`, `\`, control characters), for
# CodePipeline puts the value into the deploy action's parameter overrides, a JSON document, as it is.
FEATURE_NAMES_SEPARATORS: Final[tuple[str, str]] = (",", '","')
_UNSAFE_IN_FEATURE_NAMES = re.compile(r'[,"\\\x00-\x1f]')
# The longest feature names (joined) that fit a FeaturesAttribute: one name, quoted, behind "instances[*].".
CLARIFY_FEATURE_NAMES_MAX_LENGTH: Final = MONITOR_ATTRIBUTE_MAX_LENGTH - len(f'{INSTANCES_KEY}[*].[""]')
# How Clarify writes a request of several records to the model, as the platform's JSON contract reads it.
CLARIFY_JSON_CONTENT_TEMPLATE: Final = f'{{"{INSTANCES_KEY}":$records}}'
CLARIFY_JSON_RECORD_TEMPLATE: Final = "$features_kvp"
# Where the champion resolution (and the rollback tool) writes the explainability monitor's analysis
# config of a deployment: <monitoring output>/<CLARIFY_CONFIGS_FOLDER>/<MODEL_EXPLAINABILITY>-<version>.json.
CLARIFY_CONFIGS_FOLDER: Final = "clarify-configs"


def package_version(package_arn: str) -> str:
    """The version of a versioned package ARN (model-package/<group>/<version>); ValueError for another ARN."""
    if not PACKAGE_ARN.fullmatch(package_arn):
        raise ValueError(f"{package_arn!r} is not a versioned model package ARN")
    return package_arn.rsplit("/", 1)[1]


def clarify_model_name(serving_name: str, version: str) -> str:
    """The SageMaker model of the champion (its package's `version`) that production's explainability
    monitor explains: Clarify serves it on a shadow endpoint for each run. The production template creates
    it; the version in its name makes a new champion a new model (CloudFormation cannot replace a named
    resource in place: it creates the new one, then deletes the old)."""
    return f"{serving_name}-clarify-{version}"


def clarify_endpoint_prefix(serving_name: str) -> str:
    """How the names of the shadow endpoints (and their endpoint configs) Clarify creates for production's
    explainability monitor start: under the stage's own names, so the model's monitoring role may create,
    call and delete these and no other model's (the naming scheme, module docstring)."""
    return f"{serving_name}-clarify"


def clarify_config_uri(monitoring_output_s3_uri: str, package_arn: str) -> str:
    """Where a deployment's explainability analysis config of the champion `package_arn` is written."""
    folder = f"{monitoring_output_s3_uri.rstrip('/')}/{CLARIFY_CONFIGS_FOLDER}"
    return f"{folder}/{MODEL_EXPLAINABILITY}-{package_version(package_arn)}.json"


def explained_attribute(contract: InferenceContract) -> str:
    """The answer's score the explainability monitor explains: its probability where the contract has one
    (of class 1 for a binary model, of the answered class otherwise), else its prediction."""
    return contract.probability_attribute or contract.prediction_attribute


def clarify_answer_attribute(contract: InferenceContract, attribute: str) -> str:
    """Where Clarify finds `attribute` in an answer to a request of several records: every prediction's
    (a JMESPath over {"predictions": [...]}), or a CSV answer's column (one line per record)."""
    return f"{PREDICTIONS_KEY}[*].{attribute}" if contract.accept == JSON_CONTENT_TYPE else attribute


def clarify_feature_names(features: list[str]) -> str:
    """`features` as the template's CLARIFY_FEATURES_PARAMETER takes them; ValueError for names it cannot."""
    if not features:
        raise ValueError("a JSON record's features are found by name, and no feature names are given")
    unsafe = [name for name in features if not name or _UNSAFE_IN_FEATURE_NAMES.search(name)]
    if unsafe:
        raise ValueError(f"feature names may not be empty nor hold a comma, a quote, a backslash: {unsafe}")
    return FEATURE_NAMES_SEPARATORS[0].join(features)


def clarify_features_attribute(quoted_names: str, *, first_only: bool) -> str:
    """Where Clarify finds the features in a captured JSON request: a JMESPath that selects, from its
    records (`first_only`: its first), rows of the values of the features `quoted_names` names, in that
    order. `quoted_names`: the feature names joined by FEATURE_NAMES_SEPARATORS' second
    (`quoted(feature_names)`; the template joins its parameter's so)."""
    return f'{INSTANCES_KEY}[{0 if first_only else "*"}].["{quoted_names}"]'


def quoted(feature_names: str) -> str:
    """Feature names as the parameter joins them, joined as the template quotes them."""
    return feature_names.replace(*FEATURE_NAMES_SEPARATORS)


# --- governance: Clarify reports and model cards ----------------------------------------------------

MODEL_BIAS: Final = "model-bias"
MODEL_EXPLAINABILITY: Final = "model-explainability"
# What a model's bias check does at the approval gate (its registration's `bias_policy`): "block" rejects
# a package whose post-training bias report has a metric outside POST_TRAINING_BIAS_BOUNDS, or that has
# no bias report; "report" records the violations in the decision and the alert but deploys; "none" is a
# model without `clarify` facets (explainability only: bias is not assessed, its card says so).
BiasPolicy = Literal["block", "report", "none"]
# The bounds of the post-training bias metrics of a package's bias report (Clarify's analysis.json,
# ModelMetrics.Bias.PostTrainingReport), per facet value: a metric outside them is a violation.
# DI (disparate impact): the four-fifths rule, both ways; DPPL (difference in positive proportions in
# predicted labels): at most ten points apart. The seeds' model cards state the same bounds.
POST_TRAINING_BIAS_BOUNDS: Final[Mapping[str, tuple[float, float]]] = {"DI": (0.8, 1.25), "DPPL": (-0.1, 0.1)}
# A package's model card (CreateModelPackage's ModelCard): PendingReview when the build registers it;
# the approval gate moves it to Approved when it deploys the package, to Archived when it rejects it.
ModelCardStatus = Literal["Draft", "PendingReview", "Approved", "Archived"]
CARD_APPROVED: Final[ModelCardStatus] = "Approved"
CARD_ARCHIVED: Final[ModelCardStatus] = "Archived"
# The model card's risk rating, as config spells it (`models[].card.risk_rating`).
RiskRating = Literal["low", "medium", "high"]
RISK_RATINGS: Final[tuple[RiskRating, ...]] = get_args(RiskRating)


def bias_violations(report: Mapping[str, object]) -> list[str]:
    """The post-training bias metrics of a Clarify analysis.json outside POST_TRAINING_BIAS_BOUNDS, in
    words ("DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]"); ValueError when it is not a bias report.

    The report's `post_training_bias_metrics.facets` maps each facet to a list of
    {"value_or_threshold": ..., "metrics": [{"name": "DI", "value": 0.71, ...}, ...]}."""
    section = report.get("post_training_bias_metrics")
    facets = section.get("facets") if isinstance(section, Mapping) else None
    if not isinstance(facets, Mapping) or not facets:
        raise ValueError("not a post-training bias report: no post_training_bias_metrics.facets")
    found = []
    for facet, groups in facets.items():
        if not isinstance(groups, list):
            raise ValueError(f"facet {facet!r}: expected a list of facet values")
        for group in groups:
            if not isinstance(group, Mapping) or not isinstance(group.get("metrics"), list):
                raise ValueError(f"facet {facet!r}: a facet value without metrics")
            for metric in group["metrics"]:
                if not isinstance(metric, Mapping):
                    raise ValueError(f"facet {facet!r}: a metric that is not an object")
                name, value = str(metric.get("name")), metric.get("value")
                if name not in POST_TRAINING_BIAS_BOUNDS or value is None:
                    continue  # other metrics are reported, not bounded; Clarify writes null where undefined
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"facet {facet!r}: {name} is not a number ({value!r})")
                low, high = POST_TRAINING_BIAS_BOUNDS[name]
                if not low <= value <= high:
                    found.append(
                        f"{name} {value:.3g} for {facet}={group.get('value_or_threshold')} is outside [{low}, {high}]"
                    )
    return found


# --- several accounts ------------------------------------------------------------------------------

# With `environment.deployment_accounts`, a stage may serve in its own account. What the tooling
# account's roles and the target account's stack must agree on is named here: the roles one side
# trusts or assumes by name (a role's ARN is the only principal another account can name), the
# serving bucket, key and topic the deploy pipeline passes to the serving templates.
STAGE_CODES: Final[Mapping[Stage, str]] = {"staging": "stg", "production": "prd"}
# A model's roles in a target account: the deploy pipeline's action role there, CloudFormation's
# execution role, the endpoints' and the monitors' roles, the role the tooling account's checks and
# automation assume to read what serves (operations), and production's role the traffic shift assumes
# to reweight its variants (steering; `<platform≤20>-<model≤32>-prd-steer` takes 63 characters).
TargetRoleKind = Literal["deploy", "cfn", "serve", "mon", "ops", "steer"]
TARGET_ROLE_KINDS: Final[tuple[TargetRoleKind, ...]] = get_args(TargetRoleKind)
# A model's roles in the tooling account that a target account trusts by name: the deploy pipeline's,
# the staging check's, the champion resolution's, the drift alert's and the traffic shift's.
ToolingRoleKind = Literal["pipeline", "check", "champion", "drift", "shift"]
TOOLING_ROLE_KINDS: Final[tuple[ToolingRoleKind, ...]] = get_args(ToolingRoleKind)
IAM_ROLE_NAME_MAX_LENGTH: Final = 64
# The role the scripts and handlers assume to reach what serves in another account; unset: their own account.
SERVING_ROLE_ARN_ENV: Final = "SERVING_ROLE_ARN"


def target_role_name(platform_name: str, model_name: str, stage: Stage, kind: TargetRoleKind) -> str:
    """A model's role in a stage's target account (kinds never occur as tooling kinds: no name is both)."""
    return _role_name(f"{platform_name}-{model_name}-{STAGE_CODES[stage]}-{kind}")


def tooling_role_name(platform_name: str, model_name: str, kind: ToolingRoleKind) -> str:
    """A model's role in the tooling account that a target account's trust policy names."""
    return _role_name(f"{platform_name}-{model_name}-{kind}")


def _role_name(name: str) -> str:
    if len(name) > IAM_ROLE_NAME_MAX_LENGTH:  # platform names take 20 characters at most, model names 32
        raise ValueError(f"role name {name!r} is longer than IAM's {IAM_ROLE_NAME_MAX_LENGTH} characters")
    return name


def event_forwarder_role_name(platform_name: str, stage: Stage) -> str:
    """The role a target account's rule forwards serving events to the tooling account's bus with."""
    return _role_name(f"{platform_name}-{STAGE_CODES[stage]}-events")


def roles_provisioner_role_name(platform_name: str, stage: Stage) -> str:
    """The target account's role CloudFormation StackSets create a project-created model's roles there as
    (the StackSet execution role): only roles and policies under the platform's names, with its boundary."""
    return _role_name(f"{platform_name}-{STAGE_CODES[stage]}-provisioner")


def stackset_admin_role_name(platform_name: str) -> str:
    """The tooling account's StackSet administration role, which the provisioner roles trust by name."""
    return _role_name(f"{platform_name}-stacksets-admin")


def serving_parameter_name(platform_name: str, key: ServingParameterKey) -> str:
    """An SSM parameter a target stack publishes in its account for the project-created models' roles
    templates (what has a generated name there: its key's ARN, its permissions boundary's ARN)."""
    return f"/{platform_name}/serving/{key}"


ServingParameterKey = Literal["key-arn", "boundary-arn"]


def serving_boundary_name(platform_name: str, stage: Stage) -> str:
    """A target account's permissions boundary, which every role of its target stack carries: named, so
    the stack's CloudFormation execution policy (tools/bootstrap_policy.py) can require it of each role."""
    return f"{platform_name}-{STAGE_CODES[stage]}-boundary"


def serving_bucket_name(platform_name: str, stage: Stage, account: str, region: str) -> str:
    """A target account's bucket of data capture, monitoring reports and the monitors' configs (per model prefix)."""
    return f"{platform_name}-{STAGE_CODES[stage]}-serving-{account}-{region}"


def platform_key_alias(platform_name: str) -> str:
    """The alias of the tooling account's platform key: how a stage account's policies name it (its id is
    generated), with the condition key kms:ResourceAliases."""
    return f"alias/{platform_name}/platform"


def serving_key_alias(platform_name: str, stage: Stage) -> str:
    """The alias of a target account's key (endpoint volumes, captures, reports, its topic and logs)."""
    return f"alias/{platform_name}/{stage}-serving"


def serving_alert_topic_name(platform_name: str, stage: Stage) -> str:
    """A target account's alert topic (its alarms' actions, its budget)."""
    return f"{platform_name}-{stage}-alerts"


# --- events on the audit bus -----------------------------------------------------------------------


def audit_bus_name(platform_name: str) -> str:
    return f"{platform_name}-audit"


def audit_log_group_name(platform_name: str) -> str:
    """The CloudWatch Logs log group that receives every `mlops.*` event of the audit bus: where the
    platform's decisions can be queried (the lineage tool reads the approval gate's from it)."""
    return f"/{platform_name}/audit-decisions"


# The drift alert's events: its audit record and the retraining request that the model's build stack
# routes to its build pipeline (matched with the model's name in the detail).
DRIFT_ALERT_SOURCE: Final = "mlops.drift-alert"
DRIFT_ALERT_DETAIL_TYPE: Final = "Drift Alert"
RETRAINING_SOURCE: Final = DRIFT_ALERT_SOURCE
RETRAINING_DETAIL_TYPE: Final = "Retraining Requested"
APPROVAL_GATE_SOURCE: Final = "mlops.approval-gate"
APPROVAL_GATE_DETAIL_TYPE: Final = "Model Approval Decision"
ROLLBACK_SOURCE: Final = "mlops.rollback"
ROLLBACK_DETAIL_TYPE: Final = "Model Rollback"
TRAFFIC_SHIFT_SOURCE: Final = "mlops.traffic-shift"
TRAFFIC_SHIFT_DETAIL_TYPE: Final = "Traffic Shift Decision"

# --- tags -------------------------------------------------------------------------------------------

# Every resource of a model's serving stacks carries this tag with the model's name. Resources whose
# names CloudFormation or a service generates (SageMaker models, endpoint configs, monitoring job
# definitions, scalable targets) are reachable only through it: a model's roles act on them only
# when the tag names that model (aws:RequestTag on create, aws:ResourceTag afterwards).
MODEL_TAG: Final = "mlops:model"
# Principals carrying this tag with the value "true" (the ModelApprover persona, the approval gate) are
# the only ones the permissions boundary lets approve packages and production deployments.
APPROVER_TAG: Final = "mlops:model-approver"
# Every resource the platform creates carries this tag with the platform's name.
PLATFORM_TAG: Final = "mlops:platform"
