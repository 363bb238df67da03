"""A model's deploy pipeline: staging, smoke test, manual approval, production A/B with guardrails.

Started by the approval gate with the approved package's ARN as the pipeline variable
`ModelPackageArn` (the contract in lambdas/approval_gate/README.md). The pipeline deploys
templates that this app synthesizes (mlops_constructs/serving.py) and ships as one asset with the
smoke test, so no step needs the platform's source code:

1. Source: the deploy bundle (serving templates, smoke test, sample payloads).
2. Staging: deploy the package alone to the staging endpoint; smoke-test it (errors, latency).
3. Approve: a person with the ModelApprover role approves (notified on the approvals topic).
4. Production: read the current champion from the production stack, then deploy the package as
   challenger next to it at the configured weight (or as the champion at 100 % when production
   has none yet), rolled out blue/green and rolled back by the endpoint's alarms.

A failed smoke test stops before production; a rolled-back production update leaves the stack
(and so the previous champion) as it was. Both fail the execution, which alerts the topic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, Environment, Names, Stack
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
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.personas import DEPLOYMENT_APPROVAL_ACTION
from mlops_constructs.pipelines import acknowledge_pipeline_grants, alert_on_failure, build_project
from mlops_constructs.sagemaker_roles import SageMakerServiceRole
from mlops_constructs.serving import (
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_STATISTICS_PARAMETER,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    Stage,
    endpoint_name,
    render_serving_template,
    serving_stack_name,
)
from mlops_constructs.staging import Content
from mlops_constructs.staging import stage as stage_files
from mlops_constructs.storage import expiring_buckets

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SMOKE_TEST = REPOSITORY_ROOT / "tools" / "smoke_test.py"
SAMPLE_PAYLOADS = REPOSITORY_ROOT / "seed" / "model_build" / "sample_payloads.json"
RECORD_PREPROCESSOR = REPOSITORY_ROOT / "mlops_constructs" / "runtime" / "model_monitor_preprocessor.py"
MODEL_PACKAGE_ARN_VARIABLE = "ModelPackageArn"
APPROVAL_STAGE, APPROVAL_ACTION = "Approve", "ApproveProduction"
# The boto3 the smoke test runs with in CodeBuild: the one its tests run with (requirements-dev.txt).
SMOKE_TEST_BOTO3 = "1.44.5"


def stage_deploy_bundle(templates: dict[Stage, dict[str, Any]], files: list[Path]) -> Path:
    """The serving templates and the files the pipeline's actions run: the pipeline's source."""
    contents: dict[str, Content] = {
        f"{stage}.template.json": json.dumps(template, indent=1, sort_keys=True)
        for stage, template in templates.items()
    }
    return stage_files("mlops-deploy-bundle", contents | {path.name: path for path in files})


class DeployPipeline(Construct):
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
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.model_name = model.name
        self.stack_names: dict[Stage, str] = {
            stage: serving_stack_name(platform_name, model.name, stage) for stage in ("staging", "production")
        }
        self.endpoint_names: dict[Stage, str] = {
            stage: endpoint_name(platform_name, model.name, stage) for stage in ("staging", "production")
        }
        templates: dict[Stage, dict[str, Any]] = {
            stage: render_serving_template(
                platform_name=platform_name,
                model=model,
                stage=stage,
                monitored_features=monitored_features,
                env=env,
                context=template_context,
            )
            for stage in ("staging", "production")
        }
        self.templates = templates
        bundle = s3_assets.Asset(
            self, "DeployBundle", path=str(stage_deploy_bundle(templates, [SMOKE_TEST, SAMPLE_PAYLOADS]))
        )

        bucket = expiring_buckets(
            self,
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            noncurrent_version_days=noncurrent_version_days,
        )

        self.data_capture_bucket = bucket("DataCapture", f"{model.name}-data-capture/")
        pipeline_artifacts = bucket("PipelineArtifacts", f"{model.name}-deploy-pipeline/")
        self.serving_role = self._serving_role(encryption_key)
        self.monitoring_role = self._monitoring_role(encryption_key)
        record_preprocessor = s3_assets.Asset(self, "RecordPreprocessor", path=str(RECORD_PREPROCESSOR))
        self.monitoring_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheRecordPreprocessor",
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{stack.partition}:s3:::{record_preprocessor.s3_bucket_name}/{record_preprocessor.s3_object_key}"
                ],
            )
        )
        deployment_role = self._deployment_role(stack, encryption_key)
        parameters = {
            "ExecutionRoleArn": self.serving_role.role_arn,
            "KmsKeyArn": encryption_key.key_arn,
            "DataCaptureS3Uri": self.data_capture_bucket.s3_url_for_object(f"{model.name}/production"),
            "AlertTopicArn": alert_topic.topic_arn,
            "MonitoringRoleArn": self.monitoring_role.role_arn,
            "MonitoringOutputS3Uri": self.data_capture_bucket.s3_url_for_object(f"{model.name}/monitoring"),
            "RecordPreprocessorS3Uri": record_preprocessor.s3_object_url,
        }

        def overrides(stage: Stage, **packages: str) -> dict[str, str]:
            """The template's own parameters only: each stage's template declares what it uses."""
            declared = set(templates[stage]["Parameters"])
            return {name: value for name, value in (parameters | packages).items() if name in declared}

        source = codepipeline.Artifact("DeployBundle")
        package = f"#{{variables.{MODEL_PACKAGE_ARN_VARIABLE}}}"
        smoke_test = self._smoke_test_project(stack, model, encryption_key, log_retention)
        resolve_champion = self._resolve_champion_project(stack, encryption_key, log_retention)
        resolve_action = actions.CodeBuildAction(
            action_name="ResolveChampion",
            project=resolve_champion,
            input=source,
            variables_namespace="Champion",
            environment_variables={"NEW_PACKAGE_ARN": codebuild.BuildEnvironmentVariable(value=package)},
            run_order=1,
        )

        def deploy(stage: Stage, run_order: int, **packages: str) -> actions.CloudFormationCreateUpdateStackAction:
            return actions.CloudFormationCreateUpdateStackAction(
                action_name=f"Deploy{stage.capitalize()}",
                stack_name=self.stack_names[stage],
                template_path=source.at_path(f"{stage}.template.json"),
                admin_permissions=False,
                deployment_role=deployment_role,
                parameter_overrides=overrides(stage, **packages),
                # A first deployment that failed leaves ROLLBACK_COMPLETE; staging may be replaced.
                replace_on_failure=stage == "staging",
                run_order=run_order,
            )

        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=pipeline_artifacts,
            restart_execution_on_update=False,
            execution_mode=codepipeline.ExecutionMode.QUEUED,
            variables=[
                codepipeline.Variable(
                    variable_name=MODEL_PACKAGE_ARN_VARIABLE,
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
                            output=source,
                            trigger=actions.S3Trigger.NONE,
                        )
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="Staging",
                    actions=[
                        deploy("staging", 1, **{CHAMPION_PARAMETER: package}),
                        actions.CodeBuildAction(action_name="SmokeTest", project=smoke_test, input=source, run_order=2),
                    ],
                ),
                codepipeline.StageProps(
                    stage_name=APPROVAL_STAGE,
                    actions=[
                        actions.ManualApprovalAction(
                            action_name=APPROVAL_ACTION,
                            notification_topic=approval_topic,
                            additional_information=(
                                f"Package {package} passed the staging smoke test of model '{model.name}'. "
                                f"Approving deploys it to production as challenger at "
                                f"{model.variants.challenger_percent:g} % next to the current champion "
                                "(or as champion when production has none). Approve as the ModelApprover role."
                            ),
                        )
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="Production",
                    actions=[
                        resolve_action,
                        deploy(
                            "production",
                            2,
                            **{
                                CHAMPION_PARAMETER: resolve_action.variable("CHAMPION_ARN"),
                                CHALLENGER_PARAMETER: resolve_action.variable("CHALLENGER_ARN"),
                                BASELINE_STATISTICS_PARAMETER: resolve_action.variable("BASELINE_STATISTICS"),
                                BASELINE_CONSTRAINTS_PARAMETER: resolve_action.variable("BASELINE_CONSTRAINTS"),
                            },
                        ),
                    ],
                ),
            ],
        )
        alert_on_failure(self.pipeline, alert_topic=alert_topic, what=f"deploy pipeline of '{model.name}'")
        acknowledge_pipeline_grants(
            self,
            projects=[smoke_test, resolve_champion],
            own_buckets=[pipeline_artifacts, self.data_capture_bucket],
        )
        stack_reason = "CloudFormation action L2: its own serving stack (the ARN ends in a generated id)."
        acknowledge_each(
            self.pipeline,
            [
                ("AwsSolutions-IAM5[Action::cloudformation:DescribeStack*]", stack_reason),
                ("AwsSolutions-IAM5[Action::cloudformation:GetTemplate*]", stack_reason),
                *[
                    (
                        f"AwsSolutions-IAM5[Resource::{stack.format_arn(service='cloudformation', resource='stack', resource_name=f'{name}/*')}]",
                        stack_reason,
                    )
                    for name in self.stack_names.values()
                ],
            ],
        )

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

    # --- roles ------------------------------------------------------------------------------------

    def _serving_role(self, encryption_key: kms.IKey) -> iam.Role:
        """The role the endpoint's models run as: pull the image, read the model, write captures and logs."""
        role = SageMakerServiceRole(
            self,
            "Serving",
            description=f"Endpoints of model '{self.model_name}'",
            encryption_key=encryption_key,
            log_groups="/aws/sagemaker/Endpoints/*",
            metric_namespace="/aws/sagemaker/*",
        ).role
        self.data_capture_bucket.grant_put(role, f"{self.model_name}/*")
        acknowledge_each(
            role,
            [
                ("AwsSolutions-IAM5[Action::s3:Abort*]", "L2 put grant limited to this model's capture prefix."),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.data_capture_bucket, 'Arn')}/{self.model_name}/*]",
                    "Captures are written per endpoint, variant and hour under this model's prefix.",
                ),
            ],
        )
        return role

    def _monitoring_role(self, encryption_key: kms.IKey) -> iam.Role:
        """The role Model Monitor's jobs run as: read captures (and baselines), write reports and metrics."""
        role = SageMakerServiceRole(
            self,
            "Monitoring",
            description=f"Model Monitor jobs of model '{self.model_name}'",
            encryption_key=encryption_key,
            log_groups="/aws/sagemaker/ProcessingJobs*",
            metric_namespace="aws/sagemaker/Endpoints/*",
        ).role
        self.data_capture_bucket.grant_read(role, f"{self.model_name}/production/*")
        self.data_capture_bucket.grant_put(role, f"{self.model_name}/monitoring/*")
        capture_arn = nag_ref(self.data_capture_bucket, "Arn")
        acknowledge_each(
            role,
            [
                (
                    "AwsSolutions-IAM5[Action::s3:GetObject*]",
                    "L2 read grant limited to this model's captured requests.",
                ),
                (
                    "AwsSolutions-IAM5[Action::s3:GetBucket*]",
                    "L2 read grant limited to this model's captured requests.",
                ),
                ("AwsSolutions-IAM5[Action::s3:List*]", "L2 read grant limited to this model's captured requests."),
                ("AwsSolutions-IAM5[Action::s3:Abort*]", "L2 put grant limited to this model's monitoring reports."),
                (
                    f"AwsSolutions-IAM5[Resource::{capture_arn}/{self.model_name}/production/*]",
                    "Captures are written per variant and hour under the production prefix.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{capture_arn}/{self.model_name}/monitoring/*]",
                    "Reports are written per schedule and execution under the monitoring prefix.",
                ),
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "The S3 and KMS L2 grants attach their resource-scoped statements as the role's default policy.",
                ),
            ],
        )
        return role

    def _deployment_role(self, stack: Stack, encryption_key: kms.IKey) -> iam.Role:
        """What CloudFormation may do when deploying the serving stacks: those resources, nothing more."""
        role = iam.Role(
            self,
            "DeploymentRole",
            assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
            description=f"CloudFormation deploys the serving stacks of model '{self.model_name}'",
        )
        prefix = f"{self.stack_names['staging'].rsplit('-', 1)[0]}-"  # <platform>-<model>-

        def sagemaker_arn(resource: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource)

        alarm_and_dashboard_arns = [
            stack.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=f"{prefix}*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
            # Target tracking creates its own alarms, named after the policy's resource.
            stack.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=f"TargetTracking-endpoint/{prefix}*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
            f"arn:{stack.partition}:cloudwatch::{stack.account}:dashboard/{prefix}*",
        ]
        service_linked_role = (
            f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
            "sagemaker.application-autoscaling.amazonaws.com/*"
        )
        statements = [
            iam.PolicyStatement(
                sid="ServingResources",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:AddTags",
                    "sagemaker:DeleteTags",
                    "sagemaker:ListTags",
                ],
                resources=[sagemaker_arn("model/*"), sagemaker_arn("endpoint-config/*")],
            ),
            iam.PolicyStatement(
                sid="ThisModelsEndpoints",
                actions=[
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                    "sagemaker:AddTags",
                    "sagemaker:DeleteTags",
                    "sagemaker:ListTags",
                ],
                resources=[sagemaker_arn(f"endpoint/{prefix}*")],
            ),
            iam.PolicyStatement(
                sid="MonitoringJobsAndSchedules",
                actions=[
                    "sagemaker:CreateDataQualityJobDefinition",
                    "sagemaker:DeleteDataQualityJobDefinition",
                    "sagemaker:DescribeDataQualityJobDefinition",
                    "sagemaker:CreateModelQualityJobDefinition",
                    "sagemaker:DeleteModelQualityJobDefinition",
                    "sagemaker:DescribeModelQualityJobDefinition",
                    "sagemaker:CreateMonitoringSchedule",
                    "sagemaker:UpdateMonitoringSchedule",
                    "sagemaker:DeleteMonitoringSchedule",
                    "sagemaker:DescribeMonitoringSchedule",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                resources=[
                    sagemaker_arn("data-quality-job-definition/*"),
                    sagemaker_arn("model-quality-job-definition/*"),
                    sagemaker_arn(f"monitoring-schedule/{prefix}*"),
                ],
            ),
            iam.PolicyStatement(
                sid="ReadThisModelsPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[sagemaker_arn(f"model-package/{self.model_name}/*")],
            ),
            iam.PolicyStatement(
                sid="PassTheServingAndMonitoringRoles",
                actions=["iam:PassRole"],
                resources=[self.serving_role.role_arn, self.monitoring_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="AlarmsAndDashboards",
                actions=[
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:PutDashboard",
                    "cloudwatch:DeleteDashboards",
                    "cloudwatch:GetDashboard",
                ],
                resources=alarm_and_dashboard_arns,
            ),
            iam.PolicyStatement(
                sid="VariantAutoscaling",
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="AutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[service_linked_role],
                conditions={"StringEquals": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="EncryptVolumesAndCaptures",
                actions=["kms:CreateGrant", "kms:DescribeKey"],
                resources=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
        ]
        policy = iam.ManagedPolicy(self, "DeploymentPolicy", roles=[role], statements=statements)
        reason = "Names are generated by CloudFormation or SageMaker; scoped to this model's prefix where it has one."
        acknowledge_each(
            policy,
            [
                (f"AwsSolutions-IAM5[Resource::{sagemaker_arn('model/*')}]", reason),
                (f"AwsSolutions-IAM5[Resource::{sagemaker_arn('endpoint-config/*')}]", reason),
                (f"AwsSolutions-IAM5[Resource::{sagemaker_arn('data-quality-job-definition/*')}]", reason),
                (f"AwsSolutions-IAM5[Resource::{sagemaker_arn('model-quality-job-definition/*')}]", reason),
                (f"AwsSolutions-IAM5[Resource::{sagemaker_arn(f'monitoring-schedule/{prefix}*')}]", reason),
                (f"AwsSolutions-IAM5[Resource::{sagemaker_arn(f'endpoint/{prefix}*')}]", reason),
                (f"AwsSolutions-IAM5[Resource::{sagemaker_arn(f'model-package/{self.model_name}/*')}]", reason),
                *[(f"AwsSolutions-IAM5[Resource::{arn}]", reason) for arn in alarm_and_dashboard_arns],
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "Application Auto Scaling has no resource-level permissions for these actions.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{service_linked_role}]",
                    "The service-linked role's name is fixed by AWS.",
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

    # --- build projects ---------------------------------------------------------------------------

    def _smoke_test_project(
        self, stack: Stack, model: ModelConfig, encryption_key: kms.IKey, log_retention: logs.RetentionDays
    ) -> codebuild.PipelineProject:
        project = build_project(
            self,
            "SmokeTest",
            description=f"Smoke test of the '{model.name}' staging endpoint",
            build_spec=codebuild.BuildSpec.from_object(
                {
                    "version": "0.2",
                    "phases": {
                        "install": {
                            "runtime-versions": {"python": "3.12"},
                            "commands": [f"pip install --quiet boto3=={SMOKE_TEST_BOTO3}"],
                        },
                        "build": {
                            "commands": [
                                f"python {SMOKE_TEST.name} --endpoint-name $ENDPOINT_NAME --payloads {SAMPLE_PAYLOADS.name}"
                                " --max-p95-latency-ms $MAX_P95_LATENCY_MS --rounds 5"
                            ]
                        },
                    },
                }
            ),
            timeout=Duration.minutes(20),
            encryption_key=encryption_key,
            log_retention=log_retention,
            environment={
                "ENDPOINT_NAME": self.endpoint_names["staging"],
                "MAX_P95_LATENCY_MS": str(model.serving.smoke_test_max_p95_ms),
            },
        )
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeTheStagingEndpoint",
                actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[
                    stack.format_arn(
                        service="sagemaker", resource="endpoint", resource_name=self.endpoint_names["staging"]
                    )
                ],
            )
        )
        return project

    def _resolve_champion_project(
        self, stack: Stack, encryption_key: kms.IKey, log_retention: logs.RetentionDays
    ) -> codebuild.PipelineProject:
        """Exports the production champion, challenger and the champion's monitoring baseline.

        The champion is the production stack's champion parameter, unless the traffic shift has
        promoted the challenger (it carries more traffic than the champion): then the challenger.
        The new package becomes the challenger, or the champion when production has none (or it
        is the champion already). The baseline is the champion package's data-quality baseline.
        """
        production = self.stack_names["production"]
        script = "\n".join(
            [
                "set -eu",
                'clean() { case "$1" in ""|None) echo "";; *) echo "$1";; esac; }',
                'param() { clean "$(aws cloudformation describe-stacks --stack-name "$PRODUCTION_STACK"'
                ' --query "Stacks[0].Parameters[?ParameterKey==\'$1\'].ParameterValue" --output text 2>/dev/null || true)"; }',
                'weight() { aws sagemaker describe-endpoint --endpoint-name "$PRODUCTION_ENDPOINT"'
                " --query \"ProductionVariants[?VariantName=='$1'].CurrentWeight\" --output text 2>/dev/null || echo 0; }",
                'baseline() { clean "$(aws sagemaker describe-model-package --model-package-name "$CHAMPION_ARN"'
                ' --query "DriftCheckBaselines.ModelDataQuality.$1.S3Uri" --output text 2>/dev/null || true)"; }',
                f"CHAMPION=$(param {CHAMPION_PARAMETER})",
                f"CHALLENGER=$(param {CHALLENGER_PARAMETER})",
                'if [ -n "$CHALLENGER" ] && awk -v a="$(weight challenger)" -v b="$(weight champion)"'
                " 'BEGIN { exit !(a + 0 > b + 0) }'; then CHAMPION=\"$CHALLENGER\"; fi",
                'if [ -z "$CHAMPION" ] || [ "$CHAMPION" = "$NEW_PACKAGE_ARN" ]; then',
                '  CHAMPION_ARN="$NEW_PACKAGE_ARN"; CHALLENGER_ARN=""',
                'else CHAMPION_ARN="$CHAMPION"; CHALLENGER_ARN="$NEW_PACKAGE_ARN"; fi',
                "BASELINE_STATISTICS=$(baseline Statistics); BASELINE_CONSTRAINTS=$(baseline Constraints)",
                "export CHAMPION_ARN CHALLENGER_ARN BASELINE_STATISTICS BASELINE_CONSTRAINTS",
                'echo "champion=$CHAMPION_ARN challenger=${CHALLENGER_ARN:-none} baseline=${BASELINE_CONSTRAINTS:-none}"',
            ]
        )
        project = build_project(
            self,
            "ResolveChampion",
            description=f"Reads the current production champion of model '{self.model_name}'",
            build_spec=codebuild.BuildSpec.from_object(
                {
                    "version": "0.2",
                    "env": {
                        "shell": "bash",
                        "exported-variables": [
                            "CHAMPION_ARN",
                            "CHALLENGER_ARN",
                            "BASELINE_STATISTICS",
                            "BASELINE_CONSTRAINTS",
                        ],
                    },
                    "phases": {"build": {"commands": [script]}},
                }
            ),
            timeout=Duration.minutes(10),
            encryption_key=encryption_key,
            log_retention=log_retention,
            environment={"PRODUCTION_STACK": production, "PRODUCTION_ENDPOINT": self.endpoint_names["production"]},
        )
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadTheProductionEndpointAndPackages",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DescribeModelPackage"],
                resources=[
                    stack.format_arn(
                        service="sagemaker", resource="endpoint", resource_name=self.endpoint_names["production"]
                    ),
                    stack.format_arn(
                        service="sagemaker", resource="model-package", resource_name=f"{self.model_name}/*"
                    ),
                ],
            )
        )
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadTheProductionStack",
                actions=["cloudformation:DescribeStacks"],
                resources=[
                    stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{production}/*")
                ],
            )
        )
        acknowledge_each(
            project,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{stack.format_arn(service='cloudformation', resource='stack', resource_name=f'{production}/*')}]",
                    "A stack ARN ends in a generated id; the name is this model's production stack.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{stack.format_arn(service='sagemaker', resource='model-package', resource_name=f'{self.model_name}/*')}]",
                    "Package versions are numbered at registration; the scope is this model's group.",
                ),
            ],
        )
        return project
