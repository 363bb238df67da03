"""Experiment tracking: the MLflow tracking server, its artifact bucket and role, and who may log or read runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config import ConfigError, load_config
from lambdas.common.contracts import (
    MLFLOW_TRACKING_URI_VARIABLE,
    mlflow_registration_suffix,
    mlflow_tracking_server_arn,
    mlflow_tracking_server_name,
)
from mlops_constructs.experiments import MLFLOW_READ_ACTIONS, MLFLOW_WRITE_ACTIONS
from mlops_constructs.studio import INTERFACE_ENDPOINTS
from tests.conftest import Synthesized, write_config
from tests.iam_evaluation import Principal, role_principal

ACCOUNT, REGION = "123456789012", "eu-west-1"
SERVER = "ExperimentsServerE5738533"
BUCKET = "ExperimentsArtifactsBucketF5333AA5"
SERVER_ROLE = "ExperimentsServerRole7A55049C"
SERVER_ARN = mlflow_tracking_server_arn("mlops", partition="aws", region=REGION, account=ACCOUNT)
SUFFIX = mlflow_registration_suffix("mlops-mlflow")
BUCKET_EXPORT = "mlops-experiments:ExportsOutputFnGetAttExperimentsArtifactsBucketF5333AA5Arn66B8AB81"
BUCKET_ARN = "arn:aws:s3:::mlops-mlflow-artifacts"  # what the bucket's ARN stands for in the evaluations
KEY_EXPORT = "mlops-governance:ExportsOutputFnGetAttPlatformKey1C4A1A63Arn1AD0FED1"
OTHER_SERVER_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/someone-elses"
WRITES = ["sagemaker-mlflow:CreateRun", "sagemaker-mlflow:LogMetric", "sagemaker-mlflow:LogBatch"]
READS = ["sagemaker-mlflow:GetRun", "sagemaker-mlflow:SearchRuns"]


@pytest.fixture(scope="module")
def experiments(synthesized: Synthesized) -> Template:
    assert synthesized.platform.experiments is not None
    return synthesized.template(synthesized.platform.experiments)


def _resource(template: Template, logical_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = template.to_json()["Resources"][logical_id]
    return resource


def test_the_default_config_names_the_contract_server() -> None:
    assert mlflow_tracking_server_name("mlops") == "mlops-mlflow"
    arn = mlflow_tracking_server_arn("mlops", partition="aws-cn", region="cn-north-1", account="210987654321")
    assert arn == "arn:aws-cn:sagemaker:cn-north-1:210987654321:mlflow-tracking-server/mlops-mlflow"
    # SageMaker's rule: the first six hex digits of SHA-256 of the server's name.
    assert mlflow_registration_suffix("mlops-mlflow") == "d34a1a"
    assert mlflow_registration_suffix("other-mlflow") != "d34a1a"


def test_the_server_is_configured_from_experiments(experiments: Template, default_config: Any) -> None:
    config = default_config.experiments
    properties = _resource(experiments, SERVER)["Properties"]
    assert properties == {
        "TrackingServerName": "mlops-mlflow",
        "TrackingServerSize": config.tracking_server_size,
        "MlflowVersion": config.mlflow_version,
        "WeeklyMaintenanceWindowStart": config.weekly_maintenance_window,
        "AutomaticModelRegistration": True,
        "ArtifactStoreUri": {"Fn::Join": ["", ["s3://", {"Ref": BUCKET}]]},
        "RoleArn": {"Fn::GetAtt": [SERVER_ROLE, "Arn"]},
        "Tags": [{"Key": "mlops:platform", "Value": "mlops"}],
    }
    assert (config.tracking_server_size, config.mlflow_version) == ("Small", "3.0")


@pytest.mark.parametrize(
    ("logical_id", "resource_type"), [(SERVER, "AWS::SageMaker::MlflowTrackingServer"), (BUCKET, "AWS::S3::Bucket")]
)
def test_server_and_bucket_keep_their_ids_and_are_retained(
    experiments: Template, logical_id: str, resource_type: str
) -> None:
    resource = _resource(experiments, logical_id)
    assert resource["Type"] == resource_type
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_the_artifact_bucket_is_encrypted_logged_versioned_and_tls_only(experiments: Template) -> None:
    bucket = _resource(experiments, BUCKET)["Properties"]
    [encryption] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {"KMSMasterKeyID": {"Fn::ImportValue": KEY_EXPORT}, "SSEAlgorithm": "aws:kms"},
    }
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == "mlflow-artifacts-bucket/"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    experiments.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": BUCKET},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": {"AWS": "*"},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_the_server_role_reaches_its_store_and_its_synced_groups_only(experiments: Template) -> None:
    role = _resource(experiments, SERVER_ROLE)["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
    ]
    assert "PermissionsBoundary" in role
    [policy] = [
        resource["Properties"]
        for resource in experiments.find_resources("AWS::IAM::ManagedPolicy").values()
        if resource["Properties"]["Roles"] == [{"Ref": SERVER_ROLE}]
    ]
    bucket_arn = {"Fn::GetAtt": [BUCKET, "Arn"]}
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "UseTheArtifactStore",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            "Resource": {"Fn::Join": ["", [bucket_arn, "/*"]]},
        },
        {
            "Sid": "ListTheArtifactStore",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": bucket_arn,
        },
        {
            "Sid": "UseTheKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": {"Fn::ImportValue": KEY_EXPORT},
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
        },
        {
            "Sid": "RegisterMlflowModelsInTheirOwnGroups",
            "Effect": "Allow",
            "Action": [
                "sagemaker:AddTags",
                "sagemaker:CreateModelPackage",
                "sagemaker:CreateModelPackageGroup",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:UpdateModelPackage",
            ],
            "Resource": [
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/*-{SUFFIX}",
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/*-{SUFFIX}/*",
            ],
        },
    ]
    # Created after its policy: SageMaker checks the role's access to the store when it creates the server.
    assert _resource(experiments, SERVER)["DependsOn"] == [
        next(
            logical_id
            for logical_id, resource in experiments.find_resources("AWS::IAM::ManagedPolicy").items()
            if resource["Properties"]["Roles"] == [{"Ref": SERVER_ROLE}]
        )
    ]


def test_no_client_may_delete_runs_or_models() -> None:
    assert not [action for action in MLFLOW_WRITE_ACTIONS + MLFLOW_READ_ACTIONS if ":Delete" in action]
    assert not set(MLFLOW_WRITE_ACTIONS) & set(MLFLOW_READ_ACTIONS)


# --- who may do what: the repo's IAM evaluator on the synthesized policies --------------------------------


def _with_experiments_policies(principal: Principal, experiments: Template, role_export_part: str) -> Principal:
    """Add the experiments stack's policies attached to a role of another stack (named by its export)."""
    for policy in experiments.find_resources("AWS::IAM::ManagedPolicy").values():
        if role_export_part in json.dumps(policy["Properties"]["Roles"]):
            principal.identity_statements += _rendered(policy["Properties"]["PolicyDocument"]["Statement"])
    return principal


def _rendered(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements with the artifact bucket's ARN (a reference, an export) as BUCKET_ARN, and the server's
    (its attribute) as SERVER_ARN."""
    text = json.dumps(statements)
    for reference, value in (
        ({"Fn::GetAtt": [BUCKET, "Arn"]}, BUCKET_ARN),
        ({"Fn::ImportValue": BUCKET_EXPORT}, BUCKET_ARN),
        ({"Fn::GetAtt": [SERVER, "TrackingServerArn"]}, SERVER_ARN),
    ):
        text = text.replace(json.dumps(reference), json.dumps(value))
    rendered: list[dict[str, Any]] = json.loads(text)
    for statement in rendered:
        resources = statement.get("Resource")
        if isinstance(resources, dict) and "Fn::Join" in resources:
            separator, parts = resources["Fn::Join"]
            if all(isinstance(part, str) for part in parts):
                statement["Resource"] = separator.join(parts)
    return rendered


@pytest.fixture(scope="module")
def data_scientist(governance: Template, experiments: Template) -> Principal:
    principal = role_principal(governance, "PersonasDataScientist09D6E965")
    return _with_experiments_policies(principal, experiments, "PersonasDataScientist")


@pytest.fixture(scope="module")
def approver(governance: Template, experiments: Template) -> Principal:
    principal = role_principal(governance, "PersonasModelApprover3D74BCF6")
    return _with_experiments_policies(principal, experiments, "PersonasModelApprover")


def _build_role(churn_build: Template, governance: Template, role_id: str) -> Principal:
    principal = role_principal(churn_build, role_id, boundary_from=governance)
    principal.identity_statements = _rendered(principal.identity_statements)
    return principal


def test_the_approver_reads_runs_and_opens_the_ui_but_cannot_write(approver: Principal) -> None:
    for action in WRITES:
        assert not approver.is_allowed(action, SERVER_ARN), action
    for action in READS:
        assert approver.is_allowed(action, SERVER_ARN), action
    assert approver.is_allowed("sagemaker:CreatePresignedMlflowTrackingServerUrl", SERVER_ARN)
    assert approver.is_allowed("sagemaker-mlflow:AccessUI", "*")
    assert approver.is_allowed("sagemaker:ListMlflowTrackingServers", "*")
    assert approver.is_allowed("s3:GetObject", f"{BUCKET_ARN}/1/run/artifacts/model.pkl")
    assert not approver.is_allowed("s3:PutObject", f"{BUCKET_ARN}/1/run/artifacts/model.pkl")


def test_the_data_scientist_logs_runs_and_opens_the_ui_of_this_server_only(data_scientist: Principal) -> None:
    for action in WRITES + READS:
        assert data_scientist.is_allowed(action, SERVER_ARN), action
        assert not data_scientist.is_allowed(action, OTHER_SERVER_ARN), action
    assert not data_scientist.is_allowed("sagemaker-mlflow:DeleteRun", SERVER_ARN)
    assert data_scientist.is_allowed("sagemaker:CreatePresignedMlflowTrackingServerUrl", SERVER_ARN)
    assert not data_scientist.is_allowed("sagemaker:CreatePresignedMlflowTrackingServerUrl", OTHER_SERVER_ARN)
    assert data_scientist.is_allowed("s3:PutObject", f"{BUCKET_ARN}/1/run/artifacts/model.pkl")


@pytest.mark.parametrize("role_id", ["ProjectTrainProjectRole1CE1F5EE", "ProjectSageMakerExecutionRole3D3EF084"])
def test_the_builds_roles_log_runs(churn_build: Template, governance: Template, role_id: str) -> None:
    role = _build_role(churn_build, governance, role_id)
    for action in WRITES + READS:
        assert role.is_allowed(action, SERVER_ARN), action
    assert not role.is_allowed("sagemaker-mlflow:DeleteRun", SERVER_ARN)
    assert not role.is_allowed("sagemaker:CreatePresignedMlflowTrackingServerUrl", SERVER_ARN)
    assert role.is_allowed("s3:PutObject", f"{BUCKET_ARN}/1/run/artifacts/model.pkl")
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/platform"
    # The build stack reads the key's ARN from the governance stack's export.
    role.identity_statements = json.loads(
        json.dumps(role.identity_statements).replace(json.dumps({"Fn::ImportValue": KEY_EXPORT}), json.dumps(key_arn))
    )
    assert role.is_allowed("kms:GenerateDataKey", key_arn, **{"kms:ViaService": f"s3.{REGION}.amazonaws.com"})


def test_an_unrelated_role_may_not_touch_the_server(approval: Template, governance: Template) -> None:
    gate = role_principal(approval, "ApprovalGateHandlerRole990CDAFA", boundary_from=governance)
    for action in WRITES + READS + ["sagemaker:CreatePresignedMlflowTrackingServerUrl"]:
        assert not gate.is_allowed(action, SERVER_ARN), action


def test_the_personas_get_one_policy_each_from_this_stack(experiments: Template) -> None:
    attached = sorted(
        json.dumps(policy["Properties"]["Roles"])
        for policy in experiments.find_resources("AWS::IAM::ManagedPolicy").values()
        if policy["Properties"]["Roles"] != [{"Ref": SERVER_ROLE}]
    )
    assert len(attached) == 2
    assert "PersonasDataScientist" in attached[0]
    assert "PersonasModelApprover" in attached[1]


def test_outputs_and_the_published_bucket(experiments: Template) -> None:
    outputs = experiments.to_json()["Outputs"]
    assert {"TrackingServerArn", "TrackingServerName", "ArtifactBucketName"} <= set(outputs)
    assert outputs["TrackingServerArn"]["Value"] == {"Fn::GetAtt": [SERVER, "TrackingServerArn"]}
    experiments.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": "/mlops/platform/mlflow-artifact-bucket", "Value": {"Ref": BUCKET}}
    )


# --- builds, Studio, products --------------------------------------------------------------------------


def test_the_train_build_gets_the_tracking_uri(churn_build: Template) -> None:
    churn_build.has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "Description": Match.string_like_regexp("^Train stage"),
            "Environment": {
                "EnvironmentVariables": Match.array_with(
                    [{"Name": MLFLOW_TRACKING_URI_VARIABLE, "Type": "PLAINTEXT", "Value": SERVER_ARN}]
                )
            },
        },
    )
    test_project = next(
        resource
        for resource in churn_build.find_resources("AWS::CodeBuild::Project").values()
        if resource["Properties"]["Description"].startswith("Test stage")
    )
    names = [variable["Name"] for variable in test_project["Properties"]["Environment"]["EnvironmentVariables"]]
    assert MLFLOW_TRACKING_URI_VARIABLE not in names


def test_the_build_stack_follows_the_experiments_stack(synthesized: Synthesized) -> None:
    build = synthesized.platform.model_builds["churn"]
    assert synthesized.platform.experiments in build.dependencies


def test_studios_network_reaches_the_mlflow_endpoint(synthesized: Synthesized) -> None:
    assert synthesized.platform.studio is not None
    studio = synthesized.template(synthesized.platform.studio)
    assert "SageMakerExperiments" in INTERFACE_ENDPOINTS
    studio.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "ServiceName": f"aws.sagemaker.{REGION}.experiments",
            "VpcEndpointType": "Interface",
            "PrivateDnsEnabled": True,
        },
    )


def test_a_projects_build_logs_to_the_server_too(synthesized: Synthesized) -> None:
    """The product's template computes the server's ARN from the contract and reads the bucket from SSM."""
    directory = Path(synthesized.assembly.directory)
    [path] = directory.glob("*BinaryClassificationTemplate*.product.template.json")
    template = json.loads(path.read_text())
    parameter = template["Parameters"]["PlatformMlflowArtifactBucket"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["AllowedValues"] == ["/mlops/platform/mlflow-artifact-bucket"]
    arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":sagemaker:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":mlflow-tracking-server/mlops-mlflow",
            ],
        ]
    }
    product = Template.from_json(template)
    product.has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "Environment": {
                "EnvironmentVariables": Match.array_with(
                    [{"Name": MLFLOW_TRACKING_URI_VARIABLE, "Type": "PLAINTEXT", "Value": arn}]
                )
            }
        },
    )
    statements = [
        statement
        for policy in product.find_resources("AWS::IAM::ManagedPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "LogRuns"
    ]
    assert len(statements) == 2  # the train build's role and the SageMaker Pipeline's
    assert all(statement["Resource"] == arn for statement in statements)


# --- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tracking_server_size", "Huge", "experiments.tracking_server_size"),
        ("mlflow_version", "latest", "experiments.mlflow_version"),
        ("mlflow_version", "3", "experiments.mlflow_version"),
        ("weekly_maintenance_window", "Sunday 02:00", "experiments.weekly_maintenance_window"),
        ("weekly_maintenance_window", "Sun:24:00", "experiments.weekly_maintenance_window"),
        ("unknown_key", "x", "experiments.unknown_key"),
    ],
)
def test_invalid_experiments_fail_naming_the_field(tmp_path: Path, field: str, value: str, message: str) -> None:
    path = write_config(tmp_path, lambda raw: raw["experiments"].__setitem__(field, value))
    field_path = message.replace(".", r"\.")
    with pytest.raises(ConfigError, match=rf"platform\.yaml: {field_path}"):
        load_config(path)


def test_a_model_named_like_a_synced_group_is_refused(tmp_path: Path) -> None:
    def rename(raw: dict[str, Any]) -> None:
        raw["models"][0]["name"] = f"churn-{SUFFIX}"
        raw["models"][0].pop("feature_group", None)
        raw["models"][0].pop("clarify", None)

    with pytest.raises(ConfigError, match=rf"models\[0\]\.name: a model name may not end with '-{SUFFIX}'"):
        load_config(write_config(tmp_path, rename))


def test_without_experiments_there_is_no_server_and_no_tracking(any_model: Synthesized) -> None:
    """config/examples/any-model.yaml has no `experiments:` section (synthesized once per session)."""
    assert any_model.platform.experiments is None
    assert not [stack for stack in any_model.app.node.children if stack.node.id.endswith("-experiments")]
    for build in any_model.platform.model_builds.values():
        assert MLFLOW_TRACKING_URI_VARIABLE not in json.dumps(any_model.template(build).to_json())
