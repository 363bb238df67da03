"""One model's roles in a serving account, named `ServingAccount.role_name(model, kind)`:

- `serve`: what the stage's endpoints run as (`deploy.roles.serving_role`), reading the model artifacts
  in the tooling account's data bucket;
- `mon` (production): what Model Monitor and Clarify run as (`deploy.roles.monitoring_role`), reading the
  baselines and analysis configs in the tooling account's data bucket, and the record preprocessor;
- `cfn`: CloudFormation's execution role for the stage's serving stack (`deploy.roles.cloudformation_role`),
  reading the packages of the tooling account's registry;
- `deploy`: the deploy pipeline's CloudFormation action role, assumed by the tooling account's pipeline role;
- `ops`: what the tooling account's checks and automation assume to read what serves: staging's smoke test;
  production's champion resolution and drift alert;
- `steer` (production): what the tooling account's traffic shift assumes to read the variants' metrics and
  reweight them, the only role here that changes what an endpoint serves.

Roles of other accounts can only be named, so these have physical names; they trust the tooling
account's roles by name too (`_trusted_by`). Reads in the tooling account name its account (the bucket
names are generated there) and its platform key by alias; the tooling account's bucket and key policies
grant the same roles by ARN, and both sides must allow.

So a stage account's target stack deploys before the tooling account's stacks: their key, bucket and
registry policies name these roles by ARN, which IAM refuses for a role that does not exist yet; these
roles name the tooling account's only in `aws:PrincipalArn` conditions, which need no role to exist.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    CLARIFY_CONFIGS_FOLDER,
    STAGES,
    Stage,
    TargetRoleKind,
    ToolingRoleKind,
    platform_key_alias,
    serving_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import acknowledge_each, nag_spelling
from mlops_constructs.deploy.roles import ServingNames, cloudformation_role, monitoring_role, serving_role
from mlops_constructs.model_project import CLARIFY_CONFIGS_PREFIX, MODELS_PREFIX, PIPELINE_OUTPUTS_PREFIX
from mlops_constructs.model_tags import tagged_for
from mlops_constructs.personas import PACKAGE_APPROVAL_ACTION

# What the CloudFormation action's L2 grants its action role on the stage's stack (CDK's
# CloudFormationCreateUpdateStackAction); staging's stack may be replaced after a failed first deployment.
STACK_DEPLOYMENT_ACTIONS = [
    "cloudformation:CreateStack",
    "cloudformation:DescribeStack*",
    "cloudformation:GetStackPolicy",
    "cloudformation:GetTemplate*",
    "cloudformation:SetStackPolicy",
    "cloudformation:UpdateStack",
    "cloudformation:ValidateTemplate",
]
REPLACE_ACTIONS: dict[Stage, list[str]] = {"staging": ["cloudformation:DeleteStack"], "production": []}
# Who in the tooling account assumes a stage's ops role: staging's smoke test; production's champion
# resolution (deploy pipeline) and drift alert. Production's steer role: the traffic shift only.
OPERATORS: dict[Stage, tuple[ToolingRoleKind, ...]] = {
    "staging": ("check",),
    "production": ("champion", "drift"),
}
STEERERS: tuple[ToolingRoleKind, ...] = ("shift",)
# The roles `ModelTargetRoles` creates for a model in a stage's account.
STAGE_ROLE_KINDS: dict[Stage, tuple[TargetRoleKind, ...]] = {
    "staging": ("serve", "cfn", "deploy", "ops"),
    "production": ("serve", "mon", "cfn", "deploy", "ops", "steer"),
}


def serving_account_denies() -> list[iam.PolicyStatement]:
    """What a serving account's boundary denies besides the platform's: packages are approved in the
    tooling account only, by its approvers; nothing in a serving account changes a package."""
    return [
        iam.PolicyStatement(
            sid="NoPackageChangesInServingAccounts",
            effect=iam.Effect.DENY,
            actions=[PACKAGE_APPROVAL_ACTION],
            resources=["*"],
        )
    ]


class ModelTargetRoles(Construct):
    """A model's roles in `account` (its stage's), for a model declared in config (the target stack's own key
    and bucket) or created by a SageMaker Project (`mlops_constructs.target.roles_template`: the key by its
    ARN, the bucket by its name). `record_preprocessor_url`: the script `mon` reads
    (`target_account.record_preprocessor_url`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        account: ServingAccount,
        model: ModelConfig,
        encryption_key: kms.IKey,
        serving_bucket: s3.IBucket,
        record_preprocessor_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._account, self._model_name = account, model.name
        stage = account.stage
        names = ServingNames(
            model_name=model.name, stages={s: serving_name(account.platform_name, model.name, s) for s in STAGES}
        )
        self.serving_name = names.stages[stage]
        self.serve = serving_role(
            self,
            names=names,
            encryption_key=encryption_key,
            data_capture_bucket=serving_bucket,
            role_name=account.role_name(model.name, "serve"),
        )
        acknowledge_each(
            self.serve,
            [
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "The S3 and KMS L2 grants attach their resource-scoped statements as the role's default policy.",
                )
            ],
        )
        self._read_in_tooling_account(
            self.serve, "ToolingModelArtifacts", [MODELS_PREFIX.format(model=model.name)], "trained model artifacts"
        )
        self.monitoring: iam.Role | None = None
        if stage == "production":
            self.monitoring = monitoring_role(
                self,
                names=names,
                encryption_key=encryption_key,
                data_capture_bucket=serving_bucket,
                ground_truth_s3_uri=model.monitoring.ground_truth_s3_uri,
                role_name=account.role_name(model.name, "mon"),
            )
            self._read_in_tooling_account(
                self.monitoring,
                "ToolingBaselines",
                [PIPELINE_OUTPUTS_PREFIX.format(model=model.name), CLARIFY_CONFIGS_PREFIX.format(model=model.name)],
                "baselines and Clarify analysis configs",
            )
            self.monitoring.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ReadTheRecordPreprocessor",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{Stack.of(self).partition}:s3:::{record_preprocessor_url.removeprefix('s3://')}"],
                )
            )
        self.cloudformation = cloudformation_role(
            self,
            names=names,
            encryption_key=encryption_key,
            passed_roles=[role for role in (self.serve, self.monitoring) if role is not None],
            role_name=account.role_name(model.name, "cfn"),
            registry_account=account.tooling_account,
        )
        self.deploy = self._deploy_role()
        self.operations = self._operations_role(model, encryption_key, serving_bucket)
        self.steering = self._steering_role() if stage == "production" else None

    def _trusted_by(self, *kinds: ToolingRoleKind) -> iam.IPrincipal:
        """The model's roles of `kinds` in the tooling account, and nothing else. By `aws:PrincipalArn` rather
        than as role principals: IAM refuses a trust policy naming a role that does not exist yet, and the
        target stack deploys before the tooling account's stacks that create them."""
        account = self._account
        return iam.AccountPrincipal(account.tooling_account).with_conditions(
            {"ArnEquals": {"aws:PrincipalArn": [account.tooling_role_arn(self._model_name, kind) for kind in kinds]}}
        )

    def _tooling_key_use(self, sid: str, actions: list[str], *, via_s3: bool) -> iam.PolicyStatement:
        """Use the tooling account's platform key (whose id is generated there), known by its alias."""
        account, stack = self._account, Stack.of(self)
        via = {"StringEquals": {"kms:ViaService": f"s3.{account.region}.amazonaws.com"}} if via_s3 else {}
        return iam.PolicyStatement(
            sid=sid,
            actions=actions,
            resources=[self._tooling_keys(stack)],
            conditions={
                **via,
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": platform_key_alias(account.platform_name)},
            },
        )

    def _tooling_keys(self, stack: Stack) -> str:
        return f"arn:{stack.partition}:kms:{self._account.region}:{self._account.tooling_account}:key/*"

    def _in_tooling_account(self) -> dict[str, dict[str, str]]:
        return {"StringEquals": {"aws:ResourceAccount": self._account.tooling_account}}

    def _read_in_tooling_account(self, role: iam.IRole, construct_id: str, prefixes: list[str], what: str) -> None:
        """Read objects under `prefixes` (`<model>/...`) of the tooling account's data bucket (its name is
        generated there: any bucket of that account, whose policy must also grant this role)."""
        stack = Stack.of(self)
        objects = [f"arn:{stack.partition}:s3:::*/{prefix}*" for prefix in prefixes]
        policy = iam.ManagedPolicy(
            self,
            construct_id,
            description=f"Read the {what} of model '{self._model_name}' in the tooling account",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadThisModelsObjects",
                    actions=["s3:GetObject"],
                    resources=objects,
                    conditions=self._in_tooling_account(),
                ),
                self._tooling_key_use("DecryptThemWithThePlatformKey", ["kms:Decrypt"], via_s3=True),
            ],
        )
        reason = f"The tooling account's data bucket has a generated name: this model's {what} in that account only."
        acknowledge_each(
            policy,
            [
                *[(f"AwsSolutions-IAM5[Resource::{arn}]", reason) for arn in objects],
                (
                    f"AwsSolutions-IAM5[Resource::{self._tooling_keys(stack)}]",
                    "The platform key's id is generated in the tooling account: only the key with the platform's alias.",
                ),
            ],
        )

    def _deploy_role(self) -> iam.Role:
        """What the deploy pipeline's CloudFormation action does here: what CDK's action L2 grants its own
        action role (the stage's stack, passing the execution role), and reading the pipeline's artifacts."""
        account, stack = self._account, Stack.of(self)
        stack_arn = stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{self.serving_name}/*")
        role = iam.Role(
            self,
            "DeployRole",
            role_name=account.role_name(self._model_name, "deploy"),
            assumed_by=self._trusted_by("pipeline"),
            description=f"The deploy pipeline of model '{self._model_name}' deploys its {account.stage} stack",
        )
        objects = [f"arn:{stack.partition}:s3:::*", f"arn:{stack.partition}:s3:::*/*"]
        policy = iam.ManagedPolicy(
            self,
            "DeployPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="DeployThisStagesServingStack",
                    actions=STACK_DEPLOYMENT_ACTIONS + REPLACE_ACTIONS[account.stage],
                    resources=[stack_arn],
                ),
                iam.PolicyStatement(
                    sid="PassTheExecutionRole",
                    actions=["iam:PassRole"],
                    resources=[self.cloudformation.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="ReadThePipelineArtifacts",
                    actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                    resources=objects,
                    conditions=self._in_tooling_account(),
                ),
                self._tooling_key_use("DecryptThePipelineArtifacts", ["kms:Decrypt", "kms:DescribeKey"], via_s3=False),
            ],
        )
        artifacts = "The deploy pipeline's artifact bucket has a generated name in the tooling account; read-only."
        acknowledge_each(
            policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{stack_arn}]",
                    "A stack ARN ends in a generated id; the name is this model's serving stack of this stage.",
                ),
                *[
                    (f"AwsSolutions-IAM5[Action::{action}]", artifacts)
                    for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*")
                ],
                (
                    "AwsSolutions-IAM5[Action::cloudformation:DescribeStack*]",
                    "The CloudFormation action L2's own grant.",
                ),
                ("AwsSolutions-IAM5[Action::cloudformation:GetTemplate*]", "The CloudFormation action L2's own grant."),
                *[(f"AwsSolutions-IAM5[Resource::{arn}]", artifacts) for arn in objects],
                (
                    f"AwsSolutions-IAM5[Resource::{self._tooling_keys(stack)}]",
                    "The platform key's id is generated in the tooling account: only the key with the platform's alias.",
                ),
            ],
        )
        return role

    def _endpoint_arn(self) -> str:
        return Stack.of(self).format_arn(service="sagemaker", resource="endpoint", resource_name=self.serving_name)

    def _operations_role(self, model: ModelConfig, encryption_key: kms.IKey, serving_bucket: s3.IBucket) -> iam.Role:
        """Staging: the smoke test describes and invokes the endpoint. Production: the champion resolution
        reads the stack and endpoint and writes the explainability config; the drift alert reads the endpoint,
        its configs and models, the monitoring executions and reports. Neither changes what serves."""
        account, stack = self._account, Stack.of(self)
        stage = account.stage
        endpoint = self._endpoint_arn()
        role = iam.Role(
            self,
            "OperationsRole",
            role_name=account.role_name(model.name, "ops"),
            assumed_by=self._trusted_by(*OPERATORS[stage]),
            description=f"The tooling account's checks and automation of model '{model.name}' in {stage}",
        )
        if stage == "staging":
            statements = [
                iam.PolicyStatement(
                    sid="SmokeTestTheEndpoint",
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
                    resources=[endpoint],
                )
            ]
            iam.ManagedPolicy(self, "OperationsPolicy", roles=[role], statements=statements)
            return role
        generated = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
            for kind in ("endpoint-config", "model")
        ]
        processing_jobs = stack.format_arn(service="sagemaker", resource="processing-job", resource_name="*")
        serving_stack = stack.format_arn(
            service="cloudformation", resource="stack", resource_name=f"{self.serving_name}/*"
        )
        policy = iam.ManagedPolicy(
            self,
            "OperationsPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheEndpoint", actions=["sagemaker:DescribeEndpoint"], resources=[endpoint]
                ),
                iam.PolicyStatement(
                    sid="DescribeThisModelsEndpointConfigsAndModels",
                    actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                    resources=generated,
                    conditions=tagged_for(model.name),
                ),
                iam.PolicyStatement(
                    sid="DescribeTheServingStack", actions=["cloudformation:DescribeStacks"], resources=[serving_stack]
                ),
                iam.PolicyStatement(
                    sid="ListTheMonitoringExecutions", actions=["sagemaker:ListMonitoringExecutions"], resources=["*"]
                ),
                iam.PolicyStatement(
                    sid="DescribeTheLatestMonitoringExecution",
                    actions=["sagemaker:DescribeProcessingJob"],
                    resources=[processing_jobs],
                ),
            ],
        )
        reports, configs = f"{model.name}/monitoring/*", f"{model.name}/monitoring/{CLARIFY_CONFIGS_FOLDER}/*"
        serving_bucket.grant_read(role, reports)
        serving_bucket.grant_put(role, configs)
        encryption_key.grant_encrypt_decrypt(role)
        bucket_arn = nag_spelling(self, serving_bucket.bucket_arn)
        acknowledge_each(
            policy,
            [
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{arn}]",
                        "Endpoint configs and models are named by CloudFormation; read-only, tagged with this model only.",
                    )
                    for arn in generated
                ],
                (
                    f"AwsSolutions-IAM5[Resource::{processing_jobs}]",
                    "Monitoring executions' processing jobs are named by SageMaker; describe only, in this account.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{serving_stack}]",
                    "A stack ARN ends in a generated id; the name is this model's production serving stack.",
                ),
                ("AwsSolutions-IAM5[Resource::*]", "ListMonitoringExecutions takes no resource-level permission."),
            ],
        )
        acknowledge_each(
            role,
            [
                *[
                    (
                        f"AwsSolutions-IAM5[Action::s3:{action}]",
                        "L2 read grant limited to the monitoring reports prefix.",
                    )
                    for action in ("GetObject*", "GetBucket*", "List*")
                ],
                ("AwsSolutions-IAM5[Action::s3:Abort*]", "L2 put grant limited to the explainability configs prefix."),
                (
                    f"AwsSolutions-IAM5[Resource::{bucket_arn}/{reports}]",
                    "Reports are written per schedule and execution under this model's monitoring prefix.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{bucket_arn}/{configs}]",
                    "One explainability analysis config per champion version under this model's prefix.",
                ),
                ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "Encrypted reports and configs."),
                ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "L2 grant on the serving key."),
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "The S3 and KMS L2 grants attach their resource-scoped statements as the role's default policy.",
                ),
            ],
        )
        return role

    def _steering_role(self) -> iam.Role:
        """Production: the traffic shift reads the variants' metrics and the endpoint, and reweights them."""
        account, model_name = self._account, self._model_name
        role = iam.Role(
            self,
            "SteeringRole",
            role_name=account.role_name(model_name, "steer"),
            assumed_by=self._trusted_by(*STEERERS),
            description=f"The tooling account's traffic shift reweights the variants of model '{model_name}'",
        )
        policy = iam.ManagedPolicy(
            self,
            "SteeringPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadAndReweightTheEndpoint",
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                    resources=[self._endpoint_arn()],
                ),
                iam.PolicyStatement(sid="ReadVariantMetrics", actions=["cloudwatch:GetMetricData"], resources=["*"]),
            ],
        )
        acknowledge_each(
            policy, [("AwsSolutions-IAM5[Resource::*]", "GetMetricData takes no resource-level permission.")]
        )
        return role
