"""The drift alert's surroundings in a fake AWS account (moto, in process), for test_drift_alert.py.

The conftest of this folder sets the approval gate's environment for the whole session; the drift
alert reads other values under some of the same names (MODELS_CONFIG, ALERT_TOPIC_ARN, ...), so its
handler is imported with its own environment patched in only for the import (`load_handler`), which
leaves the session's environment, and the approval gate's tests, as they were.

moto models every call the drift alert makes except SageMaker's ListMonitoringExecutions (moto 5.2.5
raises NotImplementedError for it): `MonitoringStubber` answers that one operation with botocore's
Stubber and lets every other SageMaker call through to moto, DescribeProcessingJob included.
moto's EventBridge accepts every well-formed entry; where a test needs the audit bus to refuse the
retraining request, `RetrainingRequestStubber` answers that request alone and lets the audit event
through to moto.

The audit bus has the rules the platform puts on it: one per model's build stack, which starts the
build pipeline on that model's "Retraining Requested" events (here it forwards them to a queue), and
one forwarding "Drift Alert" audit events to a queue.

Two models serve in real time (an endpoint with a champion and a challenger variant), one in batch: its
production is a serving stack (CloudFormation, modelled by moto) whose champion parameter names the
package the batch transform runs, and Model Monitor publishes its metrics in the batch namespaces,
with the MonitoringSchedule dimension only.

Clarify's monitors (bias and feature attribution drift) are met through their runs: `clarify_run`
leaves a run's processing job (moto) and its report in S3, and returns the "SageMaker Processing Job
State Change" event EventBridge delivers when the run ends.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from unittest import mock

from botocore.stub import Stubber

from lambdas.common.contracts import (
    BATCH_DATA_METRICS_NAMESPACE,
    BATCH_MODEL_METRICS_NAMESPACE,
    COMPLETED_WITH_VIOLATIONS,
    DATA_METRICS_NAMESPACE,
    DATA_QUALITY,
    DRIFT_ALERT_DETAIL_TYPE,
    DRIFT_ALERT_SOURCE,
    MODEL_BIAS,
    MODEL_METRICS_NAMESPACE,
    MODEL_QUALITY,
    RETRAINING_DETAIL_TYPE,
    RETRAINING_SOURCE,
    VIOLATIONS_REPORT_NAME,
    drift_alarm_name,
    drift_metric_name,
    model_quality_alarm_name,
    monitoring_schedule_name,
)
from lambdas.drift_alert.claims import CLAIM_KEY_PREFIX
from tests.lambdas.conftest import ACCOUNT, REGION, batch_serving_stack, client, service_role
from tests.sqs_queues import drain, rule_queue, topic_queue

CHURN_ENDPOINT = "mlops-churn-production"
DEMAND_ENDPOINT = "mlops-demand-production"
# A batch model's production: its serving stack, transform pipeline and alarms share this name.
FORECAST_TRANSFORM = "mlops-forecast-production"
MONITORED_ENDPOINTS: dict[str, dict[str, Any]] = {
    # Retrains on drift, at most once a day.
    CHURN_ENDPOINT: {
        "model_name": "churn",
        "serving_mode": "realtime",
        "retrain_on_drift": True,
        "retrain_cooldown_hours": 24,
    },
    # Alerts only.
    DEMAND_ENDPOINT: {
        "model_name": "demand",
        "serving_mode": "realtime",
        "retrain_on_drift": False,
        "retrain_cooldown_hours": 24,
    },
    # Scored in batch; retrains on drift.
    FORECAST_TRANSFORM: {
        "model_name": "forecast",
        "serving_mode": "batch",
        "retrain_on_drift": True,
        "retrain_cooldown_hours": 24,
    },
}

DRIFT_ENVIRONMENT = {
    "MODELS_CONFIG": json.dumps(MONITORED_ENDPOINTS),
    "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-drift-alerts",
    "STATE_TABLE_NAME": "drift-alert-state",
    "AUDIT_EVENT_BUS_NAME": "mlops-audit",
    "POWERTOOLS_SERVICE_NAME": "drift-alert",
    "POWERTOOLS_METRICS_NAMESPACE": "MLOps/DriftAlert",
}

RETRAINING_REQUESTED = RETRAINING_DETAIL_TYPE
# Keys the test hooks below leave in botocore's per-call context, for their later hook on the same call.
_STUBBED = "partially_stubbed"
MONITORING_BUCKET = "mlops-monitoring"
# Model Monitor's MonitoringType of each kind of schedule, as ListMonitoringExecutions reports it.
MONITORING_TYPES = {DATA_QUALITY: "DataQuality", MODEL_QUALITY: "ModelQuality"}
SCHEDULED = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
# Model Monitor's report for the churn endpoint's drifted hour (constraint_violations.json).
CHURN_VIOLATIONS = {
    "violations": [
        {
            "feature_name": "tenure",
            "constraint_check_type": "baseline_drift_check",
            "description": "Baseline drift distance: 0.52 exceeds threshold: 0.1",
        },
        {
            "feature_name": "monthly_charges",
            "constraint_check_type": "baseline_drift_check",
            "description": "Baseline drift distance: 0.31 exceeds threshold: 0.1",
        },
        {
            "feature_name": "total_charges",
            "constraint_check_type": "data_type_check",
            "description": "Data type of feature total_charges: 4.2% of values are not Fractional",
        },
    ]
}
# Model Monitor's model-quality report of an hour whose AUC fell below the baseline's constraint.
AUC_VIOLATIONS = {
    "violations": [
        {
            "metric_name": "auc",
            "constraint_check_type": "LessThanThreshold",
            "description": "Metric auc with 0.71 was LessThanThreshold '0.8'",
        }
    ]
}


# Clarify's bias drift report of an hour whose predictions favour one age group more than the baseline did.
BIAS_VIOLATIONS = {
    "version": "1.0",
    "violations": [
        {
            "facet": "age",
            "facet_value": "40",
            "metric_name": "DPPL",
            "constraint_check_type": "bias_drift_check",
            "description": "Value -0.3 does not meet the constraint requirement",
        },
        {
            "facet": "age",
            "facet_value": "40",
            "metric_name": "CI",
            "constraint_check_type": "bias_drift_check",
            "description": "Value 0.0751544567666083 does not meet the constraint requirement",
        },
    ],
}
# Clarify's feature attribution drift report: the ranking of the SHAP values moved (nDCG below 0.9).
ATTRIBUTION_VIOLATIONS = {
    "version": "1.0",
    "violations": [
        {
            "label": "label0",
            "metric_name": "shap",
            "constraint_check_type": "feature_attribution_drift_check",
            "description": "Feature attribution drift 0.73 exceeds threshold 0.9",
        }
    ],
}
CLARIFY_IMAGE = "205585389593.dkr.ecr.us-east-1.amazonaws.com/sagemaker-clarify-processing:1.0"


def load_handler() -> ModuleType:
    """Import the drift alert's handler as Lambda would: with its environment set before the import."""
    with mock.patch.dict(os.environ, DRIFT_ENVIRONMENT):
        return importlib.import_module("lambdas.drift_alert.handler")


class PartialStubber(Stubber):
    """botocore's Stubber for the calls `stubs` selects; every other call of the client reaches moto.

    Stubber intercepts every call of a client with two hooks; both are narrowed here. The choice is
    made on the call's parameters (the first hook) and handed to the second in the call's context,
    which botocore passes to both.
    """

    def stubs(self, operation_name: str, params: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def _assert_expected_params(self, model: Any, params: Any, context: Any, **kwargs: Any) -> None:
        context[_STUBBED] = self.stubs(model.name, params)
        if context[_STUBBED]:
            super()._assert_expected_params(model, params, context, **kwargs)

    def _get_response_handler(self, model: Any, params: Any, context: Any, **kwargs: Any) -> Any:
        if context.get(_STUBBED):
            return super()._get_response_handler(model, params, context, **kwargs)
        return None


class MonitoringStubber(PartialStubber):
    """SageMaker's ListMonitoringExecutions, which moto does not model."""

    def stubs(self, operation_name: str, params: Mapping[str, Any]) -> bool:
        return operation_name == "ListMonitoringExecutions"

    def answer_latest(self, schedule_name: str, summaries: list[dict[str, Any]]) -> None:
        """Queue the answer to the one request the drift alert makes for the schedule's latest execution."""
        self.add_response(
            "list_monitoring_executions",
            {"MonitoringExecutionSummaries": summaries},
            {
                "MonitoringScheduleName": schedule_name,
                "SortBy": "ScheduledTime",
                "SortOrder": "Descending",
                "MaxResults": 1,
            },
        )


def puts(detail_type: str) -> Callable[[Mapping[str, Any]], bool]:
    """Whether the parameters of a PutEvents call put events of this detail type."""
    return lambda params: any(entry.get("DetailType") == detail_type for entry in params.get("Entries", []))


class RetrainingRequestStubber(PartialStubber):
    """PutEvents of the "Retraining Requested" event only: the audit event still reaches moto's bus."""

    def stubs(self, operation_name: str, params: Mapping[str, Any]) -> bool:
        return operation_name == "PutEvents" and puts(RETRAINING_REQUESTED)(params)

    def refuse(self, error_code: str, message: str) -> None:
        """Queue the answer EventBridge gives when it does not accept the entry: 200, FailedEntryCount 1."""
        self.add_response(
            "put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": error_code, "ErrorMessage": message}]}
        )


def is_batch(serving_name: str) -> bool:
    return bool(MONITORED_ENDPOINTS.get(serving_name, {}).get("serving_mode") == "batch")


def monitor_metric(serving_name: str, kind: str, name: str, schedule: str) -> dict[str, Any]:
    """A Model Monitor metric in an alarm's configuration, as Model Monitor publishes it: an endpoint's
    with the dimensions Endpoint and MonitoringSchedule, a batch transform's in the batch namespaces
    with MonitoringSchedule only."""
    if is_batch(serving_name):
        namespace = BATCH_MODEL_METRICS_NAMESPACE if kind == MODEL_QUALITY else BATCH_DATA_METRICS_NAMESPACE
        return {"namespace": namespace, "name": name, "dimensions": {"MonitoringSchedule": schedule}}
    namespace = MODEL_METRICS_NAMESPACE if kind == MODEL_QUALITY else DATA_METRICS_NAMESPACE
    return {
        "namespace": namespace,
        "name": name,
        "dimensions": {"Endpoint": serving_name, "MonitoringSchedule": schedule},
    }


def alarm_event(
    alarm_name: str = drift_alarm_name(CHURN_ENDPOINT, "tenure"),
    *,
    state: str = "ALARM",
    previous: str = "OK",
    features: tuple[str, ...] = ("tenure",),
    endpoint: str = CHURN_ENDPOINT,
    schedule: str | None = None,
    event_id: str = "alarm-event-1",
) -> dict[str, Any]:
    """A "CloudWatch Alarm State Change" event of an alarm on Model Monitor drift metrics, as EventBridge
    delivers it (the shape of CloudWatch's documented example)."""
    schedule = schedule or monitoring_schedule_name(endpoint, DATA_QUALITY)
    metrics = [
        {
            "id": f"m{index}",
            "metricStat": {
                "metric": monitor_metric(endpoint, DATA_QUALITY, drift_metric_name(feature), schedule),
                "period": 3600,
                "stat": "Maximum",
            },
            "returnData": True,
        }
        for index, feature in enumerate(features)
    ]
    reason = (
        "Threshold Crossed: 1 out of the last 1 datapoints [0.52 (01/01/26 13:00:00)] was greater than the"
        f" threshold (0.1) (minimum 1 datapoint for {previous} -> {state} transition)."
    )
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT,
        "time": "2026-01-01T13:05:00Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm_name}"],
        "detail": {
            "alarmName": alarm_name,
            "state": {"value": state, "reason": reason, "timestamp": "2026-01-01T13:05:00.000+0000"},
            "previousState": {"value": previous, "reason": "earlier", "timestamp": "2026-01-01T12:05:00.000+0000"},
            "configuration": {"description": f"Feature drift on {endpoint}", "metrics": metrics},
        },
    }


def model_quality_alarm_event(
    metric: str = "auc", *, endpoint: str = CHURN_ENDPOINT, event_id: str = "alarm-event-1"
) -> dict[str, Any]:
    """The state change of the model-quality alarm the production template has when the model has ground
    truth (mlops_constructs.serving.monitor): the gate metric worse than the model's threshold."""
    event = alarm_event(model_quality_alarm_name(endpoint, metric), endpoint=endpoint, event_id=event_id)
    detail = event["detail"]
    detail["state"]["reason"] = (
        "Threshold Crossed: 1 out of the last 1 datapoints [0.71 (01/01/26 13:00:00)] was less than the"
        " threshold (0.8) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    detail["configuration"] = {
        "description": f"Model-quality {metric} of {endpoint} below 0.8",
        "metrics": [
            {
                "id": "m0",
                "metricStat": {
                    "metric": monitor_metric(
                        endpoint, MODEL_QUALITY, metric, monitoring_schedule_name(endpoint, MODEL_QUALITY)
                    ),
                    "period": 3600,
                    "stat": "Minimum",
                },
                "returnData": True,
            }
        ],
    }
    return event


@dataclass
class DriftWorld:
    """Production endpoints with their model packages, monitoring outputs, and what the alert reaches."""

    sagemaker: Any = field(default_factory=lambda: client("sagemaker"))
    s3: Any = field(default_factory=lambda: client("s3"))
    sqs: Any = field(default_factory=lambda: client("sqs"))
    dynamodb: Any = field(default_factory=lambda: client("dynamodb"))
    alert_queue: str = ""
    audit_queue: str = ""
    # Per model: the queue standing in for its build pipeline, and every request it has received.
    request_queues: dict[str, str] = field(default_factory=dict)
    requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    package_arns: dict[str, list[str]] = field(default_factory=dict)
    _jobs: int = 0

    def build(self) -> DriftWorld:
        self.s3.create_bucket(Bucket=MONITORING_BUCKET)
        self.dynamodb.create_table(
            TableName=DRIFT_ENVIRONMENT["STATE_TABLE_NAME"],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.update_time_to_live(
            TableName=DRIFT_ENVIRONMENT["STATE_TABLE_NAME"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
        self.alert_queue = topic_queue(client("sns"), self.sqs, topic="mlops-drift-alerts", queue="drift-alerts")
        events = client("events")
        bus = DRIFT_ENVIRONMENT["AUDIT_EVENT_BUS_NAME"]
        events.create_event_bus(Name=bus)
        self.audit_queue = rule_queue(
            events,
            self.sqs,
            bus=bus,
            rule="drift-alerts",
            pattern={"source": [DRIFT_ALERT_SOURCE], "detail-type": [DRIFT_ALERT_DETAIL_TYPE]},
            queue="drift-audit",
        )
        role_arn = service_role("drift-world", "sagemaker.amazonaws.com")
        for endpoint, model in MONITORED_ENDPOINTS.items():
            self._build_stack_rule(model["model_name"])
            if is_batch(endpoint):
                self._serve_in_batch(endpoint, model["model_name"])
            else:
                self._serve(endpoint, model["model_name"], role_arn)
        return self

    # --- Model Monitor ---------------------------------------------------------------------------------

    def monitoring_execution(
        self,
        endpoint: str = CHURN_ENDPOINT,
        *,
        report: dict[str, Any] | bytes | None = None,
        status: str = "CompletedWithViolations",
        schedule: str | None = None,
    ) -> dict[str, Any]:
        """What Model Monitor leaves behind after an hourly run: its processing job (moto), its violations
        report in S3 (if any), and the run's summary as ListMonitoringExecutions answers it. Each call is
        the next hour's run (the first is scheduled at SCHEDULED)."""
        schedule = schedule or monitoring_schedule_name(endpoint, DATA_QUALITY)
        self._jobs += 1
        job_name = f"model-monitoring-202601011300-{self._jobs:08d}"
        prefix = f"monitoring/{endpoint}/{schedule}/2026/01/01/13"
        self.sagemaker.create_processing_job(
            ProcessingJobName=job_name,
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/model-monitor",
            AppSpecification={
                "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
            },
            ProcessingResources={
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}
            },
            ProcessingOutputConfig={
                "Outputs": [
                    {
                        "OutputName": "result",
                        "S3Output": {
                            "S3Uri": f"s3://{MONITORING_BUCKET}/{prefix}",
                            "LocalPath": "/opt/ml/processing/resultdata",
                            "S3UploadMode": "Continuous",
                        },
                    }
                ]
            },
        )
        if report is not None:
            body = report if isinstance(report, bytes) else json.dumps(report).encode()
            self.s3.put_object(Bucket=MONITORING_BUCKET, Key=f"{prefix}/{VIOLATIONS_REPORT_NAME}", Body=body)
        scheduled = SCHEDULED + timedelta(hours=self._jobs - 1)
        types = {monitoring_schedule_name(endpoint, kind): type_ for kind, type_ in MONITORING_TYPES.items()}
        # A batch transform's executions name no endpoint.
        served = {} if is_batch(endpoint) else {"EndpointName": endpoint}
        return {
            "MonitoringScheduleName": schedule,
            "ScheduledTime": scheduled,
            "CreationTime": scheduled,
            "LastModifiedTime": scheduled,
            "MonitoringExecutionStatus": status,
            "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{job_name}",
            "MonitoringType": types.get(schedule, MONITORING_TYPES[DATA_QUALITY]),
        } | served

    def clarify_run(
        self,
        endpoint: str = CHURN_ENDPOINT,
        kind: str = MODEL_BIAS,
        *,
        report: dict[str, Any] | None = None,
        exit_message: str = f"{COMPLETED_WITH_VIOLATIONS}: Job completed successfully with 2 violations.",
        event_id: str = "run-event-1",
        job_name: str | None = None,
    ) -> dict[str, Any]:
        """A run of the endpoint's Clarify monitor of `kind`: its processing job (moto) writing under
        `<monitoring output>/<kind>/`, its report (if any), and the state change event of its end."""
        schedule = monitoring_schedule_name(endpoint, kind)
        if job_name is None:
            self._jobs += 1
            job_name = f"model-{kind}-monitoring-202601011300-{self._jobs:08d}"
        output = f"s3://{MONITORING_BUCKET}/monitoring/{endpoint}/{kind}/{schedule}/2026/01/01/13"
        job_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{job_name}"
        processing_job: dict[str, Any] = {
            "ProcessingJobName": job_name,
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/model-monitor",
            "AppSpecification": {"ImageUri": CLARIFY_IMAGE},
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}
            },
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "result",
                        "S3Output": {
                            "S3Uri": output,
                            "LocalPath": "/opt/ml/processing/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        }
        self.sagemaker.create_processing_job(**processing_job)
        if report is not None:
            key = f"{output.removeprefix(f's3://{MONITORING_BUCKET}/')}/{VIOLATIONS_REPORT_NAME}"
            self.s3.put_object(Bucket=MONITORING_BUCKET, Key=key, Body=json.dumps(report).encode())
        # SageMaker writes the schedule's name in lower case in its ARN.
        schedule_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/{schedule.lower()}"
        return {
            "version": "0",
            "id": event_id,
            "detail-type": "SageMaker Processing Job State Change",
            "source": "aws.sagemaker",
            "account": ACCOUNT,
            "time": "2026-01-01T13:21:07Z",
            "region": REGION,
            "resources": [job_arn],
            "detail": processing_job
            | {
                "ProcessingJobArn": job_arn,
                "ProcessingJobStatus": "Completed",
                "ExitMessage": exit_message,
                "CreationTime": 1767272460000,
                "ProcessingStartTime": 1767272580000,
                "ProcessingEndTime": 1767273660000,
                "LastModifiedTime": 1767273667000,
                "MonitoringScheduleArn": schedule_arn,
                "Tags": {},
            },
        }

    # --- What the drift alert did ----------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts published since the last call: SNS envelopes with Subject and Message."""
        return [json.loads(body) for body in self._drain(self.alert_queue)]

    def audit_events(self) -> list[dict[str, Any]]:
        """Audit events put on the bus since the last call."""
        return [json.loads(body) for body in self._drain(self.audit_queue)]

    def retraining_requests(self, model_name: str) -> list[dict[str, Any]]:
        """Every "Retraining Requested" event the model's build stack has received, in order (as
        EventBridge delivers them: `id` is the EventId PutEvents answered)."""
        self.requests[model_name] += [json.loads(body) for body in self._drain(self.request_queues[model_name])]
        return self.requests[model_name]

    def retraining_claim(self, model_name: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=DRIFT_ENVIRONMENT["STATE_TABLE_NAME"], Key={"pk": {"S": f"{CLAIM_KEY_PREFIX}{model_name}"}}
        ).get("Item")
        return {name: next(iter(value.values())) for name, value in item.items()} if item else None

    def idempotency_records(self, key_prefix: str) -> list[dict[str, Any]]:
        """The records Powertools idempotency keeps in the state table (keys "<key_prefix>#<hash>")."""
        items = self.dynamodb.scan(
            TableName=DRIFT_ENVIRONMENT["STATE_TABLE_NAME"],
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": f"{key_prefix}#"}},
        )["Items"]
        return [{name: next(iter(value.values())) for name, value in item.items()} for item in items]

    def pass_time_on_claim(self, model_name: str, *, hours: int) -> None:
        """As if the model's last retraining was requested `hours` earlier than recorded."""
        claim = self.retraining_claim(model_name)
        assert claim is not None
        self.dynamodb.update_item(
            TableName=DRIFT_ENVIRONMENT["STATE_TABLE_NAME"],
            Key={"pk": {"S": f"{CLAIM_KEY_PREFIX}{model_name}"}},
            UpdateExpression="SET last_requested = :earlier",
            ExpressionAttributeValues={":earlier": {"N": str(int(claim["last_requested"]) - hours * 3600)}},
        )

    # --- building blocks -------------------------------------------------------------------------------

    def _build_stack_rule(self, model_name: str) -> None:
        """The rule each model's build stack puts on the audit bus (mlops_constructs.model_project), with
        a queue in place of the build pipeline it starts."""
        bus, rule = DRIFT_ENVIRONMENT["AUDIT_EVENT_BUS_NAME"], f"{model_name}-retraining-requests"
        self.requests[model_name] = []
        self.request_queues[model_name] = rule_queue(
            client("events"),
            self.sqs,
            bus=bus,
            rule=rule,
            pattern={
                "source": [RETRAINING_SOURCE],
                "detail-type": [RETRAINING_DETAIL_TYPE],
                "detail": {"model_name": [model_name]},
            },
            queue=rule,
        )

    def _serve(self, endpoint: str, model_name: str, role_arn: str) -> None:
        """The endpoint as the deploy pipeline leaves it: champion at 90, challenger at 10."""
        self.sagemaker.create_model_package_group(ModelPackageGroupName=model_name)
        arns = [self._register(model_name) for _ in range(2)]
        self.package_arns[endpoint] = arns
        variants = []
        for variant, package_arn, weight in (("champion", arns[0], 90.0), ("challenger", arns[1], 10.0)):
            sagemaker_model = f"{endpoint}-{variant}"
            self.sagemaker.create_model(
                ModelName=sagemaker_model, PrimaryContainer={"ModelPackageName": package_arn}, ExecutionRoleArn=role_arn
            )
            variants.append(
                {
                    "VariantName": variant,
                    "ModelName": sagemaker_model,
                    "InitialVariantWeight": weight,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            )
        self.sagemaker.create_endpoint_config(EndpointConfigName=f"{endpoint}-config", ProductionVariants=variants)
        self.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")

    def _serve_in_batch(self, serving_name: str, model_name: str) -> None:
        """The batch model's production serving stack as the deploy pipeline leaves it: its champion
        parameter names the package the scheduled transform runs."""
        self.sagemaker.create_model_package_group(ModelPackageGroupName=model_name)
        champion = self._register(model_name)
        self.package_arns[serving_name] = [champion]
        batch_serving_stack(serving_name, champion)

    def _register(self, group: str) -> str:
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{group}:latest"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        return arn

    def _drain(self, queue_url: str) -> list[str]:
        return drain(self.sqs, queue_url)
