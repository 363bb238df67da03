"""A deploy pipeline whose model is named at deploy time only (a SageMaker Project's name, a token).

The SageMaker Projects products build a model's deployment with the same constructs as a model
declared in config (DESIGN.md convention 2), the model's name being `SageMakerProjectName`, and its
gate's threshold and inference instance type parameters of the product too (a Number and a String
token). Here the deploy pipeline of real-time and batch models is built that way, against imported
platform resources, with the app's compliance checks: it synthesizes with no unacknowledged finding,
every name that carries the model's name refers to the parameter, the serving templates take the
settings as their own parameters, and no token (nor a number token's encoding) leaks into a template.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Environment, Stack
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from config import DEFAULT_CONFIG_PATH, load_config
from config.schema import ModelConfig, PlatformConfig
from lambdas.common.contracts import (
    DATA_BUCKET_PARAMETER,
    INFERENCE_INSTANCE_TYPE_PARAMETER,
    METRIC_THRESHOLD_PARAMETER,
    MODEL_NAME_PARAMETER,
    MODEL_TAG,
    STAGES,
    data_bucket_parameter_name,
)
from mlops_constructs.compliance import add_compliance_checks, rule_packs
from mlops_constructs.deploy import DeployPipeline
from mlops_constructs.registration import ModelRegistration
from mlops_constructs.serving import render_serving_template
from tests.conftest import ANY_MODEL_CONFIG_PATH, cdk_json_context

PROJECT_NAME = "SageMakerProjectName"
NAME = {"Ref": PROJECT_NAME}
# The product's own parameters for the model's settings (named as the serving templates' parameters).
THRESHOLD, INSTANCE_TYPE = METRIC_THRESHOLD_PARAMETER, INFERENCE_INSTANCE_TYPE_PARAMETER
SETTINGS = {THRESHOLD: {"Ref": THRESHOLD}, INSTANCE_TYPE: {"Ref": INSTANCE_TYPE}}
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ALERTS_ARN = "arn:aws:sns:eu-west-1:123456789012:mlops-alerts"
APPROVALS_ARN = "arn:aws:sns:eu-west-1:123456789012:mlops-approvals"


@dataclass(frozen=True)
class Product:
    """One model's deployment as a product builds it: the stack, its pipeline and the literal model."""

    stack: Stack
    deploy: DeployPipeline
    model: ModelConfig
    template: dict[str, Any]


def _product(app: App, construct_id: str, config: PlatformConfig, model: ModelConfig) -> tuple[Stack, DeployPipeline]:
    env = Environment(account=config.environment.account, region=config.environment.region)
    stack = Stack(app, construct_id, env=env)
    name = CfnParameter(
        stack, PROJECT_NAME, type="String", description="Name of the SageMaker Project (the model's name)"
    ).value_as_string
    threshold = CfnParameter(stack, THRESHOLD, type="Number", description="The gate's threshold").value_as_number
    instance_type = CfnParameter(stack, INSTANCE_TYPE, type="String", description="Inference instances").value_as_string
    key = kms.Key.from_key_arn(stack, "PlatformKey", KEY_ARN)
    deploy = DeployPipeline(
        stack,
        "Deploy",
        platform_name=config.name,
        model=model.model_copy(
            update={
                "name": name,
                "metric": model.metric.model_copy(update={"threshold": threshold}),
                "instance_types": model.instance_types.model_copy(update={"inference": instance_type}),
            }
        ),
        monitored_features=config.monitored_features(model),
        env=env,
        template_context=cdk_json_context(),
        encryption_key=key,
        access_log_bucket=s3.Bucket.from_bucket_name(stack, "AccessLogs", "mlops-access-logs"),
        alert_topic=sns.Topic.from_topic_attributes(stack, "Alerts", topic_arn=ALERTS_ARN, key_arn=KEY_ARN),
        approval_topic=sns.Topic.from_topic_attributes(stack, "Approvals", topic_arn=APPROVALS_ARN, key_arn=KEY_ARN),
        log_retention=logs.RetentionDays.ONE_YEAR,
        noncurrent_version_days=90,
    )
    return stack, deploy


KINDS = ["realtime", "batch", "monitored"]


def _config(kind: str) -> PlatformConfig:
    return load_config(DEFAULT_CONFIG_PATH if kind == "realtime" else ANY_MODEL_CONFIG_PATH)


@pytest.fixture(scope="module")
def app_and_products(tmp_path_factory: pytest.TempPathFactory) -> tuple[App, dict[str, Product]]:
    """Three models' deployments, synthesized once: the default config's real-time model (a serverless
    staging, production on the inference instance type, no model-quality monitoring), a batch model
    transforming on the inference instance type, and a real-time model with model-quality monitoring
    (the gate's threshold in production's alarm, the inference instance type in both stages)."""
    default, any_model = load_config(DEFAULT_CONFIG_PATH), load_config(ANY_MODEL_CONFIG_PATH)
    (batch,) = [model for model in any_model.models if model.is_batch]
    assert batch.batch is not None
    assert batch.monitoring.ground_truth_s3_uri
    batch = batch.model_copy(
        update={
            "serving": batch.serving.model_copy(
                update={"batch": batch.batch.model_copy(update={"instance_type": None})}
            )
        }
    )
    (monitored,) = [model for model in any_model.models if model.name == "demand"]
    assert monitored.monitoring.ground_truth_s3_uri
    assert monitored.serving.staging.serverless is not None
    monitored = monitored.model_copy(
        update={"serving": monitored.serving.model_copy(update={"staging": monitored.serving.production})}
    )
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("token-name.out")))
    add_compliance_checks(app)  # an unacknowledged finding fails the synthesis below
    models = {
        "realtime": (default, default.models[0]),
        "batch": (any_model, batch),
        "monitored": (any_model, monitored),
    }
    built = {
        kind: _product(app, f"{kind.capitalize()}Product", *config_and_model)
        for kind, config_and_model in models.items()
    }
    assembly = app.synth()
    return app, {
        kind: Product(stack, deploy, models[kind][1], assembly.get_stack_by_name(stack.stack_name).template)
        for kind, (stack, deploy) in built.items()
    }


@pytest.fixture(scope="module")
def products(app_and_products: tuple[App, dict[str, Product]]) -> dict[str, Product]:
    return app_and_products[1]


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def _stage_name(platform: str, stage: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [f"{platform}-", NAME, f"-{stage}"]]}


def _numbers(node: Any) -> list[float]:
    """Every number of a template (a number token formatted by Python would show as one)."""
    if isinstance(node, dict):
        return [n for value in node.values() for n in _numbers(value)]
    if isinstance(node, list):
        return [n for value in node for n in _numbers(value)]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return [node]
    return []


def _no_token(template: dict[str, Any], what: str) -> None:
    text = json.dumps(template)
    assert "${Token[" not in text, what
    assert not re.search(r"\d[eE]\+\d", text), f"{what}: a number token's encoding (-1.888...e+289) was formatted"
    absurd = [n for n in _numbers(template) if not math.isfinite(n) or abs(n) > 1e12]
    assert absurd == [], what


def _overrides(configuration: dict[str, Any]) -> dict[str, Any]:
    """A deployment's ParameterOverrides (a JSON text joined with CloudFormation expressions), each
    value that is one expression as that expression."""
    overrides = configuration["ParameterOverrides"]
    if isinstance(overrides, str):
        return dict(json.loads(overrides))
    parts = overrides["Fn::Join"][1]
    placeholders = {f"@{i}@": part for i, part in enumerate(parts) if not isinstance(part, str)}
    text = "".join(part if isinstance(part, str) else f"@{i}@" for i, part in enumerate(parts))
    return {key: placeholders.get(value, value) for key, value in json.loads(text).items()}


def _deployments(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (pipeline,) = _resources(template, "AWS::CodePipeline::Pipeline").values()
    return {
        action["Name"]: action["Configuration"]
        for stage in pipeline["Properties"]["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Provider"] == "CloudFormation"
    }


def test_it_synthesizes_with_no_unacknowledged_finding(app_and_products: tuple[App, dict[str, Product]]) -> None:
    app, _ = app_and_products
    for pack in rule_packs(app):
        report = pack.validate_scope(app)
        findings = [
            f"{violation.rule_name} at {resource.construct_path}"
            for violation in report.violations
            for resource in violation.violating_resources
        ]
        assert findings == [], pack.read_pack_name


@pytest.mark.parametrize("kind", KINDS)
def test_no_token_leaks_into_a_template(products: dict[str, Product], kind: str) -> None:
    product = products[kind]
    _no_token(product.template, "the product's template")
    for stage, template in product.deploy.templates.items():
        _no_token(template, stage)
        text = json.dumps(template)
        assert PROJECT_NAME not in text, f"the {stage} template refers to its own parameter only"
        for parameter in SETTINGS:
            assert parameter in template["Parameters"] or parameter not in text, (
                f"the {stage} template refers to {parameter} only as its own parameter"
            )


@pytest.mark.parametrize("kind", KINDS)
def test_the_serving_templates_are_those_of_the_literal_model(products: dict[str, Product], kind: str) -> None:
    """The name is the templates' parameter: a token renders them exactly as the config's literal does."""
    product = products[kind]
    config = _config(kind)
    environment = config.environment
    for stage in STAGES:
        literal = render_serving_template(
            platform_name=config.name,
            model=product.model,
            stage=stage,
            monitored_features=config.monitored_features(product.model),
            env=Environment(account=environment.account, region=environment.region),
            context=cdk_json_context(),
        )
        assert product.deploy.templates[stage] == literal, stage


@pytest.mark.parametrize("kind", KINDS)
def test_the_pipeline_deploys_the_named_stacks_with_the_name_as_parameter(
    products: dict[str, Product], kind: str
) -> None:
    product = products[kind]
    deployments = _deployments(product.template)
    assert set(deployments) == {"DeployStaging", "DeployProduction"}
    for stage in STAGES:
        configuration = deployments[f"Deploy{stage.capitalize()}"]
        assert configuration["StackName"] == _stage_name("mlops", stage)
        parts = configuration["ParameterOverrides"]["Fn::Join"][1]
        assert f'"{MODEL_NAME_PARAMETER}":"' in "".join(p for p in parts if isinstance(p, str))
        assert NAME in parts
        if product.model.is_batch:
            joined = "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)
            prefix = data_bucket_parameter_name("mlops", "@").split("@")[0]
            assert f'"{DATA_BUCKET_PARAMETER}":"{prefix}{json.dumps(NAME)}' in joined


def test_the_checks_and_roles_name_the_models_resources_by_the_parameter(products: dict[str, Product]) -> None:
    realtime, batch = products["realtime"].template, products["batch"].template
    projects = {k: v["Properties"] for k, v in _resources(realtime, "AWS::CodeBuild::Project").items()}
    smoke = next(p for k, p in projects.items() if k.startswith("DeploySmokeTest"))
    variables = {v["Name"]: v["Value"] for v in smoke["Environment"]["EnvironmentVariables"]}
    assert variables["ENDPOINT_NAME"] == _stage_name("mlops", "staging")
    batch_projects = {k: v["Properties"] for k, v in _resources(batch, "AWS::CodeBuild::Project").items()}
    check = next(p for k, p in batch_projects.items() if k.startswith("DeployBatchCheck"))
    variables = {v["Name"]: v["Value"] for v in check["Environment"]["EnvironmentVariables"]}
    assert variables["PIPELINE_NAME"] == _stage_name("mlops", "staging")
    # The model's tag conditions and its package group's ARNs name it by the parameter.
    for template in (realtime, batch):
        text = json.dumps(template)
        assert json.dumps({f"aws:RequestTag/{MODEL_TAG}": NAME}) in text
        assert json.dumps({f"aws:ResourceTag/{MODEL_TAG}": NAME}) in text
        policies = _resources(template, "AWS::IAM::ManagedPolicy")
        deployment = next(v for k, v in policies.items() if k.startswith("DeployDeploymentPolicy"))
        assert json.dumps(NAME) in json.dumps(deployment["Properties"]["PolicyDocument"])


def test_names_carry_no_literal_model_name(products: dict[str, Product]) -> None:
    """What named the model by its config's name names it by the parameter now (only the config's own
    values, such as its ground-truth location, may hold it)."""
    for product in products.values():
        text = json.dumps(product.template)
        ground_truth = product.model.monitoring.ground_truth_s3_uri
        if ground_truth:  # the monitoring role reads the labels there
            location = ground_truth.removeprefix("s3://")
            assert location in text
            text = text.replace(location, "")
        for literal in (f"mlops-{product.model.name}-", f"/{product.model.name}/", f"'{product.model.name}'"):
            assert literal not in text, literal


# Where each kind's templates use the settings: the inference instance type where no instance type
# of the stage's own applies (not a serverless staging), the threshold in production's model-quality alarm.
DECLARED_SETTINGS = {
    "realtime": {"staging": set(), "production": {INSTANCE_TYPE}},
    "batch": {"staging": {INSTANCE_TYPE}, "production": {INSTANCE_TYPE, THRESHOLD}},
    "monitored": {"staging": {INSTANCE_TYPE}, "production": {INSTANCE_TYPE, THRESHOLD}},
}


@pytest.mark.parametrize("kind", KINDS)
def test_the_settings_are_the_templates_parameters_passed_as_the_products(
    products: dict[str, Product], kind: str
) -> None:
    """Each template declares the settings it uses, and the pipeline passes them the product's parameters."""
    product = products[kind]
    deployments = _deployments(product.template)
    for stage in STAGES:
        template = product.deploy.templates[stage]
        declared = DECLARED_SETTINGS[kind][stage]
        assert set(template["Parameters"]) & set(SETTINGS) == declared, stage
        overrides = _overrides(deployments[f"Deploy{stage.capitalize()}"])
        assert {k: v for k, v in overrides.items() if k in SETTINGS} == {k: SETTINGS[k] for k in declared}, stage
        assert overrides[MODEL_NAME_PARAMETER] == NAME
        if THRESHOLD in declared:
            assert template["Parameters"][THRESHOLD]["Type"] == "Number"
            (alarm,) = [
                a["Properties"]
                for a in _resources(template, "AWS::CloudWatch::Alarm").values()
                if a["Properties"].get("MetricName") == product.model.metric.name
            ]
            assert alarm["Threshold"] == {"Ref": THRESHOLD}
            assert {"Ref": THRESHOLD} in alarm["AlarmDescription"]["Fn::Join"][1], "the description shows the parameter"
        if INSTANCE_TYPE in declared:
            if product.model.is_batch:
                (pipeline,) = _resources(template, "AWS::SageMaker::Pipeline").values()
                body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Join"][1]
                joined = "".join(p if isinstance(p, str) else json.dumps(p) for p in body)
                assert f'"InstanceType":"{json.dumps({"Ref": INSTANCE_TYPE})}"' in joined
            else:
                (config,) = _resources(template, "AWS::SageMaker::EndpointConfig").values()
                variants = config["Properties"]["ProductionVariants"]
                assert variants[0]["InstanceType"] == {"Ref": INSTANCE_TYPE}


@pytest.mark.parametrize("kind", KINDS)
def test_the_overrides_resolve_to_parameter_values_cloudformation_accepts(
    products: dict[str, Product], kind: str
) -> None:
    """CloudFormation resolves the overrides' expressions into a JSON object of strings (a Number
    parameter's value too: "0.8"), as CodePipeline passes them to CreateStack and UpdateStack."""
    product = products[kind]
    values = {PROJECT_NAME: "fraud", THRESHOLD: "0.8", INSTANCE_TYPE: "ml.c5.xlarge"}
    for stage, configuration in _deployments(product.template).items():
        parts = configuration["ParameterOverrides"]["Fn::Join"][1]
        text = "".join(part if isinstance(part, str) else values.get(part.get("Ref", ""), "resolved") for part in parts)
        resolved = json.loads(text)
        assert all(isinstance(value, str) for value in resolved.values()), stage
        assert resolved[MODEL_NAME_PARAMETER] == "fraud"
        expected = {THRESHOLD: "0.8", INSTANCE_TYPE: "ml.c5.xlarge"}
        declared = DECLARED_SETTINGS[kind]["production" if stage == "DeployProduction" else "staging"]
        assert {k: v for k, v in resolved.items() if k in SETTINGS} == {k: expected[k] for k in declared}


def test_a_token_threshold_registers_as_a_json_number() -> None:
    """The registration (JSON the approval gate reads) holds a product's Number parameter as a number."""
    app = App()
    stack = Stack(app, "Registration", env=Environment(account="123456789012", region="eu-west-1"))
    name = CfnParameter(stack, PROJECT_NAME, type="String").value_as_string
    threshold = CfnParameter(stack, THRESHOLD, type="Number").value_as_number
    ModelRegistration(
        stack,
        "Registration",
        platform_name="mlops",
        model_package_group_name=name,
        model_name=name,
        metric_name="auc",
        threshold=threshold,
        metric_direction="higher_is_better",
        serving_mode="realtime",
        bias_policy="none",
        deploy_pipeline=codepipeline.Pipeline.from_pipeline_arn(
            stack, "Pipeline", "arn:aws:codepipeline:eu-west-1:123456789012:mlops-fraud-deploy"
        ),
        production_serving_name=f"mlops-{name}-production",
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    _no_token(template, "the registration")
    (parameter,) = _resources(template, "AWS::SSM::Parameter").values()
    separator, parts = parameter["Properties"]["Value"]["Fn::Join"]
    assert {"Ref": THRESHOLD} in parts
    values = {PROJECT_NAME: "fraud", THRESHOLD: "0.8"}
    registration = json.loads(separator.join(part if isinstance(part, str) else values[part["Ref"]] for part in parts))
    assert registration == {
        "model_name": "fraud",
        "deploy_pipeline_name": "mlops-fraud-deploy",
        "metric_name": "auc",
        "threshold": 0.8,
        "metric_direction": "higher_is_better",
        "serving_mode": "realtime",
        "production_serving_name": "mlops-fraud-production",
        "bias_policy": "none",
    }
