"""FeatureStore: groups from config, encrypted online/offline stores, catalog, workgroup and grants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from config.schema import FeatureGroupConfig, PlatformConfig
from tests.conftest import cdk_json_context, without_projects
from tests.iam_evaluation import role_principal

ACCOUNT, REGION = "123456789012", "eu-west-1"
KEY_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputFnGetAttPlatformKey1C4A1A63Arn1AD0FED1"}
GROUP = "FeatureStorechurncustomerfeatures1BFCD2AC"
BUCKET = "FeatureStoreOfflineStoreBucket131CE7E5"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:feature-group/churn-customer-features"
TRAIN_ROLE = "ProjectTrainProjectRole1CE1F5EE"


def resource(template: Template, logical_id: str) -> Mapping[str, Any]:
    return template.to_json()["Resources"][logical_id]


@pytest.mark.parametrize(
    ("logical_id", "resource_type"),
    [
        (GROUP, "AWS::SageMaker::FeatureGroup"),
        (BUCKET, "AWS::S3::Bucket"),
        ("FeatureStoreAthenaWorkGroup1B687FDE", "AWS::Athena::WorkGroup"),
    ],
)
def test_stateful_resources_keep_their_id_and_are_retained(
    feature_store: Template, logical_id: str, resource_type: str
) -> None:
    found = resource(feature_store, logical_id)
    assert (found["Type"], found["DeletionPolicy"], found["UpdateReplacePolicy"]) == (resource_type, "Retain", "Retain")


def test_group_matches_the_config(feature_store: Template, default_config: PlatformConfig) -> None:
    configured = default_config.feature_groups[0]
    group = resource(feature_store, GROUP)["Properties"]
    assert group["FeatureGroupName"] == configured.name
    assert group["RecordIdentifierFeatureName"] == "customer_id"
    assert group["EventTimeFeatureName"] == "event_time"
    assert group["FeatureDefinitions"] == [{"FeatureName": f.name, "FeatureType": f.type} for f in configured.features]
    assert {"Key": "team", "Value": "customer-analytics"} in group["Tags"]


def test_online_store_is_encrypted_with_ttl(feature_store: Template) -> None:
    assert resource(feature_store, GROUP)["Properties"]["OnlineStoreConfig"] == {
        "EnableOnlineStore": True,
        "SecurityConfig": {"KmsKeyId": KEY_IMPORT},
        "TtlDuration": {"Unit": "Days", "Value": 365},
    }


def test_offline_store_is_encrypted_catalogued_and_iceberg(feature_store: Template) -> None:
    offline = resource(feature_store, GROUP)["Properties"]["OfflineStoreConfig"]
    assert offline == {
        "S3StorageConfig": {
            "S3Uri": {"Fn::Join": ["", ["s3://", {"Ref": BUCKET}, "/offline-store"]]},
            "KmsKeyId": KEY_IMPORT,
        },
        "DisableGlueTableCreation": False,
        "TableFormat": "Iceberg",
    }
    bucket = resource(feature_store, BUCKET)["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": KEY_IMPORT,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


def test_offline_store_role_writes_only_its_prefix_and_the_featurestore_catalog(
    feature_store: Template, governance: Template
) -> None:
    role_id = resource(feature_store, GROUP)["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = role_principal(feature_store, role_id, boundary_from=governance)
    assert role.is_allowed(
        "glue:CreateTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/sagemaker_featurestore/churn_1700"
    )
    assert not role.is_allowed("glue:CreateTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/finance/ledger")
    assert not role.is_allowed("sagemaker:PutRecord", GROUP_ARN)


def test_athena_workgroup_enforces_encrypted_results(feature_store: Template) -> None:
    workgroup = resource(feature_store, "FeatureStoreAthenaWorkGroup1B687FDE")["Properties"]
    assert workgroup["Name"] == "mlops-feature-store"
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": KEY_IMPORT,
    }
    assert configuration["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Join": ["", ["s3://", {"Ref": BUCKET}, "/athena-results/"]]
    }


@pytest.fixture(scope="module")
def build_role(churn_build: Template, feature_store: Template, governance: Template):
    """The build pipeline's train role, with the policies the feature store attaches to it."""
    role = role_principal(churn_build, TRAIN_ROLE, boundary_from=governance)
    for policy in feature_store.find_resources("AWS::IAM::ManagedPolicy").values():
        roles = policy["Properties"].get("Roles", [])
        if any("ProjectTrainProjectRole" in str(reference) for reference in roles):
            role.identity_statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return role


def test_build_pipeline_ingests_into_its_group_only(build_role) -> None:
    assert build_role.is_allowed("sagemaker:PutRecord", GROUP_ARN)
    assert not build_role.is_allowed("sagemaker:PutRecord", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:feature-group/other")
    assert not build_role.is_allowed("sagemaker:DeleteFeatureGroup", GROUP_ARN)


def test_build_pipeline_reads_the_offline_store_through_the_workgroup_only(build_role) -> None:
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/mlops-feature-store"
    assert build_role.is_allowed("athena:StartQueryExecution", workgroup)
    assert not build_role.is_allowed(
        "athena:StartQueryExecution", f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary"
    )
    assert build_role.is_allowed(
        "glue:GetTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/sagemaker_featurestore/churn_1700"
    )
    assert not build_role.is_allowed(
        "glue:CreateTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/sagemaker_featurestore/x"
    )


def test_build_pipeline_reads_a_labels_table_where_the_seed_readme_puts_it(build_role) -> None:
    """The seed's README puts the labels table in the feature store's database (data in the model's
    bucket, which the train role reads and writes): the Athena join must be allowed to read it, and
    only the catalog of that database."""
    glue = f"arn:aws:glue:{REGION}:{ACCOUNT}"
    for action in ("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"):
        resource = f"{glue}:database/sagemaker_featurestore" if action == "glue:GetDatabase" else None
        assert build_role.is_allowed(action, resource or f"{glue}:table/sagemaker_featurestore/churn_labels")
    assert not build_role.is_allowed("glue:GetTable", f"{glue}:table/churn_labels/labels")


def test_build_pipeline_knows_the_workgroup(churn_build: Template) -> None:
    project = churn_build.to_json()["Resources"]["ProjectTrainProjectB93A7761"]["Properties"]
    variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert variables["ATHENA_WORKGROUP"] == "mlops-feature-store"


def test_online_only_group_has_no_offline_store_or_role(default_config: PlatformConfig) -> None:
    from aws_cdk import Environment

    from stacks.feature_store_stack import FeatureStoreStack
    from stacks.governance_stack import GovernanceStack

    group = FeatureGroupConfig.model_validate(
        default_config.feature_groups[0].model_dump() | {"offline_store": False, "online_ttl_days": None}
    )
    app = App(context=cdk_json_context())
    env = Environment(account=ACCOUNT, region=REGION)
    governance = GovernanceStack(app, "Governance", config=default_config, env=env)
    stack = FeatureStoreStack(
        app,
        "OnlineOnly",
        groups=[group],
        encryption_key=governance.key,
        access_log_bucket=governance.access_log_bucket,
        noncurrent_version_days=90,
        athena_workgroup_name="online-only",
        permissions_boundary=governance.permissions_boundary,
        env=env,
    )
    properties = next(iter(Template.from_stack(stack).find_resources("AWS::SageMaker::FeatureGroup").values()))[
        "Properties"
    ]
    assert "OfflineStoreConfig" not in properties
    assert "RoleArn" not in properties
    assert "TtlDuration" not in properties["OnlineStoreConfig"]


def test_no_feature_groups_no_stack(default_config: PlatformConfig) -> None:
    from stacks.platform import build_platform

    models = [model.model_copy(update={"feature_group": None}) for model in default_config.models]
    config = without_projects(default_config).model_copy(update={"feature_groups": [], "models": models})
    assert build_platform(App(context=cdk_json_context()), config).feature_store is None


def _with_feature_store_policies(principal, feature_store: Template, role_marker: str):
    """Add the managed policies the feature store stack attaches to a role of another stack."""
    for policy in feature_store.find_resources("AWS::IAM::ManagedPolicy").values():
        if role_marker in str(policy["Properties"].get("Roles", [])):
            principal.identity_statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return principal


def test_training_jobs_read_the_offline_store_and_cannot_write_records(
    churn_build: Template, feature_store: Template, governance: Template
) -> None:
    role_id = next(k for k in churn_build.find_resources("AWS::IAM::Role") if k.startswith("ProjectSageMakerExecution"))
    training = _with_feature_store_policies(
        role_principal(churn_build, role_id, boundary_from=governance), feature_store, "ProjectSageMakerExecution"
    )
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/mlops-feature-store"
    assert training.is_allowed("athena:StartQueryExecution", workgroup)
    assert not training.is_allowed("sagemaker:PutRecord", GROUP_ARN)
    assert not training.is_allowed("sagemaker:GetRecord", GROUP_ARN)


def test_endpoints_read_the_online_store_only(
    churn_deploy: Template, feature_store: Template, governance: Template
) -> None:
    role_id = next(k for k in churn_deploy.find_resources("AWS::IAM::Role") if k.startswith("DeployServing"))
    serving = _with_feature_store_policies(
        role_principal(churn_deploy, role_id, boundary_from=governance), feature_store, "DeployServing"
    )
    assert serving.is_allowed("sagemaker:GetRecord", GROUP_ARN)
    assert serving.is_allowed("sagemaker:BatchGetRecord", GROUP_ARN)
    assert not serving.is_allowed("sagemaker:PutRecord", GROUP_ARN)
    assert not serving.is_allowed(
        "athena:StartQueryExecution", f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/mlops-feature-store"
    )
