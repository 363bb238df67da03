"""EndpointAutomation and monitoring wiring: drift alarms -> drift alert (-> retraining), and the
scheduled traffic shift, with their least privilege.

The handlers' behaviour is tested in tests/lambdas; this file checks what delivers events to them
and what they are allowed to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Template

from config.schema import PlatformConfig
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


def test_drift_alert_knows_its_endpoint_cooldown_and_retraining_choice(
    churn_deploy: Template, default_config: PlatformConfig
) -> None:
    variables = resource(churn_deploy, DRIFT_FUNCTION)["Properties"]["Environment"]["Variables"]
    monitoring = default_config.models[0].monitoring
    assert json.loads(variables["MODELS_CONFIG"]) == {
        "mlops-churn-production": {
            "model_name": "churn",
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
