"""Several accounts, seen from the tooling account: staging and production serve in accounts of their own
(config/examples/several-accounts.yaml), and what the tooling account's stacks do about it.

- every stack lands in its account; the deploy pipeline's CloudFormation actions assume the stage
  accounts' deploy roles and hand CloudFormation their execution roles; the templates get those
  accounts' roles, key, bucket and topic;
- the checks, the champion resolution, the drift alert and the traffic shift reach a stage only through
  its operations role (named roles, which the target accounts trust by name), and the pipeline may
  assume exactly its two deploy roles;
- the registry groups, the data bucket and the platform key grant the target accounts' roles exactly
  what serving needs, and nothing lets them change a package's approval;
- the production account's alarms and monitoring runs reach the drift alert: the tooling bus admits
  the stage accounts' forwarders only, and the drift alert's rules match production's account.

The target stacks themselves are tested in tests/unit/test_target_stack.py.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from config.schema import PlatformConfig
from lambdas.common.contracts import SERVING_ROLE_ARN_ENV
from tests.conftest import Synthesized, load_config, write_config
from tests.iam_evaluation import Principal

TOOLING, STAGING, PRODUCTION, REGION = "123456789012", "222222222222", "333333333333", "eu-west-1"


def arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


STG_DEPLOY, STG_CFN = arn(STAGING, "mlops-churn-stg-deploy"), arn(STAGING, "mlops-churn-stg-cfn")
PRD_DEPLOY, PRD_CFN = arn(PRODUCTION, "mlops-churn-prd-deploy"), arn(PRODUCTION, "mlops-churn-prd-cfn")
STG_OPS, PRD_OPS = arn(STAGING, "mlops-churn-stg-ops"), arn(PRODUCTION, "mlops-churn-prd-ops")
STG_SERVE, PRD_SERVE = arn(STAGING, "mlops-churn-stg-serve"), arn(PRODUCTION, "mlops-churn-prd-serve")
PRD_MON = arn(PRODUCTION, "mlops-churn-prd-mon")
PRD_STEER = arn(PRODUCTION, "mlops-churn-prd-steer")


def resolved(value: Any) -> Any:
    """The template with the partition resolved (aws) and the joins that become plain strings joined."""
    if isinstance(value, dict):
        if value == {"Ref": "AWS::Partition"}:
            return "aws"
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            parts = [resolved(part) for part in parts]
            return separator.join(parts) if all(isinstance(p, str) for p in parts) else {"Fn::Join": [separator, parts]}
        return {key: resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item) for item in value]
    return value


def template_of(synthesized: Synthesized, stack_name: str) -> dict[str, Any]:
    return resolved(synthesized.assembly.get_stack_by_name(stack_name).template)


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def role_named(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, role)] = [
        (k, v) for k, v in of_type(template, "AWS::IAM::Role").items() if v["Properties"].get("RoleName") == name
    ]
    return logical_id, role


def identity(template: dict[str, Any], logical_id: str) -> Principal:
    """The role's statements (inline and attached policies); boundaries are tested with the target stacks."""
    role = template["Resources"][logical_id]["Properties"]
    statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    for resource in template["Resources"].values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": logical_id} in resource[
            "Properties"
        ].get("Roles", []):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return Principal(identity_statements=statements, boundary_statements=None)


@pytest.fixture(scope="module")
def deploy(several_accounts: Synthesized) -> dict[str, Any]:
    return template_of(several_accounts, "mlops-churn-deploy")


def test_every_stack_lands_in_its_account(several_accounts: Synthesized) -> None:
    accounts = {stack.stack_name: stack.environment.account for stack in several_accounts.assembly.stacks}
    assert accounts.pop("mlops-target-staging") == STAGING
    assert accounts.pop("mlops-target-production") == PRODUCTION
    assert set(accounts.values()) == {TOOLING}
    assert "mlops-churn-deploy" in accounts
    assert "mlops-governance" in accounts


def _actions(deploy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The deploy pipeline's actions by name (a product's template holds the build pipeline too)."""
    [actions] = [
        found
        for pipeline in of_type(deploy, "AWS::CodePipeline::Pipeline").values()
        if "DeployStaging" in (found := {a["Name"]: a for s in pipeline["Properties"]["Stages"] for a in s["Actions"]})
    ]
    return actions


@pytest.mark.parametrize(
    ("action", "account", "deploy_role", "execution_role", "stack"),
    [
        ("DeployStaging", STAGING, STG_DEPLOY, STG_CFN, "mlops-churn-staging"),
        ("DeployProduction", PRODUCTION, PRD_DEPLOY, PRD_CFN, "mlops-churn-production"),
    ],
)
def test_each_stage_is_deployed_in_its_account_with_its_roles(
    deploy: dict[str, Any], action: str, account: str, deploy_role: str, execution_role: str, stack: str
) -> None:
    deployment = _actions(deploy)[action]
    assert deployment["RoleArn"] == deploy_role
    assert deployment["Configuration"]["RoleArn"] == execution_role
    assert deployment["Configuration"]["StackName"] == stack
    # Staging's stack may be replaced after a failed first deployment (its deploy role may delete it).
    assert deployment["Configuration"]["ActionMode"] == (
        "REPLACE_ON_FAILURE" if action == "DeployStaging" else "CREATE_UPDATE"
    )


def _overrides(deploy: dict[str, Any], action: str) -> dict[str, Any]:
    text = _actions(deploy)[action]["Configuration"]["ParameterOverrides"]
    if isinstance(text, dict):  # a join around the model's pipeline variables only
        text = "".join(part if isinstance(part, str) else "?" for part in text["Fn::Join"][1])
    return json.loads(text)


def test_the_templates_get_the_stage_accounts_roles_key_bucket_and_topic(deploy: dict[str, Any]) -> None:
    staging = _overrides(deploy, "DeployStaging")
    assert staging["ExecutionRoleArn"] == STG_SERVE
    assert staging["AlertTopicArn"] == f"arn:aws:sns:{REGION}:{STAGING}:mlops-staging-alerts"
    production = _overrides(deploy, "DeployProduction")
    bucket = f"s3://mlops-prd-serving-{PRODUCTION}-{REGION}"
    assert {name: production[name] for name in production if not production[name].startswith("#{")} == {
        "ModelName": "churn",
        "InferenceInstanceType": "ml.m5.large",
        "ExecutionRoleArn": PRD_SERVE,
        "KmsKeyArn": f"arn:aws:kms:{REGION}:{PRODUCTION}:alias/mlops/production-serving",
        "DataCaptureS3Uri": f"{bucket}/churn/production",
        "AlertTopicArn": f"arn:aws:sns:{REGION}:{PRODUCTION}:mlops-production-alerts",
        "MonitoringRoleArn": PRD_MON,
        "MonitoringOutputS3Uri": f"{bucket}/churn/monitoring",
        "RecordPreprocessorS3Uri": production["RecordPreprocessorS3Uri"],
    }
    assert production["RecordPreprocessorS3Uri"].startswith(f"s3://cdk-hnb659fds-assets-{PRODUCTION}-{REGION}/")


def test_nothing_of_the_stages_serving_stays_in_the_tooling_account(deploy: dict[str, Any]) -> None:
    """No serving, monitoring or CloudFormation role and no capture bucket here: they are the accounts' own."""
    descriptions = [role["Properties"].get("Description", "") for role in of_type(deploy, "AWS::IAM::Role").values()]
    assert not [
        d for d in descriptions if d.startswith(("Endpoints of", "Model Monitor jobs", "CloudFormation deploys"))
    ]
    buckets = of_type(deploy, "AWS::S3::Bucket")
    assert not [k for k in buckets if k.startswith("DeployDataCapture")]
    assert [k for k in buckets if k.startswith("DeployPipelineArtifacts")]


def test_the_pipeline_may_assume_exactly_its_two_deploy_roles(deploy: dict[str, Any]) -> None:
    logical_id, _ = role_named(deploy, "mlops-churn-pipeline")
    pipeline = identity(deploy, logical_id)
    assert pipeline.is_allowed("sts:AssumeRole", STG_DEPLOY)
    assert pipeline.is_allowed("sts:AssumeRole", PRD_DEPLOY)
    for other in (STG_CFN, PRD_CFN, STG_OPS, PRD_OPS, PRD_SERVE, arn(PRODUCTION, "mlops-fraud-prd-deploy")):
        assert not pipeline.is_allowed("sts:AssumeRole", other), other


@pytest.mark.parametrize(
    ("description_start", "role_name", "operations_role"),
    [
        ("Smoke test of", "mlops-churn-check", STG_OPS),
        ("Reads the current production", "mlops-churn-champion", PRD_OPS),
    ],
)
def test_the_deploy_pipelines_scripts_reach_a_stage_through_its_operations_role_only(
    deploy: dict[str, Any], description_start: str, role_name: str, operations_role: str
) -> None:
    [project] = [
        p["Properties"]
        for p in of_type(deploy, "AWS::CodeBuild::Project").values()
        if p["Properties"]["Description"].startswith(description_start)
    ]
    variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert variables[SERVING_ROLE_ARN_ENV] == operations_role
    logical_id, _ = role_named(deploy, role_name)
    assert project["ServiceRole"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    script = identity(deploy, logical_id)
    assert script.is_allowed("sts:AssumeRole", operations_role)
    assert not script.is_allowed("sts:AssumeRole", PRD_DEPLOY)
    for action, resource in [
        ("sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{REGION}:{TOOLING}:endpoint/mlops-churn-staging"),
        ("sagemaker:DescribeEndpoint", f"arn:aws:sagemaker:{REGION}:{TOOLING}:endpoint/mlops-churn-production"),
    ]:
        assert not script.is_allowed(action, resource)
    # The package (its contract and samples) is read here, in the registry.
    assert script.is_allowed(
        "sagemaker:DescribeModelPackage", f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/churn/3"
    )


@pytest.mark.parametrize(
    ("function", "role_name", "production_role", "other"),
    [
        ("DriftAlert", "mlops-churn-drift", PRD_OPS, PRD_STEER),
        # Only the traffic shift reweights the endpoint: through a role of its own there.
        ("TrafficShift", "mlops-churn-shift", PRD_STEER, PRD_OPS),
    ],
)
def test_the_automation_reaches_production_through_its_role_there_only(
    deploy: dict[str, Any], function: str, role_name: str, production_role: str, other: str
) -> None:
    [properties] = [
        f["Properties"]
        for k, f in of_type(deploy, "AWS::Lambda::Function").items()
        if k.startswith(f"Automation{function}")
    ]
    assert properties["Environment"]["Variables"][SERVING_ROLE_ARN_ENV] == production_role
    logical_id, _ = role_named(deploy, role_name)
    assert properties["Role"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    automation = identity(deploy, logical_id)
    assert automation.is_allowed("sts:AssumeRole", production_role)
    assert not automation.is_allowed("sts:AssumeRole", other)
    assert not automation.is_allowed("sts:AssumeRole", STG_OPS)
    assert not automation.is_allowed("sagemaker:DescribeEndpoint", "*")
    assert not automation.is_allowed("sagemaker:UpdateEndpointWeightsAndCapacities", "*")


def test_production_accounts_alarms_and_runs_reach_the_drift_alert(deploy: dict[str, Any]) -> None:
    rules = {k: v["Properties"] for k, v in of_type(deploy, "AWS::Events::Rule").items()}
    [alarms] = [rule for k, rule in rules.items() if k.startswith("AutomationDriftAlarms")]
    assert alarms["EventPattern"]["account"] == [PRODUCTION]
    assert alarms["EventPattern"]["detail"]["alarmName"] == [
        {"prefix": "mlops-churn-production-drift-"},
        {"prefix": "mlops-churn-production-model-quality-"},
    ]
    [runs] = [rule for k, rule in rules.items() if k.startswith("AutomationClarifyViolations")]
    assert runs["EventPattern"]["account"] == [PRODUCTION]
    assert runs["EventPattern"]["detail"]["MonitoringScheduleArn"] == [
        f"arn:aws:sagemaker:{REGION}:{PRODUCTION}:monitoring-schedule/mlops-churn-production-model-bias",
        f"arn:aws:sagemaker:{REGION}:{PRODUCTION}:monitoring-schedule/mlops-churn-production-model-explainability",
    ]
    # Rules on the default bus, where the production account's forwarder puts its events.
    assert "EventBusName" not in alarms
    assert "EventBusName" not in runs


def test_the_tooling_bus_admits_the_stage_accounts_forwarders_only(several_accounts: Synthesized) -> None:
    governance = template_of(several_accounts, "mlops-governance")
    policies = sorted(
        (p["Properties"] for p in of_type(governance, "AWS::Events::EventBusPolicy").values()),
        key=lambda p: p["StatementId"],
    )
    assert [p["Statement"]["Principal"] for p in policies] == [
        {"AWS": arn(PRODUCTION, "mlops-prd-events")},
        {"AWS": arn(STAGING, "mlops-stg-events")},
    ]
    for policy in policies:
        assert policy["EventBusName"] == "default"
        assert policy["Statement"]["Action"] == "events:PutEvents"
        assert policy["Statement"]["Resource"] == f"arn:aws:events:{REGION}:{TOOLING}:event-bus/default"


def test_the_registry_lets_the_stages_cloudformation_read_packages_and_nothing_more(
    several_accounts: Synthesized,
) -> None:
    build = template_of(several_accounts, "mlops-churn-build")
    [group] = of_type(build, "AWS::SageMaker::ModelPackageGroup").values()
    [statement] = group["Properties"]["ModelPackageGroupPolicy"]["Statement"]
    assert statement["Principal"] == {"AWS": [STG_CFN, PRD_CFN]}
    assert statement["Effect"] == "Allow"
    assert set(statement["Action"]) == {
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
        # A model of another account's package is authorized on the package too.
        "sagemaker:CreateModel",
    }
    assert statement["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package-group/churn",
        f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/churn/*",
    ]


def test_the_data_bucket_lets_the_stages_roles_read_models_and_baselines_only(several_accounts: Synthesized) -> None:
    build = template_of(several_accounts, "mlops-churn-build")
    statements = [
        s
        for policy in of_type(build, "AWS::S3::BucketPolicy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal", {}).get("AWS") in (STG_SERVE, PRD_SERVE, PRD_MON)
    ]
    granted = {
        (s["Principal"]["AWS"], action, resource["Fn::Join"][1][-1] if isinstance(resource, dict) else resource)
        for s in statements
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    assert {action for _, action, _ in granted} == {"s3:GetObject"}
    assert {(who, where) for who, _, where in granted} == {
        (STG_SERVE, "/churn/models/*"),
        (PRD_SERVE, "/churn/models/*"),
        (PRD_MON, "/churn/pipelines/*"),
        (PRD_MON, "/churn/clarify/*"),
    }


def test_the_platform_key_lets_the_stages_roles_decrypt_through_s3_only(several_accounts: Synthesized) -> None:
    """Each stage account's serving, monitoring and deploy roles of the platform (by pattern: a project's
    model is named later), through S3 only; CDK's own grant to the pipelines' deploy roles (their
    artifacts). Nothing but decrypting."""
    governance = template_of(several_accounts, "mlops-governance")
    [key] = of_type(governance, "AWS::KMS::Key").values()
    remote = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if any(_account_of(p) in (STAGING, PRODUCTION) for p in _aws_principals(s))
    ]
    for account, code in ((STAGING, "stg"), (PRODUCTION, "prd")):
        [by_pattern] = [s for s in remote if s["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}]
        assert by_pattern["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
            "ArnLike": {
                "aws:PrincipalArn": [
                    f"arn:aws:iam::{account}:role/mlops-*-{code}-{kind}" for kind in ("serve", "mon", "deploy")
                ]
            },
        }
    [by_cdk] = [s for s in remote if "Condition" not in s]
    assert set(_listed(by_cdk["Principal"]["AWS"])) == {STG_DEPLOY, PRD_DEPLOY}
    for statement in remote:
        assert set(_listed(statement["Action"])) <= {"kms:Decrypt", "kms:DescribeKey"}, statement


def test_no_tooling_grant_lets_a_target_role_change_an_approval(several_accounts: Synthesized) -> None:
    """Resource policies are the only way in from another account: none that names a stage account's
    principal allows an action that changes a package (its approval included)."""
    granted = [
        (principal, action)
        for stack in several_accounts.assembly.stacks
        if stack.environment.account == TOOLING
        for statement in _resource_statements(resolved(stack.template))
        for principal in _aws_principals(statement)
        if _account_of(principal) in (STAGING, PRODUCTION)
        for action in _listed(statement["Action"])
    ]
    assert granted  # the grants exist
    for changing in ("sagemaker:UpdateModelPackage", "sagemaker:CreateModelPackage", "sagemaker:DeleteModelPackage"):
        assert not [grant for grant in granted if fnmatchcase(changing.lower(), grant[1].lower())], changing


def _aws_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal", {})
    if not isinstance(principal, dict):  # "*"
        return [principal]
    return [p for p in _listed(principal.get("AWS", [])) if isinstance(p, str)]


def _account_of(principal: str) -> str:
    parts = principal.split(":")
    return principal if principal.isdigit() else parts[4] if len(parts) > 4 else ""


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of every resource policy of a template (bucket, key, group, bus)."""
    found: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Events::EventBusPolicy":
            found.append(properties["Statement"])
        for key in ("PolicyDocument", "KeyPolicy", "ModelPackageGroupPolicy"):
            document = properties.get(key)
            if isinstance(document, dict) and resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                found += [s for s in document.get("Statement", []) if "Principal" in s]
    return found


def test_several_accounts_refuse_a_batch_model(tmp_path: Any, default_config: PlatformConfig) -> None:
    from config.loader import ConfigError

    def batch_in_other_accounts(raw: dict[str, Any]) -> None:
        raw["environment"]["deployment_accounts"] = {"production": PRODUCTION}
        raw["projects"]["enabled"] = False
        churn = raw["models"][0]
        churn["serving"] = {"mode": "batch", "batch": {"schedule_expression": "cron(0 2 * * ? *)"}}
        for realtime_only in ("variants", "traffic_shift"):
            churn.pop(realtime_only, None)

    with pytest.raises(ConfigError, match=r"models\[0\]\.serving\.mode: a batch model cannot serve"):
        load_config(write_config(tmp_path, batch_in_other_accounts))


def test_one_account_is_todays_platform(synthesized: Synthesized) -> None:
    """No target stack, no named role, no bus policy without deployment accounts."""
    names = {stack.stack_name for stack in synthesized.assembly.stacks}
    assert not [name for name in names if "-target-" in name]
    for stack in synthesized.assembly.stacks:
        template = Template.from_json(stack.template)
        assert not template.find_resources("AWS::Events::EventBusPolicy")
        for role in template.find_resources("AWS::IAM::Role").values():
            assert "RoleName" not in role["Properties"], stack.stack_name


# --- events from the production account reach the drift alert -------------------------------------


def _alarm_event(account: str, alarm: str) -> dict[str, Any]:
    return {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "account": account,
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{alarm}"],
        "detail": {"alarmName": alarm, "state": {"value": "ALARM"}, "previousState": {"value": "OK"}},
    }


def _run_event(account: str, schedule: str) -> dict[str, Any]:
    return {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Processing Job State Change",
        "account": account,
        "region": REGION,
        "resources": [],
        "detail": {
            "ProcessingJobStatus": "Completed",
            "ExitMessage": "CompletedWithViolations: Job completed successfully with 3 violations.",
            "MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:{account}:monitoring-schedule/{schedule}",
        },
    }


def _patterns(template: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    from moto.events.models import EventPattern

    return {
        logical_id: EventPattern.load(json.dumps(rule["Properties"]["EventPattern"]))
        for logical_id, rule in of_type(template, "AWS::Events::Rule").items()
        if logical_id.startswith(prefix) and "EventPattern" in rule["Properties"]
    }


@pytest.mark.parametrize(
    ("event", "drift_rule"),
    [
        (_alarm_event(PRODUCTION, "mlops-churn-production-drift-tenure"), "AutomationDriftAlarms"),
        (_alarm_event(PRODUCTION, "mlops-churn-production-model-quality-auc"), "AutomationDriftAlarms"),
        (_run_event(PRODUCTION, "mlops-churn-production-model-bias"), "AutomationClarifyViolations"),
    ],
)
def test_a_production_event_is_forwarded_and_reaches_the_drift_alert(
    several_accounts: Synthesized, deploy: dict[str, Any], event: dict[str, Any], drift_rule: str
) -> None:
    """The production account forwards it (its target stack's rules), and on the tooling account's default
    bus exactly the drift alert's rule for it matches (EventBridge's matching, as moto implements it)."""
    forwarding = _patterns(template_of(several_accounts, "mlops-target-production"))
    assert [rule for rule, pattern in forwarding.items() if pattern.matches_event(event)]
    matched = [rule for rule, pattern in _patterns(deploy, "Automation").items() if pattern.matches_event(event)]
    assert len(matched) == 1
    assert matched[0].startswith(drift_rule)


@pytest.mark.parametrize(
    "event",
    [
        # The staging account's alarm of the same name, and production's events of another model or platform.
        _alarm_event(STAGING, "mlops-churn-production-drift-tenure"),
        _alarm_event(PRODUCTION, "mlops-fraud-production-drift-amount"),
        _run_event(STAGING, "mlops-churn-production-model-bias"),
        _run_event(PRODUCTION, "mlops-churn-v2-production-model-bias"),
    ],
)
def test_no_other_accounts_or_models_event_reaches_the_drift_alert(
    deploy: dict[str, Any], event: dict[str, Any]
) -> None:
    assert not [rule for rule, pattern in _patterns(deploy, "Automation").items() if pattern.matches_event(event)]


def test_the_target_accounts_forward_nothing_of_another_platform(several_accounts: Synthesized) -> None:
    forwarding = _patterns(template_of(several_accounts, "mlops-target-production"))
    for event in (
        _alarm_event(PRODUCTION, "other-churn-production-drift-tenure"),
        _run_event(PRODUCTION, "other-churn-production-model-bias"),
    ):
        assert not [rule for rule, pattern in forwarding.items() if pattern.matches_event(event)]


# --- a model created from SageMaker Studio ----------------------------------------------------------


@pytest.fixture(scope="module")
def product(several_accounts: Synthesized) -> dict[str, Any]:
    """The binary-classification product's template (CodeCommit source)."""
    projects = several_accounts.platform.projects
    assert projects is not None
    product_stack = projects.templates["binary-classification"]
    directory = Path(several_accounts.assembly.directory)
    [path] = directory.glob(f"*{product_stack.node.id}*.product.template.json")
    return resolved(json.loads(path.read_text()))


PROJECT = {"Ref": "SageMakerProjectName"}


def _joined(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", list(parts)]}


def test_a_projects_product_creates_its_roles_in_each_stage_account(product: dict[str, Any]) -> None:
    stack_sets = {k: v["Properties"] for k, v in of_type(product, "AWS::CloudFormation::StackSet").items()}
    assert len(stack_sets) == 2
    by_account = {p["StackInstancesGroup"][0]["DeploymentTargets"]["Accounts"][0]: p for p in stack_sets.values()}
    for account, code in ((STAGING, "stg"), (PRODUCTION, "prd")):
        stack_set = by_account[account]
        assert stack_set["StackSetName"] == _joined("mlops-", PROJECT, f"-{code}-roles")
        assert stack_set["PermissionModel"] == "SELF_MANAGED"
        assert stack_set["AdministrationRoleARN"] == f"arn:aws:iam::{TOOLING}:role/mlops-stacksets-admin"
        assert stack_set["ExecutionRoleName"] == f"mlops-{code}-provisioner"
        assert stack_set["Parameters"] == [{"ParameterKey": "ModelName", "ParameterValue": PROJECT}]
        assert stack_set["StackInstancesGroup"][0]["Regions"] == [REGION]
        assert stack_set["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
        template = json.loads(stack_set["TemplateBody"])
        assert "ModelName" in template["Parameters"]
        names = [r["Properties"]["RoleName"] for r in of_type(template, "AWS::IAM::Role").values()]
        assert len(names) == (6 if code == "prd" else 4)  # production's monitoring and steering roles


def test_what_names_a_projects_stage_roles_waits_for_them(product: dict[str, Any]) -> None:
    stack_sets = set(of_type(product, "AWS::CloudFormation::StackSet"))
    naming = [
        (k, v)
        for k, v in product["Resources"].items()
        if v["Type"] in ("AWS::S3::BucketPolicy", "AWS::SageMaker::ModelPackageGroup", "AWS::CodePipeline::Pipeline")
    ]
    assert len(naming) >= 4
    for logical_id, resource in naming:
        assert stack_sets <= set(_listed(resource.get("DependsOn", []))), logical_id


def _project_role(account: str, suffix: str) -> dict[str, Any]:
    return {"Fn::Sub": [f"arn:aws:iam::{account}:role/mlops-${{Model}}-{suffix}", {"Model": PROJECT}]}


def test_a_projects_deploy_pipeline_deploys_into_the_stage_accounts(product: dict[str, Any]) -> None:
    actions = _actions(product)
    assert actions["DeployStaging"]["RoleArn"] == _project_role(STAGING, "stg-deploy")
    assert actions["DeployProduction"]["Configuration"]["RoleArn"] == _project_role(PRODUCTION, "prd-cfn")
    [group] = of_type(product, "AWS::SageMaker::ModelPackageGroup").values()
    [statement] = group["Properties"]["ModelPackageGroupPolicy"]["Statement"]
    assert statement["Principal"] == {"AWS": [_project_role(STAGING, "stg-cfn"), _project_role(PRODUCTION, "prd-cfn")]}


def test_the_stackset_administration_role_assumes_only_the_provisioners(several_accounts: Synthesized) -> None:
    projects = template_of(several_accounts, "mlops-projects")
    logical_id, role = role_named(projects, "mlops-stacksets-admin")
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "cloudformation.amazonaws.com"
    }
    admin = identity(projects, logical_id)
    for account, code in ((STAGING, "stg"), (PRODUCTION, "prd")):
        assert admin.is_allowed("sts:AssumeRole", arn(account, f"mlops-{code}-provisioner"))
        assert not admin.is_allowed("sts:AssumeRole", arn(account, f"mlops-churn-{code}-deploy"))
    assert not admin.is_allowed("sts:AssumeRole", arn(TOOLING, "mlops-churn-pipeline"))


def test_the_launch_role_creates_a_projects_named_roles_only_with_the_boundary(several_accounts: Synthesized) -> None:
    launch = _launch_role(several_accounts)
    pipeline_role = arn(TOOLING, "mlops-fraud-pipeline")
    boundary_arn = _launch_boundary(launch)
    assert launch.is_allowed("iam:CreateRole", pipeline_role, **{"iam:PermissionsBoundary": boundary_arn})
    assert not launch.is_allowed(
        "iam:CreateRole", pipeline_role, **{"iam:PermissionsBoundary": "arn:aws:iam::1:policy/x"}
    )
    assert not launch.is_allowed(
        "iam:CreateRole", arn(TOOLING, "mlops-fraud-admin"), **{"iam:PermissionsBoundary": boundary_arn}
    )
    assert launch.is_allowed(
        "cloudformation:CreateStackSet", f"arn:aws:cloudformation:{REGION}:{TOOLING}:stackset/mlops-fraud-stg-roles:1"
    )
    assert launch.is_allowed(
        "iam:PassRole", arn(TOOLING, "mlops-stacksets-admin"), **{"iam:PassedToService": "cloudformation.amazonaws.com"}
    )


def test_cdk_deploy_all_deploys_the_target_stacks_first(several_accounts: Synthesized) -> None:
    """The tooling stacks' policies name the stage accounts' roles, which must exist first."""
    for name in ("mlops-governance", "mlops-churn-build", "mlops-churn-deploy"):
        stack = several_accounts.assembly.get_stack_by_name(name)
        assert {"mlops-target-staging", "mlops-target-production"} <= {d.id for d in stack.dependencies}, name
    for stage in ("staging", "production"):
        target = several_accounts.assembly.get_stack_by_name(f"mlops-target-{stage}")
        assert not [d.id for d in target.dependencies if not d.id.endswith(".assets")]


def test_no_project_may_touch_a_config_models_named_roles(several_accounts: Synthesized) -> None:
    launch = _launch_role(several_accounts)
    boundary = {"iam:PermissionsBoundary": _launch_boundary(launch)}
    for kind in ("pipeline", "check", "champion", "drift", "shift"):
        config_role = arn(TOOLING, f"mlops-churn-{kind}")
        assert not launch.is_allowed("iam:CreateRole", config_role, **boundary)
        assert not launch.is_allowed("iam:UpdateAssumeRolePolicy", config_role)
        assert not launch.is_allowed("iam:PassRole", config_role, **{"iam:PassedToService": "lambda.amazonaws.com"})
        assert launch.is_allowed("iam:UpdateAssumeRolePolicy", arn(TOOLING, f"mlops-fraud-{kind}"))
    # A project's roles go to their services only.
    fraud = arn(TOOLING, "mlops-fraud-drift")
    assert launch.is_allowed("iam:PassRole", fraud, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert not launch.is_allowed("iam:PassRole", fraud, **{"iam:PassedToService": "ec2.amazonaws.com"})


def test_the_stackset_administration_role_serves_this_accounts_platform_stacksets_only(
    several_accounts: Synthesized,
) -> None:
    projects = template_of(several_accounts, "mlops-projects")
    _, role = role_named(projects, "mlops-stacksets-admin")
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": TOOLING},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudformation:*:{TOOLING}:stackset/mlops-*"},
    }


def _launch_role(several_accounts: Synthesized) -> Principal:
    """The products' launch role (the role Service Catalog assumes)."""
    projects = template_of(several_accounts, "mlops-projects")
    [logical_id] = [
        k
        for k, v in of_type(projects, "AWS::IAM::Role").items()
        if v["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "servicecatalog.amazonaws.com"}
    ]
    return identity(projects, logical_id)


def _launch_boundary(launch: Principal) -> str:
    """The boundary the launch role must give a project's named roles, as the evaluator compares it."""
    [create] = [
        s for s in launch.identity_statements if s.get("Sid") == "CreateTheProjectsNamedRolesOnlyWithTheBoundary"
    ]
    return str(create["Condition"]["StringEquals"]["iam:PermissionsBoundary"])
