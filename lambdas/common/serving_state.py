"""Who serves a model in a stage: its serving stack's package parameters and its endpoint's weights; and
what a champion brings along to production's monitors: its baselines, and the explainability monitor's
analysis config written for the deployment.

The one reader of "who is the champion", for everything that asks: the deploy pipeline's champion
resolution (`tools/resolve_champion.py`), the rollback tool, the traffic shift (the variants' current
weights) and the approval gate's already-serving check (`lambdas.common.endpoints`, which adds the
package behind each variant). Whoever makes a package the champion (the champion resolution, the
rollback tool) sets the template's baseline parameters with `champion_baselines`.

Only the answer that means "nothing deployed yet" is an answer: a stack or endpoint that does not
exist reads as None. Every other failure (throttling, access denied, a network error) raises, so a
caller never mistakes an unreadable production for an empty one.

Standard library and botocore only: this module ships in the deploy bundle, where the platform's
other dependencies are not installed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.contracts import (
    BASELINE_PARAMETERS,
    BIAS_ANALYSIS_CONFIG_PARAMETER,
    BIAS_CONSTRAINTS_PARAMETER,
    CHALLENGER_PARAMETER,
    CHALLENGER_VARIANT,
    CHAMPION_PARAMETER,
    CHAMPION_VARIANT,
    CLARIFY_FEATURES_PARAMETER,
    CLARIFY_JSON_CONTENT_TEMPLATE,
    CLARIFY_JSON_RECORD_TEMPLATE,
    CSV_CONTENT_TYPE,
    EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER,
    EXPLAINABILITY_CONSTRAINTS_PARAMETER,
    JSON_CONTENT_TYPE,
    MONITOR_ATTRIBUTE_MAX_LENGTH,
    InferenceContract,
    clarify_answer_attribute,
    clarify_config_uri,
    clarify_endpoint_prefix,
    clarify_feature_names,
    clarify_features_attribute,
    clarify_model_name,
    explained_attribute,
    package_version,
    quoted,
)
from lambdas.common.errors import error_code, error_message

# The states from which CloudFormation accepts an update. Anything else is either an operation in
# progress (a deploy pipeline run, a rollback) or a failure a person must look at first.
UPDATABLE_STATUSES = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
)


@dataclass(frozen=True)
class ServingStack:
    """A serving stack as CloudFormation describes it."""

    name: str
    stack_id: str
    status: str
    parameters: Mapping[str, str]
    capabilities: tuple[str, ...] = ()
    role_arn: str | None = None

    @property
    def champion(self) -> str:
        """The champion parameter ("" when the stack has none)."""
        return self.parameters.get(CHAMPION_PARAMETER, "")

    @property
    def challenger(self) -> str | None:
        """The challenger parameter: "" for no challenger, None when the template has none (staging)."""
        return self.parameters.get(CHALLENGER_PARAMETER)


@dataclass(frozen=True)
class Serving:
    """The packages a stage serves, by role: the champion, and the challenger on trial (or None)."""

    champion: str | None
    challenger: str | None


def stack_missing(error: BaseException | None) -> bool:
    """CloudFormation's answer for a stack that does not exist (a ValidationError that says so)."""
    return (
        isinstance(error, ClientError)
        and error_code(error) == "ValidationError"
        and "does not exist" in error_message(error)
    )


def endpoint_missing(error: BaseException | None) -> bool:
    """SageMaker's answer for an endpoint that does not exist (a ValidationException that says so)."""
    return (
        isinstance(error, ClientError)
        and error_code(error) == "ValidationException"
        and "Could not find endpoint" in error_message(error)
    )


def read_serving_stack(cloudformation: Any, stack_name: str) -> ServingStack | None:
    """The stack, or None when it does not exist; any other failure raises."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if stack_missing(error):
            return None
        raise
    stack = stacks[0]
    return ServingStack(
        name=stack["StackName"],
        stack_id=stack["StackId"],
        status=stack["StackStatus"],
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
        capabilities=tuple(stack.get("Capabilities", [])),
        role_arn=stack.get("RoleARN"),
    )


def variant_weights(described_endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """Each variant's current weight (traffic shifts change it; the endpoint config keeps the initial one)."""
    return {
        variant.get("VariantName"): variant.get("CurrentWeight")
        for variant in described_endpoint.get("ProductionVariants", [])
    }


def read_variant_weights(sagemaker: Any, endpoint_name: str) -> dict[str, Any] | None:
    """The endpoint's variants' current weights, or None when the endpoint does not exist; other failures raise."""
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if endpoint_missing(error):
            return None
        raise
    return variant_weights(described)


def not_updatable(stack: ServingStack) -> str | None:
    """Why the stack cannot be updated now (what to do about it), or None when it can."""
    if stack.status in UPDATABLE_STATUSES:
        return None
    if stack.status.endswith("_IN_PROGRESS"):
        return "wait for the operation in progress (a deploy pipeline run, a rollback?) to finish"
    if stack.status == "ROLLBACK_COMPLETE":
        return "its first deployment failed and nothing is served: delete the stack, then deploy again"
    return "it needs attention in the CloudFormation console first"


def who_serves(stack: ServingStack, weights: Mapping[str, Any] | None) -> Serving:
    """The champion is the stack's champion parameter, unless the challenger carries more traffic than
    the champion variant (the traffic shift promoted it): then the two swap roles."""
    champion, challenger = stack.champion or None, stack.challenger or None
    current = weights or {}
    if challenger and _weight(current.get(CHALLENGER_VARIANT)) > _weight(current.get(CHAMPION_VARIANT)):
        return Serving(champion=challenger, challenger=champion)
    return Serving(champion=champion, challenger=challenger)


def package_baselines(package: Mapping[str, Any]) -> dict[str, str]:
    """The package's baselines (a DescribeModelPackage answer's DriftCheckBaselines) as the serving
    template's parameters, `contracts.BASELINE_PARAMETERS`: "" for each one it has none of.

    Model Monitor and Clarify compare production with the champion's baselines (data quality,
    explainability, bias), so whoever makes a package the champion brings its baselines along.
    """
    baselines = package.get("DriftCheckBaselines") or {}
    return {
        parameter: str(((baselines.get(section) or {}).get(kind) or {}).get("S3Uri", ""))
        for parameter, (section, kind) in BASELINE_PARAMETERS.items()
    }


class ChampionNotMonitorable(ValueError):
    """The champion carries a Clarify baseline that production's monitors could not run (the message says
    why): deploying it would leave production unexplained without anyone being told."""


@dataclass(frozen=True)
class ClarifyDeployment:
    """What production's Clarify monitors need of one deployment of a champion, beyond its package's
    baselines: the names by which they find the features in a captured JSON request
    (`contracts.clarify_feature_names`; "" for CSV requests, or a champion without Clarify baselines),
    and the explainability monitor's
    analysis config for this deployment and where it goes (None without an explainability baseline: the
    template then creates no monitor)."""

    feature_names: str = ""
    explainability_config_s3_uri: str = ""
    explainability_config: Mapping[str, Any] | None = None

    def parameters(self) -> dict[str, str]:
        """The serving template's parameters this sets (over `package_baselines`)."""
        written = {EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER: self.explainability_config_s3_uri}
        return {CLARIFY_FEATURES_PARAMETER: self.feature_names} | (written if self.explainability_config else {})

    def write(self, s3: Any, *, kms_key_arn: str | None) -> None:
        """Write the explainability analysis config, encrypted with `kms_key_arn` (None: the bucket's
        default key, the platform key for the data capture bucket). Nothing to write without one."""
        if self.explainability_config is None:
            return
        bucket, key = _s3_location(self.explainability_config_s3_uri)
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn} if kms_key_arn else {}
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(self.explainability_config, indent=1, sort_keys=True).encode(),
            ContentType=JSON_CONTENT_TYPE,
            **encryption,
        )


def clarify_deployment(
    s3: Any, package: Mapping[str, Any], *, package_arn: str, serving_name: str, monitoring_output_s3_uri: str
) -> ClarifyDeployment:
    """What production's Clarify monitors need of the champion `package_arn` (`package`: its
    DescribeModelPackage answer) served as `serving_name`, from the analysis configs its build
    registered (reads them from S3).

    The explainability monitor's config is the package's, whose `predictor` the SDK leaves without a
    model (ClarifyCheckStep drops `model_name`), with one to explain: Kernel SHAP asks the model for
    the predictions of synthetic records, so Clarify serves it on a shadow endpoint it creates and
    deletes per run. The model is the one the production template creates of the champion's package
    (`contracts.clarify_model_name`); its endpoint's names start with `contracts.clarify_endpoint_prefix`
    (the only ones the model's monitoring role may create); it is called as production serves it (the
    package's inference contract) and answers the score the package's baseline explained (the SDK's
    `model_scores`, as `label`). The config is written to `contracts.clarify_config_uri`.

    Raises ClientError when a config cannot be read, ChampionNotMonitorable when it cannot be used.
    """
    baselines = package_baselines(package)
    explainability = all(
        baselines[p] for p in (EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER, EXPLAINABILITY_CONSTRAINTS_PARAMETER)
    )
    bias = all(baselines[p] for p in (BIAS_ANALYSIS_CONFIG_PARAMETER, BIAS_CONSTRAINTS_PARAMETER))
    if not (explainability or bias):
        return ClarifyDeployment()
    try:
        contract = InferenceContract.from_properties(package.get("CustomerMetadataProperties") or {})
    except ValueError as error:
        raise ChampionNotMonitorable(f"{package_arn}: {error}") from error
    if contract is None:
        raise ChampionNotMonitorable(
            f"{package_arn} has Clarify baselines but records no inference contract: Clarify could not read its captures"
        )
    if not explainability:
        if contract.content_type != JSON_CONTENT_TYPE:
            return ClarifyDeployment()
        source = baselines[BIAS_ANALYSIS_CONFIG_PARAMETER]
        return ClarifyDeployment(feature_names=_feature_names(contract, _read_json(s3, source), source))
    source = baselines[EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER]
    package_config = _read_json(s3, source)
    feature_names = _feature_names(contract, package_config, source)
    predictor = {
        key: value
        for key, value in (package_config.get("predictor") or {}).items()
        if key not in ("content_template", "record_template", "endpoint_name")
    }
    label = clarify_answer_attribute(contract, explained_attribute(contract))
    predictor |= {
        "model_name": clarify_model_name(serving_name, package_version(package_arn)),
        "instance_type": _instance_type(package, predictor, package_arn),
        "initial_instance_count": 1,
        "content_type": contract.content_type,
        "accept_type": contract.accept,
        # A CSV answer's column is a number to Clarify.
        "label": int(label) if contract.accept == CSV_CONTENT_TYPE else label,
        "endpoint_name_prefix": clarify_endpoint_prefix(serving_name),
    }
    if contract.content_type == JSON_CONTENT_TYPE:
        predictor |= {
            "content_template": CLARIFY_JSON_CONTENT_TEMPLATE,
            "record_template": CLARIFY_JSON_RECORD_TEMPLATE,
        }
    return ClarifyDeployment(
        feature_names=feature_names,
        explainability_config_s3_uri=clarify_config_uri(monitoring_output_s3_uri, package_arn),
        explainability_config={**package_config, "predictor": predictor},
    )


def champion_baselines(package: Mapping[str, Any], clarify: ClarifyDeployment) -> dict[str, str]:
    """The serving template's baseline parameters of a deployment of the champion `package`."""
    return package_baselines(package) | clarify.parameters()


def _feature_names(contract: InferenceContract, config: Mapping[str, Any], source: str) -> str:
    """The names by which Clarify finds the features of a captured JSON request: the config's headers (a
    bias config's name the label too, which requests do not hold). "" for CSV requests."""
    if contract.content_type != JSON_CONTENT_TYPE:
        return ""
    headers = config.get("headers") or []
    if not isinstance(headers, list) or not all(isinstance(header, str) for header in headers):
        raise ChampionNotMonitorable(f"{source}: headers must be a list of feature names")
    try:
        names = clarify_feature_names([header for header in headers if header != config.get("label")])
    except ValueError as error:
        raise ChampionNotMonitorable(f"{source}: {error}") from error
    attribute = clarify_features_attribute(quoted(names), first_only=False)
    if len(attribute) > MONITOR_ATTRIBUTE_MAX_LENGTH:
        raise ChampionNotMonitorable(
            f"{source}: finding the features of a JSON request by name takes {len(attribute)} characters"
            f" ({attribute[:60]}...), more than the {MONITOR_ATTRIBUTE_MAX_LENGTH} a monitoring job takes:"
            " shorter feature names would fit"
        )
    return names


def _instance_type(package: Mapping[str, Any], predictor: Mapping[str, Any], arn: str) -> str:
    """The model's inference instance type, as its package registers it (else as its build's check ran it)."""
    inference = package.get("InferenceSpecification") or {}
    registered = [
        *(inference.get("SupportedRealtimeInferenceInstanceTypes") or []),
        *(inference.get("SupportedTransformInstanceTypes") or []),
    ]
    instance_type = registered[0] if registered else predictor.get("instance_type")
    if not instance_type:
        raise ChampionNotMonitorable(f"{arn} registers no inference instance type to serve Clarify's shadow endpoint")
    return str(instance_type)


def _s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _read_json(s3: Any, uri: str) -> dict[str, Any]:
    bucket, key = _s3_location(uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        document = json.loads(body)
    except ValueError as error:
        raise ChampionNotMonitorable(f"{uri} is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ChampionNotMonitorable(f"{uri} is not an analysis config (a JSON object)")
    return document


def _weight(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
