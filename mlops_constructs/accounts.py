"""Where each stage serves: the tooling account (the platform's own), or a deployment account of its own.

`ServingAccount` is the one description both sides build from. The target stack
(`stacks/target_stack.py`) creates, in the stage's account, the roles, bucket, key and topic named here;
the tooling account's stacks refer to them by these names and ARNs (a deploy pipeline's CloudFormation
actions, the grants on the platform key, buckets and registry groups, the automation's assumed role)
and name their own roles that the target account trusts (`tooling_role_arn`). Names come from
`lambdas.common.contracts`, so neither side holds a reference to the other's constructs. A first
deployment goes in one order: the target stacks first, then the tooling account's. The tooling account's
key, bucket and registry policies name the target stacks' roles by ARN, which IAM refuses for a role that
does not exist yet; the target stacks name the tooling account's roles only in `aws:PrincipalArn`
conditions, which need none to exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import Fn, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from config.schema import PlatformConfig
from lambdas.common.contracts import (
    STAGES,
    Stage,
    TargetRoleKind,
    ToolingRoleKind,
    event_forwarder_role_name,
    serving_alert_topic_name,
    serving_bucket_name,
    serving_key_alias,
    target_role_name,
    tooling_role_name,
)


@dataclass(frozen=True)
class ServingAccount:
    """One stage's account, seen from the tooling account (`remote`: not the tooling account itself)."""

    platform_name: str
    stage: Stage
    account: str
    region: str
    tooling_account: str

    @property
    def partition(self) -> str:
        """The region's partition, as a literal: the stage account's ARNs are plain strings in every template."""
        return partition_of(self.region)

    @property
    def remote(self) -> bool:
        return self.account != self.tooling_account

    def role_name(self, model_name: str, kind: TargetRoleKind) -> str:
        return target_role_name(self.platform_name, model_name, self.stage, kind)

    def role_arn(self, model_name: str, kind: TargetRoleKind) -> str:
        return _role_arn(self.partition, self.account, model_name, lambda name: self.role_name(name, kind))

    def tooling_role_arn(self, model_name: str, kind: ToolingRoleKind) -> str:
        """A model's role in the tooling account that this account's roles trust."""
        return _role_arn(
            self.partition,
            self.tooling_account,
            model_name,
            lambda name: tooling_role_name(self.platform_name, name, kind),
        )

    @property
    def event_forwarder_role_arn(self) -> str:
        return (
            f"arn:{self.partition}:iam::{self.account}:role/{event_forwarder_role_name(self.platform_name, self.stage)}"
        )

    @property
    def bucket_name(self) -> str:
        return serving_bucket_name(self.platform_name, self.stage, self.account, self.region)

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket_name}"

    @property
    def key_alias(self) -> str:
        return serving_key_alias(self.platform_name, self.stage)

    @property
    def key_alias_arn(self) -> str:
        """What the serving templates take as their key: SageMaker and S3 resolve an alias ARN to its key."""
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:{self.key_alias}"

    @property
    def alert_topic_arn(self) -> str:
        return (
            f"arn:{self.partition}:sns:{self.region}:{self.account}:"
            f"{serving_alert_topic_name(self.platform_name, self.stage)}"
        )

    def arn(self, service: str, resource: str) -> str:
        """An ARN of this account and region (`resource` as the service writes it, e.g. `endpoint/<name>`)."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


def serving_accounts(config: PlatformConfig) -> dict[Stage, ServingAccount]:
    """Every stage's account (the tooling account's own stages too, with `remote` False)."""
    environment = config.environment
    return {
        stage: ServingAccount(
            platform_name=config.name,
            stage=stage,
            account=environment.stage_account(stage),
            region=environment.region,
            tooling_account=environment.account,
        )
        for stage in STAGES
    }


def _role_arn(partition: str, account: str, model_name: str, role_name: Callable[[str], str]) -> str:
    """A model's role's ARN; a model named by a token (a project's parameter) as one Fn::Sub."""
    if not Token.is_unresolved(model_name):
        return f"arn:{partition}:iam::{account}:role/{role_name(model_name)}"
    return Fn.sub(f"arn:{partition}:iam::{account}:role/{role_name('${Model}')}", {"Model": model_name})


def partition_of(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def admit_serving_events(scope: Construct, accounts: dict[Stage, ServingAccount]) -> list[events.CfnEventBusPolicy]:
    """Let each stage account's event forwarder (and nothing else of that account) put events on this
    account's default bus, where the drift alert's and the monitoring alerts' rules match them."""
    bus_arn = Stack.of(scope).format_arn(service="events", resource="event-bus", resource_name="default")
    return [
        events.CfnEventBusPolicy(
            scope,
            f"{stage.capitalize()}AccountEvents",
            event_bus_name="default",
            statement_id=f"{account.platform_name}-{stage}-serving-events",
            statement={
                "Effect": "Allow",
                "Principal": {"AWS": account.event_forwarder_role_arn},
                "Action": "events:PutEvents",
                "Resource": bus_arn,
            },
        )
        for stage, account in accounts.items()
        if account.remote
    ]


# The roles of a stage account that read the tooling account's encrypted objects: the endpoints' (model
# artifacts), the monitors' (baselines), the deploy pipeline's action role (its artifacts).
KEY_READING_KINDS: tuple[TargetRoleKind, ...] = ("serve", "mon", "deploy")


def admit_stage_roles_to_key(key: kms.Key, accounts: dict[Stage, ServingAccount]) -> None:
    """Let each stage account's serving, monitoring and deploy roles of the platform's models decrypt with
    the platform key, through S3 only: the bucket policies say which objects (each model's own). Named by
    pattern, in a condition: a project's model is named when it is created, after this policy, and a
    condition needs no role to exist yet."""
    region = Stack.of(key).region
    for stage, account in accounts.items():
        if not account.remote:
            continue
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"{stage.capitalize()}AccountReadsThroughS3",
                principals=[iam.AccountPrincipal(account.account)],
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                    "ArnLike": {"aws:PrincipalArn": [account.role_arn("*", kind) for kind in KEY_READING_KINDS]},
                },
            )
        )
