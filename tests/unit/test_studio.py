"""StudioDomain: IAM auth, VPC only, platform key, retained user data, persona profiles, its network."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from aws_cdk.cx_api import CloudAssembly

from config import ConfigError, PlatformConfig, load_config
from mlops_constructs.studio import INTERFACE_ENDPOINTS
from stacks.platform import build_platform
from tests.conftest import Synthesized, cdk_json_context, no_projects, write_config
from tests.iam_evaluation import Principal, render

ACCOUNT, REGION = "123456789012", "eu-west-1"
KEY_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputFnGetAttPlatformKey1C4A1A63Arn1AD0FED1"}
DOMAIN = "StudioDomain20F5E462"
SECURITY_GROUP = "StudioSecurityGroup0EA80A08"
ENDPOINTS_SECURITY_GROUP = "StudioNetworkEndpointsSecurityGroup27830DED"
VPC = "StudioNetworkVpc37921198"
SUBNETS = ["StudioNetworkVpcStudioSubnet1SubnetB0D63CCF", "StudioNetworkVpcStudioSubnet2SubnetCA0AF297"]
PROFILES = {"data-scientist": "StudiodatascientistF565710A", "model-approver": "Studiomodelapprover0BBE8FE4"}
DOMAIN_ID = "d-studio123"
# Interface endpoint service names (com.amazonaws.<region>.<name> unless already qualified).
ENDPOINT_SERVICES = {
    "sagemaker.api",
    "sagemaker.runtime",
    "sagemaker.featurestore-runtime",
    "aws.sagemaker.eu-west-1.notebook",
    "aws.sagemaker.eu-west-1.studio",
    "aws.sagemaker.eu-west-1.experiments",
    "sts",
    "logs",
    "monitoring",
    "ecr.api",
    "ecr.dkr",
    "kms",
    "ssm",
    "codecommit",
    "git-codecommit",
    "codepipeline",
    "servicecatalog",
}
EXISTING_VPC = "vpc-0123456789abcdef0"
EXISTING_SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba987654321f"]


@pytest.fixture(scope="module")
def studio(synthesized: Synthesized) -> Template:
    assert synthesized.platform.studio is not None
    return synthesized.template(synthesized.platform.studio)


def resource(template: Template, logical_id: str) -> Mapping[str, Any]:
    return template.to_json()["Resources"][logical_id]


def of_type(template: Template, resource_type: str) -> Mapping[str, Any]:
    return template.find_resources(resource_type)


def missing_context(assembly: CloudAssembly) -> Any:
    """What the app would have looked up in an AWS account (the jsii binding cannot read it directly)."""
    return json.loads((Path(assembly.directory) / "manifest.json").read_text()).get("missing")


def governance_export(synthesized: Synthesized, persona: str) -> str:
    """The prefix of the export name of a persona role's ARN (the suffix is a hash)."""
    governance = synthesized.platform.governance
    role = {
        "data_scientist": governance.data_scientist_role,
        "model_approver": governance.model_approver_role,
    }[persona]
    role_id = governance.get_logical_id(role.node.default_child)  # type: ignore[arg-type]
    return f"{governance.stack_name}:ExportsOutputFnGetAtt{role_id}Arn"


# --- the domain -----------------------------------------------------------------------------------


def test_domain_is_iam_authenticated_vpc_only_and_encrypted_with_the_platform_key(studio: Template) -> None:
    domain = resource(studio, DOMAIN)["Properties"]
    assert domain["AuthMode"] == "IAM"
    assert domain["AppNetworkAccessType"] == "VpcOnly"
    assert domain["KmsKeyId"] == KEY_IMPORT
    assert domain["DomainName"] == "mlops"
    assert domain["VpcId"] == {"Ref": VPC}
    assert domain["SubnetIds"] == [{"Ref": subnet} for subnet in SUBNETS]
    # CloudTrail names the user profile behind each call made with a shared persona role.
    assert domain["DomainSettings"] == {"ExecutionRoleIdentityConfig": "USER_PROFILE_NAME"}
    assert domain["TagPropagation"] == "ENABLED"
    assert {"Key": "mlops:platform", "Value": "mlops"} in domain["Tags"]


def test_default_user_settings_run_as_the_data_scientist_in_the_domain_security_group(
    studio: Template, synthesized: Synthesized
) -> None:
    settings = resource(studio, DOMAIN)["Properties"]["DefaultUserSettings"]
    assert settings["SecurityGroups"] == [{"Fn::GetAtt": [SECURITY_GROUP, "GroupId"]}]
    assert settings["ExecutionRole"]["Fn::ImportValue"].startswith(governance_export(synthesized, "data_scientist"))


@pytest.mark.parametrize(
    ("logical_id", "resource_type"),
    [
        (DOMAIN, "AWS::SageMaker::Domain"),
        *[(profile, "AWS::SageMaker::UserProfile") for profile in PROFILES.values()],
        (SECURITY_GROUP, "AWS::EC2::SecurityGroup"),
        (VPC, "AWS::EC2::VPC"),
        *[(subnet, "AWS::EC2::Subnet") for subnet in SUBNETS],
        ("StudioNetworkFlowLogsB1013FF9", "AWS::Logs::LogGroup"),
    ],
)
def test_user_data_and_the_network_it_sits_in_keep_their_ids_and_are_retained(
    studio: Template, logical_id: str, resource_type: str
) -> None:
    """The home EFS volume outlives the domain: CloudFormation never deletes it (the domain has no
    retention property), and the domain itself, its profiles and their network are retained."""
    found = resource(studio, logical_id)
    assert (found["Type"], found["DeletionPolicy"], found["UpdateReplacePolicy"]) == (resource_type, "Retain", "Retain")


def test_each_configured_user_gets_a_profile_running_as_its_personas_role(
    studio: Template, synthesized: Synthesized, default_config: PlatformConfig
) -> None:
    profiles = of_type(studio, "AWS::SageMaker::UserProfile")
    assert set(profiles) == set(PROFILES.values())
    for user in default_config.studio.users:
        profile = profiles[PROFILES[user.name]]["Properties"]
        assert profile["UserProfileName"] == user.name
        assert profile["DomainId"] == {"Fn::GetAtt": [DOMAIN, "DomainId"]}
        role = profile["UserSettings"]["ExecutionRole"]["Fn::ImportValue"]
        assert role.startswith(governance_export(synthesized, user.persona))


def test_persona_roles_trust_studio_with_the_source_identity(governance: Template) -> None:
    roles = of_type(governance, "AWS::IAM::Role")
    for prefix in ("PersonasDataScientist", "PersonasModelApprover"):
        (role,) = (role for logical_id, role in roles.items() if logical_id.startswith(prefix))
        statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert {
            "Sid": "SageMakerStudioRunsAsThisPersona",
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        } in statements
        # The boundary still applies: Studio sessions are the persona role, boundary included.
        assert "PermissionsBoundary" in role["Properties"]


def test_every_role_of_the_stack_carries_the_boundary(studio: Template) -> None:
    boundary = {"Fn::ImportValue": "mlops-governance:ExportsOutputRefPersonasWorkloadBoundaryE6E103C7F7E29091"}
    roles = of_type(studio, "AWS::IAM::Role")
    assert roles
    assert all(role["Properties"]["PermissionsBoundary"] == boundary for role in roles.values())


# --- who may use the domain -----------------------------------------------------------------------


def _domain_rendered(value: Any) -> Any:
    """The value with the domain's id (a deploy-time attribute) replaced by a sample id."""
    if value == {"Fn::GetAtt": [DOMAIN, "DomainId"]}:
        return DOMAIN_ID
    if isinstance(value, dict):
        return render({key: _domain_rendered(item) for key, item in value.items()}, {})
    if isinstance(value, list):
        return [_domain_rendered(item) for item in value]
    return value


@pytest.fixture(scope="module")
def studio_users(studio: Template, governance: Template) -> dict[str, Principal]:
    """Each persona's Studio policy, under the platform boundary, keyed by the role export it attaches to."""
    boundary = next(
        policy["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, policy in of_type(governance, "AWS::IAM::ManagedPolicy").items()
        if logical_id.startswith("PersonasWorkloadBoundary")
    )
    users = {}
    for policy in of_type(studio, "AWS::IAM::ManagedPolicy").values():
        (role,) = policy["Properties"]["Roles"]
        persona = "data_scientist" if "PersonasDataScientist" in role["Fn::ImportValue"] else "model_approver"
        statements = _domain_rendered(policy["Properties"]["PolicyDocument"]["Statement"])
        users[persona] = Principal(identity_statements=statements, boundary_statements=boundary)
    return users


def _arn(resource: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}"


def test_people_open_only_their_personas_profiles(studio_users: dict[str, Principal]) -> None:
    assert set(studio_users) == {"data_scientist", "model_approver"}
    for persona, own, other in [
        ("data_scientist", "data-scientist", "model-approver"),
        ("model_approver", "model-approver", "data-scientist"),
    ]:
        user = studio_users[persona]
        assert user.is_allowed("sagemaker:CreatePresignedDomainUrl", _arn(f"user-profile/{DOMAIN_ID}/{own}"))
        assert not user.is_allowed("sagemaker:CreatePresignedDomainUrl", _arn(f"user-profile/{DOMAIN_ID}/{other}"))
        assert not user.is_allowed("sagemaker:CreatePresignedDomainUrl", _arn(f"user-profile/d-other/{own}"))


def test_studio_sessions_run_apps_and_spaces_in_this_domain_only(studio_users: dict[str, Principal]) -> None:
    for user in studio_users.values():
        assert user.is_allowed("sagemaker:CreateSpace", _arn(f"space/{DOMAIN_ID}/my-space"))
        assert user.is_allowed("sagemaker:CreateApp", _arn(f"app/{DOMAIN_ID}/my-space/jupyterlab/default"))
        assert not user.is_allowed("sagemaker:CreateApp", _arn("app/d-other/my-space/jupyterlab/default"))
        assert not user.is_allowed("sagemaker:CreateUserProfile", _arn(f"user-profile/{DOMAIN_ID}/someone"))
        assert not user.is_allowed("sagemaker:UpdateDomain", _arn(f"domain/{DOMAIN_ID}"))
        # Studio gives no one the approval: that stays with the approver's own policy and tag.
        assert not user.is_allowed("sagemaker:UpdateModelPackage", _arn("model-package/churn/1"))


# --- the network it creates -----------------------------------------------------------------------


def test_vpc_has_isolated_subnets_only_and_no_way_to_the_internet(
    studio: Template, default_config: PlatformConfig
) -> None:
    created = default_config.studio.network.create
    assert created is not None
    (vpc,) = of_type(studio, "AWS::EC2::VPC").values()
    assert vpc["Properties"]["CidrBlock"] == created.cidr == "10.40.0.0/16"
    subnets = of_type(studio, "AWS::EC2::Subnet")
    assert set(subnets) == set(SUBNETS)
    assert len(subnets) == created.max_azs
    for subnet in subnets.values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
        assert {"Key": "aws-cdk:subnet-type", "Value": "Isolated"} in subnet["Properties"]["Tags"]
    for resource_type in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP", "AWS::EC2::Route"):
        assert of_type(studio, resource_type) == {}, resource_type


def test_nothing_is_looked_up_at_synth(synthesized: Synthesized, studio: Template) -> None:
    """Zones come from Fn::GetAZs at deploy time, so synth needs no AWS account."""
    assert missing_context(synthesized.assembly) is None
    zones = [subnet["Properties"]["AvailabilityZone"] for subnet in of_type(studio, "AWS::EC2::Subnet").values()]
    assert zones == [{"Fn::Select": [index, {"Fn::GetAZs": ""}]} for index in range(2)]


def _service(name: Any) -> str:
    if isinstance(name, str):
        return name.removeprefix(f"com.amazonaws.{REGION}.")
    separator, parts = name["Fn::Join"]
    assert (separator, parts[:2]) == ("", ["com.amazonaws.", {"Ref": "AWS::Region"}])
    return parts[2].removeprefix(".")


def test_interface_endpoints_for_studio_pipelines_and_registry(studio: Template) -> None:
    endpoints = [e["Properties"] for e in of_type(studio, "AWS::EC2::VPCEndpoint").values()]
    interface = [e for e in endpoints if e.get("VpcEndpointType", "Interface") == "Interface"]
    assert {_service(e["ServiceName"]) for e in interface} == ENDPOINT_SERVICES
    assert len(interface) == len(INTERFACE_ENDPOINTS) == len(ENDPOINT_SERVICES)
    for endpoint in interface:
        assert endpoint["PrivateDnsEnabled"] is True
        assert endpoint["SubnetIds"] == [{"Ref": subnet} for subnet in SUBNETS]
        assert endpoint["SecurityGroupIds"] == [{"Fn::GetAtt": [ENDPOINTS_SECURITY_GROUP, "GroupId"]}]


def test_s3_has_a_gateway_endpoint_on_every_route_table(studio: Template) -> None:
    endpoints = [e["Properties"] for e in of_type(studio, "AWS::EC2::VPCEndpoint").values()]
    (gateway,) = [e for e in endpoints if e.get("VpcEndpointType") == "Gateway"]
    assert _service(gateway["ServiceName"]) == "s3"
    assert sorted(ref["Ref"] for ref in gateway["RouteTableIds"]) == sorted(of_type(studio, "AWS::EC2::RouteTable"))


def test_flow_logs_go_to_an_encrypted_retained_log_group(studio: Template) -> None:
    (flow_log,) = of_type(studio, "AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["ResourceId"] == {"Ref": VPC}
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert flow_log["Properties"]["LogGroupName"] == {"Ref": "StudioNetworkFlowLogsB1013FF9"}
    log_group = resource(studio, "StudioNetworkFlowLogsB1013FF9")["Properties"]
    assert log_group["KmsKeyId"] == KEY_IMPORT
    assert log_group["RetentionInDays"] == 365


def _rules(template: Template, resource_type: str, group: str) -> list[dict[str, Any]]:
    return [
        {key: value for key, value in rule["Properties"].items() if key not in ("Description", "GroupId")}
        for rule in of_type(template, resource_type).values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]


def test_studio_apps_talk_https_out_and_nfs_and_app_ports_among_themselves(studio: Template) -> None:
    own = {"Fn::GetAtt": [SECURITY_GROUP, "GroupId"]}
    group = resource(studio, SECURITY_GROUP)["Properties"]
    assert [{k: v for k, v in rule.items() if k != "Description"} for rule in group["SecurityGroupEgress"]] == [
        {"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}
    ]
    assert "SecurityGroupIngress" not in group
    among_apps = [
        {"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049},
        {"IpProtocol": "tcp", "FromPort": 8192, "ToPort": 65535},
    ]
    ingress = _rules(studio, "AWS::EC2::SecurityGroupIngress", SECURITY_GROUP)
    egress = _rules(studio, "AWS::EC2::SecurityGroupEgress", SECURITY_GROUP)
    assert sorted(ingress, key=str) == sorted(({"SourceSecurityGroupId": own} | ports for ports in among_apps), key=str)
    assert sorted(egress, key=str) == sorted(
        ({"DestinationSecurityGroupId": own} | ports for ports in among_apps), key=str
    )


def test_endpoints_accept_https_from_studio_apps_only(studio: Template) -> None:
    group = resource(studio, ENDPOINTS_SECURITY_GROUP)["Properties"]
    assert "SecurityGroupIngress" not in group
    assert _rules(studio, "AWS::EC2::SecurityGroupIngress", ENDPOINTS_SECURITY_GROUP) == [
        {
            "SourceSecurityGroupId": {"Fn::GetAtt": [SECURITY_GROUP, "GroupId"]},
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
        }
    ]
    # No egress: the CDK's placeholder rule that matches no traffic.
    assert [rule["CidrIp"] for rule in group["SecurityGroupEgress"]] == ["255.255.255.255/32"]


def test_outputs_name_the_domain_its_url_home_volume_and_vpc(studio: Template) -> None:
    outputs = studio.find_outputs("*")
    assert {name: output["Value"] for name, output in outputs.items()} == {
        "DomainId": {"Fn::GetAtt": [DOMAIN, "DomainId"]},
        "DomainUrl": {"Fn::GetAtt": [DOMAIN, "Url"]},
        "HomeEfsFileSystemId": {"Fn::GetAtt": [DOMAIN, "HomeEfsFileSystemId"]},
        "VpcId": {"Ref": VPC},
    }


def test_studio_is_off_unless_configured(any_model: Synthesized) -> None:
    assert any_model.platform.studio is None
    assert not any(stack.stack_name.endswith("-studio") for stack in any_model.assembly.stacks)


# --- an existing network --------------------------------------------------------------------------


def _existing_network(raw: dict[str, Any]) -> None:
    raw["studio"]["network"] = {"vpc_id": EXISTING_VPC, "subnet_ids": EXISTING_SUBNETS}
    raw["studio"]["users"] = [{"name": "ada", "persona": "data_scientist"}]
    no_projects(raw)  # only the studio stack is read


@pytest.fixture(scope="module")
def existing_network(tmp_path_factory: pytest.TempPathFactory) -> Template:
    config = load_config(write_config(tmp_path_factory.mktemp("config"), _existing_network))
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    platform = build_platform(app, config)
    assert platform.studio is not None
    assembly = app.synth()
    assert missing_context(assembly) is None
    return Template.from_json(assembly.get_stack_by_name(platform.studio.stack_name).template)


def test_an_existing_network_is_used_as_given(existing_network: Template) -> None:
    domain = resource(existing_network, DOMAIN)["Properties"]
    assert domain["VpcId"] == EXISTING_VPC
    assert domain["SubnetIds"] == EXISTING_SUBNETS
    assert resource(existing_network, SECURITY_GROUP)["Properties"]["VpcId"] == EXISTING_VPC
    for resource_type in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::VPCEndpoint", "AWS::EC2::FlowLog"):
        assert of_type(existing_network, resource_type) == {}, resource_type
    assert "VpcId" not in existing_network.find_outputs("*")


def test_with_only_data_scientists_the_approver_role_is_left_alone(existing_network: Template) -> None:
    (profile,) = of_type(existing_network, "AWS::SageMaker::UserProfile").values()
    assert profile["Properties"]["UserProfileName"] == "ada"
    (policy,) = of_type(existing_network, "AWS::IAM::ManagedPolicy").values()
    assert "PersonasDataScientist" in policy["Properties"]["Roles"][0]["Fn::ImportValue"]


# --- configuration errors -------------------------------------------------------------------------


def _network(network: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw["studio"]["network"] = network

    return mutate


def _users(users: list[dict[str, str]]) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw["studio"]["users"] = users

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        pytest.param(
            _network({"vpc_id": EXISTING_VPC, "subnet_ids": EXISTING_SUBNETS, "create": {"cidr": "10.40.0.0/16"}}),
            "studio.network",
            "not both",
            id="both-networks",
        ),
        pytest.param(_network({}), "studio.network", "not both", id="no-network"),
        pytest.param(
            _network({"vpc_id": EXISTING_VPC}), "studio.network", "both vpc_id and subnet_ids", id="no-subnets"
        ),
        pytest.param(
            _network({"create": {"cidr": "10.40.0.0/8"}}), "studio.network.create.cidr", "pattern", id="huge-cidr"
        ),
        pytest.param(
            _users([{"name": "ada", "persona": "data_scientist"}, {"name": "Ada", "persona": "model_approver"}]),
            "studio.users",
            "duplicate user profile names: ada",
            id="duplicate-users",
        ),
        pytest.param(
            _users([{"name": "ada", "persona": "admin"}]), "studio.users[0].persona", "Input should be", id="persona"
        ),
    ],
)
def test_invalid_studio_config_names_file_and_field(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, mutate))
    assert f"platform.yaml: {field}: " in str(error.value)
    assert reason in str(error.value)


def test_shared_spaces_run_as_the_data_scientist_inside_the_studio_security_group(
    synthesized: Synthesized,
) -> None:
    assert synthesized.platform.studio is not None
    template = synthesized.template(synthesized.platform.studio)
    [domain] = template.find_resources("AWS::SageMaker::Domain").values()
    settings = domain["Properties"]
    assert settings["DefaultSpaceSettings"]["ExecutionRole"] == settings["DefaultUserSettings"]["ExecutionRole"]
    assert settings["DefaultSpaceSettings"]["SecurityGroups"] == settings["DefaultUserSettings"]["SecurityGroups"]
