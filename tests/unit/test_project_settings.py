"""The model's settings reach its build through MODEL_SETTINGS, also when the model is named at deploy time.

A SageMaker Projects product builds a model's build project with the same `ModelProject` as a model
declared in config (DESIGN.md convention 2), the model's name, threshold and instance types being
template parameters. Its repository is seeded at synth time, before any project exists: the
repository's model_config.json holds literal settings (the product's defaults, named
`PLACEHOLDER_MODEL_NAME`), and the build's MODEL_SETTINGS the real ones, resolved by CloudFormation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from config.schema import InstanceTypesConfig, ModelConfig, PlatformConfig
from mlops_constructs.compliance import add_compliance_checks
from mlops_constructs.model_project import ModelProject
from mlops_constructs.seeds import (
    MODEL_SETTINGS_VARIABLE,
    PLACEHOLDER_MODEL_NAME,
    model_settings,
    seed_asset,
    seed_template,
)
from tests.compliance.test_nag import _findings
from tests.conftest import cdk_json_context

ACCOUNT, REGION = "123456789012", "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
ALERTS_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-alerts"
# The product's parameters, and the values a project is created with.
PARAMETERS = {"SageMakerProjectName": "fraud", "MetricThreshold": 0.8, "TrainingInstanceType": "ml.m5.xlarge"}
STAGE_PROJECTS = ("ProjectTestProject0019D165", "ProjectTrainProjectB93A7761")


def _variables(template: Template, project_id: str) -> dict[str, Any]:
    project = template.to_json()["Resources"][project_id]["Properties"]
    return {variable["Name"]: variable["Value"] for variable in project["Environment"]["EnvironmentVariables"]}


# --- a model declared in config ---------------------------------------------------------------------


@pytest.mark.parametrize("project_id", STAGE_PROJECTS)
def test_both_stages_get_the_models_settings_as_json(
    churn_build: Template, default_config: PlatformConfig, project_id: str
) -> None:
    value = _variables(churn_build, project_id)[MODEL_SETTINGS_VARIABLE]
    assert isinstance(value, str), "literal settings: a plain string in the template"
    assert json.loads(value) == json.loads(json.dumps(model_settings(default_config.models[0])))


# --- a model named at deploy time (a SageMaker Projects product) -------------------------------------


@dataclass(frozen=True)
class Product:
    app: App
    template: Template
    assembly_directory: Path
    defaults: ModelConfig
    repository_settings: dict[str, object]


def _product_project(app: App, defaults: ModelConfig, **project: Any) -> Stack:
    """A product's stack: its parameters, the platform's resources imported, the model's ModelProject."""
    stack = Stack(app, "Product", env=Environment(account=ACCOUNT, region=REGION))
    name = CfnParameter(stack, "SageMakerProjectName", type="String").value_as_string
    threshold = CfnParameter(stack, "MetricThreshold", type="Number").value_as_number
    training = CfnParameter(stack, "TrainingInstanceType", type="String").value_as_string
    model = defaults.model_copy(
        update={
            "name": name,
            "metric": defaults.metric.model_copy(update={"threshold": threshold}),
            "instance_types": defaults.instance_types.model_copy(update={"training": training}),
        }
    )
    key = kms.Key.from_key_arn(stack, "PlatformKey", KEY_ARN)
    ModelProject(
        stack,
        "Project",
        platform_name="mlops",
        model=model,
        encryption_key=key,
        access_log_bucket=s3.Bucket.from_bucket_name(stack, "AccessLogs", "mlops-access-logs"),
        alert_topic=sns.Topic.from_topic_attributes(stack, "Alerts", topic_arn=ALERTS_ARN, key_arn=KEY_ARN),
        log_retention=logs.RetentionDays.ONE_YEAR,
        noncurrent_version_days=90,
        registry_readers=[],
        **project,
    )
    return stack


@pytest.fixture(scope="module")
def product(default_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Product:
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    add_compliance_checks(app)
    defaults = default_config.models[0]
    repository_settings = model_settings(defaults.model_copy(update={"name": PLACEHOLDER_MODEL_NAME}))
    stack = _product_project(app, defaults, repository_settings=repository_settings)
    assembly = app.synth()
    return Product(
        app=app,
        template=Template.from_json(assembly.get_stack_by_name(stack.stack_name).template),
        assembly_directory=Path(assembly.directory),
        defaults=defaults,
        repository_settings=repository_settings,
    )


def _deployed(value: Any) -> Any:
    """`value` as CloudFormation resolves it when a project is created with `PARAMETERS`."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in PARAMETERS:
        return str(PARAMETERS[value["Ref"]])
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(_deployed(part) for part in parts)
    assert isinstance(value, str), f"unexpected intrinsic {value}"
    return value


def test_it_synthesizes_with_no_unacknowledged_finding(product: Product) -> None:
    assert _findings(product.app) == {"AwsSolutions": [], "NIST.800.53.R5": []}


@pytest.mark.parametrize("project_id", STAGE_PROJECTS)
def test_the_build_gets_the_projects_own_settings(product: Product, project_id: str) -> None:
    value = _variables(product.template, project_id)[MODEL_SETTINGS_VARIABLE]
    assert {"Ref": "SageMakerProjectName"} in value["Fn::Join"][1]
    fraud = product.defaults.model_copy(
        update={
            "name": "fraud",
            "metric": product.defaults.metric.model_copy(update={"threshold": 0.8}),
            "instance_types": InstanceTypesConfig(
                **product.defaults.instance_types.model_dump() | {"training": "ml.m5.xlarge"}
            ),
        }
    )
    assert json.loads(_deployed(value)) == json.loads(json.dumps(model_settings(fraud)))


def test_the_repository_starts_with_the_literal_settings_and_no_token(product: Product) -> None:
    manifest = json.loads((product.assembly_directory / "Product.assets.json").read_text())
    [seed] = [
        product.assembly_directory / asset["source"]["path"]
        for asset in manifest["files"].values()
        if (product.assembly_directory / asset["source"]["path"] / "model_config.json").is_file()
    ]
    assert json.loads((seed / "model_config.json").read_text()) == product.repository_settings
    assert json.loads((seed / "model_config.json").read_text())["model_name"] == PLACEHOLDER_MODEL_NAME
    for path in seed.rglob("*"):
        if path.is_file():
            assert b"${Token" not in path.read_bytes(), path


def test_names_refer_to_the_parameter_and_no_token_leaks(product: Product) -> None:
    resources = product.template.to_json()["Resources"]
    [repository] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CodeCommit::Repository"]
    assert repository["RepositoryName"] == {"Fn::Join": ["", [{"Ref": "SageMakerProjectName"}, "-model-build"]]}
    [group] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SageMaker::ModelPackageGroup"]
    assert group["ModelPackageGroupName"] == {"Ref": "SageMakerProjectName"}
    assert "${Token" not in json.dumps(product.template.to_json())


def test_a_token_named_model_needs_literal_repository_settings(default_config: PlatformConfig) -> None:
    app = App(context=cdk_json_context())
    with pytest.raises(ValueError, match=r"tokens\): metric\.threshold, model_name, .*MODEL_SETTINGS"):
        _product_project(app, default_config.models[0])


def test_the_seed_archive_refuses_deploy_time_values(default_config: PlatformConfig) -> None:
    stack = Stack(App())
    threshold = CfnParameter(stack, "MetricThreshold", type="Number").value_as_number
    model = default_config.models[0]
    settings = model_settings(
        model.model_copy(update={"metric": model.metric.model_copy(update={"threshold": threshold})})
    )
    with pytest.raises(ValueError, match=r"known only at deploy time \(CloudFormation tokens\): metric\.threshold\. "):
        seed_asset(seed_template(model.seed), settings)
