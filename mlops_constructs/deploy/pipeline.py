"""A model's deploy pipeline: staging and its check, manual approval, production.

Started by the approval gate with the approved package's ARN as the pipeline variable
`DEPLOY_PIPELINE_VARIABLE` (`lambdas.common.contracts`). The pipeline deploys templates that this app
synthesizes (mlops_constructs/serving/) and ships as one asset with the scripts its actions run, so
no step needs the platform's source code:

1. Source: the deploy bundle (serving templates, smoke test, batch check, champion resolution).
2. Staging: deploy the package alone. A real-time model's staging endpoint is smoke-tested (errors,
   latency, answers per the package's inference contract, with the package's sample payloads); a
   batch model's staging transform runs on those samples and its output is checked against the
   contract (`tools/batch_check.py`).
3. Approve: a person with the ModelApprover role approves (notified on the approvals topic).
4. Production: resolve who serves production now (`tools/resolve_champion.py`, which also writes the
   explainability monitor's analysis config for the champion), then deploy. A real-time package goes
   in as challenger next to the champion at the configured weight (or as the champion at 100 % when
   production has none yet), rolled out blue/green and rolled back by the endpoint's alarms; a batch
   package replaces the champion of the scheduled transform.

A failed smoke test stops before production; a production that cannot be read stops the run; a
rolled-back production update leaves the stack (and so the previous champion) as it was. Each fails
the execution, which alerts the topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Environment, Names, Stack, Tokenization
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    ALERT_TOPIC_PARAMETER,
    CHAMPION_PARAMETER,
    CHAMPION_VARIABLES,
    CLARIFY_CONFIGS_FOLDER,
    DATA_BUCKET_PARAMETER,
    DATA_CAPTURE_PARAMETER,
    DEAD_LETTER_QUEUE_PARAMETER,
    DEPLOY_PIPELINE_VARIABLE,
    EXECUTION_ROLE_PARAMETER,
    INFERENCE_INSTANCE_TYPE_PARAMETER,
    KMS_KEY_PARAMETER,
    METRIC_THRESHOLD_PARAMETER,
    MODEL_NAME_PARAMETER,
    MONITORING_KEY_VARIABLE,
    MONITORING_OUTPUT_PARAMETER,
    MONITORING_OUTPUT_VARIABLE,
    MONITORING_ROLE_PARAMETER,
    RECORD_PREPROCESSOR_PARAMETER,
    SCHEDULER_ROLE_PARAMETER,
    STAGES,
    TRANSFORM_ROLE_PARAMETER,
    Stage,
    TargetRoleKind,
    data_bucket_parameter_name,
    serving_name,
    tooling_role_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.dead_letters import EventDeadLetters
from mlops_constructs.deploy.batch_roles import scheduler_role, transform_pipeline_role
from mlops_constructs.deploy.bundle import compose_deploy_bundle, template_file
from mlops_constructs.deploy.projects import batch_check_project, resolve_champion_project, smoke_test_project
from mlops_constructs.deploy.roles import (
    ServingNames,
    cloudformation_role,
    monitoring_role,
    serving_role,
)
from mlops_constructs.personas import DEPLOYMENT_APPROVAL_ACTION
from mlops_constructs.pipelines import acknowledge_pipeline_grants, alert_on_failure
from mlops_constructs.serving import serving_template
from mlops_constructs.storage import expiring_buckets, key_prefix, prefix_access
from mlops_constructs.target_account import bootstrap_qualifier, record_preprocessor_url

RECORD_PREPROCESSOR = Path(__file__).resolve().parent.parent / "runtime" / "model_monitor_preprocessor.py"
APPROVAL_STAGE, APPROVAL_ACTION = "Approve", "ApproveProduction"
# The package the approval gate started this execution with.
NEW_PACKAGE = f"#{{variables.{DEPLOY_PIPELINE_VARIABLE}}}"


class DeployPipeline(Construct):
    """A model's deploy pipeline and what its serving needs (roles, data capture bucket, checks).

    `model.name`, `model.metric.threshold` and `model.instance_types.inference` may be tokens (a
    SageMaker Projects product's parameters, known at deploy time only): nothing here decides on them
    in Python, and the serving templates take them as their parameters (`MODEL_NAME_PARAMETER`,
    `METRIC_THRESHOLD_PARAMETER`, `INFERENCE_INSTANCE_TYPE_PARAMETER`), whatever the model.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        monitored_features: list[str],
        env: Environment,
        template_context: dict[str, Any],
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        alert_topic: sns.ITopic,
        approval_topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        noncurrent_version_days: int,
        serving_accounts: Mapping[Stage, ServingAccount] | None = None,
    ) -> None:
        """`serving_accounts`: the stages that serve in an account of their own (`ServingAccount.remote`);
        their serving stacks are deployed there, with the roles, key, bucket and topic of that account's
        target stack (stacks/target_stack.py). Other stages serve in this stack's account."""
        super().__init__(scope, construct_id)
        self.model_name = model.name
        self.remote: dict[Stage, ServingAccount] = {
            stage: account for stage, account in (serving_accounts or {}).items() if account.remote
        }
        local_stages = [stage for stage in STAGES if stage not in self.remote]
        # A stage's serving stack and its endpoint (or a batch model's transform pipeline) share one name.
        self.stack_names: dict[Stage, str] = {stage: serving_name(platform_name, model.name, stage) for stage in STAGES}
        self.endpoint_names: dict[Stage, str] = {} if model.is_batch else dict(self.stack_names)
        names = ServingNames(model_name=model.name, stages=dict(self.stack_names), batch=model.is_batch)
        data_bucket_parameter = data_bucket_parameter_name(platform_name, model.name)
        self.templates: dict[Stage, dict[str, Any]] = {
            stage: serving_template(
                platform_name=platform_name,
                model=model,
                stage=stage,
                monitored_features=monitored_features,
                env=env,
                context=template_context,
            )
            for stage in STAGES
        }
        bundle = s3_assets.Asset(self, "DeployBundle", path=str(compose_deploy_bundle(self.templates)))

        bucket = expiring_buckets(
            self,
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            noncurrent_version_days=noncurrent_version_days,
        )
        production = self.remote.get("production")
        # Production's captures and monitoring reports: here, or in the production account's serving bucket.
        self.data_capture_bucket: s3.IBucket = (
            bucket("DataCapture", f"{model.name}-data-capture/")
            if production is None
            else s3.Bucket.from_bucket_attributes(
                self,
                "ProductionServingBucket",
                bucket_name=production.bucket_name,
                account=production.account,
                region=production.region,
            )
        )
        pipeline_artifacts = bucket("PipelineArtifacts", f"{model.name}-deploy-pipeline/")
        # The role each stage's endpoints run as: this stack's (shared by the stages served here), or the
        # stage account's own.
        local_serving_role = (
            serving_role(self, names=names, encryption_key=encryption_key, data_capture_bucket=self.data_capture_bucket)
            if local_stages
            else None
        )
        self.serving_roles: dict[Stage, iam.IRole] = {
            stage: self._remote_role(stage, "serve")
            if local_serving_role is None or stage in self.remote
            else local_serving_role
            for stage in STAGES
        }
        self.serving_role: iam.IRole = local_serving_role or self.serving_roles["production"]
        self.monitoring_role: iam.IRole = (
            monitoring_role(
                self,
                names=names,
                encryption_key=encryption_key,
                data_capture_bucket=self.data_capture_bucket,
                ground_truth_s3_uri=model.monitoring.ground_truth_s3_uri,
            )
            if production is None
            else self._remote_role("production", "mon")
        )
        if model.is_batch:  # always served in this account (config/schema.py refuses it elsewhere)
            assert isinstance(self.serving_role, iam.Role)
            _grant_configured_batch_locations(self, self.serving_role, model)
        self.transform_pipeline_role: iam.Role | None = None
        self.scheduler_role: iam.Role | None = None
        batch_parameters: dict[str, str] = {}
        if model.is_batch:
            self.transform_pipeline_role = transform_pipeline_role(self, names=names, encryption_key=encryption_key)
            self.scheduler_role = scheduler_role(self, names=names)
            # Runs the schedule could not start, after its retries: alarmed like every undelivered event.
            unstarted_runs = EventDeadLetters.of(self, encryption_key=encryption_key, alert_topic=alert_topic).queue
            unstarted_runs.grant_send_messages(self.scheduler_role)
            batch_parameters = {
                # The SSM parameter the template reads the data bucket's name from (it names the model).
                DATA_BUCKET_PARAMETER: data_bucket_parameter,
                TRANSFORM_ROLE_PARAMETER: self.transform_pipeline_role.role_arn,
                SCHEDULER_ROLE_PARAMETER: self.scheduler_role.role_arn,
                DEAD_LETTER_QUEUE_PARAMETER: unstarted_runs.queue_arn,
            }
        shared = {
            MODEL_NAME_PARAMETER: model.name,
            # CloudFormation takes every parameter value as a string, a Number's too ("0.75"; a token
            # becomes its Ref between the quotes of the overrides' JSON).
            METRIC_THRESHOLD_PARAMETER: Tokenization.stringify_number(model.metric.threshold),
            INFERENCE_INSTANCE_TYPE_PARAMETER: model.instance_types.inference,
            **batch_parameters,
        }
        here = (
            {
                KMS_KEY_PARAMETER: encryption_key.key_arn,
                ALERT_TOPIC_PARAMETER: alert_topic.topic_arn,
            }
            if local_stages
            else {}
        )
        if production is None:
            here |= {
                DATA_CAPTURE_PARAMETER: self.data_capture_bucket.s3_url_for_object(f"{model.name}/production"),
                MONITORING_OUTPUT_PARAMETER: self.data_capture_bucket.s3_url_for_object(f"{model.name}/monitoring"),
                RECORD_PREPROCESSOR_PARAMETER: self._record_preprocessor().s3_object_url,
            }
        self._stage_parameters: dict[Stage, dict[str, str]] = {}
        for stage in STAGES:
            values = (
                (
                    here
                    if stage not in self.remote
                    else _serving_account_parameters(
                        self.remote[stage], model.name, qualifier=bootstrap_qualifier(self)
                    )
                )
                | {EXECUTION_ROLE_PARAMETER: self.serving_roles[stage].role_arn}
                | ({MONITORING_ROLE_PARAMETER: self.monitoring_role.role_arn} if stage == "production" else {})
            )
            # In one order whatever the account (the overrides' JSON keeps it).
            self._stage_parameters[stage] = shared | {
                name: values[name] for name in SERVING_PARAMETERS if name in values
            }

        self._source = codepipeline.Artifact("DeployBundle")
        # CloudFormation's role for the stages served here (each other account has its own).
        self._deployment_role: iam.IRole | None = None
        if local_stages:
            sagemaker_roles: list[iam.IRole] = [local_serving_role] if local_serving_role else []
            if production is None:
                sagemaker_roles.append(self.monitoring_role)
            if self.transform_pipeline_role is not None:
                sagemaker_roles.append(self.transform_pipeline_role)
            self._deployment_role = cloudformation_role(
                self,
                names=names,
                encryption_key=encryption_key,
                passed_roles=sagemaker_roles,
                scheduler=self.scheduler_role,
                data_bucket_parameter=data_bucket_parameter,
            )
        # What checks the staging deployment: the smoke test of the endpoint, or the batch check.
        self.staging_check = (
            batch_check_project(
                self,
                model=model,
                names=names,
                data_bucket_parameter=data_bucket_parameter,
                encryption_key=encryption_key,
                log_retention=log_retention,
            )
            if model.is_batch
            else smoke_test_project(
                self,
                model=model,
                names=names,
                encryption_key=encryption_key,
                log_retention=log_retention,
                serving=self.remote.get("staging"),
            )
        )
        self.champion_resolution = resolve_champion_project(
            self,
            names=names,
            encryption_key=encryption_key,
            log_retention=log_retention,
            serving=production,
        )
        if production is None:  # else the production account's operations role writes them
            self._write_clarify_configs(self.champion_resolution, model)
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            # The stage accounts' deploy roles trust this role by name.
            role=iam.Role(
                self,
                "PipelineRole",
                assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
                role_name=tooling_role_name(platform_name, model.name, "pipeline"),
            )
            if self.remote
            else None,
            artifact_bucket=pipeline_artifacts,
            restart_execution_on_update=False,
            execution_mode=codepipeline.ExecutionMode.QUEUED,
            variables=[
                codepipeline.Variable(
                    variable_name=DEPLOY_PIPELINE_VARIABLE,
                    description="ARN of the approved model package to deploy (set by the approval gate)",
                )
            ],
            stages=[
                codepipeline.StageProps(
                    stage_name="Source",
                    actions=[
                        actions.S3SourceAction(
                            action_name="DeployBundle",
                            bucket=bundle.bucket,
                            bucket_key=bundle.s3_object_key,
                            output=self._source,
                            trigger=actions.S3Trigger.NONE,
                        )
                    ],
                ),
                self._staging_stage(self.staging_check, model),
                self._approval_stage(model, approval_topic),
                self._production_stage(self.champion_resolution),
            ],
        )
        alert_on_failure(self.pipeline, alert_topic=alert_topic, what=f"deploy pipeline of '{model.name}'")
        acknowledge_pipeline_grants(
            self,
            projects=[self.staging_check, self.champion_resolution],
            own_buckets=[pipeline_artifacts] + ([self.data_capture_bucket] if production is None else []),
        )
        self._acknowledge_stack_grants()

    def grant_approval(self, approver: iam.IRole) -> iam.ManagedPolicy:
        """Let `approver` approve production deployments (the boundary denies it to everyone untagged)."""
        return iam.ManagedPolicy(
            self,
            f"Approvers{Names.unique_id(approver)}",
            description=f"Approve production deployments of model '{self.model_name}'",
            roles=[approver],
            statements=[
                iam.PolicyStatement(
                    sid="ApproveProductionDeployments",
                    actions=[DEPLOYMENT_APPROVAL_ACTION],
                    resources=[f"{self.pipeline.pipeline_arn}/{APPROVAL_STAGE}/{APPROVAL_ACTION}"],
                ),
                iam.PolicyStatement(
                    sid="SeeWhatIsBeingApproved",
                    actions=[
                        "codepipeline:GetPipeline",
                        "codepipeline:GetPipelineState",
                        "codepipeline:GetPipelineExecution",
                    ],
                    resources=[self.pipeline.pipeline_arn],
                ),
            ],
        )

    # --- stages -----------------------------------------------------------------------------------

    def _remote_role(self, stage: Stage, kind: TargetRoleKind) -> iam.IRole:
        """A role of the stage account's target stack, by its name (contracts.target_role_name)."""
        return iam.Role.from_role_arn(
            self,
            f"{stage.capitalize()}{kind.capitalize()}Role",
            self.remote[stage].role_arn(self.model_name, kind),
            mutable=False,
        )

    def _deploy(self, stage: Stage, run_order: int, **packages: str) -> actions.CloudFormationCreateUpdateStackAction:
        remote = stage in self.remote
        return actions.CloudFormationCreateUpdateStackAction(
            action_name=f"Deploy{stage.capitalize()}",
            stack_name=self.stack_names[stage],
            template_path=self._source.at_path(template_file(stage)),
            admin_permissions=False,
            # In a stage account: the pipeline assumes that account's deploy role, which passes CloudFormation
            # the account's execution role for the model's serving stacks.
            role=self._remote_role(stage, "deploy") if remote else None,
            deployment_role=self._remote_role(stage, "cfn") if remote else self._deployment_role,
            parameter_overrides=self._overrides(stage, **packages),
            # A first deployment that failed leaves ROLLBACK_COMPLETE; staging may be replaced.
            replace_on_failure=stage == "staging",
            run_order=run_order,
        )

    def _staging_stage(self, check: codebuild.IProject, model: ModelConfig) -> codepipeline.StageProps:
        """The new package alone in staging, then its check (smoke test, or a transform of the samples)."""
        return codepipeline.StageProps(
            stage_name="Staging",
            actions=[
                self._deploy("staging", 1, **{CHAMPION_PARAMETER: NEW_PACKAGE}),
                actions.CodeBuildAction(
                    action_name="BatchCheck" if model.is_batch else "SmokeTest",
                    project=check,
                    input=self._source,
                    environment_variables={"NEW_PACKAGE_ARN": codebuild.BuildEnvironmentVariable(value=NEW_PACKAGE)},
                    run_order=2,
                ),
            ],
        )

    def _approval_stage(self, model: ModelConfig, approval_topic: sns.ITopic) -> codepipeline.StageProps:
        return codepipeline.StageProps(
            stage_name=APPROVAL_STAGE,
            actions=[
                actions.ManualApprovalAction(
                    action_name=APPROVAL_ACTION,
                    notification_topic=approval_topic,
                    additional_information=_approval_text(model),
                )
            ],
        )

    def _production_stage(self, resolve_champion: codebuild.IProject) -> codepipeline.StageProps:
        """Who serves production now (a failed read stops here), then the deployment with those packages."""
        # Where the champion's explainability config for this deployment goes, and its key: the template's own.
        written = {
            MONITORING_OUTPUT_VARIABLE: self._stage_parameters["production"][MONITORING_OUTPUT_PARAMETER],
            MONITORING_KEY_VARIABLE: self._stage_parameters["production"][KMS_KEY_PARAMETER],
        }
        resolve = actions.CodeBuildAction(
            action_name="ResolveChampion",
            project=resolve_champion,
            input=self._source,
            variables_namespace="Champion",
            environment_variables={
                name: codebuild.BuildEnvironmentVariable(value=value)
                for name, value in {"NEW_PACKAGE_ARN": NEW_PACKAGE, **written}.items()
            },
            run_order=1,
        )
        return codepipeline.StageProps(
            stage_name="Production",
            actions=[
                resolve,
                self._deploy(
                    "production",
                    2,
                    **{parameter: resolve.variable(variable) for variable, parameter in CHAMPION_VARIABLES.items()},
                ),
            ],
        )

    def _overrides(self, stage: Stage, **packages: str) -> dict[str, str]:
        """The template's own parameters only: each stage's template declares what it uses."""
        declared = set(self.templates[stage]["Parameters"])
        return {name: value for name, value in (self._stage_parameters[stage] | packages).items() if name in declared}

    def _write_clarify_configs(self, project: codebuild.PipelineProject, model: ModelConfig) -> None:
        """The champion resolution writes the explainability monitor's analysis config of each deployment
        under the monitoring output (`contracts.clarify_config_uri`), where the monitoring role reads it.

        It reads the champion's own configs in the model's data bucket: the build stack grants that
        (`ModelProject.grant_read_monitoring_baselines(self.champion_resolution.role)`)."""
        configs = f"{model.name}/monitoring/{CLARIFY_CONFIGS_FOLDER}/*"
        self.data_capture_bucket.grant_put(project, configs)
        acknowledge_each(
            project,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.data_capture_bucket, 'Arn')}/{configs}]",
                    "One analysis config per champion version under this model's monitoring prefix; write-only.",
                )
            ],
        )

    def _record_preprocessor(self) -> s3_assets.Asset:
        """The script Model Monitor runs on each captured record; the monitoring role reads it."""
        stack = Stack.of(self)
        asset = s3_assets.Asset(self, "RecordPreprocessor", path=str(RECORD_PREPROCESSOR))
        self.monitoring_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheRecordPreprocessor",
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::{asset.s3_bucket_name}/{asset.s3_object_key}"],
            )
        )
        return asset

    def _acknowledge_stack_grants(self) -> None:
        stack = Stack.of(self)
        reason = "CloudFormation action L2: its own serving stack (the ARN ends in a generated id)."
        stack_arns = [
            stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{name}/*")
            for stage, name in self.stack_names.items()
            if stage not in self.remote
        ]
        if not stack_arns:
            return
        acknowledge_each(
            self.pipeline,
            [
                ("AwsSolutions-IAM5[Action::cloudformation:DescribeStack*]", reason),
                ("AwsSolutions-IAM5[Action::cloudformation:GetTemplate*]", reason),
                *[(f"AwsSolutions-IAM5[Resource::{arn}]", reason) for arn in stack_arns],
            ],
        )


# The platform's resources a serving template takes, in the order the deploy actions pass them.
SERVING_PARAMETERS = (
    EXECUTION_ROLE_PARAMETER,
    KMS_KEY_PARAMETER,
    DATA_CAPTURE_PARAMETER,
    ALERT_TOPIC_PARAMETER,
    MONITORING_ROLE_PARAMETER,
    MONITORING_OUTPUT_PARAMETER,
    RECORD_PREPROCESSOR_PARAMETER,
)


def _serving_account_parameters(account: ServingAccount, model_name: str, *, qualifier: str) -> dict[str, str]:
    """What a stage account's target stack provides the serving templates: its key (by alias), its alert
    topic, its serving bucket's prefixes for the model (captures and reports) and its copy of the record
    preprocessor. The roles are passed per stage by the caller."""
    bucket = f"s3://{account.bucket_name}"
    return {
        KMS_KEY_PARAMETER: account.key_alias_arn,
        ALERT_TOPIC_PARAMETER: account.alert_topic_arn,
        DATA_CAPTURE_PARAMETER: f"{bucket}/{model_name}/production",
        MONITORING_OUTPUT_PARAMETER: f"{bucket}/{model_name}/monitoring",
        RECORD_PREPROCESSOR_PARAMETER: record_preprocessor_url(account, qualifier=qualifier),
    }


def _approval_text(model: ModelConfig) -> str:
    """What the approver is told approving does."""
    if model.is_batch:
        return (
            f"Package {NEW_PACKAGE} passed the staging batch check of model '{model.name}' (a transform of its"
            " sample payloads, answers checked against its inference contract). Approving makes it the package"
            " the scheduled production transform runs. Approve as the ModelApprover role."
        )
    return (
        f"Package {NEW_PACKAGE} passed the staging smoke test of model '{model.name}'. "
        f"Approving deploys it to production as challenger at "
        f"{model.endpoint_variants.challenger_percent:g} % next to the current champion "
        "(or as champion when production has none). Approve as the ModelApprover role."
    )


def _grant_configured_batch_locations(scope: Construct, role: iam.Role, model: ModelConfig) -> None:
    """Let the transform jobs read `input_s3_uri` and write `output_s3_uri` when config names them
    (the default locations, in the model's data bucket, are granted by the build stack)."""
    batch = model.batch
    partition = Stack.of(scope).partition
    for purpose, uri, reading in (
        ("BatchInput", batch.input_s3_uri, True),
        ("BatchOutput", batch.output_s3_uri, False),
    ):
        if uri is None:
            continue
        bucket, _, path = uri.removeprefix("s3://").partition("/")
        prefix = key_prefix(path)
        prefix_access(
            scope,
            f"Configured{purpose}",
            grantee=role,
            bucket_arn=f"arn:{partition}:s3:::{bucket}",
            read=[prefix] if reading else [],
            write=[] if reading else [prefix],
            description=f"The batch {'input' if reading else 'output'} location configured for model '{model.name}'",
            reason="The batch location configured for this model: files are read or written per run under it.",
        )
