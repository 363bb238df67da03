"""SageMaker Projects: the portfolio, its products, their templates and the launch role.

The products' templates are synthesized with the default configuration (the session's `synthesized`):
`<stack>.product.template.json` in the assembly. A product's template must hold what a model declared in
config gets (the same functions build both: mlops_constructs/model_lifecycle.py); the comparison below
synthesizes one config-declared model with a product's own settings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from config import ConfigError, load_config
from config.schema import CodeConnectionsSource, PlatformConfig
from lambdas.common.contracts import mlflow_registration_suffix, mlflow_tracking_server_name, platform_parameter_name
from mlops_constructs.model_product import PROJECT_NAME_PATTERN, ModelProductStack
from mlops_constructs.model_product import product_templates as product_templates_of
from stacks.platform import build_platform
from stacks.projects_stack import STUDIO_VISIBILITY_TAG
from tests.conftest import CONFIGURATIONS, Synthesized, cdk_json_context, without_projects, write_config

ACCOUNT, REGION = "123456789012", "eu-west-1"
ACCESS_LOGS_BUCKET = "AccessLogsBucketCD784A59"  # the governance stack's


@pytest.fixture(scope="module")
def projects(synthesized: Synthesized) -> Template:
    assert synthesized.platform.projects is not None
    return synthesized.template(synthesized.platform.projects)


def product_template_path(synthesized: Synthesized, product_stack: ModelProductStack) -> Path:
    [path] = Path(synthesized.assembly.directory).glob(f"*{product_stack.node.id}*.product.template.json")
    return path


@pytest.fixture(scope="module")
def product_templates(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Each product's template, by seed template."""
    assert synthesized.platform.projects is not None
    return {
        seed: json.loads(product_template_path(synthesized, stack).read_text())
        for seed, stack in synthesized.platform.projects.templates.items()
    }


# The parameter each platform value a product's template reads comes through (pinned to its SSM parameter).
PLATFORM_VALUE_PARAMETERS = {
    key: "Platform" + "".join(part.capitalize() for part in key.split("-"))
    for key in (
        "key-arn",
        "access-log-bucket",
        "alert-topic-arn",
        "approval-topic-arn",
        "audit-bus-name",
        "permissions-boundary-arn",
        "data-scientist-role-name",
        "model-approver-role-name",
        "approval-gate-role-name",
        # Published by the experiments stack: the default configuration tracks experiments.
        "mlflow-artifact-bucket",
    )
}


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}


def logical_id(template: Template, resource_type: str, id_prefix: str) -> str:
    [found] = [key for key in template.find_resources(resource_type) if key.startswith(id_prefix)]
    return found


# --- the portfolio ------------------------------------------------------------------------------------


def test_the_portfolio_is_shared_with_the_data_scientists(projects: Template) -> None:
    projects.resource_count_is("AWS::ServiceCatalog::Portfolio", 1)
    projects.has_resource_properties(
        "AWS::ServiceCatalog::PortfolioPrincipalAssociation",
        {
            "PrincipalType": "IAM",
            "PrincipalARN": {"Fn::ImportValue": Match.string_like_regexp("PersonasDataScientist.*Arn")},
        },
    )


def test_each_seed_template_is_a_studio_visible_product_launched_with_the_launch_role(projects: Template) -> None:
    products = projects.find_resources("AWS::ServiceCatalog::CloudFormationProduct")
    assert sorted(product["Properties"]["Name"] for product in products.values()) == [
        "mlops Binary classification model",
        "mlops Binary classification model (GitHub, GitLab or Bitbucket)",
        "mlops Regression model",
        "mlops Regression model (GitHub, GitLab or Bitbucket)",
    ]
    for product in products.values():
        assert {"Key": STUDIO_VISIBILITY_TAG, "Value": "true"} in product["Properties"]["Tags"]
        assert product["DeletionPolicy"] == "Retain"
    launch_role = logical_id(projects, "AWS::IAM::Role", "LaunchRole")
    constraints = projects.find_resources("AWS::ServiceCatalog::LaunchRoleConstraint")
    assert sorted(c["Properties"]["ProductId"]["Ref"] for c in constraints.values()) == sorted(products)
    assert all(c["Properties"]["RoleArn"] == {"Fn::GetAtt": [launch_role, "Arn"]} for c in constraints.values())
    associations = projects.find_resources("AWS::ServiceCatalog::PortfolioProductAssociation")
    assert sorted(a["Properties"]["ProductId"]["Ref"] for a in associations.values()) == sorted(products)
    projects.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "servicecatalog.amazonaws.com"}})]
            }
        },
    )


def _evaluate(node: Any) -> Any:
    """The intrinsic functions a product version's name uses, evaluated as CloudFormation would."""
    if isinstance(node, dict) and len(node) == 1:
        [(function, argument)] = node.items()
        if function == "Fn::Sub":
            return argument.replace("${AWS::URLSuffix}", "amazonaws.com")
        if function == "Fn::Split":
            return _evaluate(argument[1]).split(argument[0])
        if function == "Fn::Select":
            return _evaluate(argument[1])[argument[0]]
        if function == "Fn::Join":
            return argument[0].join(_evaluate(part) for part in argument[1])
    return node


def test_a_product_version_is_named_by_its_templates_content(projects: Template, synthesized: Synthesized) -> None:
    """A changed template is a new version existing projects can update to; an unchanged one keeps it."""
    assert synthesized.platform.projects is not None
    products = projects.find_resources("AWS::ServiceCatalog::CloudFormationProduct")
    names = {}
    for seed, stack in synthesized.platform.projects.templates.items():
        digest = hashlib.sha256(product_template_path(synthesized, stack).read_bytes()).hexdigest()
        [artifact] = [
            product["Properties"]["ProvisioningArtifactParameters"][0]
            for product in products.values()
            if digest in json.dumps(product)
        ]
        assert artifact["Info"]["LoadTemplateFromURL"]["Fn::Sub"].endswith(f"/{digest}.json")
        names[seed] = _evaluate(artifact["Name"])
        assert names[seed] == f"v-{digest}"
    assert len(set(names.values())) == len(names)


def test_data_scientists_may_create_projects_from_the_platforms_products_only(projects: Template) -> None:
    policy_id = logical_id(projects, "AWS::IAM::ManagedPolicy", "DataScientistProjects")
    statements = projects.to_json()["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
    provision = next(s for s in statements if s["Sid"] == "ProvisionThePlatformsProducts")
    products = sorted(projects.find_resources("AWS::ServiceCatalog::CloudFormationProduct"))
    assert "servicecatalog:ProvisionProduct" in provision["Action"]
    assert len(provision["Resource"]) == len(products)
    assert all(any(product in json.dumps(resource) for product in products) for resource in provision["Resource"])


def test_project_buckets_may_deliver_access_logs(governance: Template) -> None:
    governance.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "ProjectBucketsDeliverAccessLogs",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::sc-{ACCOUNT}-pp-*"},
                                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


# The launch role: tests/unit/test_launch_role.py.


# --- a product's template -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["binary-classification", "regression"])
def test_a_products_template_takes_the_project_from_sagemaker(
    product_templates: dict[str, dict[str, Any]], seed: str
) -> None:
    template = product_templates[seed]
    parameters = template["Parameters"]
    assert list(parameters) == [
        "SageMakerProjectName",
        "SageMakerProjectId",
        "TrainingInstanceType",
        "ProcessingInstanceType",
        "InferenceInstanceType",
        "MetricThreshold",
        # What the model card says beyond what the build measures.
        "ModelOwner",
        "ModelRiskRating",
        "ModelIntendedUses",
        "ModelLimitations",
        *PLATFORM_VALUE_PARAMETERS.values(),
        "PowertoolsLayerArn",
    ]
    assert parameters["MetricThreshold"]["Type"] == "Number"
    assert parameters["ModelRiskRating"]["AllowedValues"] == ["low", "medium", "high"]
    # The card's texts are spliced into the build's JSON settings: nothing that could break out of a string.
    for text in ("ModelOwner", "ModelIntendedUses", "ModelLimitations"):
        pattern = re.compile(parameters[text]["AllowedPattern"])
        assert pattern.fullmatch("Churn team <churn@example.com>, café (EU) & co")
        for breaking in ('say "hi"', "a\\b", "two\nlines", 'x","clarify":{"y'):
            assert not pattern.fullmatch(breaking), breaking
    # The default configuration tracks experiments: a project may not take a name of the groups the MLflow
    # tracking server syncs its models into (<registered model>-<suffix>), which its role may write.
    suffix = mlflow_registration_suffix(mlflow_tracking_server_name("mlops"))
    name_pattern = parameters["SageMakerProjectName"]["AllowedPattern"]
    assert name_pattern.endswith(PROJECT_NAME_PATTERN.removeprefix("^"))
    for name in ("churn", "fraud-2", f"{suffix}-first", f"x{suffix}"):
        assert re.fullmatch(name_pattern, name), name
    for name in (f"churn-{suffix}", f"a-b-{suffix}", "-churn", "churn-", "Churn", "c"):
        assert not re.fullmatch(name_pattern, name), name
    project = {"Ref": "SageMakerProjectName"}
    [group] = of_type(template, "AWS::SageMaker::ModelPackageGroup").values()
    assert group["Properties"]["ModelPackageGroupName"] == project
    assert {"Key": "sagemaker:project-id", "Value": {"Ref": "SageMakerProjectId"}} in group["Properties"]["Tags"]
    assert len(of_type(template, "AWS::CodePipeline::Pipeline")) == 2  # build and deploy
    [repository] = of_type(template, "AWS::CodeCommit::Repository").values()
    assert repository["Properties"]["RepositoryName"] == {"Fn::Join": ["", [project, "-model-build"]]}
    registration = next(
        p for p in of_type(template, "AWS::SSM::Parameter").values() if "Registers model" in json.dumps(p)
    )
    assert registration["Properties"]["Name"] == {"Fn::Join": ["", ["/mlops/models/", project]]}


@pytest.mark.parametrize("seed", ["binary-classification", "regression-git"])
def test_a_projects_model_card_says_what_its_creator_stated(
    product_templates: dict[str, dict[str, Any]], seed: str
) -> None:
    """Owner, risk, uses and limitations are asked when the project is created and reach the build's
    settings (the card); the bias check is not configured for a project's model: its card says so."""
    template = product_templates[seed]
    builds = [
        variable["Value"]
        for project in of_type(template, "AWS::CodeBuild::Project").values()
        for variable in project["Properties"]["Environment"].get("EnvironmentVariables", [])
        if variable["Name"] == "MODEL_SETTINGS"
    ]
    assert len(builds) == 2
    for settings in builds:
        rendered = json.dumps(settings)
        for parameter in ("ModelOwner", "ModelRiskRating", "ModelIntendedUses", "ModelLimitations"):
            assert json.dumps({"Ref": parameter}) in rendered
        literal = "".join(part for part in settings["Fn::Join"][1] if isinstance(part, str))
        # CloudFormation's JSON drops null values: no "clarify" means none (the seeds default it to None).
        assert '"clarify"' not in literal


@pytest.mark.parametrize("seed", ["binary-classification-git", "regression-git"])
def test_a_git_host_products_template_reads_the_teams_repository_through_its_connection(
    product_templates: dict[str, dict[str, Any]], seed: str
) -> None:
    template = product_templates[seed]
    parameters = template["Parameters"]
    assert list(parameters)[-4:] == ["ConnectionArn", "RepositoryOwner", "RepositoryName", "BranchName"]
    assert parameters["BranchName"]["Default"] == "main"
    assert of_type(template, "AWS::CodeCommit::Repository") == {}
    [build] = [p for key, p in of_type(template, "AWS::CodePipeline::Pipeline").items() if key.startswith("Project")]
    [action] = build["Properties"]["Stages"][0]["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert action["Configuration"]["ConnectionArn"] == {"Ref": "ConnectionArn"}
    assert action["Configuration"]["FullRepositoryId"] == {
        "Fn::Join": ["", [{"Ref": "RepositoryOwner"}, "/", {"Ref": "RepositoryName"}]]
    }
    assert build["Properties"]["Triggers"] == [
        {
            "GitConfiguration": {
                "Push": [{"Branches": {"Includes": [{"Ref": "BranchName"}]}}],
                "SourceActionName": "Checkout",
            },
            "ProviderType": "CodeStarSourceConnection",
        }
    ]
    assert template["Outputs"]["SeedArchiveS3Uri"]["Value"].startswith("s3://mlops-product-assets-")
    # The data scientists read the seed archive (its object only) and decrypt it through S3.
    policies = json.dumps(of_type(template, "AWS::IAM::ManagedPolicy"))
    assert "ReadTheSeedArchive" in policies
    assert "DecryptTheSeedArchiveThroughS3" in policies


@pytest.mark.parametrize("seed", ["binary-classification", "regression", "binary-classification-git", "regression-git"])
def test_a_products_template_reads_the_platform_from_ssm_not_from_exports(
    product_templates: dict[str, dict[str, Any]], seed: str
) -> None:
    template = product_templates[seed]
    text = json.dumps(template)
    assert "Fn::ImportValue" not in text
    assert "${Token" not in text
    # Each value through one parameter pinned to its SSM parameter: no dynamic reference (60 at most).
    assert "{{resolve:" not in text
    used = {key for key, parameter in PLATFORM_VALUE_PARAMETERS.items() if json.dumps({"Ref": parameter}) in text}
    assert used >= {
        "key-arn",
        "alert-topic-arn",
        "audit-bus-name",
        "permissions-boundary-arn",
        "approval-gate-role-name",
    }
    parameters = template["Parameters"]
    for key, parameter in PLATFORM_VALUE_PARAMETERS.items():
        assert parameters[parameter]["Type"] == "AWS::SSM::Parameter::Value<String>"
        assert parameters[parameter]["Default"] == platform_parameter_name("mlops", key)
        assert parameters[parameter]["AllowedValues"] == [parameters[parameter]["Default"]]


@pytest.mark.parametrize("seed", ["binary-classification", "regression", "binary-classification-git", "regression-git"])
def test_a_projects_data_is_kept_when_the_project_is_deleted(
    product_templates: dict[str, dict[str, Any]], seed: str
) -> None:
    template = product_templates[seed]
    for resource_type in (
        *(["AWS::CodeCommit::Repository"] if not seed.endswith("-git") else []),
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
    ):
        resources = of_type(template, resource_type)
        assert resources, resource_type
        assert {r.get("DeletionPolicy") for r in resources.values()} == {"Retain"}, resource_type


@pytest.mark.parametrize("seed", ["binary-classification", "regression", "binary-classification-git", "regression-git"])
def test_every_role_of_a_product_carries_the_platforms_boundary(
    product_templates: dict[str, dict[str, Any]], seed: str
) -> None:
    boundary = {"Ref": PLATFORM_VALUE_PARAMETERS["permissions-boundary-arn"]}
    roles = of_type(product_templates[seed], "AWS::IAM::Role")
    assert roles
    assert {json.dumps(role["Properties"].get("PermissionsBoundary")) for role in roles.values()} == {
        json.dumps(boundary)
    }


def test_the_approval_gate_is_granted_a_projects_model_by_its_template(
    product_templates: dict[str, dict[str, Any]],
) -> None:
    template = product_templates["binary-classification"]
    [policy] = [
        p for key, p in of_type(template, "AWS::IAM::ManagedPolicy").items() if key.startswith("ApprovalGateAccess")
    ]
    assert policy["Properties"]["Roles"] == [{"Ref": PLATFORM_VALUE_PARAMETERS["approval-gate-role-name"]}]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    [deploy_pipeline] = [
        key for key, p in of_type(template, "AWS::CodePipeline::Pipeline").items() if key.startswith("DeployPipeline")
    ]
    assert json.dumps({"Ref": deploy_pipeline}) in json.dumps(statements["StartTheDeployPipelines"]["Resource"])
    assert "sagemaker:UpdateModelPackage" in statements["ReadAndRejectPackagesOfTheGatedGroups"]["Action"]
    # The evaluation reports the gate re-checks: in the same policy (one per project on the shared role).
    [data_bucket] = [key for key in of_type(template, "AWS::S3::Bucket") if key.startswith("ProjectDataBucket")]
    reports = statements["ReadTheEvaluationReports"]
    assert reports["Action"] == "s3:GetObject"
    assert reports["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [data_bucket, "Arn"]}, "/", {"Ref": "SageMakerProjectName"}, "/pipelines/*"]]
    }
    gate_role = {"Ref": PLATFORM_VALUE_PARAMETERS["approval-gate-role-name"]}
    attached = [
        p for p in of_type(template, "AWS::IAM::ManagedPolicy").values() if gate_role in p["Properties"]["Roles"]
    ]
    assert len(attached) == 1


@pytest.fixture(scope="module")
def same_models_from_config(
    synthesized: Synthesized, default_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, dict[str, Any]]]:
    """Models declared in config with the products' own settings (one with a CodeCommit repository, one
    on a Git host): their build and deploy templates, by product key."""
    assert synthesized.platform.projects is not None
    products = synthesized.platform.projects.templates
    connection = CodeConnectionsSource(
        provider="codeconnections",
        connection_arn=f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0f4c8e2a-5b7d-4e1a-9c3f-2d6b8a1e7f90",
        repository="acme/probe",
    )
    models = {
        "binary-classification": products["binary-classification"].template.model.model_copy(update={"name": "probe"}),
        "binary-classification-git": products["binary-classification-git"].template.model.model_copy(
            update={"name": "probe-git", "source": connection}
        ),
    }
    config = default_config.model_copy(
        update={
            "models": list(models.values()),
            "feature_groups": [],
            "projects": default_config.projects.model_copy(update={"enabled": False}),
            "studio": default_config.studio.model_copy(update={"enabled": False}),
        }
    )
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("probe.out")))
    platform = build_platform(app, config)
    assembly = app.synth()
    return {
        key: {
            "build": assembly.get_stack_by_name(platform.model_builds[model.name].stack_name).template,
            "deploy": assembly.get_stack_by_name(platform.model_deploys[model.name].stack_name).template,
        }
        for key, model in models.items()
    }


@pytest.mark.parametrize("key", ["binary-classification", "binary-classification-git"])
def test_a_product_holds_what_a_config_declared_model_gets(
    product_templates: dict[str, dict[str, Any]],
    same_models_from_config: dict[str, dict[str, dict[str, Any]]],
    key: str,
) -> None:
    """The same functions build both: the same resources, but for what the products' region-agnostic
    template needs (a plain table for a global one). The gate's grant, which a project brings, takes the
    place of the gate's read of the evaluation reports (one policy on the gate's role). (On a Git
    host, the key to read its seed archive, which lies in the encrypted product asset bucket, is one more
    statement of the data scientists' policy, not one more policy.)"""

    def kinds(template: dict[str, Any]) -> Counter[str]:
        return Counter(r["Type"] for r in template["Resources"].values() if r["Type"] != "AWS::CDK::Metadata")

    same_model_from_config = same_models_from_config[key]
    declared = kinds(same_model_from_config["build"]) + kinds(same_model_from_config["deploy"])
    declared["AWS::DynamoDB::Table"] += declared.pop("AWS::DynamoDB::GlobalTable")
    # Undelivered events go to one alarmed queue per stack (EventDeadLetters.of): two stacks, one template.
    for kind in ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm"):
        declared[kind] -= 1
    assert kinds(product_templates[key]) == declared


# --- configuration ------------------------------------------------------------------------------------


def _templates(templates: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw["projects"] = {"enabled": True, "templates": templates}

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        pytest.param(
            _templates(["regression", "regression"]), "projects.templates", "duplicate project templates", id="twice"
        ),
        pytest.param(_templates(["time-series"]), "projects.templates[0]", "Input should be", id="unknown-seed"),
        pytest.param(_templates([]), "projects.templates", "at least 1 item", id="none"),
    ],
)
def test_invalid_projects_config_names_file_and_field(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, mutate))
    assert f"platform.yaml: {field}: " in str(error.value)
    assert reason in str(error.value)


def test_projects_are_off_unless_configured(any_model: Synthesized) -> None:
    assert any_model.platform.projects is None
    assert not any("projects" in stack.stack_name for stack in any_model.assembly.stacks)


def test_the_products_change_no_other_template_but_the_governance_stacks_log_bucket_policy_and_exports(
    synthesized: Synthesized, default_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What lets a test of another stack turn the projects off in its variant of the default configuration
    (tests/conftest.py: without_projects): their products are three quarters of a synthesis."""
    config = without_projects(default_config)
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("no-projects.out")))
    build_platform(app, config)
    without = {stack.stack_name: stack.template for stack in app.synth().stacks}
    with_projects = {stack.stack_name: stack.template for stack in synthesized.assembly.stacks}
    assert set(with_projects) - set(without) == {"mlops-projects"}
    governance = "mlops-governance"
    assert {name for name in without if without[name] != with_projects[name]} == {governance}
    resources = with_projects[governance]["Resources"], without[governance]["Resources"]
    [changed] = [key for key in resources[0] if resources[0][key] != resources[1].get(key)]
    assert set(resources[0]) == set(resources[1])
    assert resources[0][changed]["Type"] == "AWS::S3::BucketPolicy"
    assert resources[0][changed]["Properties"]["Bucket"] == {"Ref": ACCESS_LOGS_BUCKET}
    outputs = with_projects[governance]["Outputs"], without[governance]["Outputs"]
    assert all(outputs[0][name] == output for name, output in outputs[1].items())
    assert all("Export" in outputs[0][name] for name in set(outputs[0]) - set(outputs[1]))


def test_one_product_per_configured_seed_template(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, _templates(["regression"])))
    templates = product_templates_of(config.projects.templates, config.projects.sources)
    assert [template.key for template in templates] == ["regression", "regression-git"]


# --- CloudFormation's limits --------------------------------------------------------------------------

# CloudFormation resolves at most 60 dynamic references ({{resolve:...}}) in one template.
DYNAMIC_REFERENCES_PER_TEMPLATE = 60


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_no_template_holds_more_dynamic_references_than_cloudformation_resolves(
    configuration: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(configuration)
    directory = Path(synthesized.assembly.directory)
    templates = {stack.stack_name: json.dumps(stack.template) for stack in synthesized.assembly.stacks}
    templates |= {path.name: path.read_text() for path in directory.glob("*.product.template.json")}
    templates |= {str(path.relative_to(directory)): path.read_text() for path in directory.glob("asset.*/*.json")}
    counts = {name: text.count("{{resolve:") for name, text in templates.items()}
    assert {name: count for name, count in counts.items() if count > DYNAMIC_REFERENCES_PER_TEMPLATE} == {}


@pytest.mark.parametrize("seed", ["binary-classification", "regression", "binary-classification-git", "regression-git"])
def test_every_ssm_value_of_a_products_template_is_pinned_to_its_parameter(
    product_templates: dict[str, dict[str, Any]], seed: str
) -> None:
    """Studio shows a product's parameters in the form a data scientist fills in: the ones the platform
    sets allow only their SSM parameter, and say so."""
    parameters = product_templates[seed]["Parameters"]
    ssm_values = {k: p for k, p in parameters.items() if p["Type"] == "AWS::SSM::Parameter::Value<String>"}
    assert set(ssm_values) == {*PLATFORM_VALUE_PARAMETERS.values(), "PowertoolsLayerArn"}
    for name, parameter in ssm_values.items():
        assert parameter["AllowedValues"] == [parameter["Default"]], name
        assert parameter["Description"].endswith("set by the platform, leave as it is"), name
    assert parameters["PowertoolsLayerArn"]["Default"].startswith("/aws/service/powertools/python/")
