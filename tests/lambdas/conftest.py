"""Fixtures for the Lambda handler tests: a fake AWS account (moto, in process) and the world around
the approval gate in it: the model registry, the models' registrations with the platform (SSM), the
metrics bucket (versioned, as a model's data bucket is; `unversioned_aws` has one that is not), the alert
topic, the audit bus, the idempotency table, the deploy pipelines and what they leave in production
(endpoints, and the serving stacks of batch models).

The environment is set here, before any test module imports a handler, because handlers read it at
import time (their boto3 clients are created at first use). Credentials are fake and moto is imported
first, so that every boto3 client, including the handlers' module-level ones, is intercepted and none
can reach AWS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any, Literal
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters
from moto import mock_aws
from moto.core.utils import utcnow

from lambdas.common.contracts import CHAMPION_PARAMETER, model_registration_parameter, model_registry_prefix
from tests.sqs_queues import drain, rule_queue, topic_queue

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
PLATFORM = "mlops"


def _gated(
    model: str,
    metric: str,
    direction: str,
    threshold: float,
    *,
    serving_mode: str = "realtime",
    bias_policy: str | None = None,
) -> dict[str, Any]:
    """One model's registration with the gate, named as the platform names its resources (without a
    bias policy: as registered before models had Clarify checks)."""
    return ({} if bias_policy is None else {"bias_policy": bias_policy}) | {
        "model_name": model,
        "metric_name": metric,
        "metric_direction": direction,
        "threshold": threshold,
        "deploy_pipeline_name": f"{model}-deploy",
        "serving_mode": serving_mode,
        "production_serving_name": f"{model}-production",
    }


GATED_MODELS: dict[str, dict[str, Any]] = {
    # A classifier gated on AUC, as in the platform's default configuration.
    "churn-model": _gated("churn", "auc", "higher_is_better", 0.8),
    # A regressor gated on R²: the metric is looked up in whichever *_metrics section holds it.
    "demand-model": _gated("demand", "r2", "higher_is_better", 0.6),
    # A regressor gated on an error: lower is better, the threshold is a ceiling.
    "price-model": _gated("price", "rmse", "lower_is_better", 12.0),
    # A multiclass classifier.
    "segment-model": _gated("segment", "weighted_f1", "higher_is_better", 0.7),
    # A batch model: no endpoint, its production serving stack names the package it runs.
    "forecast-model": _gated("forecast", "mae", "lower_is_better", 5.0, serving_mode="batch"),
    # Classifiers with Clarify facets: one blocks a package whose bias is outside the bounds, one reports it.
    "loans-model": _gated("loans", "auc", "higher_is_better", 0.8, bias_policy="block"),
    "offers-model": _gated("offers", "auc", "higher_is_better", 0.8, bias_policy="report"),
}

GATE_ENVIRONMENT = {
    "MODEL_REGISTRY_PREFIX": model_registry_prefix(PLATFORM),
    "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-alerts",
    "IDEMPOTENCY_TABLE_NAME": "approval-gate-idempotency",
    "AUDIT_EVENT_BUS_NAME": "mlops-audit",
    "POWERTOOLS_SERVICE_NAME": "approval-gate",
    "POWERTOOLS_METRICS_NAMESPACE": "MLOps",
    # The gate knows its own package changes by its role and the session Lambda names after the function.
    "GATE_ROLE_NAME": "mlops-approval-ApprovalGateHandlerRole",
    "AWS_LAMBDA_FUNCTION_NAME": "approval-gate",
}

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        **GATE_ENVIRONMENT,
    }
)
os.environ.pop("AWS_PROFILE", None)

METRICS_BUCKET = "mlops-model-artifacts"
# The documents a package points at that the gate reads, and where the package carries each.
Report = Literal["metrics", "bias"]
REPORTS: dict[Report, tuple[str, str]] = {
    "metrics": ("ModelQuality", "Statistics"),
    "bias": ("Bias", "PostTrainingReport"),
}


class PackageCards:
    """The model cards of the fake account's packages: moto 5.2.5 keeps no ModelCard of a model package
    (it drops it from CreateModelPackage and UpdateModelPackage and never describes one), so this keeps
    them beside moto, for the sagemaker clients it is attached to: DescribeModelPackage answers the
    package's card, UpdateModelPackage's ModelCard (status) changes it, as SageMaker's do.
    """

    def __init__(self) -> None:
        self.cards: dict[str, dict[str, str]] = {}
        self._attached: set[int] = set()

    def attach(self, sagemaker: Any) -> None:
        if id(sagemaker) in self._attached:
            return
        events = sagemaker.meta.events
        events.register("provide-client-params.sagemaker.UpdateModelPackage", self._update)
        events.register("before-call.sagemaker.UpdateModelPackage", self._card_only_update)
        events.register("after-call.sagemaker.DescribeModelPackage", self._describe)
        self._attached.add(id(sagemaker))

    def _update(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        # The request is validated first, as botocore would (the hook runs before its validation).
        validate_parameters(params, model.input_shape)
        card = params.pop("ModelCard", None)
        if card is None:
            return
        stored = self.cards.get(params["ModelPackageArn"])
        if stored is None:
            raise AssertionError(f"{params['ModelPackageArn']} has no model card to update (SageMaker would refuse)")
        if stored["ModelCardStatus"] == "Archived":
            # "No more updates can be made to the model card" (SageMaker's API reference).
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "Model Card is in Archived state."}},
                "UpdateModelPackage",
            )
        stored.update(card)

    @staticmethod
    def _card_only_update(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        """An update of the card alone is answered here: moto would clear the package's approval status."""
        request = json.loads(params["body"] or b"{}")
        if set(request) != {"ModelPackageArn"}:
            return None
        return SimpleNamespace(status_code=200, headers={}), {"ModelPackageArn": request["ModelPackageArn"]}

    def _describe(self, parsed: dict[str, Any], **_: Any) -> None:
        card = self.cards.get(parsed.get("ModelPackageArn", ""))
        if card is not None:
            parsed["ModelCard"] = dict(card)


MODEL_CARDS = PackageCards()
# What every package the build registers carries since the governance checks: a card pending review.
PENDING_CARD = {
    "ModelCardContent": json.dumps({"intended_uses": {"risk_rating": "Medium"}}),
    "ModelCardStatus": "PendingReview",
}


@dataclass
class LambdaContext:
    """The attributes of the Lambda context that Powertools reads."""

    function_name: str = "approval-gate"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:approval-gate"
    aws_request_id: str = "request-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@cache
def client(service: str) -> Any:
    """One client per service for the whole run: moto intercepts clients created before a mock starts
    (it is imported first), and creating clients anew for every test would dominate the suite's time."""
    return _SESSION.client(service)


_SESSION = boto3.Session()


def service_role(name: str, service: str) -> str:
    """The ARN of a new role that `service` (e.g. "sagemaker.amazonaws.com") may assume."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    arn: str = client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return arn


def batch_serving_stack(stack_name: str, champion_arn: str) -> None:
    """A batch model's production serving stack, reduced to what is read of it: its champion parameter."""
    template = {
        "Parameters": {CHAMPION_PARAMETER: {"Type": "String"}},
        "Resources": {"Results": {"Type": "AWS::SNS::Topic"}},  # a stack needs a resource; any will do
    }
    client("cloudformation").create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": CHAMPION_PARAMETER, "ParameterValue": champion_arn}],
    )


@dataclass
class FakeAccount:
    """The approval gate's surroundings in moto, with the verbs the tests read like a story with."""

    sagemaker: Any = field(default_factory=lambda: client("sagemaker"))
    ssm: Any = field(default_factory=lambda: client("ssm"))
    s3: Any = field(default_factory=lambda: client("s3"))
    sqs: Any = field(default_factory=lambda: client("sqs"))
    codepipeline: Any = field(default_factory=lambda: client("codepipeline"))
    # A model's data bucket is versioned (mlops_constructs/model_project.py); an older bucket may not be.
    versioned: bool = True
    alert_queue: str = ""
    audit_queue: str = ""
    role_arn: str = ""
    # How many minutes after the real time S3 stamps the next write made after a registration.
    _minutes_on: int = 0

    def build(self) -> FakeAccount:
        MODEL_CARDS.cards.clear()
        MODEL_CARDS.attach(self.sagemaker)
        self.s3.create_bucket(Bucket=METRICS_BUCKET)
        if self.versioned:
            self.s3.put_bucket_versioning(Bucket=METRICS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        client("dynamodb").create_table(
            TableName=GATE_ENVIRONMENT["IDEMPOTENCY_TABLE_NAME"],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # Alerts: the topic, read through a subscribed queue.
        self.alert_queue = topic_queue(client("sns"), self.sqs, topic="mlops-alerts", queue="alerts")
        # Audit trail: the bus, read through a rule that forwards the gate's events to a queue.
        events = client("events")
        bus = GATE_ENVIRONMENT["AUDIT_EVENT_BUS_NAME"]
        events.create_event_bus(Name=bus)
        self.audit_queue = rule_queue(
            events,
            self.sqs,
            bus=bus,
            rule="approval-decisions",
            pattern={"source": ["mlops.approval-gate"]},
            queue="audit",
        )
        # The model registry, each model's deploy pipeline, and the registration its deploy stack writes.
        self.role_arn = service_role("deploy-pipeline", "codepipeline.amazonaws.com")
        for group, model in GATED_MODELS.items():
            self.sagemaker.create_model_package_group(ModelPackageGroupName=group)
            self.create_deploy_pipeline(model["deploy_pipeline_name"])
            self.register_model(group, json.dumps(model))
        return self

    def create_deploy_pipeline(self, name: str) -> None:
        self.codepipeline.create_pipeline(pipeline=_deploy_pipeline(name, self.role_arn))

    def register_model(self, group: str, registration: str) -> None:
        """What a model's deploy stack does: register the model's group with the platform."""
        self.ssm.put_parameter(
            Name=model_registration_parameter(PLATFORM, group), Value=registration, Type="String", Overwrite=True
        )

    def register_package(
        self,
        group: str,
        metrics: dict[str, Any] | bytes | None,
        *,
        card: dict[str, str] | None = PENDING_CARD,
        bias_report: dict[str, Any] | bytes | None = None,
        written_after_registration: Collection[Report] = (),
    ) -> str:
        """What the build pipeline does: upload the evaluation report (and the post-training bias report),
        register a pending package with its model card (`card=None`: a package from before cards). The
        reports named in `written_after_registration` are uploaded only once the package is registered."""
        versions = self.sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
        reports: dict[Report, tuple[str, dict[str, Any] | bytes | None]] = {
            "metrics": (f"{group}/evaluation-{len(versions) + 1}.json", metrics),
            "bias": (f"{group}/bias-{len(versions) + 1}/analysis.json", bias_report),
        }
        model_metrics: dict[str, Any] = {}
        for report, (key, document) in reports.items():
            if document is not None:
                section, kind = REPORTS[report]
                uri = f"s3://{METRICS_BUCKET}/{key}"
                model_metrics[section] = {kind: {"ContentType": "application/json", "S3Uri": uri}}
                if report not in written_after_registration:
                    self._upload(key, document)
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            ModelMetrics=model_metrics,
            InferenceSpecification={
                "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{group}:latest"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        if card is not None:
            MODEL_CARDS.cards[arn] = dict(card)
        if written_after_registration:
            with self._after_registration():
                for report in written_after_registration:
                    key, document = reports[report]
                    if document is not None:
                        self._upload(key, document)
        return arn

    def write_after_registration(self, arn: str, report: Report, document: dict[str, Any] | bytes | None) -> None:
        """What a push to the model's repository can do once the package is registered (the model's build
        roles write its pipeline outputs): write one of the documents the package points at again, or
        delete it (`document=None`)."""
        section, kind = REPORTS[report]
        uri = self.package(arn)["ModelMetrics"][section][kind]["S3Uri"]
        key = uri.removeprefix(f"s3://{METRICS_BUCKET}/")
        with self._after_registration():
            if document is None:
                self.s3.delete_object(Bucket=METRICS_BUCKET, Key=key)
            else:
                self._upload(key, document)

    def delete_for_good(self, uri: str) -> None:
        """Delete every version of the object at `uri` (what its bucket's owner can do)."""
        key = uri.removeprefix(f"s3://{METRICS_BUCKET}/")
        history = self.s3.list_object_versions(Bucket=METRICS_BUCKET, Prefix=key)
        for entry in [*history.get("Versions", []), *history.get("DeleteMarkers", [])]:
            self.s3.delete_object(Bucket=METRICS_BUCKET, Key=entry["Key"], VersionId=entry["VersionId"])

    @contextmanager
    def _after_registration(self) -> Iterator[None]:
        """S3 (and moto) keep LastModified to the second, so a write in the second a package was registered
        counts as registered: what a test writes "after registration" is stamped by moto's S3 a minute on
        (and each later such write another minute on)."""
        self._minutes_on += 1
        with mock.patch("moto.s3.models.utcnow", return_value=utcnow() + timedelta(minutes=self._minutes_on)):
            yield

    def _upload(self, key: str, document: dict[str, Any] | bytes) -> None:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.s3.put_object(Bucket=METRICS_BUCKET, Key=key, Body=body)

    def card_status(self, arn: str) -> str | None:
        return self.package(arn).get("ModelCard", {}).get("ModelCardStatus")

    def set_status(self, arn: str, status: str, *, by: str = "approver-alice", description: str = "") -> dict:
        """What an approver does in Studio; returns the event EventBridge then delivers to the gate."""
        reason = {"ApprovalDescription": description} if description else {}
        self.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status, **reason)
        return state_change_event(self.package(arn), changed_by=by)

    def serve_in_production(self, group: str, weights: dict[str, tuple[str, float]]) -> None:
        """What the deploy pipeline leaves behind: the model's production endpoint, a variant per
        name in `weights` serving (package ARN, weight)."""
        endpoint = GATED_MODELS[group]["production_serving_name"]
        variants = []
        for variant, (package_arn, weight) in weights.items():
            model_name = f"{endpoint}-{variant}-{package_arn.rsplit('/', 1)[-1]}"
            self.sagemaker.create_model(
                ModelName=model_name, PrimaryContainer={"ModelPackageName": package_arn}, ExecutionRoleArn=self.role_arn
            )
            variants.append(
                {
                    "VariantName": variant,
                    "ModelName": model_name,
                    "InitialVariantWeight": weight,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            )
        config = f"{endpoint}-config-{len(self.sagemaker.list_endpoint_configs()['EndpointConfigs'])}"
        self.sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants)
        self.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)

    def serve_in_batch(self, group: str, champion_arn: str) -> None:
        """What the deploy pipeline leaves behind for a batch model: its production serving stack, whose
        champion parameter names the package the batch transform runs."""
        batch_serving_stack(GATED_MODELS[group]["production_serving_name"], champion_arn)

    def package(self, arn: str) -> dict:
        return self.sagemaker.describe_model_package(ModelPackageName=arn)

    def deploy_executions(self, pipeline: str) -> list[dict]:
        """Executions of a deploy pipeline, with the variables they were started with."""
        summaries = self.codepipeline.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
        return [
            self.codepipeline.get_pipeline_execution(
                pipelineName=pipeline, pipelineExecutionId=summary["pipelineExecutionId"]
            )["pipelineExecution"]
            for summary in summaries
        ]

    def executions_started(self, pipeline: str) -> int:
        return len(self.codepipeline.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"])

    def alerts(self) -> list[dict]:
        """Alerts published since the last call: SNS envelopes with Subject and Message."""
        return [json.loads(body) for body in self._drain(self.alert_queue)]

    def audit_events(self) -> list[dict]:
        """Audit events put on the bus since the last call."""
        return [json.loads(body) for body in self._drain(self.audit_queue)]

    def _drain(self, queue_url: str) -> list[str]:
        return drain(self.sqs, queue_url)


def state_change_event(package: dict, *, changed_by: str, event_id: str = "event-1") -> dict:
    """The "SageMaker Model Package State Change" event for a described package, as JSON delivers it."""
    detail = {
        key: package[key]
        for key in (
            "ModelPackageGroupName",
            "ModelPackageVersion",
            "ModelPackageArn",
            "ModelPackageStatus",
            "ModelApprovalStatus",
            "ApprovalDescription",
            "ModelMetrics",
            "CreatedBy",
            "CreationTime",
            "LastModifiedTime",
        )
        if key in package
    }
    detail["LastModifiedBy"] = {
        "UserProfileName": changed_by,
        "IamIdentity": {"Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/approver/{changed_by}"},
    }
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [package["ModelPackageArn"]],
        "detail": detail,
    }
    return json.loads(json.dumps(event, default=str))


def _deploy_pipeline(name: str, role_arn: str) -> dict:
    """A minimal V2 pipeline declaring the ModelPackageArn variable the gate sets."""
    return {
        "name": name,
        "roleArn": role_arn,
        "pipelineType": "V2",
        "variables": [{"name": "ModelPackageArn", "defaultValue": "unset"}],
        "artifactStore": {"type": "S3", "location": METRICS_BUCKET},
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Template",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                        "configuration": {"S3Bucket": METRICS_BUCKET, "S3ObjectKey": "deploy.zip"},
                        "outputArtifacts": [{"name": "template"}],
                    }
                ],
            },
            {
                "name": "Staging",
                "actions": [
                    {
                        "name": "Deploy",
                        "actionTypeId": {
                            "category": "Deploy",
                            "owner": "AWS",
                            "provider": "CloudFormation",
                            "version": "1",
                        },
                        "inputArtifacts": [{"name": "template"}],
                    }
                ],
            },
        ],
    }


@pytest.fixture
def aws() -> Iterator[FakeAccount]:
    """A fresh fake account per test, with the gate's surroundings built."""
    with mock_aws():
        yield FakeAccount().build()


@pytest.fixture
def unversioned_aws() -> Iterator[FakeAccount]:
    """The same, with a metrics bucket that keeps no versions."""
    with mock_aws():
        yield FakeAccount(versioned=False).build()


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
