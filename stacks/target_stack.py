"""A stage's serving account: what the tooling account's deploy pipelines deploy into and steer.

Each remote stage (`environment.deployment_accounts`) gets one `<platform>-target-<stage>` stack in its
account and the platform's region: the account's boundary, key, serving bucket (captures, monitoring
reports and explainability configs, per model prefix), alert topic and budget, the forwarding of its
serving events to the tooling account, and each config model's roles there; with SageMaker Projects, the
role the projects' StackSets create their models' roles there as (`mlops_constructs.target.provisioner`). The names the tooling
account refers to come from `mlops_constructs.accounts.ServingAccount`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Environment, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.schema import PlatformConfig
from lambdas.common.contracts import Stage, serving_alert_topic_name, serving_boundary_name
from mlops_constructs.accounts import ServingAccount, serving_accounts
from mlops_constructs.alerts import AlertTopic
from mlops_constructs.budget import CostBudget
from mlops_constructs.encryption import PlatformKey
from mlops_constructs.personas import workload_boundary
from mlops_constructs.storage import AccessLogBucket, SecureBucket
from mlops_constructs.target import ModelTargetRoles, RolesProvisioner, ServingEventForwarding, serving_account_denies
from mlops_constructs.target.provisioner import provisioner_role_arn
from mlops_constructs.target_account import record_preprocessor_asset


class TargetStack(Stack):
    """One stage's serving account. `model_roles[model]` holds a model's roles (serve, monitoring,
    cloudformation, deploy, operations, steering); `record_preprocessor_url` is where its monitors' script is."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PlatformConfig, account: ServingAccount, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.serving_account = account
        retention = config.retention
        self.permissions_boundary = workload_boundary(
            self,
            "WorkloadBoundary",
            platform_name=config.name,
            extra_statements=serving_account_denies(),
            # The StackSet provisioner of project-created models' roles tags roles and writes policy versions.
            guard_exempt_role_arns=[provisioner_role_arn(account)] if config.projects.enabled else [],
            # Named (a contract): the account's CloudFormation execution policy creates roles only with it
            # (tools/bootstrap_policy.py).
            name=serving_boundary_name(config.name, account.stage),
        )
        iam.PermissionsBoundary.of(self).apply(self.permissions_boundary)
        self.key = PlatformKey(self, "ServingKey", alias=account.key_alias).key
        self.access_log_bucket = AccessLogBucket(self, "AccessLogs", expiration_days=retention.access_log_days).bucket
        self.serving_bucket = SecureBucket(
            self,
            "Serving",
            bucket_name=account.bucket_name,
            encryption_key=self.key,
            access_log_bucket=self.access_log_bucket,
            access_log_prefix="serving-bucket/",
            noncurrent_version_days=retention.noncurrent_version_days,
        ).bucket
        self.alert_topic = AlertTopic(
            self,
            "Alerts",
            encryption_key=self.key,
            emails=config.alerts.emails,
            topic_name=serving_alert_topic_name(config.name, account.stage),
            display_name=f"MLOps platform alerts ({account.stage})",
        ).topic
        CostBudget(
            self,
            "MonthlyBudget",
            monthly_limit_usd=config.budget.monthly_limit_usd,
            thresholds_percent=config.budget.alert_thresholds_percent,
            alert_topic=self.alert_topic,
        )
        self.forwarding = ServingEventForwarding(
            self, "ServingEvents", account=account, encryption_key=self.key, alert_topic=self.alert_topic
        )
        self.record_preprocessor = record_preprocessor_asset(self, "RecordPreprocessor")
        self.record_preprocessor_url = self.record_preprocessor.s3_object_url
        self.model_roles = {
            model.name: ModelTargetRoles(
                self,
                f"Model-{model.name}",
                account=account,
                model=model,
                encryption_key=self.key,
                serving_bucket=self.serving_bucket,
                record_preprocessor_url=self.record_preprocessor_url,
            )
            for model in config.models
        }
        # Models created from SageMaker Projects get the same roles from their product's StackSets.
        self.roles_provisioner: RolesProvisioner | None = None
        if config.projects.enabled:
            self.roles_provisioner = RolesProvisioner(
                self,
                "RolesProvisioner",
                account=account,
                encryption_key=self.key,
                permissions_boundary=self.permissions_boundary,
                config_model_names=[model.name for model in config.models],
            )
        for output_id, value, description in [
            ("ServingKeyArn", self.key.key_arn, f"KMS key of {account.stage}'s serving"),
            ("ServingBucketName", self.serving_bucket.bucket_name, "Data capture, monitoring reports and configs"),
            ("AlertTopicArn", self.alert_topic.topic_arn, f"SNS topic of {account.stage}'s alarms and budget"),
        ]:
            CfnOutput(self, output_id, value=value, description=description)


def build_targets(scopes: Mapping[Stage, Construct], config: PlatformConfig) -> dict[Stage, TargetStack]:
    """One `TargetStack` per remote stage, in `scopes[stage]`; its construct id is its stack name."""
    accounts = serving_accounts(config)
    targets = {}
    for stage in config.environment.remote_stages():
        account = accounts[stage]
        name = f"{config.name}-target-{stage}"
        targets[stage] = TargetStack(
            scopes[stage],
            name,
            stack_name=name,
            config=config,
            account=account,
            env=Environment(account=account.account, region=account.region),
            termination_protection=True,
            description=f"MLOps platform {stage} serving account: key, serving bucket, alerts, budget, event"
            " forwarding to the tooling account, each model's serving, monitoring, deployment and operations roles",
        )
    return targets
