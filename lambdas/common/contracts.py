"""The values that tie the platform's parts together, each defined once (DESIGN.md convention 3).

Constructs, handlers, the scripts the pipelines run, the tools and the tests import these; a literal
copied between two of them is a defect. Dependency-free (standard library only): it ships in every
Lambda asset and in the deploy pipeline's bundle, where nothing else of the platform is installed.

Naming: a model's stage resources are called `<platform>-<model>-<stage>` (serving stack, endpoint,
dashboard) and the names of everything else that belongs to a stage start with that name and a
hyphen (alarms, monitoring schedules). Model names are lower-case letters, digits and single
hyphens, and may not contain a stage word as a hyphen-separated segment: so no model's names can
fall under another model's `<platform>-<model>-<stage>-*` (e.g. `churn`'s never match `churn-v2`'s,
and a model `churn-production` cannot exist to match `churn`'s production prefix).
"""

from __future__ import annotations

import re
from typing import Final, Literal

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


# --- the deploy pipeline and the serving templates it deploys --------------------------------------

# The deploy pipeline's variable the approval gate sets to the approved package's ARN.
DEPLOY_PIPELINE_VARIABLE: Final = "ModelPackageArn"
# The serving templates' parameters set per deployment (the deploy pipeline, the rollback tool) ...
CHAMPION_PARAMETER: Final = "ChampionModelPackageArn"
CHALLENGER_PARAMETER: Final = "ChallengerModelPackageArn"  # production only; "" means no challenger
NO_CHALLENGER: Final = ""
BASELINE_STATISTICS_PARAMETER: Final = "BaselineStatisticsS3Uri"
BASELINE_CONSTRAINTS_PARAMETER: Final = "BaselineConstraintsS3Uri"
# ... where a package carries that baseline (DriftCheckBaselines.ModelDataQuality.<kind>.S3Uri) ...
BASELINE_PARAMETERS: Final = {
    BASELINE_STATISTICS_PARAMETER: "Statistics",
    BASELINE_CONSTRAINTS_PARAMETER: "Constraints",
}
# ... and the parameters the deploy stack sets once, from the platform resources it owns.
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
}
# The endpoint's variants.
CHAMPION_VARIANT: Final = "champion"
CHALLENGER_VARIANT: Final = "challenger"
VARIANTS: Final = (CHAMPION_VARIANT, CHALLENGER_VARIANT)

# --- monitoring -------------------------------------------------------------------------------------

DATA_QUALITY: Final = "data-quality"
MODEL_QUALITY: Final = "model-quality"
# Where Model Monitor publishes its per-feature drift metrics (feature_baseline_drift_<feature>).
DATA_METRICS_NAMESPACE: Final = "aws/sagemaker/Endpoints/data-metrics"
FEATURE_DRIFT_METRIC_PREFIX: Final = "feature_baseline_drift_"
# A drift alarm is `<endpoint>-drift-<feature>`: the drift alert's rule matches the prefix.
DRIFT_ALARM_INFIX: Final = "-drift-"
VIOLATIONS_REPORT_NAME: Final = "constraint_violations.json"


def monitoring_schedule_name(endpoint_name: str, kind: str) -> str:
    """The endpoint's monitoring schedule of `kind` (DATA_QUALITY or MODEL_QUALITY)."""
    return f"{endpoint_name}-{kind}"


def drift_alarm_prefix(endpoint_name: str) -> str:
    return f"{endpoint_name}{DRIFT_ALARM_INFIX}"


def drift_alarm_name(endpoint_name: str, feature: str) -> str:
    return f"{drift_alarm_prefix(endpoint_name)}{feature}"


def drift_metric_name(feature: str) -> str:
    return f"{FEATURE_DRIFT_METRIC_PREFIX}{feature}"


# Where Model Monitor publishes its model-quality metrics (auc, f1, accuracy, ...: named as in config).
MODEL_METRICS_NAMESPACE: Final = "aws/sagemaker/Endpoints/model-metrics"
# The model-quality alarm is `<endpoint>-model-quality-<metric>`: the model's gate metric in production.
MODEL_QUALITY_ALARM_INFIX: Final = f"-{MODEL_QUALITY}-"
# The alarms the drift alert acts on, by the monitoring they watch: its rule matches these prefixes.
ALERTED_ALARM_INFIXES: Final = {DATA_QUALITY: DRIFT_ALARM_INFIX, MODEL_QUALITY: MODEL_QUALITY_ALARM_INFIX}


def model_quality_alarm_name(endpoint_name: str, metric: str) -> str:
    return f"{endpoint_name}{MODEL_QUALITY_ALARM_INFIX}{metric}"


def alerted_alarm_prefixes(endpoint_name: str) -> dict[str, str]:
    """The prefixes of the endpoint's alarms the drift alert acts on, by monitoring kind."""
    return {kind: f"{endpoint_name}{infix}" for kind, infix in ALERTED_ALARM_INFIXES.items()}


# --- events on the audit bus -----------------------------------------------------------------------


def audit_bus_name(platform_name: str) -> str:
    return f"{platform_name}-audit"


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
