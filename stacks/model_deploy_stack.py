"""One model's deploy pipeline and what its endpoints need (serving role, data capture bucket), and the
model's registration with the platform's approval gate."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Environment, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import model_package_group_name
from mlops_constructs.deploy import DeployPipeline
from mlops_constructs.endpoint_automation import EndpointAutomation
from mlops_constructs.registration import ModelRegistration


class ModelDeployStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model: ModelConfig,
        monitored_features: list[str],
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        alert_topic: sns.ITopic,
        approval_topic: sns.ITopic,
        audit_bus: events.IEventBus,
        log_retention: logs.RetentionDays,
        noncurrent_version_days: int,
        permissions_boundary: iam.IManagedPolicy,
        model_approver_role: iam.IRole,
        env: Environment,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, env=env, **kwargs)
        iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        self.deploy = DeployPipeline(
            self,
            "Deploy",
            platform_name=platform_name,
            model=model,
            monitored_features=monitored_features,
            env=env,
            # The serving templates are synthesized with this app's feature flags.
            template_context=self.node.get_all_context(),
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            alert_topic=alert_topic,
            approval_topic=approval_topic,
            log_retention=log_retention,
            noncurrent_version_days=noncurrent_version_days,
        )
        self.deploy.grant_approval(model_approver_role)
        # The approval gate finds this model through its registration, and starts this pipeline.
        self.registration = ModelRegistration(
            self,
            "Registration",
            platform_name=platform_name,
            model_package_group_name=model_package_group_name(model.name),
            model_name=model.name,
            metric_name=model.metric.name,
            threshold=model.metric.threshold,
            metric_direction=model.metric_direction,
            serving_mode=model.serving.mode,
            deploy_pipeline=self.deploy.pipeline,
            production_serving_name=self.deploy.stack_names["production"],
        )
        self.automation = EndpointAutomation(
            self,
            "Automation",
            model=model,
            # The production endpoint, or a batch model's production transform pipeline: one name.
            endpoint_name=self.deploy.stack_names["production"],
            monitoring_reports=self.deploy.data_capture_bucket,
            monitoring_reports_prefix=f"{model.name}/monitoring/",
            encryption_key=encryption_key,
            alert_topic=alert_topic,
            audit_bus=audit_bus,
            log_retention=log_retention,
        )
        serving = (
            [
                ("StagingTransformPipelineName", self.deploy.stack_names["staging"], "Transform the batch check runs"),
                (
                    "ProductionTransformPipelineName",
                    self.deploy.stack_names["production"],
                    "Transform pipeline the schedule starts",
                ),
            ]
            if model.is_batch
            else [
                ("StagingEndpointName", self.deploy.stack_names["staging"], "Endpoint the smoke test calls"),
                (
                    "ProductionEndpointName",
                    self.deploy.stack_names["production"],
                    "A/B endpoint (champion, challenger)",
                ),
            ]
        )
        for output_id, value, description in [
            ("DeployPipelineName", self.deploy.pipeline.pipeline_name, "Started by the approval gate"),
            *serving,
            (
                "ProductionStackName",
                self.deploy.stack_names["production"],
                "Serving stack rolled back by `make rollback`",
            ),
            ("DataCaptureBucketName", self.deploy.data_capture_bucket.bucket_name, "Captured production requests"),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
