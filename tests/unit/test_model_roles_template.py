"""The roles of a project-created model in a stage account: the rendered roles template its product's
StackSet deploys (mlops_constructs/target/render.py), and the target stack's provisioner role the StackSet
runs as and the parameters the template reads (mlops_constructs/target/provisioner.py).

config/examples/several-accounts.yaml with SageMaker Projects enabled; each stage's template is rendered
once for the module (rendering runs the compliance packs: any unacknowledged finding fails it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Tags
from aws_cdk.assertions import Template

from config import PlatformConfig, load_config
from lambdas.common.contracts import (
    MODEL_NAME_PARAMETER,
    MODEL_NAME_PATTERN,
    PLATFORM_TAG,
    STAGES,
    Stage,
    roles_provisioner_role_name,
    serving_parameter_name,
)
from mlops_constructs.compliance import add_compliance_checks
from mlops_constructs.target.model_roles import STAGE_ROLE_KINDS
from mlops_constructs.target.provisioner import ROLE_WRITE_ACTIONS
from mlops_constructs.target.render import (
    TEMPLATE_BODY_MAX_BYTES,
    model_roles_template_body,
    render_model_roles_template,
)
from mlops_constructs.target.roles_template import BOUNDARY_ARN_PARAMETER, KEY_ARN_PARAMETER
from mlops_constructs.target_account import BOOTSTRAP_QUALIFIER_CONTEXT, record_preprocessor_url
from stacks.target_stack import TargetStack, build_targets
from tests.conftest import ROOT, cdk_json_context, lint_for
from tests.iam_evaluation import Principal, role_principal
from tests.template_lint import TemplateLint

SEVERAL_ACCOUNTS = ROOT / "config" / "examples" / "several-accounts.yaml"
TOOLING, REGION = "123456789012", "eu-west-1"
ACCOUNT_OF: dict[Stage, str] = {"staging": "222222222222", "production": "333333333333"}
MODEL, UNLIKELY = "churn", "unlikely-name"


def _with_projects(enabled: bool = True) -> PlatformConfig:
    config = load_config(SEVERAL_ACCOUNTS)
    return config.model_copy(update={"projects": config.projects.model_copy(update={"enabled": enabled})})


class Rendered:
    def __init__(self, tmp: Path) -> None:
        self.config = _with_projects()
        self.app = App(context=cdk_json_context(), outdir=str(tmp))
        Tags.of(self.app).add(PLATFORM_TAG, self.config.name)  # as stacks/platform.py does
        add_compliance_checks(self.app)
        self.stacks: dict[Stage, TargetStack] = build_targets(dict.fromkeys(STAGES, self.app), self.config)
        assembly = self.app.synth()
        self.targets = {
            stage: assembly.get_stack_by_name(stack.stack_name).template for stage, stack in self.stacks.items()
        }
        model = self.config.models[0].model_copy(update={"name": UNLIKELY})
        self.templates = {
            stage: render_model_roles_template(account=stack.serving_account, model=model, context=cdk_json_context())
            for stage, stack in self.stacks.items()
        }
        # As cfn-lint reads them.
        self.template_files = []
        (tmp / "rendered").mkdir()
        for stage, template in self.templates.items():
            path = tmp / "rendered" / f"{stage}.roles.template.json"
            path.write_text(json.dumps(template))
            self.template_files.append(path)


@pytest.fixture(scope="session")  # kept for its cfn-lint test, which runs last (marked background)
def rendered(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Rendered:
    rendered = Rendered(tmp_path_factory.mktemp("roles-template.out"))
    lint_for(request, "test_the_rendered_templates_pass_cfn_lint", rendered.template_files)
    return rendered


def _resolve(node: Any, values: dict[str, Any]) -> Any:
    """`node` with the references in `values` (logical id -> value) written out and joins of strings joined."""
    if isinstance(node, list):
        return [_resolve(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in values:
        return values[node["Fn::GetAtt"][0]]
    resolved = {key: _resolve(value, values) for key, value in node.items()}
    if set(resolved) == {"Fn::Sub"} and isinstance(resolved["Fn::Sub"], list):
        text, variables = resolved["Fn::Sub"]
        if all(isinstance(value, str) for value in variables.values()):
            for name, value in variables.items():
                text = text.replace(f"${{{name}}}", value)
            return text
    if set(resolved) == {"Fn::Join"}:
        separator, parts = resolved["Fn::Join"]
        if all(isinstance(part, str) for part in parts):
            return separator.join(parts)
    return resolved


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _roles(template: dict[str, Any], values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each role by name: its trust, description, boundary and statements (inline and managed, by Sid or
    actions), with `values` written out and references to resources of the template left as they are."""
    resources = template["Resources"]
    values = values | {  # the template's roles by name, whatever their logical ids
        logical_id: "role/" + _resolve(resource["Properties"]["RoleName"], values)
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    roles = {}
    for role_id, role in resources.items():
        if role["Type"] != "AWS::IAM::Role":
            continue
        properties = _resolve(role["Properties"], values)
        properties["RoleName"] = properties["RoleName"].removeprefix("role/")
        statements = []
        for resource in resources.values():
            if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy") and {"Ref": role_id} in resource[
                "Properties"
            ].get("Roles", []):
                statements += _resolve(resource["Properties"]["PolicyDocument"]["Statement"], values)
        roles[properties["RoleName"]] = {
            "trust": properties["AssumeRolePolicyDocument"],
            "description": properties.get("Description"),
            "tags": properties.get("Tags"),
            "statements": sorted(
                (json.dumps(statement.get("Sid")), json.dumps(statement["Action"]), statement["Effect"])
                for statement in statements
            ),
            # CDK orders literal resources before references: the same set, in another order.
            "resources": sorted(
                json.dumps(sorted(json.dumps(each) for each in _as_list(statement.get("Resource"))))
                for statement in statements
            ),
            "conditions": sorted(json.dumps(statement.get("Condition")) for statement in statements),
        }
    return roles


# --- the rendered template ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_model_is_named_by_its_parameter_only(rendered: Rendered, stage: Stage) -> None:
    template = rendered.templates[stage]
    assert UNLIKELY not in json.dumps(template)
    parameter = template["Parameters"][MODEL_NAME_PARAMETER]
    assert parameter["Type"] == "String"
    assert parameter["AllowedPattern"] == f"^{MODEL_NAME_PATTERN}$"
    assert parameter["MaxLength"] == 32


@pytest.mark.parametrize("stage", STAGES)
def test_the_key_and_the_boundary_come_from_the_target_stacks_parameters(rendered: Rendered, stage: Stage) -> None:
    parameters = rendered.templates[stage]["Parameters"]
    for name, key in ((KEY_ARN_PARAMETER, "key-arn"), (BOUNDARY_ARN_PARAMETER, "boundary-arn")):
        assert parameters[name]["Type"] == "AWS::SSM::Parameter::Value<String>"
        assert parameters[name]["Default"] == serving_parameter_name("mlops", key)  # type: ignore[arg-type]
    roles = Template.from_json(rendered.templates[stage]).find_resources("AWS::IAM::Role")
    assert roles
    assert all(role["Properties"]["PermissionsBoundary"] == {"Ref": BOUNDARY_ARN_PARAMETER} for role in roles.values())
    assert set(Template.from_json(rendered.templates[stage]).find_resources("AWS::IAM::Role")) == set(roles)
    types = {resource["Type"] for resource in rendered.templates[stage]["Resources"].values()}
    assert types == {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}


@pytest.mark.parametrize("stage", STAGES)
def test_its_roles_are_the_config_paths_for_the_same_model(rendered: Rendered, stage: Stage) -> None:
    """Equal after writing out the model's name, the partition, and the key's and the bucket's ARNs (the
    target stack's own resources; the template's key parameter and imported bucket). A reference left in
    either would make them differ."""
    target = rendered.targets[stage]
    key, bucket = "arn:aws:kms:key/serving", f"arn:aws:s3:::{rendered.stacks[stage].serving_account.bucket_name}"
    (key_id,) = Template.from_json(target).find_resources("AWS::KMS::Key")
    bucket_id = rendered.stacks[stage].get_logical_id(rendered.stacks[stage].serving_bucket.node.default_child)  # type: ignore[arg-type]
    config_roles = {
        name: role
        for name, role in _roles(target, {"AWS::Partition": "aws", key_id: key, bucket_id: bucket}).items()
        if f"-{MODEL}-" in name
    }
    project_roles = _roles(
        rendered.templates[stage],
        {"AWS::Partition": "aws", MODEL_NAME_PARAMETER: MODEL, KEY_ARN_PARAMETER: key},
    )
    assert set(project_roles) == set(config_roles)
    assert len(project_roles) == (6 if stage == "production" else 4)
    for name, role in project_roles.items():
        assert role == config_roles[name], name


def test_the_monitoring_role_reads_the_record_preprocessor_of_the_apps_bootstrap_qualifier(rendered: Rendered) -> None:
    account = rendered.stacks["production"].serving_account
    model = rendered.config.models[0]
    context = cdk_json_context() | {BOOTSTRAP_QUALIFIER_CONTEXT: "custom123"}
    template = render_model_roles_template(account=account, model=model, context=context)
    (statement,) = [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "ReadTheRecordPreprocessor"
    ]
    url = record_preprocessor_url(account, qualifier="custom123")
    assert url.startswith(f"s3://cdk-custom123-assets-{ACCOUNT_OF['production']}-{REGION}/")
    assert _resolve(statement["Resource"], {"AWS::Partition": "aws"}) == "arn:aws:s3:::" + url.removeprefix("s3://")


@pytest.mark.parametrize("stage", STAGES)
def test_the_template_fits_a_stack_sets_template_body(rendered: Rendered, stage: Stage) -> None:
    body = model_roles_template_body(rendered.templates[stage])
    assert json.loads(body) == rendered.templates[stage]
    assert len(body.encode()) < TEMPLATE_BODY_MAX_BYTES


def test_a_template_too_large_for_a_body_is_refused() -> None:
    with pytest.raises(ValueError, match="over a TemplateBody"):
        model_roles_template_body({"Description": "x" * TEMPLATE_BODY_MAX_BYTES})


@pytest.mark.background
def test_the_rendered_templates_pass_cfn_lint(rendered: Rendered, template_lint: TemplateLint) -> None:
    assert [json.loads(path.read_text()) for path in rendered.template_files] == list(rendered.templates.values())
    findings = template_lint.findings(rendered.template_files)
    assert findings == [], "\n\n".join(findings)


# --- the provisioner role and the published parameters -----------------------------------------------------


@dataclass
class _Provisioner:
    """The provisioner role as IAM sees its requests: `aws:PrincipalArn` is always its own ARN."""

    principal: Principal
    arn: str

    @property
    def boundary_statements(self) -> list[dict[str, Any]] | None:
        return self.principal.boundary_statements

    def is_allowed(self, action: str, resource: str = "*", **context: str) -> bool:
        return self.principal.is_allowed(action, resource, **({"aws:PrincipalArn": self.arn} | context))


def _provisioner(rendered: Rendered, stage: Stage) -> tuple[dict[str, Any], _Provisioner, str]:
    template = rendered.targets[stage]
    name = roles_provisioner_role_name("mlops", stage)
    (role_id,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role" and resource["Properties"]["RoleName"] == name
    ]
    boundary_id = template["Resources"][role_id]["Properties"]["PermissionsBoundary"]["Ref"]
    boundary_arn = f"arn:aws:iam::{ACCOUNT_OF[stage]}:policy/boundary"
    parameters = {
        logical_id: resource["Properties"]["Name"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SSM::Parameter"
    }
    resolved = _resolve(template, {"AWS::Partition": "aws", boundary_id: boundary_arn} | parameters)
    resolved["Resources"][role_id]["Properties"]["PermissionsBoundary"] = {"Ref": boundary_id}
    principal = _Provisioner(role_principal(Template.from_json(resolved), role_id), _role_arn(stage, name))
    return template["Resources"][role_id]["Properties"], principal, boundary_arn


def _role_arn(stage: Stage, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_OF[stage]}:role/{name}"


def test_no_provisioner_without_projects() -> None:
    config = _with_projects(enabled=False)
    stacks = build_targets(dict.fromkeys(STAGES, App(context=cdk_json_context())), config)
    assert all(stack.roles_provisioner is None for stack in stacks.values())


@pytest.mark.parametrize("stage", STAGES)
def test_the_provisioner_is_trusted_by_the_stack_set_administration_role_only(rendered: Rendered, stage: Stage) -> None:
    role, _, _ = _provisioner(rendered, stage)
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{TOOLING}:role/mlops-stacksets-admin"}},
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{TOOLING}:root"},
        }
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_the_provisioner_creates_roles_only_with_the_boundary(rendered: Rendered, stage: Stage) -> None:
    _, provisioner, boundary = _provisioner(rendered, stage)
    code = {"staging": "stg", "production": "prd"}[stage]
    role = _role_arn(stage, f"mlops-fraud-{code}-serve")
    with_boundary = {"iam:PermissionsBoundary": boundary}
    assert provisioner.is_allowed("iam:CreateRole", role, **with_boundary)
    assert not provisioner.is_allowed("iam:CreateRole", role)
    assert not provisioner.is_allowed(
        "iam:CreateRole", role, **{"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT_OF[stage]}:policy/Other"}
    )
    assert not provisioner.is_allowed("iam:CreateRole", _role_arn(stage, "other-x"), **with_boundary)
    assert not provisioner.is_allowed("iam:CreateRole", _role_arn(stage, roles_provisioner_role_name("mlops", stage)))
    assert not provisioner.is_allowed("iam:CreateRole", _role_arn(stage, f"mlops-{code}-events"), **with_boundary)
    other_stage = {"staging": "prd", "production": "stg"}[stage]
    assert not provisioner.is_allowed(
        "iam:CreateRole", _role_arn(stage, f"mlops-fraud-{other_stage}-serve"), **with_boundary
    )
    # Never as an approver, never removing a boundary.
    assert not provisioner.is_allowed(
        "iam:CreateRole", role, **with_boundary, **{"aws:RequestTag/mlops:model-approver": "true"}
    )
    assert not provisioner.is_allowed("iam:TagRole", role, **{"aws:RequestTag/mlops:model-approver": "true"})
    assert provisioner.is_allowed("iam:TagRole", role, **{"aws:RequestTag/mlops:platform": "mlops"})
    assert not provisioner.is_allowed("iam:DeleteRolePermissionsBoundary", role, **with_boundary)
    assert provisioner.is_allowed("iam:PutRolePermissionsBoundary", role, **with_boundary)
    assert not provisioner.is_allowed("iam:PutRolePermissionsBoundary", role)
    assert provisioner.is_allowed("iam:PutRolePolicy", role, **with_boundary)
    assert not provisioner.is_allowed("iam:PutRolePolicy", role)


@pytest.mark.parametrize("stage", STAGES)
def test_the_provisioner_manages_only_the_stack_sets_policies_and_stacks(rendered: Rendered, stage: Stage) -> None:
    _, provisioner, boundary = _provisioner(rendered, stage)
    account = ACCOUNT_OF[stage]
    code = {"staging": "stg", "production": "prd"}[stage]
    role = _role_arn(stage, f"mlops-fraud-{code}-serve")
    ours = f"arn:aws:iam::{account}:policy/StackSet-mlops-fraud-{code}-roles-1a2b-ModelServingPolicy-XYZ"
    for action in ("iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:DeletePolicy"):
        assert provisioner.is_allowed(action, ours), action
        assert not provisioner.is_allowed(action, f"arn:aws:iam::{account}:policy/mlops-target-{stage}-Boundary"), (
            action
        )
    with_boundary = {"iam:PermissionsBoundary": boundary}
    assert provisioner.is_allowed("iam:AttachRolePolicy", role, **with_boundary, **{"iam:PolicyARN": ours})
    assert not provisioner.is_allowed(
        "iam:AttachRolePolicy",
        role,
        **with_boundary,
        **{"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    assert not provisioner.is_allowed("iam:AttachRolePolicy", role, **{"iam:PolicyARN": ours})
    instance = f"arn:aws:cloudformation:{REGION}:{account}:stack/StackSet-mlops-fraud-{code}-roles-1a2b/0f0e"
    assert provisioner.is_allowed("cloudformation:CreateStack", instance)
    assert not provisioner.is_allowed(
        "cloudformation:CreateStack", f"arn:aws:cloudformation:{REGION}:{account}:stack/mlops-target-{stage}/0f0e"
    )
    assert not provisioner.is_allowed("iam:CreateUser", f"arn:aws:iam::{account}:user/mlops-x-{code}-y")
    assert not provisioner.is_allowed("iam:PassRole", role)
    assert not provisioner.is_allowed("sts:AssumeRole", role)


@pytest.mark.parametrize("stage", STAGES)
def test_the_provisioner_never_touches_the_target_stacks_roles(rendered: Rendered, stage: Stage) -> None:
    """The config models' roles match its pattern (`mlops-churn-prd-deploy`); a project's model's do too."""
    _, provisioner, boundary = _provisioner(rendered, stage)
    code = {"staging": "stg", "production": "prd"}[stage]
    with_boundary = {"iam:PermissionsBoundary": boundary}
    assert [model.name for model in rendered.config.models] == [MODEL]
    config_roles = [_role_arn(stage, f"mlops-{MODEL}-{code}-{kind}") for kind in STAGE_ROLE_KINDS[stage]]
    others = [_role_arn(stage, f"mlops-{code}-events"), _role_arn(stage, roles_provisioner_role_name("mlops", stage))]
    for role in config_roles + others:
        for action in ROLE_WRITE_ACTIONS:
            assert not provisioner.is_allowed(action, role, **with_boundary), (action, role)
            assert not provisioner.is_allowed(
                action,
                role,
                **with_boundary,
                **{"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT_OF[stage]}:policy/StackSet-mlops-x"},
            ), (action, role)
    # Reading them is harmless; a project's model's roles of the same kinds it creates and changes.
    assert provisioner.is_allowed("iam:GetRole", _role_arn(stage, f"mlops-{MODEL}-{code}-deploy"))
    fraud = _role_arn(stage, f"mlops-fraud-{code}-deploy")
    assert provisioner.is_allowed("iam:CreateRole", fraud, **with_boundary)
    assert provisioner.is_allowed("iam:UpdateAssumeRolePolicy", fraud)
    assert provisioner.is_allowed("iam:DeleteRole", fraud)
    # `churn`'s roles only: a model whose name extends it is a project's.
    assert provisioner.is_allowed(
        "iam:CreateRole", _role_arn(stage, f"mlops-{MODEL}-v2-{code}-deploy"), **with_boundary
    )


@pytest.mark.parametrize("stage", STAGES)
def test_the_serving_parameters_hold_the_key_and_the_boundary(rendered: Rendered, stage: Stage) -> None:
    template = Template.from_json(rendered.targets[stage])
    parameters = {
        resource["Properties"]["Name"]: resource["Properties"]["Value"]
        for resource in template.find_resources("AWS::SSM::Parameter").values()
    }
    (key_id,) = template.find_resources("AWS::KMS::Key")
    role, _, _ = _provisioner(rendered, stage)
    assert parameters == {
        serving_parameter_name("mlops", "key-arn"): {"Fn::GetAtt": [key_id, "Arn"]},
        serving_parameter_name("mlops", "boundary-arn"): role["PermissionsBoundary"],
    }
    _, provisioner, _ = _provisioner(rendered, stage)
    for name in parameters:
        arn = f"arn:aws:ssm:{REGION}:{ACCOUNT_OF[stage]}:parameter{name}"
        assert provisioner.is_allowed("ssm:GetParameters", arn)
        assert not provisioner.is_allowed("ssm:PutParameter", arn)


@pytest.mark.parametrize("stage", STAGES)
def test_the_boundary_still_guards_every_role_but_the_provisioner(rendered: Rendered, stage: Stage) -> None:
    """The provisioner tags the roles it creates and writes its policies' versions; no other role may."""
    _, provisioner, _ = _provisioner(rendered, stage)
    boundary = provisioner.boundary_statements
    assert boundary is not None
    code = {"staging": "stg", "production": "prd"}[stage]
    role = _role_arn(stage, f"mlops-fraud-{code}-serve")
    anything = Principal(
        identity_statements=[{"Effect": "Allow", "Action": "*", "Resource": "*"}], boundary_statements=boundary
    )
    provisioner_arn = {"aws:PrincipalArn": _role_arn(stage, roles_provisioner_role_name("mlops", stage))}
    for action in ("iam:TagRole", "iam:CreatePolicyVersion", "iam:PutRolePermissionsBoundary"):
        assert not anything.is_allowed(
            action, role, **{"aws:PrincipalArn": _role_arn(stage, f"mlops-{MODEL}-{code}-ops")}
        )
        assert anything.is_allowed(action, role, **provisioner_arn)
    assert provisioner.is_allowed("iam:TagRole", role, **provisioner_arn)
    assert provisioner.is_allowed(
        "iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT_OF[stage]}:policy/StackSet-mlops-x", **provisioner_arn
    )
