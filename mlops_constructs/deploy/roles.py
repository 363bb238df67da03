"""The roles of a model's serving: what its endpoints (or batch transforms) run as, what its monitors
run as, and what CloudFormation may do when the deploy pipeline deploys its serving stacks. A batch
model's own two roles (its transform pipelines', its scheduler's) are in batch_roles.py.

One model's roles never reach another model's resources (DESIGN.md convention 7), though model
names may be prefixes of each other (`demand`, `demand-v2`):
- named resources are named exactly: the endpoints, dashboards and monitoring schedules of the two
  stages (`<platform>-<model>-<stage>[-<kind>]`), the stage's alarms under `<platform>-<model>-<stage>-`
  (no other model's names can start so: `lambdas.common.contracts` keeps stage words out of model
  names), the target-tracking alarms under `TargetTracking-endpoint/<endpoint>/` (`/` cannot occur in
  an endpoint name);
- resources whose names CloudFormation or the service generates (SageMaker models, endpoint
  configs, monitoring job definitions, scalable targets) carry the tag `mlops:model=<model>` (the
  serving template tags everything it creates): created only with that tag, touched afterwards only
  when they carry it;
- the shadow endpoints (and endpoint configs) SageMaker Clarify creates for production's
  explainability monitor are named under `contracts.clarify_endpoint_prefix` (production's serving
  name and `-clarify`), the model it serves them `contracts.clarify_model_name`: under the stage's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.common.contracts import (
    CLARIFY_CONFIGS_FOLDER,
    DATA_QUALITY,
    MODEL_BIAS,
    MODEL_EXPLAINABILITY,
    MODEL_QUALITY,
    MODEL_TAG,
    STAGES,
    Stage,
    clarify_endpoint_prefix,
    clarify_model_name,
    model_package_group_name,
    monitoring_schedule_name,
)
from mlops_constructs.compliance import acknowledge_each, nag_spelling
from mlops_constructs.model_tags import tagged_for, tagging_for, untagged_or_tagged_for
from mlops_constructs.sagemaker_roles import SageMakerServiceRole

AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
# The monitors' kinds, as SageMaker names their job definitions (<kind>-job-definition) and actions.
MONITOR_KINDS = {
    DATA_QUALITY: "DataQuality",
    MODEL_QUALITY: "ModelQuality",
    MODEL_BIAS: "ModelBias",
    MODEL_EXPLAINABILITY: "ModelExplainability",
}


SCHEDULER_SERVICE = "scheduler.amazonaws.com"


@dataclass(frozen=True)
class ServingNames:
    """A model's serving resources' names, per stage: stack, endpoint (or transform pipeline) and
    dashboard share one name."""

    model_name: str
    stages: dict[Stage, str]
    batch: bool = False

    @property
    def production(self) -> str:
        return self.stages["production"]


def serving_role(
    scope: Construct,
    *,
    names: ServingNames,
    encryption_key: kms.IKey,
    data_capture_bucket: s3.IBucket,
    role_name: str | None = None,
) -> iam.Role:
    """The role the endpoint's models run as: pull the image, read the model, write captures and logs.

    The model Clarify explains in production runs as this role too, on the shadow endpoints Clarify
    creates for the explainability monitor: their log groups are named after them. `role_name`: a physical
    name, for a role another account names (a serving account's, `ServingAccount.role_name`)."""
    model_name = names.model_name
    shadow_endpoints = f"/aws/sagemaker/Endpoints/{clarify_endpoint_prefix(names.production)}*"
    role = SageMakerServiceRole(
        scope,
        "Serving",
        description=f"{'Batch transforms' if names.batch else 'Endpoints'} of model '{model_name}'",
        encryption_key=encryption_key,
        # Transform jobs of every model log to one group, in streams named after the generated job name.
        log_groups=["/aws/sagemaker/TransformJobs", shadow_endpoints]
        if names.batch
        else [*(f"/aws/sagemaker/Endpoints/{names.stages[stage]}" for stage in STAGES), shadow_endpoints],
        metric_namespace="/aws/sagemaker/*",
    ).role
    _name(role, role_name)
    data_capture_bucket.grant_put(role, f"{model_name}/*")
    acknowledge_each(
        role,
        [
            ("AwsSolutions-IAM5[Action::s3:Abort*]", "L2 put grant limited to this model's capture prefix."),
            (
                f"AwsSolutions-IAM5[Resource::{nag_spelling(role, data_capture_bucket.bucket_arn)}/{model_name}/*]",
                "Captures are written per endpoint, variant and hour under this model's prefix.",
            ),
        ],
    )
    return role


def monitoring_role(
    scope: Construct,
    *,
    names: ServingNames,
    encryption_key: kms.IKey,
    data_capture_bucket: s3.IBucket,
    ground_truth_s3_uri: str | None,
    role_name: str | None = None,
) -> iam.Role:
    """The role Model Monitor's jobs run as: read captures (and baselines, and the labels in the ground-truth
    location the model-quality and bias jobs join them with, and the explainability monitor's analysis
    config of the deployment), write reports and metrics; serve the champion to Clarify's explainability
    monitor on its shadow endpoints (`_serve_the_model_to_clarify`). `role_name` as for `serving_role`."""
    model_name = names.model_name
    role = SageMakerServiceRole(
        scope,
        "Monitoring",
        description=f"Model Monitor jobs of model '{model_name}'",
        encryption_key=encryption_key,
        # Processing jobs of every kind log to this one group; their generated names say nothing of the model.
        log_groups=["/aws/sagemaker/ProcessingJobs"],
        metric_namespace="aws/sagemaker/ModelMonitoring/*" if names.batch else "aws/sagemaker/Endpoints/*",
    ).role
    _name(role, role_name)
    data_capture_bucket.grant_read(role, f"{model_name}/production/*")
    data_capture_bucket.grant_put(role, f"{model_name}/monitoring/*")
    # Written by the champion resolution (and the rollback tool) for each deployment.
    data_capture_bucket.grant_read(role, f"{model_name}/monitoring/{CLARIFY_CONFIGS_FOLDER}/*")
    capture_arn = nag_spelling(role, data_capture_bucket.bucket_arn)
    read_reason = "L2 read grant limited to this model's captured requests."
    acknowledge_each(
        role,
        [
            ("AwsSolutions-IAM5[Action::s3:GetObject*]", read_reason),
            ("AwsSolutions-IAM5[Action::s3:GetBucket*]", read_reason),
            ("AwsSolutions-IAM5[Action::s3:List*]", read_reason),
            ("AwsSolutions-IAM5[Action::s3:Abort*]", "L2 put grant limited to this model's monitoring reports."),
            (
                f"AwsSolutions-IAM5[Resource::{capture_arn}/{model_name}/production/*]",
                "Captures are written per variant and hour under the production prefix.",
            ),
            (
                f"AwsSolutions-IAM5[Resource::{capture_arn}/{model_name}/monitoring/*]",
                "Reports are written per schedule and execution under the monitoring prefix.",
            ),
            (
                f"AwsSolutions-IAM5[Resource::{capture_arn}/{model_name}/monitoring/{CLARIFY_CONFIGS_FOLDER}/*]",
                "The explainability monitor's analysis config is written per champion under this prefix; read-only.",
            ),
            (
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "The S3 and KMS L2 grants attach their resource-scoped statements as the role's default policy.",
            ),
        ],
    )
    _serve_the_model_to_clarify(role, names)
    if ground_truth_s3_uri:
        _read_ground_truth(role, ground_truth_s3_uri)
    return role


def _name(role: iam.Role, role_name: str | None) -> None:
    """Give a role made by SageMakerServiceRole a physical name (none: CloudFormation generates it)."""
    if role_name is not None:
        cfn_role = role.node.default_child
        assert isinstance(cfn_role, iam.CfnRole)
        cfn_role.role_name = role_name


def _serve_the_model_to_clarify(role: iam.Role, names: ServingNames) -> None:
    """What SageMaker Clarify does as the monitoring role in each run of production's explainability
    monitor: create an endpoint config and an endpoint of the model it explains (named by the analysis
    config), call it with synthetic records (Kernel SHAP), delete both. Only endpoints and configs named
    under this model's production prefix (`contracts.clarify_endpoint_prefix`), only its own Clarify model
    (`contracts.clarify_model_name`, one per champion version): the endpoint config names the model and
    its execution role went to the model when CloudFormation created it, so no role is passed here."""
    stack = Stack.of(role)
    prefix = clarify_endpoint_prefix(names.production)
    shadow = [
        stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{prefix}*")
        for kind in ("endpoint", "endpoint-config")
    ]
    models = stack.format_arn(
        service="sagemaker", resource="model", resource_name=clarify_model_name(names.production, "*")
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ServeTheExplainedModelOnClarifyShadowEndpoints",
            actions=[
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:InvokeEndpoint",
                "sagemaker:DeleteEndpoint",
                # Creating with tags (Clarify's, if it tags what it creates) is tagging.
                "sagemaker:AddTags",
            ],
            resources=shadow,
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="DescribeTheExplainedModel", actions=["sagemaker:DescribeModel"], resources=[models])
    )
    reason = (
        "Clarify names its shadow endpoints and their configs per run under this model's production prefix;"
        " the explained model per champion version."
    )
    acknowledge_each(role, [(f"AwsSolutions-IAM5[Resource::{arn}]", reason) for arn in [*shadow, models]])


def _read_ground_truth(role: iam.Role, ground_truth_s3_uri: str) -> None:
    """List and read the labels under the configured ground-truth location (a bucket the platform does not
    own: its owner must also let this role read it, and its key decrypt, if it is another account's)."""
    bucket, _, prefix = ground_truth_s3_uri.removeprefix("s3://").partition("/")
    prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
    partition = Stack.of(role).partition
    nag_partition = "<AWS::Partition>" if Token.is_unresolved(partition) else partition
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadTheGroundTruth",
            actions=["s3:GetObject"],
            resources=[f"arn:{partition}:s3:::{bucket}/{prefix}*"],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ListTheGroundTruth",
            actions=["s3:ListBucket"],
            resources=[f"arn:{partition}:s3:::{bucket}"],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        )
    )
    acknowledge_each(
        role,
        [
            (
                f"AwsSolutions-IAM5[Resource::arn:{nag_partition}:s3:::{bucket}/{prefix}*]",
                "Labels land per hour and file under the configured ground-truth prefix; read-only.",
            )
        ],
    )


@dataclass(frozen=True)
class _ServingArns:
    """The ARNs (and ARN patterns) of one model's serving resources, as the CloudFormation role sees them."""

    endpoints: list[str]
    schedules: list[str]
    alarms: list[str]
    dashboards: list[str]
    generated: list[str]  # named by CloudFormation or SageMaker: reachable through the model tag only
    job_definitions: list[str]  # the monitors' job definitions (generated names too)
    scalable_targets: str
    packages: str
    service_linked_role: str
    transform_pipelines: list[str]
    transform_schedule: str
    data_bucket_parameter: str

    @classmethod
    def of(
        cls, stack: Stack, names: ServingNames, data_bucket_parameter: str, registry_account: str | None = None
    ) -> _ServingArns:
        def sagemaker_arn(resource: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource)

        def alarm_arn(name: str) -> str:
            return stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )

        # A stage's serving name: its endpoint's (a real-time model's), its transform pipeline's (a batch model's).
        serving = list(names.stages.values())
        endpoints = [] if names.batch else serving
        return cls(
            endpoints=[sagemaker_arn(f"endpoint/{endpoint}") for endpoint in endpoints],
            schedules=[
                sagemaker_arn(f"monitoring-schedule/{monitoring_schedule_name(names.production, kind)}")
                for kind in (DATA_QUALITY, MODEL_QUALITY, MODEL_BIAS, MODEL_EXPLAINABILITY)
            ],
            # Alarms the templates name (drift) or CloudFormation names after the stack, and the ones
            # target tracking creates for a variant (named after the variant's resource id).
            alarms=[alarm_arn(f"{name}-*") for name in serving]
            + [alarm_arn(f"TargetTracking-endpoint/{endpoint}/*") for endpoint in endpoints],
            dashboards=[f"arn:{stack.partition}:cloudwatch::{stack.account}:dashboard/{e}" for e in endpoints],
            generated=[
                sagemaker_arn(f"{kind}/*")
                for kind in ("model", "endpoint-config")
                if not (names.batch and kind == "endpoint-config")
            ],
            job_definitions=[sagemaker_arn(f"{kind}-job-definition/*") for kind in MONITOR_KINDS],
            scalable_targets=stack.format_arn(
                service="application-autoscaling", resource="scalable-target", resource_name="*"
            ),
            packages=stack.format_arn(
                service="sagemaker",
                resource=f"model-package/{model_package_group_name(names.model_name)}/*",
                account=registry_account,
            ),
            service_linked_role=(
                f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/{AUTOSCALING_SERVICE}/"
                "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
            ),
            transform_pipelines=[sagemaker_arn(f"pipeline/{name}") for name in serving] if names.batch else [],
            transform_schedule=stack.format_arn(
                service="scheduler", resource="schedule", resource_name=f"default/{names.production}"
            ),
            data_bucket_parameter=stack.format_arn(
                service="ssm", resource="parameter", resource_name=data_bucket_parameter.lstrip("/")
            ),
        )


def cloudformation_role(
    scope: Construct,
    *,
    names: ServingNames,
    encryption_key: kms.IKey,
    passed_roles: list[iam.IRole],
    scheduler: iam.IRole | None = None,
    data_bucket_parameter: str = "",
    role_name: str | None = None,
    registry_account: str | None = None,
) -> iam.Role:
    """What CloudFormation may do when deploying the model's serving stacks: those resources, nothing more.

    A batch model's stacks hold transform pipelines and a schedule instead of endpoints: `scheduler`
    is the role its schedule starts the transform as, `data_bucket_parameter` the SSM parameter its
    templates read the data bucket's name from. In a serving account (`mlops_constructs.target`) the role
    has a physical name (`role_name`) and reads the packages of the registry in `registry_account` (the
    tooling account; default: the stack's own).
    """
    stack = Stack.of(scope)
    model_name = names.model_name
    role = iam.Role(
        scope,
        "DeploymentRole",
        role_name=role_name,
        assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
        description=f"CloudFormation deploys the serving stacks of model '{model_name}'",
    )
    arns = _ServingArns.of(stack, names, data_bucket_parameter, registry_account)
    # Three managed policies, by topic: IAM takes at most 6,144 characters in one (references resolved), and
    # one model's statements take more (tests/compliance/test_iam_limits.py).
    serving_resources = iam.ManagedPolicy(
        scope,
        "DeploymentPolicy",
        roles=[role],
        statements=_sagemaker_statements(arns, model_name, other_registry=registry_account is not None),
    )
    monitors = iam.ManagedPolicy(
        scope, "DeploymentMonitorsPolicy", roles=[role], statements=_monitor_statements(arns, model_name)
    )
    around_them = iam.ManagedPolicy(
        scope,
        "DeploymentOperationsPolicy",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                sid="PassTheServingAndMonitoringRoles",
                actions=["iam:PassRole"],
                resources=[passed.role_arn for passed in passed_roles],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="AlarmsAndDashboards",
                actions=[
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                    "cloudwatch:ListTagsForResource",
                    "cloudwatch:PutDashboard",
                    "cloudwatch:DeleteDashboards",
                    "cloudwatch:GetDashboard",
                ],
                resources=arns.alarms + arns.dashboards,
            ),
            *(
                _batch_statements(arns, scheduler)
                if scheduler is not None
                else _autoscaling_statements(arns, model_name)
            ),
            iam.PolicyStatement(
                sid="EncryptVolumesAndCaptures",
                actions=["kms:CreateGrant", "kms:DescribeKey"],
                resources=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
        ],
    )
    # Reasons hold no token (acknowledgments are metadata): the model's name may be one.
    generated_reason = (
        f"Named by CloudFormation or SageMaker (generated ids); only resources tagged {MODEL_TAG} for this model."
    )
    acknowledge_each(
        serving_resources,
        [
            *[(f"AwsSolutions-IAM5[Resource::{arn}]", generated_reason) for arn in arns.generated],
            (
                f"AwsSolutions-IAM5[Resource::{arns.packages}]",
                "Package versions are numbered at registration; read-only, this model's group only.",
            ),
        ],
    )
    acknowledge_each(
        monitors, [(f"AwsSolutions-IAM5[Resource::{arn}]", generated_reason) for arn in arns.job_definitions]
    )
    acknowledge_each(
        around_them,
        [
            *[
                (
                    f"AwsSolutions-IAM5[Resource::{arn}]",
                    "CloudFormation names these alarms after the stage's stack and endpoint; no other model's names share the prefix.",
                )
                for arn in arns.alarms
            ],
            *(
                []
                if scheduler is not None
                else [
                    (f"AwsSolutions-IAM5[Resource::{arns.scalable_targets}]", generated_reason),
                    (
                        "AwsSolutions-IAM5[Resource::*]",
                        "DescribeScalableTargets and DescribeScalingPolicies are List actions without resource-level permissions.",
                    ),
                ]
            ),
        ],
    )
    acknowledge_each(
        role,
        [
            (
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "The CloudFormation action L2 grants the role read access to the pipeline's artifacts as its default policy.",
            )
        ],
    )
    return role


def _sagemaker_statements(
    arns: _ServingArns, model_name: str, *, other_registry: bool = False
) -> list[iam.PolicyStatement]:
    """Models, endpoint configs and job definitions carrying the model's tag; its named endpoints and
    schedules; its packages, read-only."""
    return [
        iam.PolicyStatement(
            sid="CreateTaggedServingResources",
            actions=["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig"],
            resources=arns.generated,
            conditions=tagging_for(model_name),
        ),
        iam.PolicyStatement(
            sid="ManageThisModelsTaggedServingResources",
            actions=[
                "sagemaker:DescribeModel",
                "sagemaker:DeleteModel",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:ListTags",
            ],
            resources=arns.generated,
            conditions=tagged_for(model_name),
        ),
        iam.PolicyStatement(
            sid="ThisModelsEndpointsAndSchedules",
            actions=[
                *(
                    [
                        "sagemaker:CreateEndpoint",
                        "sagemaker:UpdateEndpoint",
                        "sagemaker:DeleteEndpoint",
                        "sagemaker:DescribeEndpoint",
                        "sagemaker:UpdateEndpointWeightsAndCapacities",
                    ]
                    if arns.endpoints
                    else []
                ),
                "sagemaker:CreateMonitoringSchedule",
                "sagemaker:UpdateMonitoringSchedule",
                "sagemaker:DeleteMonitoringSchedule",
                "sagemaker:DescribeMonitoringSchedule",
                "sagemaker:ListTags",
            ],
            resources=arns.endpoints + arns.schedules,
        ),
        iam.PolicyStatement(
            sid="TagWithThisModelOnly",
            actions=["sagemaker:AddTags"],
            resources=arns.generated + arns.endpoints + arns.schedules,
            conditions=tagging_for(model_name),
        ),
        # CloudFormation removes tags when it rolls an update back (or a template drops one).
        iam.PolicyStatement(
            sid="UntagThisModelsResources",
            actions=["sagemaker:DeleteTags"],
            resources=arns.generated + arns.endpoints + arns.schedules,
            conditions=tagged_for(model_name),
        ),
        iam.PolicyStatement(
            sid="ReadThisModelsPackages",
            # A model of another account's package: SageMaker authorizes CreateModel on the package too (the
            # registry group's policy allows the same).
            actions=["sagemaker:DescribeModelPackage", *(["sagemaker:CreateModel"] if other_registry else [])],
            resources=[arns.packages],
        ),
    ]


def _monitor_statements(arns: _ServingArns, model_name: str) -> list[iam.PolicyStatement]:
    """The monitors' job definitions (data and model quality, bias, explainability) carrying the model's tag."""
    kinds = MONITOR_KINDS.values()
    return [
        iam.PolicyStatement(
            sid="CreateTaggedJobDefinitions",
            actions=[f"sagemaker:Create{kind}JobDefinition" for kind in kinds],
            resources=arns.job_definitions,
            conditions=tagging_for(model_name),
        ),
        iam.PolicyStatement(
            sid="ManageThisModelsTaggedJobDefinitions",
            actions=[
                *(f"sagemaker:{verb}{kind}JobDefinition" for kind in kinds for verb in ("Describe", "Delete")),
                "sagemaker:ListTags",
            ],
            resources=arns.job_definitions,
            conditions=tagged_for(model_name),
        ),
        iam.PolicyStatement(
            sid="TagJobDefinitionsWithThisModelOnly",
            actions=["sagemaker:AddTags"],
            resources=arns.job_definitions,
            conditions=tagging_for(model_name),
        ),
        iam.PolicyStatement(
            sid="UntagThisModelsJobDefinitions",
            actions=["sagemaker:DeleteTags"],
            resources=arns.job_definitions,
            conditions=tagged_for(model_name),
        ),
    ]


def _batch_statements(arns: _ServingArns, scheduler: iam.IRole) -> list[iam.PolicyStatement]:
    """A batch model's transform pipelines (exactly named), its production schedule, its data bucket's name."""
    return [
        iam.PolicyStatement(
            sid="ThisModelsTransformPipelines",
            actions=[
                "sagemaker:CreatePipeline",
                "sagemaker:UpdatePipeline",
                "sagemaker:DeletePipeline",
                "sagemaker:DescribePipeline",
                "sagemaker:AddTags",
                "sagemaker:DeleteTags",
                "sagemaker:ListTags",
            ],
            resources=arns.transform_pipelines,
        ),
        iam.PolicyStatement(
            sid="ThisModelsTransformSchedule",
            actions=[
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
                "scheduler:GetSchedule",
            ],
            resources=[arns.transform_schedule],
        ),
        iam.PolicyStatement(
            sid="PassTheSchedulerRole",
            actions=["iam:PassRole"],
            resources=[scheduler.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": SCHEDULER_SERVICE}},
        ),
        iam.PolicyStatement(
            sid="ReadTheDataBucketName", actions=["ssm:GetParameters"], resources=[arns.data_bucket_parameter]
        ),
    ]


def _autoscaling_statements(arns: _ServingArns, model_name: str) -> list[iam.PolicyStatement]:
    """Application Auto Scaling names a scalable target by a generated id: its tag says whose it is."""
    return [
        iam.PolicyStatement(
            sid="RegisterTaggedScalableTargets",
            actions=["application-autoscaling:RegisterScalableTarget", "application-autoscaling:TagResource"],
            resources=[arns.scalable_targets],
            conditions=tagging_for(model_name),
        ),
        iam.PolicyStatement(
            sid="ScaleThisModelsVariants",
            actions=[
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:UntagResource",
            ],
            resources=[arns.scalable_targets],
            conditions=tagged_for(model_name),
        ),
        # Reading tags decides nothing; a target registered before the tag existed has none yet.
        iam.PolicyStatement(
            sid="ReadScalableTargetTags",
            actions=["application-autoscaling:ListTagsForResource"],
            resources=[arns.scalable_targets],
            conditions=untagged_or_tagged_for(model_name),
        ),
        iam.PolicyStatement(
            sid="DescribeScaling",
            actions=[
                "application-autoscaling:DescribeScalableTargets",
                "application-autoscaling:DescribeScalingPolicies",
            ],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="AutoscalingServiceLinkedRole",
            actions=["iam:CreateServiceLinkedRole"],
            resources=[arns.service_linked_role],
            conditions={"StringEquals": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
        ),
    ]
