"""EndpointAutomation and monitoring wiring: drift alarms -> drift alert (-> retraining), and the
scheduled traffic shift, with their least privilege; for a batch model, the drift alert alone, reading
its production serving stack instead of an endpoint.

The handlers' behaviour is tested in tests/lambdas; this file checks what delivers events to them
and what they are allowed to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from config.schema import ModelConfig, PlatformConfig
from lambdas.common.contracts import serving_name
from mlops_constructs.compliance import rule_packs
from mlops_constructs.endpoint_automation import EndpointAutomation
from tests.conftest import cdk_json_context
from tests.iam_evaluation import role_principal

ACCOUNT, REGION = "123456789012", "eu-west-1"
ENDPOINT = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/mlops-churn-production"
DRIFT_FUNCTION = "AutomationDriftAlertFunction55C1574D"
DRIFT_ROLE = "AutomationDriftAlertRole857BFC0F"
SHIFT_FUNCTION = "AutomationTrafficShiftFunctionF1D0BCC2"
SHIFT_ROLE = "AutomationTrafficShiftRoleCF5E967F"
AUDIT_BUS_IMPORT = {"Fn::ImportValue": "mlops-governance:ExportsOutputFnGetAttAuditEventsBus6EA44F96Arn98714FED"}


def resource(template: Template, logical_id: str) -> dict[str, Any]:
    return template.to_json()["Resources"][logical_id]


def rules(template: Template) -> Mapping[str, Any]:
    return template.find_resources("AWS::Events::Rule")


def test_drift_and_model_quality_alarms_going_into_alarm_reach_the_drift_alert(churn_deploy: Template) -> None:
    rule = next(v["Properties"] for k, v in rules(churn_deploy).items() if k.startswith("AutomationDriftAlarms"))
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [
                {"prefix": "mlops-churn-production-drift-"},
                {"prefix": "mlops-churn-production-model-quality-"},
            ],
            "state": {"value": ["ALARM"]},
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [DRIFT_FUNCTION, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600}
    assert "DeadLetterConfig" in target


def test_clarify_monitoring_runs_with_violations_reach_the_drift_alert(churn_deploy: Template) -> None:
    """Clarify's bias and feature attribution drift publish no violation metric: their runs come instead,
    matched on the endpoint's two schedules (by ARN, which SageMaker writes in lower case) and the exit
    message of a run that found violations. The drift alert's screen accepts exactly these
    (tests/lambdas/test_drift_alert_runs.py)."""
    rule = next(v["Properties"] for k, v in rules(churn_deploy).items() if k.startswith("AutomationClarifyViolations"))
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {
            "MonitoringScheduleArn": [
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/mlops-churn-production-model-bias",
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/mlops-churn-production-model-explainability",
            ],
            "ExitMessage": [{"prefix": "CompletedWithViolations"}],
        },
    }
    for schedule_arn in rule["EventPattern"]["detail"]["MonitoringScheduleArn"]:
        assert schedule_arn == schedule_arn.lower(), "SageMaker's ARNs carry names in lower case"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [DRIFT_FUNCTION, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600}
    alarms_target = next(
        v["Properties"] for k, v in rules(churn_deploy).items() if k.startswith("AutomationDriftAlarms")
    )["Targets"][0]
    assert target["DeadLetterConfig"] == alarms_target["DeadLetterConfig"], "the drift alert's one event DLQ"


def test_the_drift_alert_reads_what_a_clarify_run_wrote(churn_deploy: Template, governance: Template) -> None:
    """The run's processing job (its output location) and its report under `<model>/monitoring/`."""
    role = role_principal(churn_deploy, DRIFT_ROLE, boundary_from=governance)
    job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/model-bias-monitoring-202601011300-1a2b3c4d"
    assert role.is_allowed("sagemaker:DescribeProcessingJob", job)
    capture_bucket = next(
        k for k in churn_deploy.find_resources("AWS::S3::Bucket") if k.startswith("DeployDataCapture")
    )
    statements = json.dumps(role.identity_statements)
    assert capture_bucket in statements
    assert "churn/monitoring/*" in statements


def test_drift_alert_knows_its_endpoint_cooldown_and_retraining_choice(
    churn_deploy: Template, default_config: PlatformConfig
) -> None:
    variables = resource(churn_deploy, DRIFT_FUNCTION)["Properties"]["Environment"]["Variables"]
    monitoring = default_config.models[0].monitoring
    assert json.loads(variables["MODELS_CONFIG"]) == {
        "mlops-churn-production": {
            "model_name": "churn",
            "serving_mode": "realtime",
            "retrain_on_drift": monitoring.retrain_on_drift,
            "retrain_cooldown_hours": monitoring.retrain_cooldown_hours,
        }
    }
    table_id = variables["STATE_TABLE_NAME"]["Ref"]
    table = resource(churn_deploy, table_id)
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    # The state table holds the claims and the Powertools idempotency records (key attribute "pk").
    (policy,) = [
        v["Properties"]
        for k, v in churn_deploy.find_resources("AWS::IAM::Policy").items()
        if k.startswith("AutomationDriftAlertRoleDefaultPolicy")
    ]
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    [table_statement] = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if table_arn in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(
        table_statement["Action"]
    )
    assert variables["AUDIT_EVENT_BUS_NAME"] == {
        "Fn::Select": [1, {"Fn::Split": ["/", {"Fn::Select": [5, {"Fn::Split": [":", AUDIT_BUS_IMPORT]}]}]}]
    }


def test_drift_alert_reads_what_it_explains_and_cannot_start_pipelines(
    churn_deploy: Template, governance: Template
) -> None:
    role = role_principal(churn_deploy, DRIFT_ROLE, boundary_from=governance)
    assert role.is_allowed("sagemaker:DescribeEndpoint", ENDPOINT)
    assert not role.is_allowed("sagemaker:DescribeEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/other")
    assert role.is_allowed("sagemaker:ListMonitoringExecutions", "*")
    assert not role.is_allowed("codepipeline:StartPipelineExecution", "*"), "retraining is asked for by event"
    assert not role.is_allowed("sagemaker:UpdateEndpointWeightsAndCapacities", ENDPOINT)
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/mlops-churn-production/1a2b"
    assert not role.is_allowed("cloudformation:DescribeStacks", stack), "a real-time model's endpoint says what serves"
    statements = role.identity_statements
    assert any("events:PutEvents" in str(s["Action"]) and s["Resource"] == AUDIT_BUS_IMPORT for s in statements)


def test_retraining_requests_start_the_models_build_pipeline(churn_build: Template) -> None:
    rule = next(v["Properties"] for k, v in rules(churn_build).items() if k.startswith("ProjectRetrainingRequests"))
    assert rule["EventPattern"] == {
        "source": ["mlops.drift-alert"],
        "detail-type": ["Retraining Requested"],
        "detail": {"model_name": ["churn"]},
    }
    assert rule["EventBusName"]["Fn::Select"][1]["Fn::Split"][1]["Fn::Select"][1]["Fn::Split"][1] == AUDIT_BUS_IMPORT
    (target,) = rule["Targets"]
    assert target["Arn"] == {
        "Fn::Join": ["", [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:", {"Ref": "ProjectPipelineBB3C27A6"}]]
    }


def test_traffic_shift_runs_on_schedule_with_the_configured_test(
    churn_deploy: Template, default_config: PlatformConfig
) -> None:
    shift = default_config.models[0].traffic_shift
    assert shift is not None
    rule = next(
        v["Properties"] for k, v in rules(churn_deploy).items() if k.startswith("AutomationTrafficShiftSchedule")
    )
    assert shift.schedule_minutes == 60
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [SHIFT_FUNCTION, "Arn"]}
    function = resource(churn_deploy, SHIFT_FUNCTION)["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1, "one decision at a time"
    variables = function["Environment"]["Variables"]
    assert {name: variables[name] for name in variables if isinstance(variables[name], str)}.items() >= {
        "ENDPOINT_NAME": "mlops-churn-production",
        "BUSINESS_METRIC_NAMESPACE": shift.business_metric.namespace,
        "BUSINESS_METRIC_NAME": shift.business_metric.name,
        "BUSINESS_METRIC_DIRECTION": "higher_is_better",
        "MIN_SAMPLES_PER_VARIANT": str(shift.min_samples_per_variant),
        "ALPHA": str(shift.alpha),
        "SHIFT_STEP_PERCENT": str(shift.step_percent),
        "MAX_CHALLENGER_PERCENT": str(shift.max_challenger_percent),
        "LATENCY_RATIO_LIMIT": str(shift.latency_ratio_limit),
    }.items()


def test_traffic_shift_reweights_only_its_endpoint(churn_deploy: Template, governance: Template) -> None:
    role = role_principal(churn_deploy, SHIFT_ROLE, boundary_from=governance)
    assert role.is_allowed("sagemaker:UpdateEndpointWeightsAndCapacities", ENDPOINT)
    other = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/mlops-churn-staging"
    assert not role.is_allowed("sagemaker:UpdateEndpointWeightsAndCapacities", other)
    assert role.is_allowed("cloudwatch:GetMetricData", "*")
    assert not role.is_allowed("sagemaker:UpdateEndpoint", ENDPOINT)


@pytest.mark.parametrize("prefix", ["AutomationDriftAlert", "AutomationTrafficShift"])
def test_handler_failures_alarm_the_topic(churn_deploy: Template, prefix: str) -> None:
    alarms = {
        k: v["Properties"]
        for k, v in churn_deploy.find_resources("AWS::CloudWatch::Alarm").items()
        if k.startswith(prefix)
    }
    assert {k.removeprefix(prefix)[:-8] for k in alarms} == {"ErrorAlarm", "DeadLetterAlarm", "EventDeadLetterAlarm"}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [
            {"Fn::ImportValue": "mlops-governance:ExportsOutputRefAlertsTopicCF7C81C9D535FDD6"}
        ]


def test_monitoring_role_reads_captures_baselines_and_the_preprocessor(
    churn_deploy: Template, churn_build: Template
) -> None:
    statements = resource(churn_deploy, "DeployMonitoringRoleDefaultPolicyFDC3592C")["Properties"]["PolicyDocument"][
        "Statement"
    ]
    preprocessor = next(s for s in statements if s.get("Sid") == "ReadTheRecordPreprocessor")
    assert preprocessor["Action"] == "s3:GetObject"
    assert preprocessor["Resource"].startswith("arn:aws:s3:::cdk-")
    assert preprocessor["Resource"].endswith(".py")
    baselines = next(
        v["Properties"]
        for k, v in churn_build.find_resources("AWS::IAM::ManagedPolicy").items()
        if k.startswith("ProjectPipelineOutputReadersmlopschurndeploy")
    )
    assert baselines["Roles"] == [
        {"Fn::ImportValue": "mlops-churn-deploy:ExportsOutputRefDeployMonitoringRoleEE522F75060FF603"}
    ]


def test_production_template_flattens_captures_for_the_monitor(serving_templates: dict[str, dict]) -> None:
    production = serving_templates["production"]
    assert "RecordPreprocessorS3Uri" in production["Parameters"]
    job = next(v for v in production["Resources"].values() if v["Type"] == "AWS::SageMaker::DataQualityJobDefinition")
    assert job["Properties"]["DataQualityAppSpecification"]["RecordPreprocessorSourceUri"] == {
        "Ref": "RecordPreprocessorS3Uri"
    }


# --- Built on its own: a batch model, and a business metric of which less is better ------------------

FORECAST = ModelConfig.model_validate(
    {
        "name": "forecast",
        "description": "Scores next week's demand every night.",
        "problem_type": "regression",
        "metric": {"name": "mae", "threshold": 5.0},
        "serving": {"mode": "batch", "batch": {"schedule_expression": "cron(0 2 * * ? *)"}},
        "monitoring": {"drift_alarm_features": ["store_size"], "retrain_cooldown_hours": 48},
    }
)
FORECAST_PRODUCTION = serving_name("mlops", "forecast", "production")
FORECAST_STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{FORECAST_PRODUCTION}/1a2b"


def _automation_of(model: ModelConfig) -> tuple[App, EndpointAutomation, Template]:
    """The model's automation alone, in a stack of its own (what it needs, made there)."""
    app = App(context=cdk_json_context())
    stack = Stack(app, "Probe", env=Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key")
    automation = EndpointAutomation(
        stack,
        "Automation",
        model=model,
        endpoint_name=serving_name("mlops", model.name, "production"),
        monitoring_reports=s3.Bucket(stack, "Reports", encryption_key=key),
        monitoring_reports_prefix=f"{model.name}/monitoring/",
        encryption_key=key,
        alert_topic=sns.Topic(stack, "Topic", master_key=key),
        audit_bus=events.EventBus(stack, "Bus"),
        log_retention=logs.RetentionDays.ONE_YEAR,
    )
    return app, automation, Template.from_stack(stack)


@pytest.fixture(scope="module")
def batch_automation() -> tuple[App, EndpointAutomation, Template]:
    return _automation_of(FORECAST)


def test_a_batch_model_has_a_drift_alert_and_no_traffic_shift(
    batch_automation: tuple[App, EndpointAutomation, Template],
) -> None:
    _, automation, template = batch_automation
    assert automation.traffic_shift is None
    assert template.find_resources("AWS::Lambda::Function").keys() == {DRIFT_FUNCTION}
    alarms, runs = (
        next(v["Properties"] for k, v in rules(template).items() if k.startswith(prefix))
        for prefix in ("AutomationDriftAlarms", "AutomationClarifyViolations")
    )
    assert len(rules(template)) == 2
    assert alarms["EventPattern"]["detail"]["alarmName"] == [
        {"prefix": f"{FORECAST_PRODUCTION}-drift-"},
        {"prefix": f"{FORECAST_PRODUCTION}-model-quality-"},
    ]
    # A batch transform's Clarify monitors are named after its serving name, as an endpoint's are.
    assert runs["EventPattern"]["detail"]["MonitoringScheduleArn"] == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/{FORECAST_PRODUCTION}-{kind}"
        for kind in ("model-bias", "model-explainability")
    ]


def test_a_batch_models_drift_alert_knows_its_serving_mode(
    batch_automation: tuple[App, EndpointAutomation, Template],
) -> None:
    from lambdas.drift_alert.models import DriftAlertSettings

    variables = resource(batch_automation[2], DRIFT_FUNCTION)["Properties"]["Environment"]["Variables"]
    assert json.loads(variables["MODELS_CONFIG"]) == {
        FORECAST_PRODUCTION: {
            "model_name": "forecast",
            "serving_mode": "batch",
            "retrain_on_drift": True,
            "retrain_cooldown_hours": 48,
        }
    }
    settings = DriftAlertSettings.from_env(
        {
            "MODELS_CONFIG": variables["MODELS_CONFIG"],
            "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts",
            "STATE_TABLE_NAME": "drift-alert-state",
            "AUDIT_EVENT_BUS_NAME": "audit",
            "POWERTOOLS_SERVICE_NAME": "drift-alert",
            "POWERTOOLS_METRICS_NAMESPACE": "MLOps/DriftAlert",
        }
    )
    assert settings.endpoints[FORECAST_PRODUCTION].is_batch


def test_a_batch_models_drift_alert_reads_its_serving_stack_and_no_endpoint(
    batch_automation: tuple[App, EndpointAutomation, Template],
) -> None:
    role = role_principal(batch_automation[2], DRIFT_ROLE)
    assert role.is_allowed("cloudformation:DescribeStacks", FORECAST_STACK)
    for other in (f"{FORECAST_PRODUCTION}-v2", "mlops-forecast-staging", "mlops-churn-production"):
        assert not role.is_allowed(
            "cloudformation:DescribeStacks", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{other}/1a2b"
        )
    assert not role.is_allowed("cloudformation:UpdateStack", FORECAST_STACK)
    for action in ("DescribeEndpoint", "DescribeEndpointConfig", "DescribeModel"):
        assert not role.is_allowed(f"sagemaker:{action}", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:*")
    assert role.is_allowed("sagemaker:ListMonitoringExecutions", "*")


def test_a_batch_models_automation_passes_the_rule_packs(
    batch_automation: tuple[App, EndpointAutomation, Template],
) -> None:
    app = batch_automation[0]
    findings = [
        f"{violation.rule_name} at {resource.construct_path}"
        for pack in rule_packs(app)
        for violation in pack.validate_scope(app).violations
        for resource in violation.violating_resources
        if (resource.construct_path or "").startswith("Probe/Automation/")
    ]
    assert findings == []


def test_a_business_metric_of_which_less_is_better_reaches_the_traffic_shift(default_config: PlatformConfig) -> None:
    churn = default_config.models[0]
    shift = churn.traffic_shift
    assert shift is not None
    refunds = shift.business_metric.model_copy(update={"name": "Refunds", "direction": "lower_is_better"})
    model = churn.model_copy(update={"traffic_shift": shift.model_copy(update={"business_metric": refunds})})

    _, _, template = _automation_of(model)

    variables = resource(template, SHIFT_FUNCTION)["Properties"]["Environment"]["Variables"]
    assert (variables["BUSINESS_METRIC_NAME"], variables["BUSINESS_METRIC_DIRECTION"]) == ("Refunds", "lower_is_better")
