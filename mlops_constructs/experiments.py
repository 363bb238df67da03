"""Experiment tracking: a SageMaker managed MLflow tracking server, its artifact store and who may use it.

The server (`AWS::SageMaker::MlflowTrackingServer`) keeps runs, parameters, metrics and registered
models; their artifacts go to a bucket of its own, encrypted with the platform key. MLflow clients
write artifacts to that bucket directly, with their own credentials: whoever logs runs also writes
the bucket, whoever reads runs reads it. Automatic model registration syncs each MLflow registered
model `X` into the SageMaker group `X-<suffix>` (`contracts.mlflow_registration_suffix`): never a
platform model's governed group, and one the approval gate ignores (it has no registration).

Grants live in one function, `tracking_policy`, used by the construct's `grant_*` methods and by a
model's build (`ModelProject`), which reaches the server through its contract ARN (`TrackingServer`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Names, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.experiments import ExperimentsConfig
from lambdas.common.contracts import (
    mlflow_registration_suffix,
    mlflow_tracking_server_arn,
    mlflow_tracking_server_name,
)
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.storage import SecureBucket

# The Service Authorization Reference, "Actions defined by Amazon SageMaker with MLflow"
# (docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemakerwithmlflow.html):
# its Read and List actions, each on the mlflow-tracking-server resource ...
MLFLOW_READ_ACTIONS = [
    "sagemaker-mlflow:GetDownloadURIForModelVersionArtifacts",
    "sagemaker-mlflow:GetExperiment",
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:GetLatestModelVersions",
    "sagemaker-mlflow:GetLoggedModel",
    "sagemaker-mlflow:GetMetricHistory",
    "sagemaker-mlflow:GetModelVersion",
    "sagemaker-mlflow:GetModelVersionByAlias",
    "sagemaker-mlflow:GetRegisteredModel",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:GetTraceInfo",
    "sagemaker-mlflow:ListArtifacts",
    "sagemaker-mlflow:ListLoggedModelArtifacts",
    "sagemaker-mlflow:SearchExperiments",
    "sagemaker-mlflow:SearchLoggedModels",
    "sagemaker-mlflow:SearchModelVersions",
    "sagemaker-mlflow:SearchRegisteredModels",
    "sagemaker-mlflow:SearchRuns",
    "sagemaker-mlflow:SearchTraces",
]
# ... and its Write actions that create, log and update, none that delete, restore or rename (runs and
# registered models are the record of what was built; removing them is an administrator's act).
MLFLOW_WRITE_ACTIONS = [
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:CreateModelVersion",
    "sagemaker-mlflow:CreateRegisteredModel",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:EndTrace",
    "sagemaker-mlflow:FinalizeLoggedModel",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:LogInputs",
    "sagemaker-mlflow:LogLoggedModelParams",
    "sagemaker-mlflow:LogMetric",
    "sagemaker-mlflow:LogModel",
    "sagemaker-mlflow:LogOutputs",
    "sagemaker-mlflow:LogParam",
    "sagemaker-mlflow:SetExperimentTag",
    "sagemaker-mlflow:SetLoggedModelTags",
    "sagemaker-mlflow:SetModelVersionTag",
    "sagemaker-mlflow:SetRegisteredModelAlias",
    "sagemaker-mlflow:SetRegisteredModelTag",
    "sagemaker-mlflow:SetTag",
    "sagemaker-mlflow:SetTraceTag",
    "sagemaker-mlflow:StartTrace",
    "sagemaker-mlflow:UpdateExperiment",
    "sagemaker-mlflow:UpdateModelVersion",
    "sagemaker-mlflow:UpdateRegisteredModel",
    "sagemaker-mlflow:UpdateRun",
]
# The reference lists no resource type for AccessUI, nor for listing the servers (what Studio's MLflow page
# shows first): both are granted on "*", and open nothing without a presigned URL, which only
# OPEN_UI_ACTIONS on this server's ARN make.
UNSCOPED_UI_ACTIONS = ["sagemaker-mlflow:AccessUI", "sagemaker:ListMlflowTrackingServers"]
OPEN_UI_ACTIONS = ["sagemaker:CreatePresignedMlflowTrackingServerUrl", "sagemaker:DescribeMlflowTrackingServer"]
# What the server's role needs to register MLflow models in the Model Registry, per "Set up IAM
# permissions for MLflow" (docs.aws.amazon.com/sagemaker/latest/dg/mlflow-create-tracking-server-iam.html)
# and "Automatically register SageMaker AI models with SageMaker Model Registry"
# (.../mlflow-track-experiments-model-registration.html). The permissions boundary still denies
# UpdateModelPackage to every non-approver: MLflow aliases never change a synced package's approval.
AUTOMATIC_REGISTRATION_ACTIONS = [
    "sagemaker:AddTags",
    "sagemaker:CreateModelPackage",
    "sagemaker:CreateModelPackageGroup",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:UpdateModelPackage",
]


@dataclass(frozen=True)
class TrackingServer:
    """What a client of the tracking server needs of it: its ARN, its artifact bucket's and that bucket's key."""

    arn: str
    artifact_bucket_arn: str
    encryption_key: kms.IKey


def imported_tracking_server(
    scope: Construct, *, platform_name: str, artifact_bucket_name: str, encryption_key: kms.IKey
) -> TrackingServer:
    """The platform's tracking server as a template outside this app sees it (a project's): its contract ARN
    in the template's partition, region and account, and its artifact bucket by name."""
    stack = Stack.of(scope)
    return TrackingServer(
        arn=mlflow_tracking_server_arn(
            platform_name, partition=stack.partition, region=stack.region, account=stack.account
        ),
        artifact_bucket_arn=f"arn:{stack.partition}:s3:::{artifact_bucket_name}",
        encryption_key=encryption_key,
    )


def tracking_policy(
    scope: Construct,
    construct_id: str,
    *,
    grantee: iam.IRole,
    server: TrackingServer,
    read: bool,
    log: bool,
    open_ui: bool,
    description: str,
) -> iam.ManagedPolicy:
    """One managed policy on `grantee`, in `scope`: with `read`, read the server's runs, models and their
    artifacts; with `log` also create and log them (never delete); with `open_ui` open its MLflow UI."""
    bucket_arn, objects_arn, key = server.artifact_bucket_arn, f"{server.artifact_bucket_arn}/*", server.encryption_key
    statements: list[iam.PolicyStatement] = []
    if read or log:
        statements += [
            iam.PolicyStatement(sid="ReadExperiments", actions=MLFLOW_READ_ACTIONS, resources=[server.arn]),
            iam.PolicyStatement(sid="ListArtifacts", actions=["s3:ListBucket"], resources=[bucket_arn]),
            iam.PolicyStatement(sid="ReadArtifacts", actions=["s3:GetObject"], resources=[objects_arn]),
        ]
    if log:
        statements += [
            iam.PolicyStatement(sid="LogRuns", actions=MLFLOW_WRITE_ACTIONS, resources=[server.arn]),
            iam.PolicyStatement(
                sid="WriteArtifacts",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[objects_arn],
            ),
        ]
    if read or log:
        statements.append(
            iam.PolicyStatement(
                sid="UseTheKeyThroughS3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"] if log else ["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(scope).region}.amazonaws.com"}},
            )
        )
    if open_ui:
        statements += [
            iam.PolicyStatement(sid="OpenTheUi", actions=OPEN_UI_ACTIONS, resources=[server.arn]),
            iam.PolicyStatement(sid="AccessTheUi", actions=UNSCOPED_UI_ACTIONS, resources=["*"]),
        ]
    if not statements:
        raise ValueError("a tracking policy grants read, log or open_ui")
    policy = iam.ManagedPolicy(scope, construct_id, description=description, roles=[grantee], statements=statements)
    acknowledgments = []
    if read or log:
        acknowledgments.append(
            (
                f"AwsSolutions-IAM5[Resource::{objects_arn}]",
                "MLflow names artifacts <experiment>/<run>/artifacts/... at run time; the bucket holds MLflow's"
                " artifacts only.",
            )
        )
    if open_ui:
        acknowledgments.append(
            (
                "AwsSolutions-IAM5[Resource::*]",
                "sagemaker-mlflow:AccessUI and sagemaker:ListMlflowTrackingServers have no resource type (Service"
                " Authorization Reference); the presigned URL the UI needs is granted on this server only.",
            )
        )
    acknowledge_each(policy, acknowledgments)
    return policy


class ExperimentTracking(Construct):
    """The platform's MLflow tracking server, its artifact bucket (retained) and its service role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        experiments: ExperimentsConfig,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        noncurrent_version_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.server_name = mlflow_tracking_server_name(platform_name)
        self.artifact_bucket = SecureBucket(
            self,
            "Artifacts",
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            access_log_prefix="mlflow-artifacts-bucket/",
            noncurrent_version_days=noncurrent_version_days,
        ).bucket
        self.role = iam.Role(
            self,
            "ServerRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"MLflow tracking server '{self.server_name}': its artifact store, and the groups it registers",
        )
        suffix = mlflow_registration_suffix(self.server_name)
        synced_groups = stack.format_arn(
            service="sagemaker", resource="model-package-group", resource_name=f"*-{suffix}"
        )
        synced_packages = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"*-{suffix}/*")
        server_policy = iam.ManagedPolicy(
            self,
            "ServerPolicy",
            description=f"MLflow tracking server '{self.server_name}'",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="UseTheArtifactStore",
                    actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                    resources=[self.artifact_bucket.arn_for_objects("*")],
                ),
                iam.PolicyStatement(
                    sid="ListTheArtifactStore",
                    actions=["s3:ListBucket", "s3:GetBucketLocation"],
                    resources=[self.artifact_bucket.bucket_arn],
                ),
                iam.PolicyStatement(
                    sid="UseTheKeyThroughS3",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[encryption_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
                ),
                # Only the groups automatic registration names: `<registered model>-<suffix>`.
                iam.PolicyStatement(
                    sid="RegisterMlflowModelsInTheirOwnGroups",
                    actions=AUTOMATIC_REGISTRATION_ACTIONS,
                    resources=[synced_groups, synced_packages],
                ),
            ],
        )
        acknowledge_each(
            server_policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{self.artifact_bucket.arn_for_objects('*')}]",
                    "The server's own artifact store: MLflow names artifacts per experiment and run.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{synced_groups}]",
                    f"Automatic registration names a group after each MLflow registered model, always ending -{suffix}.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{synced_packages}]",
                    "Package versions are numbered at registration; only in the groups the server registers.",
                ),
            ],
        )
        self.server = sagemaker.CfnMlflowTrackingServer(
            self,
            "Server",
            tracking_server_name=self.server_name,
            artifact_store_uri=self.artifact_bucket.s3_url_for_object(),
            role_arn=self.role.role_arn,
            tracking_server_size=experiments.tracking_server_size,
            mlflow_version=experiments.mlflow_version,
            weekly_maintenance_window_start=experiments.weekly_maintenance_window,
            automatic_model_registration=True,
        )
        # SageMaker checks the role's access to the artifact store when it creates the server.
        self.server.node.add_dependency(server_policy)
        self.server.apply_removal_policy(RemovalPolicy.RETAIN)
        self.server_arn = self.server.attr_tracking_server_arn
        self.tracking_server = TrackingServer(
            arn=self.server_arn, artifact_bucket_arn=self.artifact_bucket.bucket_arn, encryption_key=encryption_key
        )
        self._platform_name = platform_name

    def for_other_stacks(self) -> TrackingServer:
        """The server for the stacks of this app that log to it (the models' builds): its contract ARN, and the
        bucket's ARN as an explicit export, so that cdk-nag spells it the same in every acknowledgment.
        A stack using it depends on this one (`add_dependency`): nothing else tells CDK so."""
        stack = Stack.of(self)
        return TrackingServer(
            arn=mlflow_tracking_server_arn(
                self._platform_name, partition=stack.partition, region=stack.region, account=stack.account
            ),
            artifact_bucket_arn=stack.export_value(self.artifact_bucket.bucket_arn),
            encryption_key=self.tracking_server.encryption_key,
        )

    def grant_log(self, grantee: iam.IRole) -> iam.ManagedPolicy:
        """Create and log runs, models and their artifacts, and read them (no deletes)."""
        return self.grant(grantee, log=True)

    def grant_read(self, grantee: iam.IRole) -> iam.ManagedPolicy:
        """Read runs, models and their artifacts."""
        return self.grant(grantee, read=True)

    def grant_open_ui(self, grantee: iam.IRole) -> iam.ManagedPolicy:
        """Open the MLflow UI through a presigned URL (what it shows needs `grant_read` or `grant_log`)."""
        return self.grant(grantee, open_ui=True)

    def grant(
        self, grantee: iam.IRole, *, read: bool = False, log: bool = False, open_ui: bool = False
    ) -> iam.ManagedPolicy:
        """Any of the three in one policy of this stack (IAM attaches at most ten managed policies to a role;
        a persona's own stack never refers to this one, which refers to it)."""
        access = [word for word, given in (("read", read), ("log", log), ("open the UI", open_ui)) if given]
        return tracking_policy(
            self,
            "".join(word.title().replace(" ", "") for word in access) + Names.unique_id(grantee),
            grantee=grantee,
            server=self.tracking_server,
            read=read,
            log=log,
            open_ui=open_ui,
            description=f"MLflow tracking server '{self.server_name}': {', '.join(access)}",
        )
