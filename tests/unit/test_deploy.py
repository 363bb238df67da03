"""DeployPipeline / ModelDeployStack: the path from an approved package to production.

package ARN in (pipeline variable) -> staging stack -> smoke test -> manual approval (approvers
only) -> production stack with the package as challenger next to the current champion.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from config.schema import PlatformConfig
from lambdas.common.contracts import (
    CHAMPION_VARIABLES,
    STAGES,
    Stage,
    clarify_config_uri,
    clarify_model_name,
    data_bucket_parameter_name,
)
from tests.conftest import ROOT, Synthesized
from tests.iam_evaluation import render, role_principal
from tools import resolve_champion

ACCOUNT, REGION = "123456789012", "eu-west-1"
PIPELINE = "DeployPipeline74E14360"
DEPLOYMENT_ROLE = "DeployDeploymentRole1F6BEA18"
SERVING_ROLE = "DeployServingRole2B0A686A"
MONITORING_ROLE = "DeployMonitoringRoleEE522F75"
RESOLUTION_ROLE = "DeployResolveChampionRoleD9265FAF"
CAPTURE_BUCKET = "DeployDataCaptureBucket9D5EF6F8"
PLATFORM_KEY_EXPORT = "mlops-governance:ExportsOutputFnGetAttPlatformKey1C4A1A63Arn1AD0FED1"
NEW = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/7"
CURRENT = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/5"


def resources(template: Template, resource_type: str) -> Mapping[str, Any]:
    return template.find_resources(resource_type)


@pytest.fixture(scope="module")
def pipeline(churn_deploy: Template) -> dict[str, Any]:
    return churn_deploy.to_json()["Resources"][PIPELINE]["Properties"]


def actions(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {action["Name"]: action for stage in pipeline["Stages"] for action in stage["Actions"]}


def overrides(action: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation action's parameter overrides, with the deploy-time references kept as markers."""
    joined = action["Configuration"]["ParameterOverrides"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "<resolved at deploy time>" for part in joined)
    return json.loads(text)


def test_pipeline_takes_the_package_arn_as_its_variable(pipeline: dict[str, Any]) -> None:
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["ExecutionMode"] == "QUEUED"
    assert pipeline["Variables"] == [
        {
            "Name": "ModelPackageArn",
            "Description": "ARN of the approved model package to deploy (set by the approval gate)",
        }
    ]


def test_stages_go_staging_smoke_test_approval_production(pipeline: dict[str, Any]) -> None:
    layout = [
        (stage["Name"], [(a["Name"], a.get("RunOrder", 1)) for a in stage["Actions"]]) for stage in pipeline["Stages"]
    ]
    assert layout == [
        ("Source", [("DeployBundle", 1)]),
        ("Staging", [("DeployStaging", 1), ("SmokeTest", 2)]),
        ("Approve", [("ApproveProduction", 1)]),
        ("Production", [("ResolveChampion", 1), ("DeployProduction", 2)]),
    ]


def test_source_is_the_synthesized_deploy_bundle_not_polled(pipeline: dict[str, Any]) -> None:
    source = actions(pipeline)["DeployBundle"]
    assert source["ActionTypeId"]["Provider"] == "S3"
    assert source["Configuration"]["PollForSourceChanges"] is False
    assert source["Configuration"]["S3ObjectKey"].endswith(".zip")


def test_staging_deploys_the_new_package_alone(pipeline: dict[str, Any]) -> None:
    staging = actions(pipeline)["DeployStaging"]
    assert staging["ActionTypeId"]["Provider"] == "CloudFormation"
    assert staging["Configuration"]["StackName"] == "mlops-churn-staging"
    assert staging["Configuration"]["ActionMode"] == "REPLACE_ON_FAILURE"
    assert staging["Configuration"]["TemplatePath"] == "DeployBundle::staging.template.json"
    assert staging["Configuration"]["RoleArn"] == {"Fn::GetAtt": [DEPLOYMENT_ROLE, "Arn"]}
    parameters = overrides(staging)
    assert parameters["ChampionModelPackageArn"] == "#{variables.ModelPackageArn}"
    assert parameters["ModelName"] == "churn", "the template names the model by this parameter"
    assert set(parameters) == {"ModelName", "ChampionModelPackageArn", "ExecutionRoleArn", "AlertTopicArn"}


def _resolution_environment(action: dict[str, Any]) -> dict[str, str]:
    """The champion resolution action's environment variables, the deploy-time values named."""
    joined = action["Configuration"]["EnvironmentVariables"]["Fn::Join"][1]
    markers = {
        json.dumps({"Ref": CAPTURE_BUCKET}): "<data capture bucket>",
        json.dumps({"Fn::ImportValue": PLATFORM_KEY_EXPORT}): "<platform key>",
    }
    text = "".join(part if isinstance(part, str) else markers[json.dumps(part)] for part in joined)
    return {variable["name"]: variable["value"] for variable in json.loads(text)}


def test_production_gets_the_new_package_as_challenger_of_the_resolved_champion(pipeline: dict[str, Any]) -> None:
    resolve, production = actions(pipeline)["ResolveChampion"], actions(pipeline)["DeployProduction"]
    assert resolve["Namespace"] == "Champion"
    # The new package, and where the explainability config of the deployment goes: the template's own
    # monitoring output and platform key (its MonitoringOutputS3Uri and KmsKeyArn below).
    assert _resolution_environment(resolve) == {
        "NEW_PACKAGE_ARN": "#{variables.ModelPackageArn}",
        "MONITORING_OUTPUT_S3_URI": "s3://<data capture bucket>/churn/monitoring",
        "MONITORING_KMS_KEY_ARN": "<platform key>",
    }
    assert production["Configuration"]["StackName"] == "mlops-churn-production"
    assert production["Configuration"]["ActionMode"] == "CREATE_UPDATE"
    assert production["Configuration"]["TemplatePath"] == "DeployBundle::production.template.json"
    parameters = overrides(production)
    assert parameters["ChampionModelPackageArn"] == "#{Champion.CHAMPION_ARN}"
    assert parameters["ChallengerModelPackageArn"] == "#{Champion.CHALLENGER_ARN}"
    assert parameters["BaselineStatisticsS3Uri"] == "#{Champion.BASELINE_STATISTICS}"
    assert parameters["BaselineConstraintsS3Uri"] == "#{Champion.BASELINE_CONSTRAINTS}"
    # The champion's Clarify explainability baseline; no bias one: churn has no ground truth here.
    assert parameters["ExplainabilityAnalysisConfigS3Uri"] == "#{Champion.EXPLAINABILITY_ANALYSIS_CONFIG}"
    assert parameters["ExplainabilityConstraintsS3Uri"] == "#{Champion.EXPLAINABILITY_CONSTRAINTS}"
    assert parameters["ClarifyFeatureNames"] == "#{Champion.CLARIFY_FEATURES}"
    assert parameters["ModelName"] == "churn"
    assert parameters["InferenceInstanceType"] == "ml.m5.large", "production has no instance type of its own"
    assert set(parameters) == {
        "ModelName",
        "InferenceInstanceType",
        "ChampionModelPackageArn",
        "ChallengerModelPackageArn",
        "BaselineStatisticsS3Uri",
        "BaselineConstraintsS3Uri",
        "ExplainabilityAnalysisConfigS3Uri",
        "ExplainabilityConstraintsS3Uri",
        "ClarifyFeatureNames",
        "ExecutionRoleArn",
        "KmsKeyArn",
        "DataCaptureS3Uri",
        "AlertTopicArn",
        "MonitoringRoleArn",
        "MonitoringOutputS3Uri",
        "RecordPreprocessorS3Uri",
    }


@pytest.mark.parametrize("stage", STAGES)
def test_a_batch_models_deployments_name_the_model_and_its_data_bucket(any_model: Synthesized, stage: Stage) -> None:
    """The batch templates read the data bucket's name from the build stack's SSM parameter, which
    names the model: the pipeline passes that parameter's name, as it passes the model's."""
    deploy = any_model.template(any_model.platform.model_deploys["renewals"]).to_json()
    (pipeline_id,) = [k for k, v in deploy["Resources"].items() if v["Type"] == "AWS::CodePipeline::Pipeline"]
    action = actions(deploy["Resources"][pipeline_id]["Properties"])[f"Deploy{stage.capitalize()}"]
    parameters = overrides(action)
    assert parameters["ModelName"] == "renewals"
    assert parameters["ModelDataBucket"] == data_bucket_parameter_name("mlops", "renewals")
    template = any_model.platform.model_deploys["renewals"].deploy.templates[stage]
    assert "Default" not in template["Parameters"]["ModelDataBucket"], "its default would name a model"
    assert "InferenceInstanceType" not in parameters, "the transform's own instance type (batch.instance_type) applies"


@pytest.mark.parametrize("model", ["renewals", "demand", "ticket-routing"])
def test_production_monitors_against_every_baseline_of_the_resolved_champion(
    any_model: Synthesized, model: str
) -> None:
    """Each baseline parameter the production template declares is set from the champion resolution's
    variable of the same baseline (contracts.CHAMPION_VARIABLES): the Clarify ones too, bias where the
    model has ground truth (every model of any-model.yaml has), data quality where requests name
    their features (JSON: not ticket-routing's CSV)."""
    deploy = any_model.template(any_model.platform.model_deploys[model]).to_json()
    (pipeline_id,) = [k for k, v in deploy["Resources"].items() if v["Type"] == "AWS::CodePipeline::Pipeline"]
    parameters = overrides(actions(deploy["Resources"][pipeline_id]["Properties"])["DeployProduction"])
    declared = set(any_model.platform.model_deploys[model].deploy.templates["production"]["Parameters"])
    baselines = {variable: parameter for variable, parameter in CHAMPION_VARIABLES.items() if parameter in declared}
    assert {parameter: parameters[parameter] for parameter in baselines.values()} == {
        parameter: f"#{{Champion.{variable}}}" for variable, parameter in baselines.items()
    }
    clarify = {
        "BiasAnalysisConfigS3Uri",
        "BiasConstraintsS3Uri",
        "ExplainabilityAnalysisConfigS3Uri",
        "ExplainabilityConstraintsS3Uri",
    }
    assert clarify <= declared
    data_quality = {"BaselineStatisticsS3Uri", "BaselineConstraintsS3Uri"}
    assert (data_quality <= declared) is (model != "ticket-routing")


# The settings a SageMaker Projects product takes as parameters, as each stage of a model's deploy
# pipeline passes them: strings (CloudFormation takes a Number parameter's value as one too), and only
# to a template that declares them.
PASSED_SETTINGS: dict[tuple[str, Stage], dict[str, str]] = {
    ("demand", "staging"): {},  # serverless, and no model-quality alarm
    ("demand", "production"): {"MetricThreshold": "12", "InferenceInstanceType": "ml.m5.large"},
    ("ticket-routing", "production"): {"MetricThreshold": "0.7", "InferenceInstanceType": "ml.m5.large"},
    ("renewals", "staging"): {},  # its transform's own instance type
    ("renewals", "production"): {"MetricThreshold": "0.7"},
}


@pytest.mark.parametrize(("model", "stage"), list(PASSED_SETTINGS))
def test_the_models_threshold_and_inference_instance_type_are_passed_where_declared(
    any_model: Synthesized, model: str, stage: Stage
) -> None:
    deploy = any_model.template(any_model.platform.model_deploys[model]).to_json()
    (pipeline_id,) = [k for k, v in deploy["Resources"].items() if v["Type"] == "AWS::CodePipeline::Pipeline"]
    parameters = overrides(actions(deploy["Resources"][pipeline_id]["Properties"])[f"Deploy{stage.capitalize()}"])
    settings = {k: v for k, v in parameters.items() if k in ("MetricThreshold", "InferenceInstanceType")}
    assert settings == PASSED_SETTINGS[model, stage]
    declared = any_model.platform.model_deploys[model].deploy.templates[stage]["Parameters"]
    assert set(settings) == set(declared) & {"MetricThreshold", "InferenceInstanceType"}


def _project(churn_deploy: Template, prefix: str) -> dict[str, Any]:
    return next(v for k, v in resources(churn_deploy, "AWS::CodeBuild::Project").items() if k.startswith(prefix))


def test_champion_resolution_runs_the_tested_module_and_exports_what_it_wrote(churn_deploy: Template) -> None:
    """The logic lives in tools/resolve_champion.py (tests/tools/test_resolve_champion.py); the buildspec
    only runs it and sources its output, so a failed read fails the action before anything is exported."""
    project = _project(churn_deploy, "DeployResolveChampion")
    buildspec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    assert buildspec["env"]["exported-variables"] == list(resolve_champion.EXPORTED)
    assert buildspec["phases"]["build"]["commands"] == [
        "python -m tools.resolve_champion --stack-name $PRODUCTION_STACK --endpoint-name $PRODUCTION_ENDPOINT"
        " --new-package-arn $NEW_PACKAGE_ARN --output champion.env",
        ". ./champion.env",
    ]
    variables = {v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}
    assert variables == {"PRODUCTION_STACK": "mlops-churn-production", "PRODUCTION_ENDPOINT": "mlops-churn-production"}


def test_no_buildspec_hides_a_failed_command(synthesized: Synthesized) -> None:
    """`cmd 2>/dev/null || true` turned throttling into "no production yet" once; no buildspec may do it again."""
    buildspecs = [
        (stack.stack_name, logical_id, json.dumps(project["Properties"]["Source"].get("BuildSpec", "")))
        for stack in synthesized.assembly.stacks
        for logical_id, project in stack.template["Resources"].items()
        if project["Type"] == "AWS::CodeBuild::Project"
    ]
    assert len(buildspecs) >= 4
    buildspecs += [("seed", path.name, path.read_text()) for path in (ROOT / "seed").glob("*/buildspec-*.yml")]
    for stack_name, logical_id, buildspec in buildspecs:
        for hiding in ("2>/dev/null", "|| true", "|| echo", "set +e"):
            assert hiding not in buildspec, f"{stack_name}/{logical_id} hides failures with {hiding!r}"


def test_smoke_test_calls_the_staging_endpoint_with_the_packages_payloads(
    churn_deploy: Template, default_config: PlatformConfig
) -> None:
    project = _project(churn_deploy, "DeploySmokeTest")
    variables = {v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}
    assert variables == {
        "ENDPOINT_NAME": "mlops-churn-staging",
        "MAX_P95_LATENCY_MS": "1000",
        # Used only for a package that records no contract of its own (built before packages did).
        "FALLBACK_CONTRACT": json.dumps(dataclasses.asdict(default_config.models[0].contract), sort_keys=True),
    }
    buildspec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    (command,) = buildspec["phases"]["build"]["commands"]
    assert command.startswith(
        "python -m tools.smoke_test --endpoint-name $ENDPOINT_NAME --model-package-arn $NEW_PACKAGE_ARN"
    )
    assert project["Properties"]["Environment"]["PrivilegedMode"] is False
    # The smoke test runs with the boto3 its tests run with, not whatever PyPI has that day.
    pinned = next(
        line for line in (ROOT / "requirements-dev.txt").read_text().splitlines() if line.startswith("boto3==")
    )
    assert buildspec["phases"]["install"]["commands"] == [f"pip install --quiet {pinned}"]


def _deploy_bundle(synthesized: Synthesized) -> Path:
    return next(
        directory
        for directory in Path(synthesized.assembly.directory).glob("asset.*")
        if (directory / "production.template.json").exists()
    )


def test_deploy_bundle_carries_templates_scripts_and_contracts(synthesized: Synthesized) -> None:
    bundle = _deploy_bundle(synthesized)
    assert sorted(str(path.relative_to(bundle)) for path in bundle.rglob("*") if path.is_file()) == [
        "lambdas/__init__.py",
        "lambdas/common/__init__.py",
        "lambdas/common/accounts.py",
        "lambdas/common/contracts.py",
        "lambdas/common/errors.py",
        "lambdas/common/serving_state.py",
        "production.template.json",
        "staging.template.json",
        "tools/__init__.py",
        "tools/answers.py",
        "tools/batch_check.py",
        "tools/inference_contract.py",
        "tools/resolve_champion.py",
        "tools/smoke_test.py",
    ]
    assert (bundle / "lambdas/common/contracts.py").read_bytes() == (ROOT / "lambdas/common/contracts.py").read_bytes()


def test_the_bundles_scripts_run_from_the_bundle_alone(synthesized: Synthesized) -> None:
    """What CodeBuild has: the bundle and boto3, nothing of the repository on the path."""
    bundle = _deploy_bundle(synthesized)
    probe = (
        "import sys; sys.path.insert(0, '.');"
        "import tools.resolve_champion, tools.smoke_test, tools.batch_check, lambdas.common.contracts as c;"
        "assert c.__file__.startswith(sys.argv[1]), c.__file__;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('config', 'mlops_constructs', 'pydantic')))"
    )
    result = subprocess.run(  # noqa: S603 - a fresh, isolated interpreter on the synthesized bundle
        [sys.executable, "-I", "-B", "-c", probe, str(bundle)], cwd=bundle, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", "the bundle's scripts may need boto3 only"


def test_manual_approval_notifies_the_approvers_topic(pipeline: dict[str, Any]) -> None:
    approval = actions(pipeline)["ApproveProduction"]
    assert approval["ActionTypeId"] == {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}
    assert approval["Configuration"]["NotificationArn"] == {
        "Fn::ImportValue": "mlops-governance:ExportsOutputRefApprovalsTopicA799959DECCD1BE9"
    }
    assert "#{variables.ModelPackageArn}" in approval["Configuration"]["CustomData"]


# --- who may approve ------------------------------------------------------------------------------

PIPELINE_NAME = "mlops-churn-deploy-DeployPipeline-XYZ"
APPROVAL = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{PIPELINE_NAME}/Approve/ApproveProduction"


def _with_deploy_policies(principal, churn_deploy: Template, role_marker: str):
    """Add the managed policies the deploy stack attaches to a governance role."""
    for policy in resources(churn_deploy, "AWS::IAM::ManagedPolicy").values():
        if role_marker in json.dumps(policy["Properties"].get("Roles", [])):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                resource = statement["Resource"]
                rendered = json.loads(
                    json.dumps(resource).replace(json.dumps({"Ref": PIPELINE}), json.dumps(PIPELINE_NAME))
                )
                principal.identity_statements.append(statement | {"Resource": render(rendered, {})})
    return principal


def test_only_the_approver_role_can_approve_production(churn_deploy: Template, governance: Template) -> None:
    roles = governance.find_resources("AWS::IAM::Role")
    approver_id = next(k for k in roles if k.startswith("PersonasModelApprover"))
    scientist_id = next(k for k in roles if k.startswith("PersonasDataScientist"))
    approver = _with_deploy_policies(role_principal(governance, approver_id), churn_deploy, "PersonasModelApprover")
    scientist = _with_deploy_policies(role_principal(governance, scientist_id), churn_deploy, "PersonasModelApprover")
    assert approver.is_allowed("codepipeline:PutApprovalResult", APPROVAL)
    assert not approver.is_allowed("codepipeline:PutApprovalResult", f"{APPROVAL}-other-action")
    assert not scientist.is_allowed("codepipeline:PutApprovalResult", APPROVAL)
    # Even a role someone granted everything cannot approve without the approver tag (boundary).
    over_broad = type(scientist)(
        identity_statements=[{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        boundary_statements=scientist.boundary_statements,
    )
    assert not over_broad.is_allowed("codepipeline:PutApprovalResult", APPROVAL)


# --- least privilege of the deployment ------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment_role(churn_deploy: Template, governance: Template):
    return role_principal(churn_deploy, DEPLOYMENT_ROLE, boundary_from=governance)


def test_cloudformation_deploys_only_this_models_endpoints(deployment_role) -> None:
    endpoint = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/mlops-churn-production"
    assert deployment_role.is_allowed("sagemaker:CreateEndpoint", endpoint)
    assert deployment_role.is_allowed("sagemaker:UpdateEndpoint", endpoint)
    assert not deployment_role.is_allowed(
        "sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/fraud-production"
    )
    assert not deployment_role.is_allowed("sagemaker:UpdateModelPackage", NEW)
    assert not deployment_role.is_allowed("iam:CreateRole", "*")
    assert deployment_role.is_allowed(
        "cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:mlops-churn-production-EndpointX"
    )
    assert not deployment_role.is_allowed(
        "cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:billing"
    )


def test_deployment_passes_only_the_serving_and_monitoring_roles(churn_deploy: Template) -> None:
    passes = [
        statement
        for policy in resources(churn_deploy, "AWS::IAM::ManagedPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "iam:PassRole" in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]
    assert passes == [
        {
            "Sid": "PassTheServingAndMonitoringRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": [{"Fn::GetAtt": [MONITORING_ROLE, "Arn"]}, {"Fn::GetAtt": [SERVING_ROLE, "Arn"]}],
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        }
    ]


# --- Clarify's explainability monitor: its shadow endpoints, its analysis config ----------------------

CAPTURES = "mlops-churn-captures"  # the data capture bucket's generated name, as these tests call it
SHADOW = f"mlops-churn-production-clarify-{'1a2b3c4d'}"  # a name Clarify gives a shadow endpoint and its config


def _sagemaker(resource: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}"


def _with_bucket_named(template: Template) -> Template:
    """The template with the data capture bucket's ARN and name as the deployed stack resolves them (and
    the joins that become plain strings so, joined)."""
    text = json.dumps(template.to_json())
    for reference, value in (
        ({"Fn::GetAtt": [CAPTURE_BUCKET, "Arn"]}, f"arn:aws:s3:::{CAPTURES}"),
        ({"Ref": CAPTURE_BUCKET}, CAPTURES),
    ):
        text = text.replace(json.dumps(reference), json.dumps(value))

    def joined(node: Any) -> Any:
        if isinstance(node, dict):
            return render({key: joined(value) for key, value in node.items()}, {})
        return [joined(item) for item in node] if isinstance(node, list) else node

    return Template.from_json(joined(json.loads(text)))


@pytest.fixture(scope="module")
def monitoring_role(churn_deploy: Template, governance: Template):
    return role_principal(_with_bucket_named(churn_deploy), MONITORING_ROLE, boundary_from=governance)


def test_the_monitoring_role_serves_the_explained_model_on_its_own_shadow_endpoints_only(monitoring_role) -> None:
    """What Clarify does as the monitoring role in a run of the explainability monitor, on the endpoints
    named under production's prefix (`contracts.clarify_endpoint_prefix`), and nothing else of SageMaker's."""
    run = {
        "endpoint-config": ["CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig", "AddTags"],
        "endpoint": ["CreateEndpoint", "DescribeEndpoint", "InvokeEndpoint", "DeleteEndpoint", "AddTags"],
    }
    for kind, verbs in run.items():
        for verb in verbs:
            assert monitoring_role.is_allowed(f"sagemaker:{verb}", _sagemaker(f"{kind}/{SHADOW}")), (verb, kind)
            # Not the endpoints production serves on, nor the build's Clarify checks' endpoints.
            for name in ("mlops-churn-production", "mlops-churn-staging", "sm-clarify-churn-1a2b"):
                assert not monitoring_role.is_allowed(f"sagemaker:{verb}", _sagemaker(f"{kind}/{name}")), (verb, name)
    for verb in ("UpdateEndpoint", "UpdateEndpointWeightsAndCapacities", "CreateModel", "DeleteModel"):
        assert not monitoring_role.is_allowed(f"sagemaker:{verb}", _sagemaker(f"endpoint/{SHADOW}")), verb
    explained = _sagemaker(f"model/{clarify_model_name('mlops-churn-production', '7')}")
    assert monitoring_role.is_allowed("sagemaker:DescribeModel", explained)
    for verb in ("CreateModel", "DeleteModel"):
        assert not monitoring_role.is_allowed(f"sagemaker:{verb}", explained), "CloudFormation manages the model"
    assert not monitoring_role.is_allowed("sagemaker:DescribeModel", _sagemaker("model/EndpointChampionModel-1a2b"))
    # The endpoint config names the model, whose role CloudFormation passed: the monitoring role passes none.
    assert not monitoring_role.is_allowed("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/mlops-churn-serving")


def test_the_monitoring_role_reads_the_explainability_config_the_champion_resolution_writes(
    monitoring_role, churn_deploy: Template, governance: Template
) -> None:
    config = f"arn:aws:s3:::{CAPTURES}/churn/monitoring/clarify-configs/model-explainability-7.json"
    assert config.endswith(clarify_config_uri("s3://x/churn/monitoring", NEW).removeprefix("s3://x"))
    assert monitoring_role.is_allowed("s3:GetObject", config)
    assert not monitoring_role.is_allowed("s3:GetObject", f"arn:aws:s3:::{CAPTURES}/churn/monitoring/model-bias/r.json")
    resolution = role_principal(_with_bucket_named(churn_deploy), RESOLUTION_ROLE, boundary_from=governance)
    assert resolution.is_allowed("s3:PutObject", config)
    for elsewhere in ("churn/monitoring/model-explainability/report.json", "churn/production/capture.jsonl"):
        assert not resolution.is_allowed("s3:PutObject", f"arn:aws:s3:::{CAPTURES}/{elsewhere}"), elsewhere
    assert not resolution.is_allowed("s3:GetObject", config), "it writes the config; the monitor reads it"


def test_the_champion_resolution_reads_the_packages_clarify_configs(churn_build: Template) -> None:
    """It derives the deployment's config from the package's, in the model's data bucket (the build's)."""
    readers = [
        policy["Properties"]
        for policy in resources(churn_build, "AWS::IAM::ManagedPolicy").values()
        if "DeployResolveChampionRole" in json.dumps(policy["Properties"].get("Roles", []))
    ]
    assert any("/churn/clarify/*" in json.dumps(policy["PolicyDocument"]) for policy in readers)


def test_the_serving_role_logs_from_clarifys_shadow_endpoints(churn_deploy: Template, governance: Template) -> None:
    """The explained model runs as the serving role on Clarify's shadow endpoints, which log under their names."""
    serving = role_principal(churn_deploy, SERVING_ROLE, boundary_from=governance)
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints"
    assert serving.is_allowed("logs:PutLogEvents", f"{logs}/{SHADOW}:log-stream:AllTraffic/i-1")
    assert not serving.is_allowed("logs:PutLogEvents", f"{logs}/mlops-churn-v2-production-clarify-1a:log-stream:a")


def test_serving_role_reads_models_through_the_build_project(churn_build: Template) -> None:
    policy = next(
        v["Properties"]
        for k, v in resources(churn_build, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("ProjectModelReaders")
    )
    assert policy["Roles"] == [
        {"Fn::ImportValue": "mlops-churn-deploy:ExportsOutputRefDeployServingRole2B0A686AC723CE02"}
    ]
    assert policy["PolicyDocument"]["Statement"][0]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": ["ProjectDataBucket2B516496", "Arn"]}, "/churn/models/*"]]
    }


def test_the_approval_gate_starts_this_pipeline(churn_deploy: Template, approval: Template) -> None:
    exported = churn_deploy.to_json()["Outputs"]["ExportsOutputRefDeployPipeline74E14360299C0B95"]
    assert exported["Value"] == {"Ref": PIPELINE}
    # The gate finds the pipeline's name in the model's registration (tests/unit/test_approval.py) and
    # may start this pipeline: the grant imports it.
    statements = next(iter(resources(approval, "AWS::IAM::Policy").values()))["Properties"]["PolicyDocument"]
    [start] = [s for s in statements["Statement"] if s.get("Sid") == "StartTheDeployPipelines"]
    assert exported["Export"]["Name"] in json.dumps(start["Resource"])


def test_failed_deployments_alert_the_topic(churn_deploy: Template) -> None:
    rule = next(
        v["Properties"]
        for k, v in resources(churn_deploy, "AWS::Events::Rule").items()
        if k.startswith("DeployPipelineFailureAlert")
    )
    assert rule["EventPattern"]["detail"] == {"state": ["FAILED"]}
    assert rule["Targets"][0]["Arn"] == {
        "Fn::ImportValue": "mlops-governance:ExportsOutputRefAlertsTopicCF7C81C9D535FDD6"
    }


def test_data_capture_bucket_is_retained_and_encrypted(churn_deploy: Template) -> None:
    bucket = churn_deploy.to_json()["Resources"]["DeployDataCaptureBucket9D5EF6F8"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert (
        bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]["SSEAlgorithm"]
        == "aws:kms"
    )


def test_outputs(churn_deploy: Template) -> None:
    assert {name for name in churn_deploy.find_outputs("*") if not name.startswith("ExportsOutput")} == {
        "DeployPipelineName",
        "StagingEndpointName",
        "ProductionEndpointName",
        "ProductionStackName",
        "DataCaptureBucketName",
    }
