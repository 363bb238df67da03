"""SageMaker Studio for the personas: the domain, its network and a user profile per configured user."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.schema import StudioConfig
from mlops_constructs.personas import let_studio_run_as
from mlops_constructs.studio import StudioDomain

# The persona whose role runs profiles created outside config: the one that cannot approve.
DEFAULT_PERSONA = "data_scientist"


class StudioStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        studio: StudioConfig,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        permissions_boundary: iam.IManagedPolicy,
        data_scientist_role: iam.Role,
        model_approver_role: iam.Role,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        personas = {"data_scientist": data_scientist_role, "model_approver": model_approver_role}
        in_use = {user.persona for user in studio.users} | {DEFAULT_PERSONA}
        execution_roles = {persona: role for persona, role in personas.items() if persona in in_use}
        for role in execution_roles.values():
            let_studio_run_as(role)
        self.studio = StudioDomain(
            self,
            "Studio",
            domain_name=platform_name,
            network=studio.network,
            users=studio.users,
            execution_roles=execution_roles,
            default_persona=DEFAULT_PERSONA,
            encryption_key=encryption_key,
            log_retention=log_retention,
        )
        outputs = [
            ("DomainId", self.studio.domain.attr_domain_id, "SageMaker Studio domain"),
            ("DomainUrl", self.studio.domain.attr_url, "Studio's address (open it with a presigned URL)"),
            (
                "HomeEfsFileSystemId",
                self.studio.domain.attr_home_efs_file_system_id,
                "EFS volume of the users' home directories (retained)",
            ),
        ]
        if self.studio.network is not None:
            outputs.append(("VpcId", self.studio.network.vpc.vpc_id, "VPC created for Studio (isolated, no NAT)"))
        for output_id, value, description in outputs:
            CfnOutput(self, output_id, value=value, description=description)

    @property
    def availability_zones(self) -> list[str]:
        """The region's zones resolved at deploy time (Fn::GetAZs): no context lookup, no AWS call at synth."""
        return [Fn.select(index, Fn.get_azs()) for index in range(3)]
