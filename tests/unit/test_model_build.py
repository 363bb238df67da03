"""ModelProject / ModelBuildStack: trigger, stages, encryption, role scopes, retention and seeding."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config.schema import PlatformConfig
from mlops_constructs.seeds import MODEL_SETTINGS_VARIABLE, model_settings, seed_asset
from tests.iam_evaluation import role_principal

ACCOUNT, REGION = "123456789012", "eu-west-1"
KEY_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputFnGetAttPlatformKey1C4A1A63Arn1AD0FED1"}
STATEFUL_LOGICAL_IDS = {
    "ProjectModelPackageGroup3B13BA52": "AWS::SageMaker::ModelPackageGroup",
    "ProjectRepository24638862": "AWS::CodeCommit::Repository",
    "ProjectDataBucket2B516496": "AWS::S3::Bucket",
    "ProjectPipelineArtifactsBucketC55BC3C4": "AWS::S3::Bucket",
    "ProjectTestProjectLogs25982C57": "AWS::Logs::LogGroup",
    "ProjectTrainProjectLogs2100D7E9": "AWS::Logs::LogGroup",
}
SAGEMAKER_ROLE = "ProjectSageMakerExecutionRole3D3EF084"
TRAIN_ROLE = "ProjectTrainProjectRole1CE1F5EE"
TEST_PROJECT = "ProjectTestProject0019D165"
TRAIN_PROJECT = "ProjectTrainProjectB93A7761"
ARTIFACTS_BUCKET = "ProjectPipelineArtifactsBucketC55BC3C4"
PIPELINE = "ProjectPipelineBB3C27A6"


def of_type(template: Template, resource_type: str) -> Mapping[str, Any]:
    return template.find_resources(resource_type)


def only(template: Template, resource_type: str) -> dict[str, Any]:
    found = list(of_type(template, resource_type).values())
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]["Properties"]


def all_statements(template: Template) -> Iterator[dict[str, Any]]:
    for resource in template.to_json()["Resources"].values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield from resource["Properties"]["PolicyDocument"]["Statement"]


# --- stateful resources ---------------------------------------------------------------------------


@pytest.mark.parametrize(("resource_id", "resource_type"), STATEFUL_LOGICAL_IDS.items())
def test_stateful_resources_keep_their_id_and_are_retained(
    churn_build: Template, resource_id: str, resource_type: str
) -> None:
    resource = churn_build.to_json()["Resources"][resource_id]
    assert resource["Type"] == resource_type
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_model_package_group_is_named_after_the_model(churn_build: Template, default_config: PlatformConfig) -> None:
    assert only(churn_build, "AWS::SageMaker::ModelPackageGroup") == {
        "ModelPackageGroupName": "churn",
        "ModelPackageGroupDescription": default_config.models[0].description,
        "Tags": [{"Key": "mlops:platform", "Value": "mlops"}, {"Key": "team", "Value": "customer-analytics"}],
    }


def test_registry_is_private_unless_deployment_accounts_are_configured(churn_build: Template) -> None:
    assert "ModelPackageGroupPolicy" not in only(churn_build, "AWS::SageMaker::ModelPackageGroup")


def test_repository_is_seeded_on_main_and_encrypted(churn_build: Template) -> None:
    repository = only(churn_build, "AWS::CodeCommit::Repository")
    assert repository["RepositoryName"] == "churn-model-build"
    assert repository["KmsKeyId"] == KEY_IMPORT
    assert repository["Code"]["BranchName"] == "main"
    assert set(repository["Code"]["S3"]) == {"Bucket", "Key"}
    assert repository["Code"]["S3"]["Key"].endswith(".zip")


def test_seed_is_staged_with_the_models_settings(tmp_path: Path, default_config: PlatformConfig) -> None:
    seed = tmp_path / "seed"
    (seed / "pipelines").mkdir(parents=True)
    (seed / "pipelines" / "run.py").write_text("print('run')\n")
    (seed / "model_config.json").write_text('{"model_name": "default"}')
    for local_state in (
        ".venv/bin/python",
        "pipelines/__pycache__/run.pyc",
        "data/generated/train.csv",
        ".pytest_cache/x",
    ):
        (seed / local_state).parent.mkdir(parents=True, exist_ok=True)
        (seed / local_state).write_text("local state")
    settings = model_settings(default_config.models[0])

    staged = seed_asset(seed, settings)

    files = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    assert files == ["model_config.json", "pipelines/run.py"]
    assert json.loads((staged / "model_config.json").read_text()) == {
        "model_name": "churn",
        "model_package_group_name": "churn",
        "pipeline_name": "churn-build",
        "problem_type": "binary_classification",
        "metric": {"name": "auc", "threshold": 0.75, "direction": "higher_is_better"},
        "processing_instance_type": "ml.m5.large",
        "training_instance_type": "ml.m5.large",
        "inference_instance_types": ["ml.m5.large"],
        "feature_group_name": "churn-customer-features",
        "resource_tags": {"mlops:model": "churn"},
        "clarify": {
            "facets": [{"name": "senior_citizen", "values": [1]}],
            "label_values": [1],
            "bias_policy": "block",
        },
        "card": {
            "description": "Predicts which customers will cancel their subscription in the next 30 days.",
            "intended_uses": default_config.models[0].card.intended_uses,  # type: ignore[union-attr]
            "limitations": default_config.models[0].card.limitations,  # type: ignore[union-attr]
            "risk_rating": "medium",
            "owner": "customer-analytics (churn-models@example.com)",
        },
        "package_metadata": {
            "task": "CLASSIFICATION",
            "customer_metadata_properties": {
                "mlops:problem-type": "binary_classification",
                "mlops:content-type": "application/json",
                "mlops:accept": "application/json",
                "mlops:prediction-attribute": "label",
                "mlops:probability-attribute": "probability",
            },
            "sample_payloads_prefix": "churn/sample-payloads/",
        },
    }
    assert seed_asset(seed, settings) == staged, "same content, same directory: repeated synths reuse it"
    (seed / "pipelines" / "run.py").write_text("print('changed')\n")
    assert seed_asset(seed, settings) != staged, "changed content must produce a new asset"


# --- pipeline -------------------------------------------------------------------------------------


def test_push_to_main_starts_the_pipeline_through_eventbridge(churn_build: Template) -> None:
    churn_build.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Repository State Change"],
                "resources": [{"Fn::GetAtt": ["ProjectRepository24638862", "Arn"]}],
                "detail": {"event": ["referenceCreated", "referenceUpdated"], "referenceName": ["main"]},
            },
            "Targets": [
                Match.object_like(
                    {"Arn": {"Fn::Join": ["", [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:", {"Ref": PIPELINE}]]}}
                )
            ],
        },
    )
    source = only(churn_build, "AWS::CodePipeline::Pipeline")["Stages"][0]["Actions"][0]
    assert source["Configuration"]["PollForSourceChanges"] is False


def test_pipeline_is_v2_with_encrypted_artifacts_and_three_stages(churn_build: Template) -> None:
    pipeline = only(churn_build, "AWS::CodePipeline::Pipeline")
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["ArtifactStore"] == {
        "Type": "S3",
        "Location": {"Ref": "ProjectPipelineArtifactsBucketC55BC3C4"},
        "EncryptionKey": {"Type": "KMS", "Id": KEY_IMPORT},
    }
    stages = [(stage["Name"], [action["Name"] for action in stage["Actions"]]) for stage in pipeline["Stages"]]
    assert stages == [
        ("Source", ["Checkout"]),
        ("Test", ["UnitTestsAndDataValidation"]),
        ("Train", ["RunSageMakerPipeline"]),
    ]
    projects = [stage["Actions"][0]["Configuration"].get("ProjectName") for stage in pipeline["Stages"][1:]]
    assert projects == [{"Ref": TEST_PROJECT}, {"Ref": TRAIN_PROJECT}]


@pytest.mark.parametrize(
    ("project_id", "buildspec", "timeout_minutes"),
    [(TEST_PROJECT, "buildspec-test.yml", 30), (TRAIN_PROJECT, "buildspec-train.yml", 240)],
)
def test_codebuild_projects_are_encrypted_unprivileged_logged_and_bounded(
    churn_build: Template, project_id: str, buildspec: str, timeout_minutes: int
) -> None:
    project = of_type(churn_build, "AWS::CodeBuild::Project")[project_id]["Properties"]
    assert project["EncryptionKey"] == KEY_IMPORT
    assert project["Environment"]["PrivilegedMode"] is False
    assert project["Environment"]["Image"] == "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    assert project["Source"] == {"Type": "CODEPIPELINE", "BuildSpec": buildspec}
    assert project["TimeoutInMinutes"] == timeout_minutes
    assert project["QueuedTimeoutInMinutes"] == 60
    log_group_id = project["LogsConfig"]["CloudWatchLogs"]["GroupName"]["Ref"]
    log_group = of_type(churn_build, "AWS::Logs::LogGroup")[log_group_id]["Properties"]
    assert (log_group["KmsKeyId"], log_group["RetentionInDays"]) == (KEY_IMPORT, 365)
    # The buildspec's pip cache persists in the pipeline's artifact bucket (encrypted, the stage's own prefix).
    stage = "test" if project_id == TEST_PROJECT else "train"
    assert project["Cache"] == {
        "Type": "S3",
        "Location": {"Fn::Join": ["/", [{"Ref": ARTIFACTS_BUCKET}, f"codebuild-cache/{stage}"]]},
    }


def test_train_stage_gets_the_sagemaker_contract_as_environment(churn_build: Template) -> None:
    project = of_type(churn_build, "AWS::CodeBuild::Project")[TRAIN_PROJECT]["Properties"]
    variables = {variable["Name"]: variable["Value"] for variable in project["Environment"]["EnvironmentVariables"]}
    assert json.loads(variables.pop(MODEL_SETTINGS_VARIABLE))["model_name"] == "churn"  # test_project_settings.py
    assert variables == {
        "MODEL_NAME": "churn",
        "SAGEMAKER_PIPELINE_ROLE_ARN": {"Fn::GetAtt": [SAGEMAKER_ROLE, "Arn"]},
        "ARTIFACT_BUCKET": {"Ref": "ProjectDataBucket2B516496"},
        "KMS_KEY_ARN": KEY_IMPORT,
        "PIPELINE_WAIT_TIMEOUT_MINUTES": "230",
        # Every package records where its code came from (MetadataProperties.Repository).
        "SOURCE_REPOSITORY": {"Fn::GetAtt": ["ProjectRepository24638862", "CloneUrlHttp"]},
        "ATHENA_WORKGROUP": "mlops-feature-store",
        "MLFLOW_TRACKING_URI": "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-mlflow",
    }
    assert all(variable["Type"] == "PLAINTEXT" for variable in project["Environment"]["EnvironmentVariables"])


def test_failed_execution_alerts_the_topic(churn_build: Template) -> None:
    rule = next(
        r["Properties"]
        for r in of_type(churn_build, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.codepipeline"]
    )
    assert rule["EventPattern"]["detail"] == {"state": ["FAILED"]}
    assert rule["EventPattern"]["detail-type"] == ["CodePipeline Pipeline Execution State Change"]
    target = rule["Targets"][0]
    assert target["Arn"] == {"Fn::ImportValue": "mlops-governance:ExportsOutputRefAlertsTopicCF7C81C9D535FDD6"}
    assert "failed" in target["InputTransformer"]["InputTemplate"]


# --- roles ----------------------------------------------------------------------------------------


def test_every_role_carries_the_platform_boundary(churn_build: Template) -> None:
    roles = of_type(churn_build, "AWS::IAM::Role")
    assert len(roles) == 8
    for role in roles.values():
        assert role["Properties"]["PermissionsBoundary"] == {
            "Fn::ImportValue": "mlops-governance:ExportsOutputRefPersonasWorkloadBoundaryE6E103C7F7E29091"
        }


def test_no_full_access_managed_policies_and_no_pass_role_on_star(churn_build: Template) -> None:
    for role in of_type(churn_build, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    for statement in all_statements(churn_build):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if "iam:PassRole" in actions:
            assert statement["Resource"] != "*"
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        assert not any(action.endswith(":*") or action == "*" for action in actions), statement


PACKAGE_OF_CHURN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/4"
PACKAGE_OF_OTHER = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/fraud/1"


def test_sagemaker_role_is_scoped_to_the_models_group_and_jobs(churn_build: Template, governance: Template) -> None:
    role = role_principal(churn_build, SAGEMAKER_ROLE, boundary_from=governance)
    assert role.is_allowed("sagemaker:CreateModelPackage", PACKAGE_OF_CHURN)
    assert not role.is_allowed("sagemaker:CreateModelPackage", PACKAGE_OF_OTHER)
    pipeline_job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/pipelines-abc-train"
    tagging, tagged = "aws:RequestTag/mlops:model", "aws:ResourceTag/mlops:model"
    assert role.is_allowed("sagemaker:CreateTrainingJob", pipeline_job, **{tagging: "churn"})
    assert not role.is_allowed("sagemaker:CreateTrainingJob", pipeline_job)
    assert not role.is_allowed("sagemaker:CreateTrainingJob", pipeline_job, **{tagging: "churn-v2"})
    assert role.is_allowed("sagemaker:StopTrainingJob", pipeline_job, **{tagged: "churn"})
    assert not role.is_allowed("sagemaker:StopTrainingJob", pipeline_job, **{tagged: "churn-v2"})
    assert not role.is_allowed(
        "sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/adhoc", **{tagging: "churn"}
    )
    assert not role.is_allowed("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/x")
    trust = of_type(churn_build, "AWS::IAM::Role")[SAGEMAKER_ROLE]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
    ]


def test_build_roles_cannot_approve_packages(churn_build: Template, governance: Template) -> None:
    for role_id in (SAGEMAKER_ROLE, TRAIN_ROLE):
        role = role_principal(churn_build, role_id, boundary_from=governance)
        assert role.boundary_statements, "the real boundary, imported from the governance stack"
        assert not role.is_allowed("sagemaker:UpdateModelPackage", PACKAGE_OF_CHURN)
        assert not role.is_allowed(
            "sagemaker:CreateModelPackage", PACKAGE_OF_CHURN, **{"sagemaker:ModelApprovalStatus": "Approved"}
        )


def test_train_stage_upserts_only_this_models_sagemaker_pipeline(churn_build: Template, governance: Template) -> None:
    role = role_principal(churn_build, TRAIN_ROLE, boundary_from=governance)
    pipeline = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/churn-build"
    for action in ("sagemaker:CreatePipeline", "sagemaker:UpdatePipeline", "sagemaker:StartPipelineExecution"):
        assert role.is_allowed(action, pipeline)
        assert not role.is_allowed(action, f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/fraud-build")
    assert role.is_allowed("sagemaker:DescribePipelineExecution", f"{pipeline}/execution/abc123")
    # run_pipeline.py stops an execution it gave up waiting for, so no package comes from a failed build.
    assert role.is_allowed("sagemaker:StopPipelineExecution", f"{pipeline}/execution/abc123")


def test_data_scientists_get_the_repository_and_pipeline_of_this_model(churn_build: Template) -> None:
    policy = next(
        p["Properties"]
        for rid, p in of_type(churn_build, "AWS::IAM::ManagedPolicy").items()
        if rid.startswith("DataScientistAccess")
    )
    assert policy["Roles"] == [
        {"Fn::ImportValue": "mlops-governance:ExportsOutputRefPersonasDataScientist09D6E9658DF7B198"}
    ]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["WorkInTheRepository"]["Resource"] == {"Fn::GetAtt": ["ProjectRepository24638862", "Arn"]}
    assert "codecommit:GitPush" in statements["WorkInTheRepository"]["Action"]
    assert statements["UseTheKeyThroughCodeCommit"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"codecommit.{REGION}.amazonaws.com"}
    }
    assert statements["UseTheKeyThroughCodeCommit"]["Resource"] == KEY_IMPORT
    assert statements["FollowTheBuildPipeline"]["Resource"] == {
        "Fn::Join": ["", [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:", {"Ref": PIPELINE}]]
    }


def test_outputs(churn_build: Template) -> None:
    assert {name for name in churn_build.find_outputs("*") if not name.startswith("ExportsOutput")} == {
        "RepositoryCloneUrl",
        "BuildPipelineName",
        "SageMakerPipelineName",
        "ModelPackageGroupName",
        "DataBucketName",
    }
    churn_build.has_output("SageMakerPipelineName", {"Value": "churn-build"})
    churn_build.has_output("ModelPackageGroupName", {"Value": "churn"})


def test_one_build_stack_per_configured_model(default_config: PlatformConfig) -> None:
    from aws_cdk import App

    from stacks.platform import build_platform
    from tests.conftest import cdk_json_context, without_projects

    second = default_config.models[0].model_copy(update={"name": "fraud"})
    # Only the build stacks are read.
    config = without_projects(default_config).model_copy(update={"models": [default_config.models[0], second]})
    platform = build_platform(App(context=cdk_json_context()), config)
    assert sorted(platform.model_builds) == ["churn", "fraud"]
    fraud = Template.from_stack(platform.model_builds["fraud"])
    fraud.has_resource_properties("AWS::CodeCommit::Repository", {"RepositoryName": "fraud-model-build"})
    fraud.has_resource_properties("AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": "fraud"})
