"""A model's build project: its source, build pipeline, roles and registry group.

The source is a CodeCommit repository seeded with the model's seed template, or the team's own
repository on GitHub, GitLab or Bitbucket read through a CodeConnections connection (`models[].source`).

One instance per configured model. The construct takes typed props and reads no global state, so
the same construct backs the SageMaker Projects (Service Catalog) templates, whose model name and a few
settings are template parameters (tokens) known only at deploy time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnTag, Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config.schema import CodeConnectionsSource, ModelConfig
from lambdas.common.contracts import (
    BATCH_INPUT_PREFIX,
    BATCH_OUTPUT_PREFIX,
    BATCH_STAGING_PREFIX,
    MLFLOW_TRACKING_URI_VARIABLE,
    RETRAINING_DETAIL_TYPE,
    RETRAINING_SOURCE,
    SAMPLE_PAYLOADS_PREFIX,
    data_bucket_parameter_name,
    model_package_group_name,
)
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.dead_letters import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS, EventDeadLetters
from mlops_constructs.experiments import TrackingServer, tracking_policy
from mlops_constructs.model_source import SEED_BRANCH, pipeline_source
from mlops_constructs.model_tags import tagged_for, tagging_for
from mlops_constructs.pipelines import acknowledge_pipeline_grants, alert_on_failure, build_project
from mlops_constructs.sagemaker_roles import SageMakerServiceRole
from mlops_constructs.seeds import MODEL_SETTINGS_VARIABLE, model_settings, seed_asset, seed_template
from mlops_constructs.storage import expiring_buckets, grant_read_across_accounts, is_other_account, prefix_access

CODEBUILD_CACHE_PREFIX = "codebuild-cache"
# Where the seed's pipeline writes each execution's outputs, evaluation reports and baselines
# included (seed/<template>/workflow/pipeline.py): <model>/pipelines/<execution id>/<output>/.
PIPELINE_OUTPUTS_PREFIX = "{model}/pipelines/"
# Where the build uploads the Clarify analysis configs with the pipeline's definition (the seeds'
# workflow/clarify_steps.py): per commit, read by the production monitors.
CLARIFY_CONFIGS_PREFIX = "{model}/clarify/"
# What SageMaker Clarify names the endpoint it serves a model on during a bias or explainability check.
CLARIFY_SHADOW_ENDPOINT_PREFIX = "sm-clarify-"
# Where its training jobs write model.tar.gz (<model>/models/<job>/output/).
MODELS_PREFIX = "{model}/models/"


@dataclass(frozen=True)
class BuildTimeouts:
    test_minutes: int = 30
    # The train stage waits for the SageMaker Pipeline; the seed's run_pipeline.py stops the
    # execution and fails ten minutes before CodeBuild would kill the build, so the stop and the
    # execution ARN always reach the log.
    train_minutes: int = 240


class ModelProject(Construct):
    """Where a data-science team's work enters the platform.

    Push to `main` of the seeded CodeCommit repository (EventBridge), or to the configured branch of
    the team's repository on its Git host (the pipeline's push trigger) -> build pipeline (CodePipeline
    V2): Source -> Test (unit tests, data validation) -> Train (upsert, start and wait for the model's
    SageMaker Pipeline, which registers a `PendingManualApproval` package in the model's group).
    A failed execution alerts the platform topic. The model's data and SageMaker artifacts live in
    its own bucket, so every grant names this project's resources only.

    Both stages get the model's settings (`model_settings`) in `MODEL_SETTINGS_VARIABLE`, rendered at
    deploy time, so `model` may hold tokens. The repository starts with `repository_settings` as its
    `model_config.json` (local runs read it): by default the model's settings, which must then be
    literal; a model named by a template parameter needs literal ones (its product's defaults under
    `seeds.PLACEHOLDER_MODEL_NAME`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        alert_topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        noncurrent_version_days: int,
        registry_readers: list[str],
        athena_workgroup_name: str | None = None,
        seed_directory: Path | None = None,
        repository_settings: Mapping[str, object] | None = None,
        timeouts: BuildTimeouts = BuildTimeouts(),
        tracking_server: TrackingServer | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        settings = model_settings(model)
        self.model_name = model.name
        self.sagemaker_pipeline_name = str(settings["pipeline_name"])

        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=model_package_group_name(model.name),
            model_package_group_description=model.description,
            model_package_group_policy=_registry_read_policy(
                stack, model_package_group_name(model.name), registry_readers
            ),
            tags=[CfnTag(key=key, value=value) for key, value in sorted(model.tags.items())],
        )
        self.model_package_group.apply_removal_policy(RemovalPolicy.RETAIN)
        self.model_package_group_name = model_package_group_name(model.name)

        bucket = expiring_buckets(
            self,
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            noncurrent_version_days=noncurrent_version_days,
        )

        self.data_bucket = bucket("Data", f"{model.name}-data/")
        # Published for what is deployed later and must not depend on this stack: a batch model's
        # serving templates read the bucket's name from it at deploy time.
        self.data_bucket_parameter = ssm.StringParameter(
            self,
            "DataBucketName",
            parameter_name=data_bucket_parameter_name(platform_name, model.name),
            # A path ("/<platform>/<model>/data-bucket"), also when the model's name is a token.
            simple_name=False,
            string_value=self.data_bucket.bucket_name,
            description=f"Data bucket of model '{model.name}'",
        )
        pipeline_artifacts = bucket("PipelineArtifacts", f"{model.name}-build-pipeline/")

        seed = seed_asset(
            seed_directory or seed_template(model.seed),
            settings if repository_settings is None else repository_settings,
        )
        source = codepipeline.Artifact("Source")
        # One of the two, by `model.source`: the repository the platform seeds, or the seed as an
        # archive the team pushes to its own repository.
        build_source = pipeline_source(self, model=model, seed=seed, encryption_key=encryption_key, output=source)
        self.repository = build_source.repository
        self.seed_archive = build_source.seed_archive
        self.source = model.source
        source_action = build_source.action

        self.sagemaker_role = self._sagemaker_execution_role(stack, encryption_key)

        def stage_project(stage: str, buildspec: str, minutes: int, **environment: str) -> codebuild.PipelineProject:
            return build_project(
                self,
                f"{stage}Project",
                description=f"{stage} stage of the '{model.name}' model build pipeline",
                build_spec=codebuild.BuildSpec.from_source_filename(buildspec),
                timeout=Duration.minutes(minutes),
                encryption_key=encryption_key,
                log_retention=log_retention,
                environment={
                    "MODEL_NAME": model.name,
                    # What the seed's workflow/config.py reads first; tokens resolve at deploy time.
                    MODEL_SETTINGS_VARIABLE: stack.to_json_string(settings),
                    **environment,
                },
                # The seed's buildspecs cache pip's downloads (the SageMaker SDK is about 1 GB) here,
                # in the bucket the stage already reads and writes for its artifacts.
                cache=codebuild.Cache.bucket(pipeline_artifacts, prefix=f"{CODEBUILD_CACHE_PREFIX}/{stage.lower()}"),
            )

        test_project = stage_project("Test", "buildspec-test.yml", timeouts.test_minutes)
        self.train_project = stage_project(
            "Train",
            "buildspec-train.yml",
            timeouts.train_minutes,
            SAGEMAKER_PIPELINE_ROLE_ARN=self.sagemaker_role.role_arn,
            ARTIFACT_BUCKET=self.data_bucket.bucket_name,
            KMS_KEY_ARN=encryption_key.key_arn,
            PIPELINE_WAIT_TIMEOUT_MINUTES=str(timeouts.train_minutes - 10),
            # Where the code comes from, for every package's lineage (MetadataProperties.Repository).
            SOURCE_REPOSITORY=self._repository_location(),
            # Offline feature store queries (the seed's training-set builder), when the model has a group.
            **({"ATHENA_WORKGROUP": athena_workgroup_name} if athena_workgroup_name else {}),
            # Where the build and its pipeline's tracking step log the run, when the platform tracks experiments.
            **({MLFLOW_TRACKING_URI_VARIABLE: tracking_server.arn} if tracking_server else {}),
        )
        self._grant_pipeline_upsert(stack, encryption_key)
        if tracking_server is not None:
            self._grant_tracking(tracking_server)

        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=pipeline_artifacts,
            restart_execution_on_update=False,
            stages=[
                codepipeline.StageProps(
                    stage_name="Source",
                    actions=[source_action],
                ),
                codepipeline.StageProps(
                    stage_name="Test",
                    actions=[
                        actions.CodeBuildAction(
                            action_name="UnitTestsAndDataValidation", project=test_project, input=source
                        )
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="Train",
                    actions=[
                        actions.CodeBuildAction(
                            action_name="RunSageMakerPipeline", project=self.train_project, input=source
                        )
                    ],
                ),
            ],
        )
        self.event_dead_letters = EventDeadLetters.of(self, encryption_key=encryption_key, alert_topic=alert_topic)
        self._start_on_push(source_action)
        alert_on_failure(self.pipeline, alert_topic=alert_topic, what=f"model build pipeline of '{model.name}'")
        acknowledge_pipeline_grants(
            self, projects=[test_project, self.train_project], own_buckets=[pipeline_artifacts, self.data_bucket]
        )

    def _grant_tracking(self, server: TrackingServer) -> None:
        """The train build starts and ends the model's MLflow run; the pipeline's tracking step, running as
        the SageMaker role, logs into it: both log, neither deletes."""
        train_role = self.train_project.role
        assert train_role is not None
        for purpose, role in (("TrainBuild", train_role), ("SageMakerPipeline", self.sagemaker_role)):
            tracking_policy(
                self,
                f"{purpose}Tracking",
                grantee=role,
                server=server,
                read=True,
                log=True,
                open_ui=False,
                description=f"Log the runs of model '{self.model_name}' to the MLflow tracking server",
            )

    def _start_on_push(self, source_action: codepipeline.IAction) -> None:
        """Pushes to the source branch start the build pipeline, pushes to other branches do not."""
        if isinstance(self.source, CodeConnectionsSource):
            self.pipeline.add_trigger(
                provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
                git_configuration=codepipeline.GitConfiguration(
                    source_action=source_action,
                    push_filter=[codepipeline.GitPushFilter(branches_includes=[self.source.branch])],
                ),
            )
            return
        assert self.repository is not None
        self._start_pipeline_on(
            self.repository.on_commit(
                "PushToMain",
                description=f"Build model '{self.model_name}' on every push to {SEED_BRANCH}",
                branches=[SEED_BRANCH],
            )
        )

    def retrain_on_request(self, bus: events.IEventBus) -> events.Rule:
        """Start the build pipeline when a "Retraining Requested" event for this model reaches `bus`.

        The drift alert asks for retraining this way (once per cool-down), so its stack needs
        nothing from this one. The execution builds the head of the source branch, whatever the source.
        """
        rule = events.Rule(
            self,
            "RetrainingRequests",
            description=f"Retrain model '{self.model_name}' when the drift alert asks for it",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=[RETRAINING_SOURCE],
                detail_type=[RETRAINING_DETAIL_TYPE],
                detail={"model_name": [self.model_name]},
            ),
        )
        return self._start_pipeline_on(rule)

    def _start_pipeline_on(self, rule: events.Rule) -> events.Rule:
        """Make the build pipeline a target of `rule`: retried, then dead-lettered in this stack."""
        rule.add_target(
            targets.CodePipeline(
                self.pipeline,
                dead_letter_queue=self.event_dead_letters.queue,
                retry_attempts=EVENT_RETRY_ATTEMPTS,
                max_event_age=EVENT_MAX_AGE,
            )
        )
        self.event_dead_letters.accept_events_of(rule)
        return rule

    def _repository_location(self) -> str:
        """The platform's CodeCommit repository's clone URL, or `codeconnections:<owner/name>` of a Git host."""
        if isinstance(self.source, CodeConnectionsSource):
            return f"{self.source.provider}:{self.source.repository}"
        if self.repository is None:
            raise ValueError(f"model '{self.model_name}' has neither a CodeCommit repository nor a Git host")
        return self.repository.repository_clone_url_http

    def grant_read_pipeline_outputs(self, grantee: iam.IRole) -> None:
        """Read what this model's pipeline executions wrote, in any version: the evaluation and bias reports
        as they were when a package was registered (the approval gate; `pipeline_outputs_read`)."""
        statements, acknowledgments = self.pipeline_outputs_read("ReadObjects")
        policy = iam.ManagedPolicy(
            self,
            f"PipelineOutputReaders{Names.unique_id(grantee)}",
            description=f"Read s3://<data bucket>/{PIPELINE_OUTPUTS_PREFIX.format(model=self.model_name)}"
            f" of model '{self.model_name}', and its versions",
            roles=[grantee],
            statements=statements,
        )
        acknowledge_each(policy, acknowledgments)

    def grant_read_monitoring_baselines(self, grantee: iam.IRole) -> None:
        """Read the baselines Model Monitor checks production against: what the pipeline executions wrote
        (data- and model-quality baselines, Clarify's constraints) and the Clarify analysis configs the
        build uploads with the pipeline's definition."""
        self._grant_read(
            grantee,
            "PipelineOutputReaders",
            PIPELINE_OUTPUTS_PREFIX.format(model=self.model_name),
            CLARIFY_CONFIGS_PREFIX.format(model=self.model_name),
        )

    def grant_read_models(self, grantee: iam.IRole) -> None:
        """Read the trained model artifacts (the endpoints' serving role)."""
        self._grant_read(grantee, "ModelReaders", MODELS_PREFIX.format(model=self.model_name))

    def grant_read_sample_payloads(self, grantee: iam.IRole) -> None:
        """Read the sample payloads the build registers with each package (the staging checks)."""
        self._grant_read(grantee, "SamplePayloadReaders", SAMPLE_PAYLOADS_PREFIX.format(model=self.model_name))

    def grant_batch_transform(self, grantee: iam.IRole) -> None:
        """Read `batch/input/` and the staging samples, write `batch/output/` and the staging answers
        (the role a batch model's transform jobs run as)."""
        self._grant_objects(
            grantee,
            "BatchTransform",
            read=[BATCH_INPUT_PREFIX, BATCH_STAGING_PREFIX],
            write=[BATCH_OUTPUT_PREFIX, BATCH_STAGING_PREFIX],
        )

    def grant_batch_staging(self, grantee: iam.IRole) -> None:
        """Write samples to, and read answers from, `batch/staging/` (the deploy pipeline's batch check)."""
        self._grant_objects(grantee, "BatchStaging", read=[BATCH_STAGING_PREFIX], write=[BATCH_STAGING_PREFIX])

    def _grant_objects(self, grantee: iam.IRole, purpose: str, *, read: list[str], write: list[str]) -> None:
        """List, read and write objects under prefixes of the data bucket, as a managed policy on `grantee`."""
        prefix_access(
            self,
            f"{purpose}{Names.unique_id(grantee)}",
            grantee=grantee,
            bucket_arn=self.data_bucket.bucket_arn,
            nag_bucket_arn=nag_ref(self.data_bucket, "Arn"),
            read=read,
            write=write,
            description=f"Batch data of model '{self.model_name}' in its data bucket",
            reason="Batch inputs, outputs and samples are written per file and run under this prefix only.",
        )

    def pipeline_outputs_read(self, sid: str) -> tuple[list[iam.PolicyStatement], list[tuple[str, str]]]:
        """The statements that read what this model's pipeline executions wrote, in any version, and their
        cdk-nag acknowledgment: the approval gate judges a package on its reports as they were when it was
        registered (the build can write them again since). `sid` names the statement of the current objects.
        For `grant_read_pipeline_outputs`, and for a policy of the grantee's own (a project's grant to the
        gate, in one policy with the rest of the gate's grants for the model)."""
        prefix = PIPELINE_OUTPUTS_PREFIX.format(model=self.model_name)
        read, acknowledgments = self._read_statement([prefix], sid)
        versions = iam.PolicyStatement(
            sid="ReadReportVersions",
            actions=["s3:GetObjectVersion"],
            resources=[self.data_bucket.arn_for_objects(f"{prefix}*")],
        )
        # Listing a key's versions tells which was current at a time; under this prefix only.
        listing = iam.PolicyStatement(
            sid="ListReportVersions",
            actions=["s3:ListBucketVersions"],
            resources=[self.data_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": f"{prefix}*"}},
        )
        # The versions' statement raises the same finding (the prefix's wildcard) as the read's: one reason.
        acknowledged = [
            (rule, f"{reason.rstrip('.')}; its versions too: the approval gate judges reports as registered.")
            for rule, reason in acknowledgments
        ]
        return [read, versions, listing], acknowledged

    def _read_statement(
        self, prefixes: Sequence[str], sid: str = "ReadObjects"
    ) -> tuple[iam.PolicyStatement, list[tuple[str, str]]]:
        statement = iam.PolicyStatement(
            sid=sid,
            actions=["s3:GetObject"],
            resources=[self.data_bucket.arn_for_objects(f"{each}*") for each in prefixes],
        )
        acknowledgments = [
            (
                f"AwsSolutions-IAM5[Resource::{nag_ref(self.data_bucket, 'Arn')}/{each}*]",
                "Objects are written per pipeline execution, training job or commit; read-only, under this prefix.",
            )
            for each in prefixes
        ]
        return statement, acknowledgments

    def _grant_read(self, grantee: iam.IRole, purpose: str, *prefixes: str) -> None:
        """s3:GetObject under the prefixes of the data bucket, as a managed policy attached to `grantee`.

        Made here, next to the bucket: the grantee's stack then needs nothing from this one. A role of a
        stage account is named in the bucket's and the key's policies instead.
        """
        if is_other_account(self, grantee):
            sid = f"{purpose}{Names.unique_id(grantee)}"
            grant_read_across_accounts(self.data_bucket, grantee, prefixes, sid=sid)
            return
        statement, acknowledgments = self._read_statement(prefixes)
        policy = iam.ManagedPolicy(
            self,
            f"{purpose}{Names.unique_id(grantee)}",
            description=f"Read s3://<data bucket>/{', '.join(prefixes)} of model '{self.model_name}'",
            roles=[grantee],
            statements=[statement],
        )
        acknowledge_each(policy, acknowledgments)

    def _sagemaker_execution_role(self, stack: Stack, encryption_key: kms.IKey) -> iam.Role:
        """The role the SageMaker Pipeline and its jobs run as: this model's data, group and logs only."""
        execution = SageMakerServiceRole(
            self,
            "SageMakerExecution",
            description=f"SageMaker Pipeline and jobs of model '{self.model_name}'",
            encryption_key=encryption_key,
            # The job types the pipeline runs log to one group each (streams per job), and the endpoint
            # Clarify serves the model on (which runs as this role) to its own.
            log_groups=[
                "/aws/sagemaker/ProcessingJobs",
                "/aws/sagemaker/TrainingJobs",
                f"/aws/sagemaker/Endpoints/{CLARIFY_SHADOW_ENDPOINT_PREFIX}*",
            ],
            metric_namespace="/aws/sagemaker/*",
        )
        role = execution.role
        self.data_bucket.grant_read_write(role)
        job_arns = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name="pipelines-*")
            for kind in ("processing-job", "training-job")
        ]
        packages_arn = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.model_package_group_name}/*"
        )
        model_arns = stack.format_arn(service="sagemaker", resource="model", resource_name="pipelines-*")
        clarify_endpoint_arns = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{CLARIFY_SHADOW_ENDPOINT_PREFIX}*")
            for kind in ("endpoint", "endpoint-config")
        ]
        execution.policy.add_statements(
            # Job names are generated per pipeline execution and say nothing of the model: its tag does.
            # Tagging too: only with this model, and only jobs untagged (being created) or this model's.
            iam.PolicyStatement(
                sid="RunThisModelsTaggedJobs",
                actions=["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob", "sagemaker:AddTags"],
                resources=job_arns,
                conditions=tagging_for(self.model_name),
            ),
            iam.PolicyStatement(
                sid="FollowThisModelsTaggedJobs",
                actions=[
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                ],
                resources=job_arns,
                conditions=tagged_for(self.model_name),
            ),
            iam.PolicyStatement(
                sid="RegisterInThisModelsGroup",
                actions=[
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:ListModelPackages",
                    "sagemaker:AddTags",
                ],
                resources=[self.model_package_group.attr_model_package_group_arn, packages_arn],
            ),
            # Clarify's model bias and explainability checks ask the model for predictions through a
            # shadow endpoint: the pipeline creates the SageMaker model (tagged, like its jobs) ...
            iam.PolicyStatement(
                sid="CreateThisModelsTaggedModels",
                actions=["sagemaker:CreateModel", "sagemaker:AddTags"],
                resources=[model_arns],
                conditions=tagging_for(self.model_name),
            ),
            iam.PolicyStatement(
                sid="ReadAndDeleteThisModelsTaggedModels",
                actions=["sagemaker:DescribeModel", "sagemaker:DeleteModel"],
                resources=[model_arns],
                conditions=tagged_for(self.model_name),
            ),
            # ... and the Clarify job, running as this role, serves it on an endpoint it names
            # sm-clarify-*, untagged, for the length of the job.
            iam.PolicyStatement(
                sid="ServeTheModelToClarify",
                actions=[
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    # SageMaker authorizes the (empty) tags of a create too.
                    "sagemaker:AddTags",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:InvokeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DeleteEndpointConfig",
                ],
                resources=clarify_endpoint_arns,
            ),
            iam.PolicyStatement(
                sid="PassThisRoleToItsJobs",
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
        )
        acknowledge_each(
            execution.policy,
            [
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{job_arn}]",
                        "SageMaker Pipelines name their jobs pipelines-<execution>-<step>; only jobs tagged with this model.",
                    )
                    for job_arn in job_arns
                ],
                (
                    f"AwsSolutions-IAM5[Resource::{packages_arn}]",
                    "Package versions are numbered at registration; the scope is this model's group only.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{model_arns}]",
                    "SageMaker Pipelines name the models they create pipelines-<execution>-<step>; only models"
                    " tagged with this model.",
                ),
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{arn}]",
                        "Clarify names its shadow endpoint sm-clarify-<time>-<id> per job, and tags it not: the"
                        " prefix is the narrowest scope (its own model's tag scopes what it serves).",
                    )
                    for arn in clarify_endpoint_arns
                ],
            ],
        )
        return role

    def _grant_pipeline_upsert(self, stack: Stack, encryption_key: kms.IKey) -> None:
        """The train stage creates/updates and runs this model's SageMaker Pipeline, nothing else."""
        role = self.train_project.role
        assert role is not None
        pipeline_arn = stack.format_arn(
            service="sagemaker", resource="pipeline", resource_name=self.sagemaker_pipeline_name
        )
        self.data_bucket.grant_read_write(role)
        encryption_key.grant_encrypt_decrypt(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="UpsertAndRunThisModelsPipeline",
                actions=[
                    "sagemaker:CreatePipeline",
                    "sagemaker:UpdatePipeline",
                    "sagemaker:DescribePipeline",
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:DescribePipelineExecution",
                    "sagemaker:ListPipelineExecutionSteps",
                    "sagemaker:StopPipelineExecution",
                    "sagemaker:AddTags",
                ],
                resources=[pipeline_arn, f"{pipeline_arn}/execution/*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassTheSageMakerRole",
                actions=["iam:PassRole"],
                resources=[self.sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        acknowledge_each(
            role,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{pipeline_arn}/execution/*]",
                    "Execution ids are generated at start; the scope is this model's pipeline only.",
                )
            ],
        )


def _registry_read_policy(stack: Stack, group_name: str, readers: list[str]) -> dict[str, object] | None:
    """Lets the roles of the stage accounts that create models from the group's packages (CloudFormation's
    execution roles of the model's serving stacks) read them, never change them; or None."""
    if not readers:
        return None
    group_arn = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group_name)
    packages_arn = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group_name}/*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeploymentAccountsReadPackages",
                "Effect": "Allow",
                "Principal": {"AWS": readers},
                "Action": [
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:ListModelPackages",
                    # A model created from a package of another account is authorized on the package too.
                    "sagemaker:CreateModel",
                ],
                "Resource": [group_arn, packages_arn],
            }
        ],
    }
