"""The approval gate of every registered model: registry events in, deploy pipelines started (the grants
for the models declared in config made here)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlops_constructs.approval_gate import ApprovalGate, GatedModel
from mlops_constructs.platform_parameters import publish_platform_values


class ApprovalStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        models: list[GatedModel],
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        audit_bus: events.IEventBus,
        log_retention: logs.RetentionDays,
        permissions_boundary: iam.IManagedPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        self.gate = ApprovalGate(
            self,
            "ApprovalGate",
            platform_name=platform_name,
            models=models,
            encryption_key=encryption_key,
            alert_topic=alert_topic,
            audit_bus=audit_bus,
            log_retention=log_retention,
        )
        publish_platform_values(
            self, platform_name=platform_name, values={"approval-gate-role-name": self.gate.handler.role.role_name}
        )
        for output_id, value, description in [
            ("ApprovalGateFunctionName", self.gate.handler.function.function_name, "Lambda that gates approvals"),
            (
                "ApprovalGateDeadLetterQueueUrl",
                self.gate.handler.dead_letter_queue.queue_url,
                "Events the gate failed on",
            ),
        ]:
            CfnOutput(self, output_id, value=value, description=description)
