"""Compose every stack of the platform from a validated configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Environment, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.schema import PlatformConfig
from lambdas.common.contracts import PLATFORM_TAG, STAGES, Stage, model_package_group_name, serving_name
from mlops_constructs.accounts import serving_accounts
from mlops_constructs.approval_gate import GatedModel
from mlops_constructs.model_lifecycle import PlatformResources, connect_model
from mlops_constructs.storage import is_other_account
from stacks.approval_stack import ApprovalStack
from stacks.experiments_stack import ExperimentsStack
from stacks.feature_store_stack import FeatureStoreStack
from stacks.governance_stack import GovernanceStack
from stacks.model_build_stack import ModelBuildStack
from stacks.model_deploy_stack import ModelDeployStack
from stacks.projects_stack import ProjectsStack
from stacks.studio_stack import StudioStack
from stacks.target_stack import TargetStack, build_targets


@dataclass(frozen=True)
class Platform:
    governance: GovernanceStack
    approval: ApprovalStack
    model_deploys: dict[str, ModelDeployStack]
    model_builds: dict[str, ModelBuildStack]
    feature_store: FeatureStoreStack | None
    studio: StudioStack | None
    projects: ProjectsStack | None
    targets: dict[Stage, TargetStack]
    experiments: ExperimentsStack | None = None


def build_platform(
    app: Construct, config: PlatformConfig, *, target_scopes: Mapping[Stage, Construct] | None = None
) -> Platform:
    """Every stack of the platform: the tooling account's in `app` (an App, or a delivery pipeline's
    Stage), each remote stage's target stack in `target_scopes[stage]` (default: `app`). Each stack's
    CloudFormation name is its construct id, wherever it is built."""
    env = Environment(account=config.environment.account, region=config.environment.region)
    scopes = {stage: (target_scopes or {}).get(stage, app) for stage in STAGES}
    for scope in {app, *scopes.values()}:
        Tags.of(scope).add(PLATFORM_TAG, config.name)
    targets = build_targets(scopes, config)
    accounts = serving_accounts(config)
    remote = [account for account in accounts.values() if account.remote]
    governance = GovernanceStack(
        app,
        f"{config.name}-governance",
        stack_name=f"{config.name}-governance",
        config=config,
        env=env,
        description="MLOps platform governance: KMS key, artifact and audit buckets, CloudTrail, alerts, personas, budget",
        termination_protection=True,
    )
    studio = None
    if config.studio.enabled:
        studio = StudioStack(
            app,
            f"{config.name}-studio",
            stack_name=f"{config.name}-studio",
            platform_name=config.name,
            studio=config.studio,
            encryption_key=governance.key,
            log_retention=governance.log_retention,
            permissions_boundary=governance.permissions_boundary,
            data_scientist_role=governance.data_scientist_role,
            model_approver_role=governance.model_approver_role,
            env=env,
            description="MLOps platform SageMaker Studio: domain (IAM auth, VPC only), its network, persona user profiles",
        )
    experiments = None
    if config.experiments is not None:
        experiments = ExperimentsStack(
            app,
            f"{config.name}-experiments",
            stack_name=f"{config.name}-experiments",
            platform_name=config.name,
            experiments=config.experiments,
            encryption_key=governance.key,
            access_log_bucket=governance.access_log_bucket,
            noncurrent_version_days=config.retention.noncurrent_version_days,
            permissions_boundary=governance.permissions_boundary,
            data_scientist_role=governance.data_scientist_role,
            model_approver_role=governance.model_approver_role,
            env=env,
            description="MLOps platform experiment tracking: managed MLflow tracking server, its artifact bucket",
        )
    platform = PlatformResources(
        encryption_key=governance.key,
        access_log_bucket=governance.access_log_bucket,
        alert_topic=governance.alert_topic,
        approval_topic=governance.approval_topic,
        audit_bus=governance.audit_bus,
        permissions_boundary=governance.permissions_boundary,
        data_scientist_role=governance.data_scientist_role,
        model_approver_role=governance.model_approver_role,
        log_retention=governance.log_retention,
        noncurrent_version_days=config.retention.noncurrent_version_days,
        tracking_server=None if experiments is None else experiments.tracking.for_other_stacks(),
    )
    model_deploys = {
        model.name: ModelDeployStack(
            app,
            f"{config.name}-{model.name}-deploy",
            stack_name=f"{config.name}-{model.name}-deploy",
            platform_name=config.name,
            model=model,
            monitored_features=config.monitored_features(model),
            platform=platform,
            env=env,
            serving_accounts=accounts,
            description=f"Deploy pipeline of model '{model.name}': staging and its check, approval, "
            + ("scheduled batch transform" if model.is_batch else "A/B production endpoint"),
        )
        for model in config.models
    }
    approval = ApprovalStack(
        app,
        f"{config.name}-approval",
        stack_name=f"{config.name}-approval",
        platform_name=config.name,
        models=[
            GatedModel(
                model=model,
                model_package_group_name=model_package_group_name(model.name),
                deploy_pipeline=model_deploys[model.name].deploy.pipeline,
                production_serving_name=serving_name(config.name, model.name, "production"),
            )
            for model in config.models
        ],
        encryption_key=governance.key,
        alert_topic=governance.alert_topic,
        audit_bus=governance.audit_bus,
        log_retention=governance.log_retention,
        permissions_boundary=governance.permissions_boundary,
        env=env,
        description="MLOps platform approval gate: model package approvals to deploy pipelines",
    )
    athena_workgroup = f"{config.name}-feature-store"
    model_builds = {}
    for model in config.models:
        build = ModelBuildStack(
            app,
            f"{config.name}-{model.name}-build",
            stack_name=f"{config.name}-{model.name}-build",
            platform_name=config.name,
            model=model,
            platform=platform,
            # CloudFormation in each stage account creates the serving models from the packages.
            registry_readers=[account.role_arn(model.name, "cfn") for account in remote],
            athena_workgroup_name=athena_workgroup if model.feature_group else None,
            env=env,
            description=f"Build project of model '{model.name}': "
            + ("CodeConnections source" if model.source.provider == "codeconnections" else "CodeCommit repository")
            + ", build pipeline, SageMaker roles",
            tags=model.tags,
        )
        connect_model(
            build.project,
            model_deploys[model.name].deployed,
            model=model,
            gate_role=approval.gate.handler.role,
            audit_bus=governance.audit_bus,
        )
        if experiments is not None:
            build.add_stack_dependency(experiments, "its build roles log to the MLflow tracking server")
        model_builds[model.name] = build
    feature_store = None
    if config.feature_groups:
        feature_store = FeatureStoreStack(
            app,
            f"{config.name}-feature-store",
            stack_name=f"{config.name}-feature-store",
            groups=config.feature_groups,
            encryption_key=governance.key,
            access_log_bucket=governance.access_log_bucket,
            noncurrent_version_days=config.retention.noncurrent_version_days,
            athena_workgroup_name=athena_workgroup,
            permissions_boundary=governance.permissions_boundary,
            env=env,
            description="MLOps platform Feature Store: feature groups (online + offline), Athena workgroup",
        )
        for model in config.models:
            if model.feature_group:
                build_role = model_builds[model.name].project.train_project.role
                assert build_role is not None
                store = feature_store.feature_store
                # The build pipeline ingests and builds training sets; the training jobs read the
                # offline store; the endpoints read the online store.
                store.grant_ingest(build_role, model.feature_group)
                store.grant_read_offline(build_role, model.feature_group)
                store.grant_read_offline(model_builds[model.name].project.sagemaker_role, model.feature_group)
                for serving_role in _served_here(model_deploys[model.name]):
                    store.grant_read_online(serving_role, model.feature_group)
    projects = None
    if config.projects.enabled:
        projects = ProjectsStack(
            app,
            f"{config.name}-projects",
            stack_name=f"{config.name}-projects",
            platform_name=config.name,
            projects=config.projects,
            encryption_key=governance.key,
            access_log_bucket=governance.access_log_bucket,
            log_retention=governance.log_retention,
            noncurrent_version_days=config.retention.noncurrent_version_days,
            serving_accounts=accounts,
            config_model_names=[model.name for model in config.models],
            permissions_boundary=governance.permissions_boundary,
            data_scientist_role=governance.data_scientist_role,
            tracks_experiments=experiments is not None,
            env=env,
            description="MLOps platform SageMaker Projects: portfolio, one product per seed template, launch role",
        )
        # Products read the gate's role from its SSM parameter at deployment: it must exist first.
        projects.node.add_dependency(approval)
        if experiments is not None:
            # ... and the tracking server's artifact bucket from its own.
            projects.node.add_dependency(experiments)
    # The tooling account's key, bucket, registry and bus policies name the stage accounts' roles, which
    # IAM requires to exist: `cdk deploy --all` deploys the target stacks first (the delivery pipeline's
    # stages are ordered so; stacks of different stages take no dependency).
    for stage, target in targets.items():
        if scopes[stage] is app:
            for stack in [governance, *model_builds.values(), *model_deploys.values()]:
                stack.add_dependency(target, "its policies name the stage account's roles")
    return Platform(
        governance=governance,
        approval=approval,
        model_deploys=model_deploys,
        model_builds=model_builds,
        feature_store=feature_store,
        studio=studio,
        projects=projects,
        targets=targets,
        experiments=experiments,
    )


def _served_here(deploy_stack: ModelDeployStack) -> list[iam.IRole]:
    """The serving roles of this account (a stage account's endpoints read no feature group here)."""
    roles = deploy_stack.deploy.serving_roles.values()
    return list({id(role): role for role in roles if not is_other_account(deploy_stack, role)}.values())
