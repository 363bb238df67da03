"""One model's whole lifecycle in AWS, however the model came to be: declared in config (its build and
deploy stacks) or created from SageMaker Studio (a SageMaker Projects product's template).

Both entry points call these functions, so a project gets exactly what a config-declared model gets
(DESIGN.md convention 2): `build_model` (the build project and the team's access to it),
`deploy_model` (the deploy pipeline, the approvers' grant, the registration with the approval gate,
the endpoint automation) and `connect_model` (what the deploy side and the approval gate read of the
build side). The functions create their constructs directly in `scope`, under the ids the stacks have
always used, so the logical ids of deployed resources do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Environment, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import CodeConnectionsSource, ModelConfig
from lambdas.common.contracts import Stage, model_package_group_name
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.deploy import DeployPipeline
from mlops_constructs.endpoint_automation import EndpointAutomation
from mlops_constructs.experiments import TrackingServer
from mlops_constructs.model_project import ModelProject
from mlops_constructs.registration import ModelRegistration


@dataclass(frozen=True)
class PlatformResources:
    """What every model uses of the platform: the governance stack's resources (passed directly in this
    app, imported from their SSM parameters in a product's template) and the retention settings."""

    encryption_key: kms.IKey
    access_log_bucket: s3.IBucket
    alert_topic: sns.ITopic
    approval_topic: sns.ITopic
    audit_bus: events.IEventBus
    permissions_boundary: iam.IManagedPolicy
    data_scientist_role: iam.IRole
    model_approver_role: iam.IRole
    log_retention: logs.RetentionDays
    noncurrent_version_days: int
    # The MLflow tracking server the builds log to (`experiments:`); None: they track nothing.
    tracking_server: TrackingServer | None = None


@dataclass(frozen=True)
class DeployedModel:
    deploy: DeployPipeline
    registration: ModelRegistration
    automation: EndpointAutomation


def build_model(
    scope: Construct,
    *,
    platform_name: str,
    model: ModelConfig,
    platform: PlatformResources,
    registry_readers: list[str],
    athena_workgroup_name: str | None = None,
    repository_settings: Mapping[str, object] | None = None,
    extra_data_scientist_statements: Sequence[iam.PolicyStatement] = (),
) -> ModelProject:
    """The model's build project ("Project") and the data scientists' access to it ("DataScientistAccess").

    `repository_settings`: the `model_config.json` the repository starts with, when the model's own
    settings hold tokens (ModelProject). `extra_data_scientist_statements`: more of the data scientists'
    access that only one entry point needs (a product's seed archive lies in its encrypted asset bucket),
    in the same policy: one managed policy per model on their role (IAM attaches at most 10 to a role)."""
    project = ModelProject(
        scope,
        "Project",
        platform_name=platform_name,
        model=model,
        encryption_key=platform.encryption_key,
        access_log_bucket=platform.access_log_bucket,
        alert_topic=platform.alert_topic,
        log_retention=platform.log_retention,
        noncurrent_version_days=platform.noncurrent_version_days,
        registry_readers=registry_readers,
        athena_workgroup_name=athena_workgroup_name,
        repository_settings=repository_settings,
        tracking_server=platform.tracking_server,
    )
    # The team works in its repository and follows its pipeline; the policy lives next to the
    # resources, so the governance stack never depends on a model's stack.
    iam.ManagedPolicy(
        scope,
        "DataScientistAccess",
        description=f"Data scientists work on model '{model.name}'",
        roles=[platform.data_scientist_role],
        statements=[
            *_data_scientist_statements(project, platform.encryption_key),
            *extra_data_scientist_statements,
        ],
    )
    return project


def _data_scientist_statements(project: ModelProject, encryption_key: kms.IKey) -> list[iam.PolicyStatement]:
    follow_the_pipeline = iam.PolicyStatement(
        sid="FollowTheBuildPipeline",
        actions=[
            "codepipeline:GetPipeline",
            "codepipeline:GetPipelineState",
            "codepipeline:GetPipelineExecution",
            "codepipeline:ListPipelineExecutions",
            "codepipeline:ListActionExecutions",
        ],
        resources=[project.pipeline.pipeline_arn],
    )
    if isinstance(project.source, CodeConnectionsSource):
        # A repository on a Git host needs nothing in AWS to push to: only the seed to start it from.
        seed_archive = project.seed_archive
        assert seed_archive is not None
        return [
            follow_the_pipeline,
            # This seed version's object only: the assets bucket holds every stack's assets.
            iam.PolicyStatement(
                sid="ReadTheSeedArchive",
                actions=["s3:GetObject"],
                resources=[seed_archive.bucket.arn_for_objects(seed_archive.s3_object_key)],
            ),
        ]
    repository = project.repository
    assert repository is not None
    return [
        iam.PolicyStatement(
            sid="WorkInTheRepository",
            actions=[
                "codecommit:GitPull",
                "codecommit:GitPush",
                "codecommit:CreateBranch",
                "codecommit:GetBranch",
                "codecommit:CreatePullRequest",
                "codecommit:GetRepository",
                "codecommit:ListBranches",
            ],
            resources=[repository.repository_arn],
        ),
        follow_the_pipeline,
        # The repository is encrypted with the platform key: Git reads and writes use it, only
        # through CodeCommit.
        iam.PolicyStatement(
            sid="UseTheKeyThroughCodeCommit",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            resources=[encryption_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"codecommit.{Stack.of(project).region}.amazonaws.com"}},
        ),
    ]


def deploy_model(
    scope: Construct,
    *,
    platform_name: str,
    model: ModelConfig,
    monitored_features: list[str],
    platform: PlatformResources,
    env: Environment,
    template_context: dict[str, Any],
    serving_accounts: Mapping[Stage, ServingAccount] | None = None,
) -> DeployedModel:
    """The deploy pipeline ("Deploy"), its approvers, the registration with the approval gate
    ("Registration") and the endpoint automation ("Automation"). `serving_accounts`: where each stage
    serves (None: all in this account)."""
    deploy = DeployPipeline(
        scope,
        "Deploy",
        platform_name=platform_name,
        model=model,
        monitored_features=monitored_features,
        env=env,
        template_context=template_context,
        encryption_key=platform.encryption_key,
        access_log_bucket=platform.access_log_bucket,
        alert_topic=platform.alert_topic,
        approval_topic=platform.approval_topic,
        log_retention=platform.log_retention,
        noncurrent_version_days=platform.noncurrent_version_days,
        serving_accounts=serving_accounts,
    )
    deploy.grant_approval(platform.model_approver_role)
    # The approval gate finds this model through its registration, and starts this pipeline.
    registration = ModelRegistration(
        scope,
        "Registration",
        platform_name=platform_name,
        model_package_group_name=model_package_group_name(model.name),
        model_name=model.name,
        metric_name=model.metric.name,
        threshold=model.metric.threshold,
        metric_direction=model.metric_direction,
        serving_mode=model.serving.mode,
        bias_policy=model.bias_policy,
        deploy_pipeline=deploy.pipeline,
        production_serving_name=deploy.stack_names["production"],
    )
    automation = EndpointAutomation(
        scope,
        "Automation",
        model=model,
        # The production endpoint, or a batch model's production transform pipeline: one name.
        endpoint_name=deploy.stack_names["production"],
        monitoring_reports=deploy.data_capture_bucket,
        monitoring_reports_prefix=f"{model.name}/monitoring/",
        encryption_key=platform.encryption_key,
        alert_topic=platform.alert_topic,
        audit_bus=platform.audit_bus,
        log_retention=platform.log_retention,
        serving=(serving_accounts or {}).get("production"),
    )
    return DeployedModel(deploy=deploy, registration=registration, automation=automation)


def connect_model(
    project: ModelProject,
    deployed: DeployedModel,
    *,
    model: ModelConfig,
    gate_role: iam.IRole | None,
    audit_bus: events.IEventBus,
) -> None:
    """What the other side reads of the build project: the gate and Model Monitor its evaluation reports
    and baselines, the serving its models, the staging checks its sample payloads (a batch model's
    transforms and check their data); and retraining requests start its build.

    `gate_role` None: the caller grants the gate its read itself (a project, in the one policy that holds
    all the gate needs for its model: the gate's role is shared by every model, and IAM caps the managed
    policies a role may have)."""
    deploy = deployed.deploy
    if gate_role is not None:
        project.grant_read_pipeline_outputs(gate_role)
    project.grant_read_monitoring_baselines(deploy.monitoring_role)
    # The champion resolution reads the package's Clarify configs to write the monitors' own.
    resolution_role = deploy.champion_resolution.role
    assert resolution_role is not None
    project.grant_read_monitoring_baselines(resolution_role)
    # Each stage's serving role (one for the stages served in this account, its own in another account).
    for serving_role in {role.role_arn: role for role in deploy.serving_roles.values()}.values():
        project.grant_read_models(serving_role)
    check_role = deploy.staging_check.role
    assert check_role is not None
    project.grant_read_sample_payloads(check_role)
    if model.is_batch:
        project.grant_batch_transform(deploy.serving_role)
        project.grant_batch_staging(check_role)
    project.retrain_on_request(audit_bus)


def source_outputs(project: ModelProject) -> list[tuple[str, str, str]]:
    """Where the team's code lives: the repository to clone, or the Git host's repository and the seed
    archive to start it from."""
    source = project.source
    if isinstance(source, CodeConnectionsSource):
        seed_archive = project.seed_archive
        assert seed_archive is not None
        return [
            (
                "RepositoryCloneUrl",
                source.repository,
                "Repository (owner/name) on the Git host of the model's connection; pushes to its branch start the build",
            ),
            (
                "SeedArchiveS3Uri",
                seed_archive.s3_object_url,
                "The model's seed (zip) to start the repository from: aws s3 cp <this> seed.zip, unzip, git init, "
                "commit, push (README: Use GitHub/GitLab/Bitbucket). Its key is the content's hash: each seed "
                "version is its own object",
            ),
        ]
    repository = project.repository
    assert repository is not None
    return [("RepositoryCloneUrl", repository.repository_clone_url_grc, "git clone URL (git-remote-codecommit)")]


def build_outputs(project: ModelProject) -> list[tuple[str, str, str]]:
    """The outputs every model's build shows its team (a product's template shows them in Studio)."""
    return [
        ("BuildPipelineName", project.pipeline.pipeline_name, "CodePipeline that builds the model"),
        ("SageMakerPipelineName", project.sagemaker_pipeline_name, "SageMaker Pipeline upserted by the build"),
        ("ModelPackageGroupName", project.model_package_group_name, "Model Registry group of the model"),
        ("DataBucketName", project.data_bucket.bucket_name, "Bucket for the model's data and SageMaker artifacts"),
    ]


def deploy_outputs(model: ModelConfig, deploy: DeployPipeline) -> list[tuple[str, str, str]]:
    """The outputs every model's deployment shows (a product's template shows them in Studio)."""
    serving = (
        [
            ("StagingTransformPipelineName", deploy.stack_names["staging"], "Transform the batch check runs"),
            (
                "ProductionTransformPipelineName",
                deploy.stack_names["production"],
                "Transform pipeline the schedule starts",
            ),
        ]
        if model.is_batch
        else [
            ("StagingEndpointName", deploy.stack_names["staging"], "Endpoint the smoke test calls"),
            ("ProductionEndpointName", deploy.stack_names["production"], "A/B endpoint (champion, challenger)"),
        ]
    )
    return [
        ("DeployPipelineName", deploy.pipeline.pipeline_name, "Started by the approval gate"),
        *serving,
        ("ProductionStackName", deploy.stack_names["production"], "Serving stack rolled back by `make rollback`"),
        ("DataCaptureBucketName", deploy.data_capture_bucket.bucket_name, "Captured production requests"),
    ]
