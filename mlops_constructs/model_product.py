"""The template of a SageMaker Projects product: what a data scientist gets when creating a model project
from SageMaker Studio, from one of the platform's seed templates.

It is made by the same functions as a model declared in config (`mlops_constructs.model_lifecycle`:
build project, deploy pipeline, registration with the approval gate, endpoint automation, and what
connects them), with the model's name taken from the project: `SageMakerProjectName`, which SageMaker
passes, like `SageMakerProjectId`, when it provisions the product. The model's other choices are
parameters of the template too (`ProductChoices`). Everything else is the platform's, read at deploy
time from the SSM parameters the governance and approval stacks publish (`/<platform>/platform/<key>`),
through parameters of the template pinned to them: exports cannot be imported by a template Service
Catalog deploys, and would pin the platform's values forever.

What the template cannot know at synth time stays out of Python decisions: the model's name is a token
in names, tags, policies and the build's settings (`MODEL_SETTINGS`), never sliced or validated here;
the template's parameter checks it instead (lower case, as the seeds, S3 and SageMaker need).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, CfnParameter, Environment, Tags
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_servicecatalog as servicecatalog
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import (
    UNIT_INTERVAL_METRICS,
    CodeConnectionsSource,
    ModelCardConfig,
    ModelConfig,
    SeedName,
    SourceProvider,
)
from config.sources import CONNECTION_ARN_PATTERN
from lambdas.common.contracts import (
    HIGHER_IS_BETTER,
    INFERENCE_INSTANCE_TYPE_PARAMETER,
    METRIC_THRESHOLD_PARAMETER,
    PLATFORM_PARAMETERS,
    RISK_RATINGS,
    Stage,
    mlflow_registration_suffix,
    mlflow_tracking_server_name,
    model_package_group_name,
    platform_parameter_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.approval_gate import GatedModel, gated_model_grants
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.experiments import imported_tracking_server
from mlops_constructs.functions import pinned_ssm_value, powertools_layer_arn
from mlops_constructs.model_lifecycle import (
    PlatformResources,
    build_model,
    build_outputs,
    connect_model,
    deploy_model,
    deploy_outputs,
    source_outputs,
)
from mlops_constructs.model_source import SEED_BRANCH
from mlops_constructs.project_accounts import provision_target_roles, roles_first
from mlops_constructs.seeds import PLACEHOLDER_MODEL_NAME, model_settings

# SageMaker project names are 1-32 characters; a model's name is what S3 prefixes, SageMaker resources
# and the seeds accept: lower-case letters, digits and single hyphens (config.schema.ModelName).
PROJECT_NAME_PATTERN = "^[a-z0-9](-?[a-z0-9]){1,31}$"
# The model card's texts a project is created with: anything but what would break the JSON they are
# spliced into (double quotes, backslashes, control characters).
CARD_TEXT_PATTERN = '^[^"\\\\\\x00-\\x1f]*$'
CARD_TEXT_RULE = "any text without double quotes, backslashes or line breaks"


def project_name_constraint(platform_name: str, *, tracks_experiments: bool) -> tuple[str, str]:
    """The project name's AllowedPattern and its rule. With a tracking server, a name may not end with the
    suffix of the groups the server syncs MLflow models into (`<registered model>-<suffix>`): the server's
    role may register packages in those groups, never in a governed model's (config/schema.py says the
    same of config models)."""
    rule = "lower-case letters, digits and single hyphens, 2 to 32 characters"
    if not tracks_experiments:
        return PROJECT_NAME_PATTERN, rule
    suffix = mlflow_registration_suffix(mlflow_tracking_server_name(platform_name))
    return (
        f"^(?!.*-{suffix}$){PROJECT_NAME_PATTERN.removeprefix('^')}",
        f"{rule}, not ending with -{suffix} (the MLflow tracking server's groups)",
    )


PROJECT_NAME_TAG, PROJECT_ID_TAG = "sagemaker:project-name", "sagemaker:project-id"
INFERENCE_INSTANCE_TYPES = (
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.c5.large",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
)
TRAINING_INSTANCE_TYPES = (
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.m5.4xlarge",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
)


@dataclass(frozen=True)
class ProductTemplate:
    """One product: a seed template, where the project's code lives, and the settings it starts with."""

    seed: SeedName
    source: SourceProvider
    title: str
    description: str
    model: ModelConfig

    @property
    def key(self) -> str:
        """`<seed>`, or `<seed>-git` for a repository on a Git host."""
        return self.seed if self.source == "codecommit" else f"{self.seed}-git"

    @property
    def construct_id(self) -> str:
        words = [*self.seed.split("-"), *(["git"] if self.source == "codeconnections" else [])]
        return "".join(word.capitalize() for word in words)


def product_templates(seeds: list[SeedName], sources: list[SourceProvider]) -> list[ProductTemplate]:
    """The products of the portfolio: one per seed template of `projects.templates` and source of
    `projects.sources` (a CodeCommit repository the platform seeds, or the team's repository on GitHub,
    GitLab or Bitbucket, named when the project is created)."""
    defaults: dict[SeedName, tuple[str, str, dict[str, Any]]] = {
        "binary-classification": (
            "Binary classification model",
            "A gradient-boosted binary classifier (JSON requests, label and probability answers), gated on AUC",
            {"problem_type": "binary_classification", "metric": {"name": "auc", "threshold": 0.75}},
        ),
        "regression": (
            "Regression model",
            "A gradient-boosted regressor (JSON requests, prediction answers), gated on RMSE",
            {"problem_type": "regression", "metric": {"name": "rmse", "threshold": 12.0}},
        ),
    }
    templates = []
    for seed, source in ((seed, source) for seed in seeds for source in sources):
        title, model_description, settings = defaults[seed]
        description = model_description
        if source == "codeconnections":
            title = f"{title} (GitHub, GitLab or Bitbucket)"
            description = f"{description}; its code in the team's repository on a Git host, through a connection"
        model = ModelConfig.model_validate(
            {
                # Replaced by the project's name (a token) in each product's template.
                "name": "project",
                # What the model card says the model is: the same wherever its code lives (so the seeded
                # repository and a Git host's seed archive are one asset).
                "description": model_description,
                "seed": seed,
                "variants": {"champion_percent": 90, "challenger_percent": 10},
                **settings,
            }
        )
        templates.append(ProductTemplate(seed=seed, source=source, title=title, description=description, model=model))
    return templates


def imported_platform(
    scope: Construct,
    *,
    platform_name: str,
    log_retention: logs.RetentionDays,
    noncurrent_version_days: int,
    tracks_experiments: bool = False,
) -> tuple[PlatformResources, iam.IRole]:
    """The platform's resources as a product's template sees them, and the approval gate's role.

    Each value is read once, through a parameter of the template (`Platform<Key>`, of type
    `AWS::SSM::Parameter::Value<String>`) that CloudFormation resolves at each deployment, and used
    as a `Ref`: dynamic references (`{{resolve:ssm:...}}`) would be one per use, and CloudFormation
    takes at most 60 of them in a template. Studio shows these parameters in its form; each allows only
    its SSM parameter's name, so whoever creates a project cannot point the template elsewhere.
    `tracks_experiments`: the platform has an MLflow tracking server (its artifact bucket is read too)."""
    values = Construct(scope, "Platform")

    def value(key: str) -> str:
        return pinned_ssm_value(
            scope,
            "Platform" + "".join(part.capitalize() for part in key.split("-")),
            parameter_name=platform_parameter_name(platform_name, key),
            description=PLATFORM_PARAMETERS[key][:1].upper() + PLATFORM_PARAMETERS[key][1:],
        )

    key_arn = value("key-arn")
    encryption_key = kms.Key.from_key_arn(values, "Key", key_arn)
    platform = PlatformResources(
        encryption_key=encryption_key,
        access_log_bucket=s3.Bucket.from_bucket_name(values, "AccessLogs", value("access-log-bucket")),
        alert_topic=sns.Topic.from_topic_attributes(
            values, "AlertTopic", topic_arn=value("alert-topic-arn"), key_arn=key_arn
        ),
        approval_topic=sns.Topic.from_topic_attributes(
            values, "ApprovalTopic", topic_arn=value("approval-topic-arn"), key_arn=key_arn
        ),
        audit_bus=events.EventBus.from_event_bus_name(values, "AuditBus", value("audit-bus-name")),
        permissions_boundary=iam.ManagedPolicy.from_managed_policy_arn(
            values, "Boundary", value("permissions-boundary-arn")
        ),
        data_scientist_role=iam.Role.from_role_name(values, "DataScientist", value("data-scientist-role-name")),
        model_approver_role=iam.Role.from_role_name(values, "ModelApprover", value("model-approver-role-name")),
        log_retention=log_retention,
        noncurrent_version_days=noncurrent_version_days,
    )
    gate_role = iam.Role.from_role_name(values, "ApprovalGateRole", value("approval-gate-role-name"))
    if tracks_experiments:
        tracking_server = imported_tracking_server(
            scope,
            platform_name=platform_name,
            artifact_bucket_name=value("mlflow-artifact-bucket"),
            encryption_key=encryption_key,
        )
        platform = dataclasses.replace(platform, tracking_server=tracking_server)
    return platform, gate_role


class ModelProductStack(servicecatalog.ProductStack):
    """A product's template: one model's build, deploy, registration and automation, named by the project."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        template: ProductTemplate,
        env: Environment,
        template_context: dict[str, Any],
        asset_bucket: s3.IBucket,
        asset_key: kms.IKey,
        log_retention: logs.RetentionDays,
        noncurrent_version_days: int,
        serving_accounts: Mapping[Stage, ServingAccount] | None = None,
        tracks_experiments: bool = False,
    ) -> None:
        """`serving_accounts`: where each stage serves; in a stage account of its own, the project's model gets
        its roles there from a StackSet of this template (mlops_constructs/project_accounts.py).
        `tracks_experiments`: the project's build logs to the platform's MLflow tracking server."""
        super().__init__(
            scope,
            construct_id,
            asset_bucket=asset_bucket,
            server_side_encryption=s3_deployment.ServerSideEncryption.AWS_KMS,
            server_side_encryption_aws_kms_key_id=asset_key.key_id,
            description=f"{template.title} (SageMaker Project of platform '{platform_name}', seed {template.seed})",
        )
        name_pattern, name_rule = project_name_constraint(platform_name, tracks_experiments=tracks_experiments)
        project_name = CfnParameter(
            self,
            "SageMakerProjectName",
            type="String",
            description="The project's name (SageMaker passes it): the model's name, in lower case",
            allowed_pattern=name_pattern,
            constraint_description=name_rule,
        )
        self.project_id = CfnParameter(
            self, "SageMakerProjectId", type="String", description="The project's id (SageMaker passes it)"
        )
        training_instance_type = CfnParameter(
            self,
            "TrainingInstanceType",
            type="String",
            default=template.model.instance_types.training,
            allowed_values=list(TRAINING_INSTANCE_TYPES),
            description="Instance type of the training job",
        )
        processing_instance_type = CfnParameter(
            self,
            "ProcessingInstanceType",
            type="String",
            default=template.model.instance_types.processing,
            allowed_values=list(TRAINING_INSTANCE_TYPES),
            description="Instance type of the preprocessing, evaluation and baseline jobs",
        )
        inference_instance_type = CfnParameter(
            self,
            INFERENCE_INSTANCE_TYPE_PARAMETER,
            type="String",
            default=template.model.instance_types.inference,
            allowed_values=list(INFERENCE_INSTANCE_TYPES),
            description="Instance type of the production endpoint (staging is serverless)",
        )
        metric = template.model.metric
        unit_interval = metric.name in UNIT_INTERVAL_METRICS
        threshold = CfnParameter(
            self,
            METRIC_THRESHOLD_PARAMETER,
            type="Number",
            default=metric.threshold,
            # An error metric's threshold is a ceiling above 0; a score's a floor within its range.
            min_value=0 if unit_interval else 0.000001,
            max_value=1 if unit_interval else None,
            description=f"The gate's threshold on {metric.name} "
            + (
                "(higher is better: at least this)"
                if template.model.metric_direction == HIGHER_IS_BETTER
                else "(lower is better: at most this)"
            ),
        )
        card = self._card_parameters()
        # The platform's values, then the Powertools layer: parameters pinned to their SSM parameters, which
        # Studio's form lists after the model's choices and before a Git host's repository (the form's order
        # is the template's).
        platform, gate_role = imported_platform(
            self,
            platform_name=platform_name,
            log_retention=log_retention,
            noncurrent_version_days=noncurrent_version_days,
            tracks_experiments=tracks_experiments,
        )
        powertools_layer_arn(self)
        source = self._source_parameters() if template.source == "codeconnections" else template.model.source
        model = template.model.model_copy(
            update={
                "name": project_name.value_as_string,
                "source": source,
                "metric": metric.model_copy(update={"threshold": threshold.value_as_number}),
                "card": card,
                "instance_types": template.model.instance_types.model_copy(
                    update={
                        "training": training_instance_type.value_as_string,
                        "processing": processing_instance_type.value_as_string,
                        "inference": inference_instance_type.value_as_string,
                    }
                ),
            }
        )
        self.model, self.template = model, template
        remote = {stage: account for stage, account in (serving_accounts or {}).items() if account.remote}
        # What SageMaker shows of a project (its model group, pipelines, repositories) it finds by these tags.
        for key, value in (
            (PROJECT_NAME_TAG, project_name.value_as_string),
            (PROJECT_ID_TAG, self.project_id.value_as_string),
        ):
            Tags.of(self).add(key, value)
        iam.PermissionsBoundary.of(self).apply(platform.permissions_boundary)
        # The access-log bucket is imported here: its statement for the project's buckets is added by the
        # projects stack (ProjectsStack._let_project_buckets_log).
        acknowledge_each(
            self,
            [
                (
                    "Annotation::@aws-cdk/aws-s3:accessLogsPolicyNotAdded",
                    "The projects stack lets every provisioned product's buckets log to the access-log bucket.",
                )
            ],
        )
        self.project = build_model(
            self,
            platform_name=platform_name,
            model=model,
            platform=platform,
            # CloudFormation in each stage account creates the serving models from the packages.
            registry_readers=[account.role_arn(model.name, "cfn") for account in remote.values()],
            # The repository's model_config.json, for local runs: the product's defaults under a placeholder
            # name (the build itself gets the project's settings in MODEL_SETTINGS).
            repository_settings=model_settings(template.model.model_copy(update={"name": PLACEHOLDER_MODEL_NAME})),
            extra_data_scientist_statements=(
                [self._seed_archive_key_statement(platform)] if template.source == "codeconnections" else []
            ),
        )
        self.deployed = deploy_model(
            self,
            platform_name=platform_name,
            model=model,
            monitored_features=[],
            platform=platform,
            env=env,
            template_context=template_context,
            serving_accounts=remote,
        )
        connect_model(self.project, self.deployed, model=model, gate_role=None, audit_bus=platform.audit_bus)
        self._grant_the_gate(gate_role, model)
        self._outputs()
        # The model's roles in the stage accounts, before anything that names them.
        roles_first(self, provision_target_roles(self, model=model, accounts=remote, context=template_context))

    def _seed_archive_key_statement(self, platform: PlatformResources) -> iam.PolicyStatement:
        """The seed archive of a project on a Git host lies in the products' asset bucket, encrypted with
        the platform key: reading it (build_model grants the object) needs the key, through S3 only."""
        return iam.PolicyStatement(
            sid="DecryptTheSeedArchiveThroughS3",
            actions=["kms:Decrypt"],
            resources=[platform.encryption_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
        )

    def _source_parameters(self) -> CodeConnectionsSource:
        """The team's repository on its Git host: the project's parameters (the schema's patterns).

        Owner and name are separate parameters: the owner/name the source action needs is joined from
        them, as a template cannot split a value it does not know."""
        connection_arn, owner, name, branch = (
            CfnParameter(
                self,
                parameter_id,
                type="String",
                description=description,
                allowed_pattern=pattern,
                default=default,
            ).value_as_string
            for parameter_id, description, pattern, default in (
                (
                    "ConnectionArn",
                    "ARN of the AWS CodeConnections connection to the Git host (Available, authorized for the repository)",
                    CONNECTION_ARN_PATTERN,
                    None,
                ),
                (
                    "RepositoryOwner",
                    "Owner of the repository: organization, user, workspace or group/subgroup",
                    r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                    None,
                ),
                (
                    "RepositoryName",
                    "Name of the repository (created empty on the Git host)",
                    r"^[A-Za-z0-9_.-]+$",
                    None,
                ),
                ("BranchName", "Branch whose pushes start the build", r"^[^\s~^:?*\[\\]+$", SEED_BRANCH),
            )
        )
        # Not validated: the values are tokens, checked by the parameters' patterns at deployment.
        return CodeConnectionsSource.model_construct(
            provider="codeconnections", connection_arn=connection_arn, repository=f"{owner}/{name}", branch=branch
        )

    def _card_parameters(self) -> ModelCardConfig:
        """What the model card of every package says besides what the build measures, asked when the project
        is created (tokens: validated by the parameters' own constraints, not by the config schema).

        The texts reach the build inside a JSON document that CloudFormation assembles without escaping
        (MODEL_SETTINGS): quotes, backslashes and control characters are refused, so no value can break
        or add to it."""
        text = {"allowed_pattern": CARD_TEXT_PATTERN, "constraint_description": CARD_TEXT_RULE}
        values = {
            field: CfnParameter(
                self, parameter_id, type="String", description=description, **constraints
            ).value_as_string
            for field, parameter_id, description, constraints in (
                (
                    "owner",
                    "ModelOwner",
                    "Who owns the model (team and contact), for its model card",
                    {"min_length": 1, "max_length": 1024, **text},
                ),
                (
                    "risk_rating",
                    "ModelRiskRating",
                    "How risky a wrong answer of the model is, for its model card",
                    {"allowed_values": list(RISK_RATINGS), "default": "medium"},
                ),
                (
                    "intended_uses",
                    "ModelIntendedUses",
                    "What the model is for, for its model card",
                    {"min_length": 1, "max_length": 2048, **text},
                ),
                (
                    "limitations",
                    "ModelLimitations",
                    "What the model is not for, and its known limitations, for its model card",
                    {"min_length": 1, "max_length": 2048, **text},
                ),
            )
        }
        return ModelCardConfig.model_construct(None, **values)

    def _grant_the_gate(self, gate_role: iam.IRole, model: ModelConfig) -> None:
        """What the approval gate's role needs for this model: the gate's stack grants it for the models
        declared in config; a project brings it with its registration."""
        statements, acknowledgments = gated_model_grants(
            self,
            [
                GatedModel(
                    model=model,
                    model_package_group_name=model_package_group_name(model.name),
                    deploy_pipeline=self.deployed.deploy.pipeline,
                    production_serving_name=self.deployed.deploy.stack_names["production"],
                )
            ],
        )
        # The evaluation and bias reports the gate re-checks (in the version registered with the package), in
        # the same policy: one policy per project on the gate's shared role.
        read_reports, read_acknowledgments = self.project.pipeline_outputs_read(sid="ReadTheEvaluationReports")
        policy = iam.ManagedPolicy(
            self,
            "ApprovalGateAccess",
            description="The platform's approval gate gates this project's model",
            roles=[gate_role],
            statements=[*statements, *read_reports],
        )
        acknowledge_each(policy, [*acknowledgments, *read_acknowledgments])

    def _outputs(self) -> None:
        for output_id, value, description in [
            *source_outputs(self.project),
            *build_outputs(self.project),
            *deploy_outputs(self.model, self.deployed.deploy),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
