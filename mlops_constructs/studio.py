"""A SageMaker Studio domain for the personas: IAM auth, VPC only, encrypted with the platform key.

The domain runs in an existing network (VPC and subnets from config, used as given: nothing is
looked up at synth) or in one it creates: isolated subnets only, no NAT, and the VPC endpoints that
Studio, the pipelines and the model registry need. Each user profile runs as its persona's role,
so the platform's permissions boundary and separation of duties hold inside Studio too; the domain
records the profile name as the session's source identity, which tells apart the people who share
a persona role in CloudTrail.

The domain, its profiles (the users' home directories on the domain's EFS volume) and the network
they sit in are retained when the stack is deleted. CloudFormation never deletes the home EFS
volume of a domain it deletes (AWS::SageMaker::Domain has no retention property; DeleteDomain's
RetentionPolicy defaults to Retain), so user data survives either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.schema import CreatedNetworkConfig, StudioNetworkConfig, StudioUserConfig
from mlops_constructs.compliance import acknowledge_each, nag_ref

# What Studio (sagemaker.api, notebook, studio), the pipelines and the registry it drives (sts, logs,
# monitoring, ecr, kms, ssm, CodeCommit, CodePipeline), SageMaker Projects (servicecatalog) and the MLflow
# tracking server (sagemaker.experiments: the MLflow API and UI) reach from a network without a route to
# the internet. S3 has a gateway endpoint.
INTERFACE_ENDPOINTS: Mapping[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "SageMakerFeatureStoreRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_FEATURESTORE_RUNTIME,
    "SageMakerNotebook": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_NOTEBOOK,
    "SageMakerStudio": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_STUDIO,
    "SageMakerExperiments": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_EXPERIMENTS,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "CodeCommit": ec2.InterfaceVpcEndpointAwsService.CODECOMMIT,
    "GitCodeCommit": ec2.InterfaceVpcEndpointAwsService.CODECOMMIT_GIT,
    "CodePipeline": ec2.InterfaceVpcEndpointAwsService.CODEPIPELINE,
    "ServiceCatalog": ec2.InterfaceVpcEndpointAwsService.SERVICE_CATALOG,
}

HTTPS = ec2.Port.tcp(443)
# Studio's documented VPC-only requirements between the apps of a domain: NFS to the home EFS volume,
# and the JupyterServer/KernelGateway app traffic.
NFS = ec2.Port.tcp(2049)
STUDIO_APP_PORTS = ec2.Port.tcp_range(8192, 65535)


class StudioNetwork(Construct):
    """A VPC for Studio: isolated subnets, no NAT, flow logs, and VPC endpoints (HTTPS from `allow_https_from`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: CreatedNetworkConfig,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(network.cidr),
            max_azs=network.max_azs,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Studio", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.subnets = self.vpc.isolated_subnets
        # The retained domain's network interfaces and home EFS mount targets live in these: deleting
        # them would fail (and would strand the domain), so they stay with it.
        self.vpc.apply_removal_policy(RemovalPolicy.RETAIN)
        for subnet in self.subnets:
            subnet.apply_removal_policy(RemovalPolicy.RETAIN)

        self.endpoints_security_group = ec2.SecurityGroup(
            self,
            "EndpointsSecurityGroup",
            vpc=self.vpc,
            description="VPC interface endpoints: HTTPS from Studio apps only",
            allow_all_outbound=False,
        )
        self.interface_endpoints = {
            endpoint_id: self.vpc.add_interface_endpoint(
                endpoint_id,
                service=service,
                private_dns_enabled=True,
                security_groups=[self.endpoints_security_group],
                open=False,
            )
            for endpoint_id, service in INTERFACE_ENDPOINTS.items()
        }
        flow_log_role = self.vpc.node.find_child("All").node.find_child("IAMRole")
        acknowledge_each(
            flow_log_role,
            [
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "The flow log L2 gives VPC Flow Logs' delivery role an inline policy scoped to its one log group.",
                ),
            ],
        )

    def allow_https_from(self, security_group: ec2.ISecurityGroup) -> None:
        self.endpoints_security_group.add_ingress_rule(security_group, HTTPS, "HTTPS from Studio apps")


class StudioDomain(Construct):
    """The Studio domain, its security group, one user profile per configured user, and their access.

    Zones are the stack's `availability_zones`: in a stack with an account and region, override them
    (StudioStack does, with Fn::GetAZs) or CDK looks them up in the account at synth.

    `execution_roles` maps each persona named in `users` to the role its profiles run as; the domain's
    default (profiles created outside config) is the `default_persona`'s role. The roles must trust
    sagemaker.amazonaws.com for sts:AssumeRole and sts:SetSourceIdentity.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain_name: str,
        network: StudioNetworkConfig,
        users: list[StudioUserConfig],
        execution_roles: Mapping[str, iam.IRole],
        default_persona: str,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        missing = sorted(({user.persona for user in users} | {default_persona}) - set(execution_roles))
        if missing:
            raise ValueError(f"no execution role for persona(s): {', '.join(missing)}")

        self.network: StudioNetwork | None = None
        if network.create is not None:
            self.network = StudioNetwork(
                self, "Network", network=network.create, encryption_key=encryption_key, log_retention=log_retention
            )
            vpc: ec2.IVpc = self.network.vpc
            subnet_ids = [subnet.subnet_id for subnet in self.network.subnets]
        else:
            assert network.vpc_id is not None  # StudioNetworkConfig: one kind of network, complete
            # Only the id is used (security group, domain): no lookup, nothing calls AWS at synth.
            vpc = ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=network.vpc_id, availability_zones=Stack.of(self).availability_zones
            )
            subnet_ids = list(network.subnet_ids)

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="SageMaker Studio apps: HTTPS out, NFS and app traffic between the apps of the domain",
            allow_all_outbound=False,
        )
        # Any IPv4 address, on HTTPS only: the VPC's routes decide where that leads. In the VPC created
        # here (no internet or NAT gateway) it is the interface endpoints and S3 through its gateway
        # endpoint, whose addresses only the region's S3 prefix list names (known at deploy time only).
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS to AWS services through the VPC")
        self.security_group.connections.allow_internally(NFS, "NFS between the domain's apps and its home EFS")
        self.security_group.connections.allow_internally(STUDIO_APP_PORTS, "Traffic between the domain's apps")
        # The retained domain's apps keep their network interfaces in it.
        self.security_group.apply_removal_policy(RemovalPolicy.RETAIN)
        if self.network is not None:
            self.network.allow_https_from(self.security_group)

        self.domain = sagemaker.CfnDomain(
            self,
            "Domain",
            domain_name=domain_name,
            auth_mode="IAM",
            app_network_access_type="VpcOnly",
            vpc_id=vpc.vpc_id,
            subnet_ids=subnet_ids,
            kms_key_id=encryption_key.key_arn,
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=execution_roles[default_persona].role_arn,
                security_groups=[self.security_group.security_group_id],
            ),
            # Shared spaces take neither a profile's role nor its security groups: without these they
            # would run with no role, outside the group the VPC endpoints accept.
            default_space_settings=sagemaker.CfnDomain.DefaultSpaceSettingsProperty(
                execution_role=execution_roles[default_persona].role_arn,
                security_groups=[self.security_group.security_group_id],
            ),
            domain_settings=sagemaker.CfnDomain.DomainSettingsProperty(
                execution_role_identity_config="USER_PROFILE_NAME"
            ),
            # The domain's tags (the platform's) reach the spaces and apps its users create.
            tag_propagation="ENABLED",
        )
        self.domain.apply_removal_policy(RemovalPolicy.RETAIN)

        self.user_profiles: dict[str, sagemaker.CfnUserProfile] = {}
        for user in users:
            # The construct id is the profile name: one stable logical id per configured user.
            profile = sagemaker.CfnUserProfile(
                self,
                user.name,
                domain_id=self.domain.attr_domain_id,
                user_profile_name=user.name,
                user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(
                    execution_role=execution_roles[user.persona].role_arn
                ),
            )
            profile.apply_removal_policy(RemovalPolicy.RETAIN)
            self.user_profiles[user.name] = profile

        for persona, role in execution_roles.items():
            profiles = [user.name for user in users if user.persona == persona]
            if profiles or persona == default_persona:
                self._allow_studio_use(persona, role, profiles)

    def _allow_studio_use(self, persona: str, role: iam.IRole, profiles: list[str]) -> None:
        """The persona's people open their profiles; as execution role, it runs apps and spaces here."""
        stack = Stack.of(self)
        domain_id = self.domain.attr_domain_id

        def arn(resource: str, name: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        apps, spaces = arn("app", f"{domain_id}/*"), arn("space", f"{domain_id}/*")
        statements = [
            iam.PolicyStatement(
                sid="DescribeTheDomain",
                actions=["sagemaker:DescribeDomain", "sagemaker:DescribeUserProfile"],
                resources=[arn("domain", domain_id), arn("user-profile", f"{domain_id}/*")],
            ),
            iam.PolicyStatement(
                sid="RunAppsAndSpacesInTheDomain",
                actions=[
                    "sagemaker:CreateApp",
                    "sagemaker:DeleteApp",
                    "sagemaker:DescribeApp",
                    "sagemaker:CreateSpace",
                    "sagemaker:UpdateSpace",
                    "sagemaker:DeleteSpace",
                    "sagemaker:DescribeSpace",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                resources=[apps, spaces],
            ),
            # These list calls have no resource-level permissions.
            iam.PolicyStatement(
                sid="ListStudioResources",
                actions=["sagemaker:ListApps", "sagemaker:ListSpaces", "sagemaker:ListUserProfiles"],
                resources=["*"],
            ),
        ]
        if profiles:
            statements.append(
                iam.PolicyStatement(
                    sid="OpenTheirProfiles",
                    actions=["sagemaker:CreatePresignedDomainUrl"],
                    resources=[arn("user-profile", f"{domain_id}/{name}") for name in profiles],
                )
            )
        policy = iam.ManagedPolicy(
            self,
            f"{persona.title().replace('_', '')}Access",
            description=f"Studio use by the {persona.replace('_', ' ')} persona, in this domain only",
            roles=[role],
            statements=statements,
        )
        domain_ref = nag_ref(self.domain, "DomainId")
        arn_prefix = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        acknowledge_each(
            policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{arn_prefix}:{kind}/{domain_ref}/*]",
                    f"{what}; limited to this domain's.",
                )
                for kind, what in (
                    ("user-profile", "Studio reads the domain's profiles (describe only)"),
                    ("app", "Studio names the apps users start at run time"),
                    ("space", "Studio names the spaces users create at run time"),
                )
            ]
            + [
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "ListApps, ListSpaces and ListUserProfiles support no resource-level permissions.",
                )
            ],
        )
