"""A model whose code lives on GitHub, GitLab or Bitbucket (config/examples/git-source.yaml): the build
pipeline reads it through a CodeConnections connection, pushes to its branch start it, retraining
still does, and the seed is published as an archive the team pushes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from config import load_config
from config.schema import CodeConnectionsSource, PlatformConfig
from lambdas.common.contracts import RETRAINING_DETAIL_TYPE
from mlops_constructs.model_project import ModelProject
from mlops_constructs.seeds import model_settings
from tests.compliance.test_nag import _findings
from tests.conftest import ROOT, Synthesized, _synthesize, cdk_json_context, lint_for
from tests.iam_evaluation import role_principal
from tests.template_lint import TemplateLint

GIT_SOURCE_CONFIG_PATH = ROOT / "config" / "examples" / "git-source.yaml"
ACCOUNT, REGION = "123456789012", "eu-west-1"
CONNECTION_ARN = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0f4c8e2a-5b7d-4e1a-9c3f-2d6b8a1e7f90"
OTHER_CONNECTION_ARN = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/11111111-2222-3333-4444-555555555555"
PIPELINE_ARN = {"Fn::Join": ["", [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:", {"Ref": "ProjectPipelineBB3C27A6"}]]}
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


@pytest.fixture(scope="session")
def git_config() -> PlatformConfig:
    return load_config(GIT_SOURCE_CONFIG_PATH)


@pytest.fixture(scope="session")  # kept for its cfn-lint test, which runs last (marked background)
def git_source(
    git_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Synthesized:
    git_source = _synthesize(git_config, tmp_path_factory)
    lint_for(request, "test_the_build_template_passes_cfn_lint", [_build_template_file(git_source)])
    return git_source


def _build_template_file(git_source: Synthesized) -> Path:
    return Path(git_source.assembly.directory) / "mlops-churn-build.template.json"


@pytest.fixture(scope="module")
def build(git_source: Synthesized) -> Template:
    return git_source.template(git_source.platform.model_builds["churn"])


def _pipeline(template: Template) -> dict[str, Any]:
    [pipeline] = template.find_resources("AWS::CodePipeline::Pipeline").values()
    return dict(pipeline["Properties"])


def _statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for resource in template.to_json()["Resources"].values()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _seed_archive_key(git_source: Synthesized) -> str:
    archive = git_source.platform.model_builds["churn"].project.seed_archive
    assert archive is not None
    return f"{archive.asset_hash}.zip"


# --- source and triggers ---------------------------------------------------------------------------


def test_the_source_is_the_repository_through_the_connection(build: Template) -> None:
    source_stage = _pipeline(build)["Stages"][0]
    [action] = source_stage["Actions"]
    assert action["ActionTypeId"] == {
        "Category": "Source",
        "Owner": "AWS",
        "Provider": "CodeStarSourceConnection",
        "Version": "1",
    }
    # No OutputArtifactFormat: a zip of the commit, as from CodeCommit (CodeBuild needs no connection grant).
    assert action["Configuration"] == {
        "ConnectionArn": CONNECTION_ARN,
        "FullRepositoryId": "acme-data/churn-model",
        "BranchName": "main",
        "DetectChanges": False,
    }


def test_pushes_to_the_branch_and_only_those_start_the_v2_pipeline(build: Template) -> None:
    pipeline = _pipeline(build)
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["Triggers"] == [
        {
            "ProviderType": "CodeStarSourceConnection",
            "GitConfiguration": {"SourceActionName": "Checkout", "Push": [{"Branches": {"Includes": ["main"]}}]},
        }
    ]
    # Nothing else starts it on a push: no CodeCommit rule, no polling.
    sources = [
        rule["Properties"]["EventPattern"]["source"] for rule in build.find_resources("AWS::Events::Rule").values()
    ]
    assert ["aws.codecommit"] not in sources


def test_no_codecommit_repository_and_no_codecommit_grant(build: Template) -> None:
    assert build.find_resources("AWS::CodeCommit::Repository") == {}
    assert not [statement for statement in _statements(build) if any("codecommit" in a for a in _actions(statement))]


def test_retraining_requests_still_start_the_pipeline(build: Template) -> None:
    [rule] = [
        rule["Properties"]
        for rule in build.find_resources("AWS::Events::Rule").values()
        if rule["Properties"]["EventPattern"].get("detail-type") == [RETRAINING_DETAIL_TYPE]
    ]
    assert rule["EventPattern"]["detail"] == {"model_name": ["churn"]}
    [target] = rule["Targets"]
    assert target["Arn"] == PIPELINE_ARN
    assert "DeadLetterConfig" in target
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


# --- the connection grant ----------------------------------------------------------------------------


def test_use_connection_is_granted_on_that_connection_only_to_the_source_role(
    build: Template, git_source: Synthesized
) -> None:
    governance = git_source.template(git_source.platform.governance)
    [action] = _pipeline(build)["Stages"][0]["Actions"]
    source_role_id = action["RoleArn"]["Fn::GetAtt"][0]
    source_role = role_principal(build, source_role_id, boundary_from=governance)
    for use in ("codeconnections:UseConnection", "codestar-connections:UseConnection"):
        assert source_role.is_allowed(use, CONNECTION_ARN), use
        assert not source_role.is_allowed(use, OTHER_CONNECTION_ARN), use
    for role_id in build.find_resources("AWS::IAM::Role"):
        if role_id != source_role_id:
            role = role_principal(build, role_id, boundary_from=governance)
            assert not role.is_allowed("codeconnections:UseConnection", CONNECTION_ARN), role_id
            assert not role.is_allowed("codestar-connections:UseConnection", CONNECTION_ARN), role_id
    for statement in _statements(build):
        if any(action.endswith(":UseConnection") for action in _actions(statement)):
            assert statement["Resource"] == CONNECTION_ARN


# --- the seed archive --------------------------------------------------------------------------------


def test_the_seed_is_published_as_an_archive_of_the_models_seed(
    build: Template, git_source: Synthesized, git_config: PlatformConfig
) -> None:
    key = _seed_archive_key(git_source)
    output = build.find_outputs("SeedArchiveS3Uri")["SeedArchiveS3Uri"]
    assert output["Value"] == f"s3://{ASSETS_BUCKET}/{key}"
    assert "git init" in output["Description"]
    assert "each seed version is its own object" in output["Description"]
    build.has_output("RepositoryCloneUrl", {"Value": "acme-data/churn-model"})
    # The asset is the composed seed, with the model's settings: what a CodeCommit repository starts from.
    manifest = json.loads((Path(git_source.assembly.directory) / "mlops-churn-build.assets.json").read_text())
    archive = manifest["files"][key.removesuffix(".zip")]
    assert archive["source"]["packaging"] == "zip"
    assert {destination["objectKey"] for destination in archive["destinations"].values()} == {key}
    staged = Path(git_source.assembly.directory) / archive["source"]["path"]
    assert json.loads((staged / "model_config.json").read_text()) == json.loads(
        json.dumps(model_settings(git_config.models[0]))
    )
    assert (staged / "buildspec-train.yml").is_file()
    assert not list(staged.rglob("__pycache__"))


def test_data_scientists_read_exactly_that_object_and_follow_the_pipeline(
    build: Template, git_source: Synthesized
) -> None:
    [policy] = [
        resource["Properties"]
        for resource_id, resource in build.find_resources("AWS::IAM::ManagedPolicy").items()
        if resource_id.startswith("DataScientistAccess")
    ]
    assert policy["Roles"] == [
        {"Fn::ImportValue": "mlops-governance:ExportsOutputRefPersonasDataScientist09D6E9658DF7B198"}
    ]
    statements = {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"FollowTheBuildPipeline", "ReadTheSeedArchive"}
    assert statements["ReadTheSeedArchive"]["Action"] == "s3:GetObject"
    assert (
        statements["ReadTheSeedArchive"]["Resource"] == f"arn:aws:s3:::{ASSETS_BUCKET}/{_seed_archive_key(git_source)}"
    )
    assert statements["FollowTheBuildPipeline"]["Resource"] == PIPELINE_ARN


# --- compliance --------------------------------------------------------------------------------------


def test_no_unacknowledged_cdk_nag_findings(git_source: Synthesized) -> None:
    assert _findings(git_source.app) == {"AwsSolutions": [], "NIST.800.53.R5": []}


@pytest.mark.background
def test_the_build_template_passes_cfn_lint(git_source: Synthesized, template_lint: TemplateLint) -> None:
    findings = template_lint.findings([_build_template_file(git_source)])
    assert findings == [], "\n\n".join(findings)


# --- other repositories, and the default ---------------------------------------------------------------


def test_a_gitlab_subgroup_repository_on_another_branch(git_config: PlatformConfig) -> None:
    source = CodeConnectionsSource(
        provider="codeconnections", connection_arn=CONNECTION_ARN, repository="acme/data/churn-model", branch="release"
    )
    model = git_config.models[0].model_copy(update={"source": source})
    stack = Stack(App(context=cdk_json_context()), "Subgroup", env=Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key")
    ModelProject(
        stack,
        "Project",
        platform_name="mlops",
        model=model,
        encryption_key=key,
        access_log_bucket=s3.Bucket(stack, "AccessLogs"),
        alert_topic=sns.Topic(stack, "Alerts", master_key=key),
        log_retention=logs.RetentionDays.ONE_YEAR,
        noncurrent_version_days=30,
        registry_readers=[],
    )
    pipeline = _pipeline(Template.from_stack(stack))
    configuration = pipeline["Stages"][0]["Actions"][0]["Configuration"]
    assert (configuration["FullRepositoryId"], configuration["BranchName"]) == ("acme/data/churn-model", "release")
    assert pipeline["Triggers"][0]["GitConfiguration"]["Push"] == [{"Branches": {"Includes": ["release"]}}]


def test_the_default_model_still_has_its_seeded_codecommit_repository(churn_build: Template) -> None:
    assert len(churn_build.find_resources("AWS::CodeCommit::Repository")) == 1
    pipeline = _pipeline(churn_build)
    assert pipeline["Stages"][0]["Actions"][0]["ActionTypeId"]["Provider"] == "CodeCommit"
    assert "Triggers" not in pipeline
    assert "SeedArchiveS3Uri" not in churn_build.find_outputs("*")


def test_every_package_records_the_teams_repository_as_its_source(build: Template) -> None:
    """The train stage names the Git host's repository, which the build records in MetadataProperties."""
    locations = [
        variable["Value"]
        for project in build.find_resources("AWS::CodeBuild::Project").values()
        for variable in project["Properties"]["Environment"]["EnvironmentVariables"]
        if variable["Name"] == "SOURCE_REPOSITORY"
    ]
    assert locations == ["codeconnections:acme-data/churn-model"]
