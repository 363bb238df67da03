"""The approval gate through its Lambda handler, in a fake AWS account (moto, in process).

Start with `test_an_approval_above_threshold_starts_the_deploy_pipeline`: it follows one approval from
the EventBridge event to a started deploy pipeline, its audit event and its metric.

moto models every call the gate makes, CodePipeline's StartPipelineExecution included (executions and
their variables can be read back). Where moto falls short, botocore's Stubber stands in:
- the `clientRequestToken` of StartPipelineExecution, which moto ignores: the contract test stubs the
  codepipeline client and asserts the exact request, retry included;
- AWS answers moto never gives: a failed StartPipelineExecution, a PutEvents entry that was not
  accepted.
Failures injected anywhere else in the flow (a throttled DescribeModelPackage or GetParameter, the
transient-failure cases and the fault-injection property) are raised from a botocore hook instead
(`failing`): a Stubber must answer every call of its client, and cannot raise the connection errors
that happen below the API.

The gate knows the models by their registrations (SSM parameters the fake account writes as each
model's deploy stack would); it remembers SSM's answers for a minute, so every test starts with a
registry that remembers nothing (`fresh_registry`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from hypothesis import event as hypothesis_event
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lambdas.approval_gate import handler
from lambdas.approval_gate.documents import ObjectVersion, object_history, registered_version
from lambdas.approval_gate.models import GATE_REJECTION_PREFIX, GateSettings, Result
from lambdas.approval_gate.registry import REGISTRATION_MAX_AGE_SECONDS, ModelRegistry
from lambdas.common.aws import RetryableError
from lambdas.common.contracts import model_registration_parameter
from tests.lambdas.conftest import (
    ACCOUNT,
    GATE_ENVIRONMENT,
    GATED_MODELS,
    METRICS_BUCKET,
    MODEL_CARDS,
    PLATFORM,
    REGION,
    REPORTS,
    FakeAccount,
    LambdaContext,
    Report,
    state_change_event,
)
from tests.lambdas.event_edits import DELETE, apply_edits, edit
from tests.lambdas.handler_probes import (
    ANY_AWS_FAILURE,
    PROPERTY_SETTINGS,
    Telemetry,
    aws_error,
    failing,
    json_values,
    recording_calls,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

# The gate's client sees the packages' model cards, which moto does not keep (conftest.PackageCards).
MODEL_CARDS.attach(handler.CLIENTS.sagemaker)

# The ARN moto gives the first package registered in the churn model's group.
KNOWN_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn-model/1"


def churn_metrics(auc: float) -> dict[str, Any]:
    """An evaluation report in SageMaker model-metrics format, as the build pipeline writes it."""
    return {
        "binary_classification_metrics": {
            "auc": {"value": auc, "standard_deviation": "NaN"},
            "f1": {"value": 0.7, "standard_deviation": "NaN"},
        }
    }


def plausible_event(group: str, arn: str, version: int, status: str, description: str) -> dict[str, Any]:
    """A state change event as EventBridge delivers it, from its essential fields."""
    return {
        "version": "0",
        "id": "event-1",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageArn": arn,
            "ModelPackageVersion": version,
            "ModelApprovalStatus": status,
            "ApprovalDescription": description,
            "LastModifiedBy": {"UserProfileName": "approver-alice", "IamIdentity": {"Arn": "arn:aws:sts::1:x/y"}},
        },
    }


@pytest.fixture
def telemetry(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Telemetry:
    return Telemetry(capsys, caplog, handler.logger)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Each test's account registers its own models: nothing remembered from another test's."""
    handler.REGISTRY.forget()
    yield
    handler.REGISTRY.forget()


def all_clients() -> list[Any]:
    """Every client the handler calls AWS with."""
    clients = [getattr(handler.CLIENTS, name) for name in handler.CLIENTS.__dataclass_fields__]
    return [*clients, handler.REGISTRY.ssm, handler.ACT_ONCE.persistence_store.client]


# --- The story: an approval becomes a deployment ------------------------------------------------------


def test_an_approval_above_threshold_starts_the_deploy_pipeline(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # The build pipeline registered a package whose evaluation scored AUC 0.91; churn's threshold is 0.8.
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    # An approver approves it; SageMaker emits the state change and EventBridge delivers it to the gate.
    event = aws.set_status(arn, "Approved", by="approver-alice")

    outcome = handler.handler(event, lambda_context)

    # The churn model's deploy pipeline runs, for exactly this package.
    [execution] = aws.deploy_executions("churn-deploy")
    assert execution["variables"] == [{"name": "ModelPackageArn", "resolvedValue": arn}]
    assert aws.deploy_executions("demand-deploy") == []
    # The decision is on the audit bus: who approved, which package, on what evidence, which execution.
    [audit] = aws.audit_events()
    assert (audit["source"], audit["detail-type"], audit["resources"]) == (
        "mlops.approval-gate",
        "Model Approval Decision",
        [arn],
    )
    assert audit["detail"] == {
        "decision": "deploy_started",
        "changed_by": "approver-alice",
        "model_package_arn": arn,
        "model_package_group_name": "churn-model",
        "model_package_version": 1,
        "model_name": "churn",
        "metric_name": "auc",
        "metric_value": 0.91,
        "threshold": 0.8,
        "metric_direction": "higher_is_better",
        "deploy_pipeline_name": "churn-deploy",
        "pipeline_execution_id": execution["pipelineExecutionId"],
        # Its model card, pending review since the build registered it, is approved with the deployment;
        # churn's registration predates bias checks (no policy): no report, nothing found.
        "model_card_status": "Approved",
        "bias_policy": "none",
        "bias_violations": [],
        # The evaluation report judged is the one registered with the package, and nothing wrote it since.
        "written_since_registration": [],
    }
    assert aws.card_status(arn) == "Approved"
    # One structured log line and one metric for the decision; the package stays approved, nobody is alerted.
    [decision_log] = [line for line in telemetry.logs() if line.get("result") == "deploy_started"]
    assert decision_log["audit"] == audit["detail"]
    assert telemetry.metrics() == Counter({"ApprovalDeployStarted": 1})
    assert outcome["result"] == "deploy_started"
    assert aws.package(arn)["ModelApprovalStatus"] == "Approved"
    assert aws.alerts() == []


def test_the_metric_is_found_in_whichever_metrics_section_holds_it(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    arn = aws.register_package("demand-model", {"regression_metrics": {"mse": {"value": 4.2}, "r2": {"value": 0.74}}})

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["audit"]["metric_name"] == "r2"
    assert outcome["audit"]["metric_value"] == 0.74
    [execution] = aws.deploy_executions("demand-deploy")
    assert execution["variables"] == [{"name": "ModelPackageArn", "resolvedValue": arn}]


# --- The metric's direction: lower is better for errors (rmse, mae, mse) -----------------------------


def price_metrics(rmse: float) -> dict[str, Any]:
    """A regressor's evaluation report: rmse is an error, the lower the better."""
    return {"regression_metrics": {"rmse": {"value": rmse}, "r2": {"value": 0.81}}}


def test_a_regressor_whose_error_is_above_its_threshold_is_rejected_alerted_and_audited(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # price's rmse must stay at or under 12.0; the package misses by a wide margin (and its r2 is fine).
    arn = aws.register_package("price-model", price_metrics(rmse=14.5))

    outcome = handler.handler(aws.set_status(arn, "Approved", by="approver-alice"), lambda_context)

    reason = "rmse 14.5 is above the threshold 12.0 of model price"
    assert outcome["result"] == "rejected_below_threshold"
    package = aws.package(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == f"{GATE_REJECTION_PREFIX} {reason}"
    [alert] = aws.alerts()
    assert alert["Subject"] == "Rejected above threshold: price-model v1"
    assert reason in alert["Message"]
    [audit] = aws.audit_events()
    assert {key: audit["detail"][key] for key in ("decision", "metric_name", "metric_value", "threshold")} == {
        "decision": "rejected_below_threshold",
        "metric_name": "rmse",
        "metric_value": 14.5,
        "threshold": 12.0,
    }
    assert audit["detail"]["metric_direction"] == "lower_is_better"
    assert aws.deploy_executions("price-deploy") == []
    assert telemetry.metrics() == Counter({"ApprovalRejectedBelowThreshold": 1})


def test_a_regressor_whose_error_is_below_its_threshold_deploys(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    arn = aws.register_package("price-model", price_metrics(rmse=9.8))

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["result"] == "deploy_started"
    assert outcome["reason"].startswith("rmse 9.8 <= 12.0: started price-deploy (")
    [execution] = aws.deploy_executions("price-deploy")
    assert execution["variables"] == [{"name": "ModelPackageArn", "resolvedValue": arn}]
    [audit] = aws.audit_events()
    assert (audit["detail"]["metric_value"], audit["detail"]["metric_direction"]) == (9.8, "lower_is_better")
    assert aws.package(arn)["ModelApprovalStatus"] == "Approved"
    assert aws.alerts() == []


@pytest.mark.parametrize(
    ("value", "result"),
    [(0.7, Result.DEPLOY_STARTED), (0.8123, Result.DEPLOY_STARTED), (0.6999, Result.REJECTED_BELOW_THRESHOLD)],
    ids=["at-threshold-deploys", "above-deploys", "just-below-rejects"],
)
def test_a_multiclass_classifier_is_gated_on_its_weighted_f1(
    aws: FakeAccount, lambda_context: LambdaContext, value: float, result: Result
) -> None:
    report = {"multiclass_classification_metrics": {"accuracy": {"value": 0.5}, "weighted_f1": {"value": value}}}
    arn = aws.register_package("segment-model", report)

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["result"] == result
    assert (outcome["audit"]["metric_name"], outcome["audit"]["metric_value"]) == ("weighted_f1", value)
    assert len(aws.deploy_executions("segment-deploy")) == (result is Result.DEPLOY_STARTED)


@pytest.mark.parametrize(
    ("group", "report", "result"),
    [
        ("churn-model", churn_metrics(auc=0.8), Result.DEPLOY_STARTED),
        ("churn-model", churn_metrics(auc=0.7999), Result.REJECTED_BELOW_THRESHOLD),
        ("price-model", price_metrics(rmse=12.0), Result.DEPLOY_STARTED),
        ("price-model", price_metrics(rmse=12.0001), Result.REJECTED_BELOW_THRESHOLD),
    ],
    ids=["higher-is-better-at-threshold", "just-below", "lower-is-better-at-threshold", "just-above"],
)
def test_the_threshold_is_inclusive_in_either_direction(
    aws: FakeAccount, lambda_context: LambdaContext, group: str, report: dict[str, Any], result: Result
) -> None:
    arn = aws.register_package(group, report)

    assert handler.handler(aws.set_status(arn, "Approved"), lambda_context)["result"] == result


def test_the_deploy_pipeline_contract_holds_across_a_retry(aws: FakeAccount, lambda_context: LambdaContext) -> None:
    """Stubber, because moto ignores clientRequestToken: the request itself is the contract.

    The audit event of the first attempt is refused, so the invocation raises and EventBridge retries.
    The retry starts the pipeline again with the same token, which CodePipeline answers with the
    execution it already started: one deployment, audited once.
    """
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = aws.set_status(arn, "Approved")
    token = hashlib.sha256(f"{arn}|{event['detail']['LastModifiedTime']}".encode()).hexdigest()
    assert re.fullmatch(r"[a-zA-Z0-9-]{1,128}", token)  # CodePipeline's constraint on the token
    contract = {
        "name": "churn-deploy",
        "variables": [{"name": "ModelPackageArn", "value": arn}],
        "clientRequestToken": token,
    }

    with Stubber(handler.CLIENTS.codepipeline) as codepipeline, Stubber(handler.CLIENTS.events) as events:
        for _attempt in range(2):
            codepipeline.add_response("start_pipeline_execution", {"pipelineExecutionId": "exec-1"}, contract)
        events.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
        )
        events.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "audit-1"}]})

        with pytest.raises(RetryableError, match="could not emit the audit event"):
            handler.handler(event, lambda_context)
        outcome = handler.handler(event, lambda_context)

        codepipeline.assert_no_pending_responses()
        events.assert_no_pending_responses()
    assert outcome["result"] == "deploy_started"
    assert outcome["audit"]["pipeline_execution_id"] == "exec-1"


def test_a_duplicate_delivery_starts_one_deployment(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = aws.set_status(arn, "Approved")

    first = handler.handler(event, lambda_context)
    redelivered = handler.handler(event, lambda_context)  # EventBridge delivers at least once
    another_event = handler.handler({**event, "id": "event-2"}, lambda_context)  # same approval, new event

    assert len(aws.deploy_executions("churn-deploy")) == 1
    assert len(aws.audit_events()) == 1
    assert (first["replayed"], redelivered["replayed"], another_event["replayed"]) == (False, True, True)
    assert redelivered["audit"] == another_event["audit"] == first["audit"]
    assert telemetry.metrics() == Counter({"ApprovalDeployStarted": 1})


def test_a_person_re_approving_after_the_gate_rejected_is_judged_again(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """A new approval of the same version (a later LastModifiedTime) is not a redelivery: the gate
    rejects it again instead of replaying the first outcome and leaving the package Approved."""
    arn = aws.register_package("churn-model", churn_metrics(auc=0.7))
    first = aws.set_status(arn, "Approved")
    handler.handler(first, lambda_context)
    assert aws.package(arn)["ModelApprovalStatus"] == "Rejected"

    override = aws.set_status(arn, "Approved", by="approver-bob")
    override["id"] = "event-override"
    override["detail"]["LastModifiedTime"] = "2026-01-01T01:00:00Z"  # set an hour after the first approval
    outcome = handler.handler(override, lambda_context)

    assert outcome["replayed"] is False
    assert outcome["result"] == "rejected_below_threshold"
    assert aws.package(arn)["ModelApprovalStatus"] == "Rejected"
    assert aws.deploy_executions("churn-deploy") == []
    assert telemetry.metrics() == Counter({"ApprovalRejectedBelowThreshold": 2})


# --- Rejections ---------------------------------------------------------------------------------------


def test_an_approval_below_threshold_is_set_back_to_rejected_and_alerted(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.72))

    outcome = handler.handler(aws.set_status(arn, "Approved", by="approver-alice"), lambda_context)

    reason = "auc 0.72 is below the threshold 0.8 of model churn"
    package = aws.package(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == f"{GATE_REJECTION_PREFIX} {reason}"
    [alert] = aws.alerts()
    assert alert["Subject"] == "Rejected below threshold: churn-model v1"
    assert reason in alert["Message"]
    assert "approver-alice" in alert["Message"]
    assert aws.deploy_executions("churn-deploy") == []
    [audit] = aws.audit_events()
    assert audit["detail"]["decision"] == "rejected_below_threshold"
    assert (audit["detail"]["metric_value"], audit["detail"]["threshold"]) == (0.72, 0.8)
    assert audit["detail"]["pipeline_execution_id"] is None
    assert outcome["result"] == "rejected_below_threshold"
    assert telemetry.metrics() == Counter({"ApprovalRejectedBelowThreshold": 1})


def test_an_approval_of_a_package_production_serves_deploys_nothing(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # The package was approved and deployed; production serves it as champion next to a challenger.
    champion = aws.register_package("churn-model", churn_metrics(auc=0.91))
    challenger = aws.register_package("churn-model", churn_metrics(auc=0.92))
    aws.serve_in_production("churn-model", {"champion": (champion, 90.0), "challenger": (challenger, 10.0)})

    # The approved champion is updated again: SageMaker announces it with status Approved once more.
    outcome = handler.handler(
        aws.set_status(champion, "Approved", description="approved, see ticket 42"), lambda_context
    )

    assert outcome["result"] == "already_serving"
    assert outcome["reason"] == (
        "already serving in production: churn-production variant champion (90 % of traffic); nothing to deploy"
    )
    assert aws.deploy_executions("churn-deploy") == []
    assert aws.alerts() == aws.audit_events() == []
    assert aws.package(champion)["ModelApprovalStatus"] == "Approved"
    assert telemetry.metrics() == Counter({"ApprovalAlreadyServing": 1})


def test_an_approval_of_a_package_production_stopped_serving_deploys_it_again(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    # The traffic shift rolled the challenger back to weight 0; its re-approval is a new release.
    champion = aws.register_package("churn-model", churn_metrics(auc=0.91))
    rolled_back = aws.register_package("churn-model", churn_metrics(auc=0.92))
    aws.serve_in_production("churn-model", {"champion": (champion, 100.0), "challenger": (rolled_back, 0.0)})

    outcome = handler.handler(aws.set_status(rolled_back, "Approved"), lambda_context)

    assert outcome["result"] == "deploy_started"
    [execution] = aws.deploy_executions("churn-deploy")
    assert execution["variables"] == [{"name": "ModelPackageArn", "resolvedValue": rolled_back}]


def test_the_rejected_event_caused_by_the_gate_itself_is_not_notified_again(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.5))
    handler.handler(aws.set_status(arn, "Approved"), lambda_context)
    assert len(aws.alerts()) == len(aws.audit_events()) == 1

    # SageMaker reports the gate's own update as a new state change.
    echo = state_change_event(aws.package(arn), changed_by="approval-gate-role", event_id="event-2")
    outcome = handler.handler(echo, lambda_context)

    assert outcome["result"] == "ignored"
    assert aws.alerts() == aws.audit_events() == []


def test_a_rejection_is_notified_and_audited_and_nothing_else(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # No metrics at all: noting a rejection does not need them.
    arn = aws.register_package("churn-model", metrics=None)
    event = aws.set_status(arn, "Rejected", by="approver-bob", description="drift on the holdout set")

    outcome = handler.handler(event, lambda_context)

    [alert] = aws.alerts()
    assert alert["Subject"] == "Model package rejected: churn-model v1"
    assert "approver-bob" in alert["Message"]
    assert "drift on the holdout set" in alert["Message"]
    [audit] = aws.audit_events()
    assert audit["detail"]["decision"] == "rejection_noted"
    assert audit["detail"]["changed_by"] == "approver-bob"
    assert audit["detail"]["metric_name"] is None
    assert aws.package(arn)["ApprovalDescription"] == "drift on the holdout set"
    assert aws.deploy_executions("churn-deploy") == []
    assert outcome["result"] == "rejection_noted"
    assert telemetry.metrics() == Counter({"ApprovalRejectionNoted": 1})
    assert "serves production" not in alert["Message"]


def test_rejecting_a_package_production_serves_says_so_and_how_to_roll_back(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    champion = aws.register_package("churn-model", churn_metrics(auc=0.91))
    aws.serve_in_production("churn-model", {"champion": (champion, 100.0)})

    outcome = handler.handler(aws.set_status(champion, "Rejected", by="approver-bob"), lambda_context)

    assert outcome["result"] == "rejection_noted"
    [alert] = aws.alerts()
    assert alert["Message"].endswith(
        "It still serves production: churn-production variant champion (100 % of traffic). To take it out, roll"
        " production back to another approved package: make rollback MODEL=churn PACKAGE=<model package ARN>"
        " (docs/runbook-rollback.md)."
    )
    assert aws.deploy_executions("churn-deploy") == []


@pytest.mark.parametrize("status", ["PendingManualApproval", "SomeFutureStatus"])
def test_other_statuses_are_ignored_with_a_log_line(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry, status: str
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = state_change_event(aws.package(arn), changed_by="build-pipeline")
    event["detail"]["ModelApprovalStatus"] = status

    outcome = handler.handler(event, lambda_context)

    assert outcome["result"] == "ignored"
    assert [line["reason"] for line in telemetry.logs() if "result" in line] == [
        f"approval status {status!r} needs no action"
    ]
    assert telemetry.metrics() == Counter()
    assert aws.alerts() == aws.audit_events() == aws.deploy_executions("churn-deploy") == []


def test_an_approval_withdrawn_before_the_gate_ran_is_not_deployed(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    approval = aws.set_status(arn, "Approved")
    aws.set_status(arn, "Rejected", description="approved the wrong version")

    outcome = handler.handler(approval, lambda_context)

    assert outcome["result"] == "ignored"
    assert outcome["reason"] == "stale event: the package is now Rejected"
    assert aws.deploy_executions("churn-deploy") == []


# --- Batch models: production is a serving stack whose champion parameter names the package ---------


def forecast_metrics(mae: float) -> dict[str, Any]:
    return {"regression_metrics": {"mae": {"value": mae}}}


def test_an_approval_of_the_package_a_batch_transform_runs_deploys_nothing(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    champion = aws.register_package("forecast-model", forecast_metrics(mae=3.1))
    aws.serve_in_batch("forecast-model", champion)

    with recording_calls([handler.CLIENTS.sagemaker]) as sagemaker_calls:
        outcome = handler.handler(aws.set_status(champion, "Approved"), lambda_context)

    assert outcome["result"] == "already_serving"
    assert outcome["reason"] == (
        "already serving in production: batch transform forecast-production, as the champion of its serving"
        " stack; nothing to deploy"
    )
    assert "DescribeEndpoint" not in sagemaker_calls  # a batch model has no endpoint to ask
    assert aws.deploy_executions("forecast-deploy") == []
    assert aws.alerts() == aws.audit_events() == []
    assert telemetry.metrics() == Counter({"ApprovalAlreadyServing": 1})


@pytest.mark.parametrize("deployed", [True, False], ids=["another-package-serves", "first-deployment"])
def test_an_approval_of_a_new_package_of_a_batch_model_deploys_it(
    aws: FakeAccount, lambda_context: LambdaContext, deployed: bool
) -> None:
    champion = aws.register_package("forecast-model", forecast_metrics(mae=3.1))
    if deployed:
        aws.serve_in_batch("forecast-model", champion)
    candidate = aws.register_package("forecast-model", forecast_metrics(mae=2.7))

    outcome = handler.handler(aws.set_status(candidate, "Approved"), lambda_context)

    assert outcome["result"] == "deploy_started"
    assert outcome["audit"]["metric_direction"] == "lower_is_better"
    [execution] = aws.deploy_executions("forecast-deploy")
    assert execution["variables"] == [{"name": "ModelPackageArn", "resolvedValue": candidate}]


@pytest.mark.parametrize(
    "failure",
    [aws_error("AccessDenied", 403), aws_error("Throttling", 400), EndpointConnectionError(endpoint_url="https://cfn")],
    ids=["denied", "throttled", "unreachable"],
)
def test_a_batch_production_that_cannot_be_read_is_retried_not_taken_for_an_empty_one(
    aws: FakeAccount, lambda_context: LambdaContext, failure: Exception
) -> None:
    champion = aws.register_package("forecast-model", forecast_metrics(mae=3.1))
    aws.serve_in_batch("forecast-model", champion)
    event = aws.set_status(champion, "Approved")

    with failing(handler.CLIENTS.cloudformation, "DescribeStacks", failure), pytest.raises(RetryableError):
        handler.handler(event, lambda_context)

    assert aws.deploy_executions("forecast-deploy") == aws.audit_events() == []
    assert handler.handler(event, lambda_context)["result"] == "already_serving"  # EventBridge's retry


def test_rejecting_the_package_a_batch_transform_runs_says_so_and_how_to_roll_back(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    champion = aws.register_package("forecast-model", forecast_metrics(mae=3.1))
    aws.serve_in_batch("forecast-model", champion)

    outcome = handler.handler(aws.set_status(champion, "Rejected", by="approver-bob"), lambda_context)

    assert outcome["result"] == "rejection_noted"
    [alert] = aws.alerts()
    assert alert["Message"].endswith(
        "It still serves production: batch transform forecast-production, as the champion of its serving stack."
        " To take it out, roll production back to another approved package: make rollback MODEL=forecast"
        " PACKAGE=<model package ARN> (docs/runbook-rollback.md)."
    )


def test_a_batch_model_is_gated_on_its_metric_like_any_other(aws: FakeAccount, lambda_context: LambdaContext) -> None:
    arn = aws.register_package("forecast-model", forecast_metrics(mae=5.2))

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["reason"] == f"{GATE_REJECTION_PREFIX} mae 5.2 is above the threshold 5.0 of model forecast"
    assert aws.package(arn)["ModelApprovalStatus"] == "Rejected"
    assert aws.deploy_executions("forecast-deploy") == []


# --- Input the gate cannot act on: logged, counted, alerted where someone waits, never retried ---------


def test_a_package_of_a_group_no_model_registered_is_counted_and_ignored_without_a_write(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """Every group's events reach the gate: those of groups that are not the platform's (another team's
    registry in the same account) end in a log line and a metric, no alert, no retry, no write."""
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="someone-elses-model")
    arn = aws.register_package("someone-elses-model", churn_metrics(auc=0.99))
    event = aws.set_status(arn, "Approved")

    with recording_calls(all_clients()) as calls:
        outcome = handler.handler(event, lambda_context)

    parameter = model_registration_parameter(PLATFORM, "someone-elses-model")
    assert outcome == {
        "result": "ignored",
        "reason": (
            "model package group 'someone-elses-model' is not the platform's: no model registered it"
            f" ({parameter} does not exist)"
        ),
        "replayed": False,
        "unregistered_group": "someone-elses-model",
    }
    assert calls == ["GetParameter"]
    assert telemetry.metrics() == Counter({"ApprovalUnregisteredGroup": 1})
    [log] = [line for line in telemetry.logs() if line.get("result") == "ignored"]
    assert (log["level"], log["unregistered_group"]) == ("INFO", "someone-elses-model")
    assert aws.alerts() == aws.audit_events() == []
    assert aws.package(arn)["ModelApprovalStatus"] == "Approved"


def test_a_model_registered_after_the_gate_started_is_gated_like_a_configured_one(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """A SageMaker Project's model: its stack created the group and the deploy pipeline and wrote the
    registration; nothing of the gate changed."""
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="fraud")
    aws.create_deploy_pipeline("fraud-project-deploy")
    registration = GATED_MODELS["churn-model"] | {
        "model_name": "fraud",
        "deploy_pipeline_name": "fraud-project-deploy",
        "threshold": 0.9,
        "production_serving_name": "mlops-fraud-production",
    }
    aws.register_model("fraud", json.dumps(registration))
    passing = aws.register_package("fraud", churn_metrics(auc=0.93))
    failing_package = aws.register_package("fraud", churn_metrics(auc=0.85))

    deployed = handler.handler(aws.set_status(passing, "Approved"), lambda_context)
    rejected = handler.handler(aws.set_status(failing_package, "Approved"), lambda_context)

    assert deployed["result"] == "deploy_started"
    assert deployed["audit"]["model_name"] == "fraud"
    [execution] = aws.deploy_executions("fraud-project-deploy")
    assert execution["variables"] == [{"name": "ModelPackageArn", "resolvedValue": passing}]
    assert rejected["reason"].endswith("auc 0.85 is below the threshold 0.9 of model fraud")
    assert aws.package(failing_package)["ModelApprovalStatus"] == "Rejected"
    assert aws.deploy_executions("churn-deploy") == []
    assert telemetry.metrics() == Counter({"ApprovalDeployStarted": 1, "ApprovalRejectedBelowThreshold": 1})


def _resolved(node: Any, references: dict[str, str]) -> Any:
    """A template value as CloudFormation makes it: Refs replaced by `references`, joins joined."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return references[node["Ref"]]
    if isinstance(node, dict) and set(node) == {"Fn::Join"}:
        separator, parts = node["Fn::Join"]
        return separator.join(_resolved(part, references) for part in parts)
    return node


def test_a_sagemaker_projects_package_is_gated_by_what_its_template_registers(
    aws: FakeAccount, lambda_context: LambdaContext, synthesized: Any
) -> None:
    """The registration a project's template writes (the binary-classification product's, rendered as
    CloudFormation would for a project named "fraud") is what the gate acts on: a package above the
    product's threshold starts the project's deploy pipeline; a group nobody registered is ignored."""
    projects = synthesized.platform.projects
    product = projects.templates["binary-classification"]
    [path] = Path(synthesized.assembly.directory).glob(f"*{product.node.id}*.product.template.json")
    template = json.loads(path.read_text())
    [registration] = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SSM::Parameter" and "Registers model" in json.dumps(resource)
    ]
    [deploy_pipeline] = [
        key
        for key, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CodePipeline::Pipeline" and key.startswith("DeployPipeline")
    ]
    threshold = product.template.model.metric.threshold
    references = {
        "SageMakerProjectName": "fraud",
        deploy_pipeline: "fraud-deploy-pipeline",
        # The product's parameter, as the data scientist set it when creating the project.
        "MetricThreshold": str(threshold),
    }
    assert _resolved(registration["Name"], references) == model_registration_parameter(PLATFORM, "fraud")
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="fraud")
    aws.create_deploy_pipeline("fraud-deploy-pipeline")
    aws.register_model("fraud", _resolved(registration["Value"], references))
    passing = aws.register_package("fraud", churn_metrics(auc=threshold + 0.1))

    outcome = handler.handler(aws.set_status(passing, "Approved"), lambda_context)

    assert outcome["result"] == "deploy_started"
    [execution] = aws.deploy_executions("fraud-deploy-pipeline")
    assert execution["variables"] == [{"name": "ModelPackageArn", "resolvedValue": passing}]
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="unregistered")
    stray = aws.register_package("unregistered", churn_metrics(auc=0.99))
    assert handler.handler(aws.set_status(stray, "Approved"), lambda_context)["result"] == "ignored"


def _registration(**overrides: Any) -> str:
    """The churn model's registration, changed."""
    return json.dumps({key: value for key, value in (GATED_MODELS["churn-model"] | overrides).items() if value != ...})


@pytest.mark.parametrize(
    ("registration", "problem"),
    [
        ("{not json", "Invalid JSON"),
        ("[]", "Input should be an object"),
        (_registration(threshold="high"), "threshold"),
        (_registration(threshold=float("nan")), "threshold"),
        (_registration(deploy_pipeline_name=""), "deploy_pipeline_name"),
        (_registration(production_serving_name="churn_production"), "production_serving_name"),
        (_registration(metric_direction="bigger_is_better"), "metric_direction"),
        (_registration(metric_direction=...), "metric_direction: Field required"),
        (_registration(serving_mode="streaming"), "serving_mode"),
        (_registration(unexpected="field"), "unexpected: Extra inputs are not permitted"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "threshold-not-a-number",
        "threshold-nan",
        "no-pipeline-name",
        "bad-serving-name",
        "unknown-direction",
        "no-direction",
        "unknown-serving-mode",
        "unknown-field",
    ],
)
@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_an_invalid_registration_is_alerted_and_nothing_is_done(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry, registration: str, problem: str, status: str
) -> None:
    aws.register_model("churn-model", registration)
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = aws.set_status(arn, status, by="approver-alice")

    outcome = handler.handler(event, lambda_context)

    parameter = model_registration_parameter(PLATFORM, "churn-model")
    assert outcome["result"] == "invalid"
    assert outcome["reason"].startswith(
        f"the registration of model package group 'churn-model' is invalid: {parameter}: "
    )
    assert problem in outcome["reason"]
    [alert] = aws.alerts()
    assert alert["Subject"] == "Invalid model registration: churn-model v1"
    assert f"{arn} was {status} by approver-alice" in alert["Message"]
    assert problem in alert["Message"]
    assert telemetry.metrics() == Counter({"ApprovalInvalidEvent": 1})
    assert aws.audit_events() == aws.deploy_executions("churn-deploy") == []
    assert aws.package(arn)["ModelApprovalStatus"] == status


@pytest.mark.parametrize(
    ("metrics", "spoil", "reason"),
    [
        (None, None, "it has no ModelMetrics.ModelQuality.Statistics.S3Uri"),
        (churn_metrics(0.9), "delete the metrics file for good", "did not exist when the package was registered"),
        (churn_metrics(0.9), "point the event at a deleted package", "the model package no longer exists"),
        (b"{not json", None, "is not valid JSON"),
        (b"[0.95]", None, "its metrics file is not a JSON object"),
        ({"binary_classification_metrics": {"f1": {"value": 0.9}}}, None, "'auc' is in no *_metrics section"),
        ({"auc": {"value": 0.9}}, None, "'auc' is in no *_metrics section"),
        ({"binary_classification_metrics": {"auc": {"value": "0.95"}}}, None, "'auc' has no finite numeric value"),
        (b'{"binary_classification_metrics": {"auc": {"value": NaN}}}', None, "'auc' has no finite numeric value"),
        (
            b'{"binary_classification_metrics": {"auc": {"value": 1' + b"0" * 400 + b"}}}",
            None,
            "'auc' has no finite numeric value",
        ),
        (
            {"binary_classification_metrics": {"auc": {"value": 0.9}}, "custom_metrics": {"auc": {"value": 0.7}}},
            None,
            "'auc' has conflicting values [0.7, 0.9]",
        ),
    ],
    ids=[
        "no-metrics",
        "metrics-file-gone",
        "package-gone",
        "not-json",
        "not-an-object",
        "metric-missing",
        "no-metrics-section",
        "value-not-a-number",
        "value-nan",
        "value-beyond-float-range",
        "conflicting-values",
    ],
)
def test_an_approved_package_that_cannot_be_evaluated_is_alerted_and_not_deployed(
    aws: FakeAccount,
    lambda_context: LambdaContext,
    telemetry: Telemetry,
    metrics: dict[str, Any] | bytes | None,
    spoil: str | None,
    reason: str,
) -> None:
    arn = aws.register_package("churn-model", metrics)
    event = aws.set_status(arn, "Approved", by="approver-alice")
    if spoil == "delete the metrics file for good":
        aws.delete_for_good(aws.package(arn)["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"])
    elif spoil == "point the event at a deleted package":
        event["detail"]["ModelPackageArn"] = arn.replace("/1", "/7")

    outcome = handler.handler(event, lambda_context)

    assert outcome["result"] == "invalid"
    assert reason in outcome["reason"]
    [alert] = aws.alerts()
    assert alert["Subject"] == "Approval not deployed: churn-model v1"
    assert reason in alert["Message"]
    assert "approver-alice" in alert["Message"]
    assert telemetry.metrics() == Counter({"ApprovalInvalidEvent": 1})
    assert aws.audit_events() == aws.deploy_executions("churn-deploy") == []
    # The gate does not overrule the approver on missing evidence: a human looks at the alert.
    assert aws.package(arn)["ModelApprovalStatus"] == "Approved"


@pytest.mark.parametrize(
    "malform",
    [
        lambda event: None,
        lambda event: "Approved",
        lambda event: [event],
        lambda event: {},
        edit("detail", delete=True),
        edit("detail", "Approved"),
        edit("source", "aws.codepipeline"),
        edit("detail-type", "SageMaker Model State Change"),
        edit("detail.ModelPackageGroupName", delete=True),
        edit("detail.ModelPackageGroupName", "Churn Model!"),
        edit("detail.ModelPackageArn", delete=True),
        edit("detail.ModelPackageArn", "churn-model/1"),
        edit("detail.ModelPackageVersion", "1"),
        edit("detail.ModelPackageVersion", True),
        edit("detail.ModelPackageVersion", 1.0),
        edit("detail.ModelApprovalStatus", ["Approved"]),
        edit("detail.LastModifiedBy", "approver-alice"),
    ],
    ids=[
        "none",
        "a-string",
        "a-list",
        "empty",
        "no-detail",
        "detail-not-an-object",
        "other-source",
        "other-detail-type",
        "no-group",
        "group-not-a-group-name",
        "no-arn",
        "arn-not-an-arn",
        "version-a-string",
        "version-a-bool",
        "version-a-float",
        "status-a-list",
        "approver-not-an-object",
    ],
)
def test_a_malformed_event_is_counted_and_ends_normally(
    aws: FakeAccount,
    lambda_context: LambdaContext,
    telemetry: Telemetry,
    malform: Callable[[dict[str, Any]], Any],
) -> None:
    event = malform(plausible_event("churn-model", KNOWN_ARN, 1, "Approved", "looks good"))

    outcome = handler.handler(event, lambda_context)

    assert outcome["result"] == "invalid"
    assert outcome["reason"].startswith("not a model package state change event: ")
    assert telemetry.metrics() == Counter({"ApprovalInvalidEvent": 1})
    assert [line["level"] for line in telemetry.logs() if line.get("result") == "invalid"] == ["WARNING"]
    assert aws.alerts() == aws.audit_events() == aws.deploy_executions("churn-deploy") == []


# --- AWS failing: raise, so EventBridge retries; never half-done ---------------------------------------


def test_a_throttled_describe_raises_and_the_retry_deploys(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = aws.set_status(arn, "Approved")

    throttled = aws_error("ThrottlingException", 400, "DescribeModelPackage")
    with (
        failing(handler.CLIENTS.sagemaker, "DescribeModelPackage", throttled),
        pytest.raises(RetryableError, match="could not describe the model package"),
    ):
        handler.handler(event, lambda_context)

    assert telemetry.metrics() == Counter({"ApprovalError": 1})
    assert aws.deploy_executions("churn-deploy") == aws.audit_events() == []
    assert handler.handler(event, lambda_context)["result"] == "deploy_started"  # EventBridge's retry
    assert len(aws.deploy_executions("churn-deploy")) == 1


def test_a_failed_pipeline_start_raises_without_a_success_audit_and_the_retry_deploys(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = aws.set_status(arn, "Approved")

    with Stubber(handler.CLIENTS.codepipeline) as codepipeline:
        codepipeline.add_client_error(
            "start_pipeline_execution", "ConcurrentPipelineExecutionsLimitExceededException", "busy", 400
        )
        with pytest.raises(RetryableError, match="could not start the deploy pipeline churn-deploy"):
            handler.handler(event, lambda_context)

    assert aws.audit_events() == []
    assert telemetry.metrics() == Counter({"ApprovalError": 1})
    # The idempotency record was released with the failure, so the retry is not taken for a duplicate.
    retried = handler.handler(event, lambda_context)
    assert (retried["result"], retried["replayed"]) == ("deploy_started", False)
    assert len(aws.deploy_executions("churn-deploy")) == len(aws.audit_events()) == 1


def _flow_client(service: str) -> Any:
    """The handler's client for a service: the gate's clients, the registry's and the idempotency store's."""
    if service == "ssm":
        return handler.REGISTRY.ssm
    return handler.ACT_ONCE.persistence_store.client if service == "dynamodb" else getattr(handler.CLIENTS, service)


@pytest.mark.parametrize(
    ("service", "operation", "failure"),
    [
        ("ssm", "GetParameter", aws_error("ThrottlingException", 400)),
        ("sagemaker", "DescribeEndpoint", aws_error("ThrottlingException", 400)),
        ("sagemaker", "DescribeModelPackage", aws_error("ThrottlingException", 400)),
        ("s3", "ListObjectVersions", aws_error("SlowDown", 503)),
        ("s3", "GetObject", aws_error("SlowDown", 503)),
        ("dynamodb", "PutItem", aws_error("ProvisionedThroughputExceededException", 400)),
        ("codepipeline", "StartPipelineExecution", EndpointConnectionError(endpoint_url="https://codepipeline")),
        ("events", "PutEvents", ReadTimeoutError(endpoint_url="https://events")),
    ],
    ids=[
        "registration-read-throttled",
        "endpoint-read-throttled",
        "describe-throttled",
        "metrics-versions-5xx",
        "metrics-read-5xx",
        "idempotency-store-throttled",
        "start-unreachable",
        "audit-timeout",
    ],
)
def test_a_transient_aws_failure_anywhere_in_a_deployment_raises_the_retryable_error(
    aws: FakeAccount, lambda_context: LambdaContext, service: str, operation: str, failure: Exception
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = aws.set_status(arn, "Approved")

    with failing(_flow_client(service), operation, failure), pytest.raises(RetryableError):
        handler.handler(event, lambda_context)

    assert aws.audit_events() == []


@pytest.mark.parametrize(
    ("operation", "failure"),
    [
        ("DescribeEndpoint", aws_error("AccessDeniedException", 403)),
        ("DescribeEndpointConfig", aws_error("ValidationException", 400)),
        ("DescribeModel", aws_error("AccessDeniedException", 403)),
    ],
    ids=["endpoint-denied", "config-unreadable", "model-denied"],
)
def test_a_production_that_cannot_be_read_is_retried_not_taken_for_an_empty_one(
    aws: FakeAccount, lambda_context: LambdaContext, operation: str, failure: Exception
) -> None:
    """Only "the endpoint does not exist" means nothing is served; reading anything else as "not serving"
    would redeploy a serving champion (and the deploy pipeline would then drop its challenger)."""
    champion = aws.register_package("churn-model", churn_metrics(auc=0.91))
    aws.serve_in_production("churn-model", {"champion": (champion, 100.0)})
    event = aws.set_status(champion, "Approved")

    with failing(handler.CLIENTS.sagemaker, operation, failure), pytest.raises(RetryableError):
        handler.handler(event, lambda_context)

    assert aws.deploy_executions("churn-deploy") == []
    assert aws.audit_events() == []


# --- Registrations: read from SSM, remembered for a minute --------------------------------------------


def test_a_registration_that_cannot_be_read_raises_and_the_retry_deploys(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """Only ParameterNotFound means "not the platform's": a throttled read is retried, never taken for it."""
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    event = aws.set_status(arn, "Approved")

    throttled = aws_error("ThrottlingException", 400, "GetParameter")
    with (
        failing(handler.REGISTRY.ssm, "GetParameter", throttled),
        pytest.raises(RetryableError, match="could not read the model registration /mlops/models/churn-model"),
    ):
        handler.handler(event, lambda_context)

    assert telemetry.metrics() == Counter({"ApprovalError": 1})
    assert aws.alerts() == aws.audit_events() == aws.deploy_executions("churn-deploy") == []
    assert handler.handler(event, lambda_context)["result"] == "deploy_started"  # EventBridge's retry


@pytest.mark.parametrize(
    "failure",
    [
        aws_error("AccessDeniedException", 400),
        aws_error("InternalServerError", 500),
        ReadTimeoutError(endpoint_url="x"),
    ],
    ids=["denied", "5xx", "timeout"],
)
def test_any_other_registry_failure_is_retried(
    aws: FakeAccount, lambda_context: LambdaContext, failure: Exception
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))

    with failing(handler.REGISTRY.ssm, "GetParameter", failure), pytest.raises(RetryableError):
        handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert aws.alerts() == aws.audit_events() == aws.deploy_executions("churn-deploy") == []


def test_a_burst_of_events_reads_each_registration_once(aws: FakeAccount, lambda_context: LambdaContext) -> None:
    packages = [aws.register_package("churn-model", churn_metrics(auc=0.91)) for _ in range(3)]
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="someone-elses-model")
    strangers = [aws.register_package("someone-elses-model", churn_metrics(auc=0.91)) for _ in range(2)]
    events = [aws.set_status(arn, "Approved") for arn in packages + strangers]

    with recording_calls([handler.REGISTRY.ssm]) as calls:
        outcomes = [handler.handler(event, lambda_context)["result"] for event in events]

    assert outcomes == ["deploy_started"] * 3 + ["ignored"] * 2
    # One read for the registered group, one for the group nobody registered: absence is remembered too.
    assert calls == ["GetParameter", "GetParameter"]
    assert len(aws.deploy_executions("churn-deploy")) == 3


def test_a_remembered_answer_expires_so_a_new_or_changed_registration_is_seen(aws: FakeAccount) -> None:
    now = [1000.0]
    reader = handler.REGISTRY.ssm  # the function's client; the fake account writes with another
    registry = ModelRegistry(reader, prefix=GATE_ENVIRONMENT["MODEL_REGISTRY_PREFIX"], clock=lambda: now[0])

    with recording_calls([reader]) as calls:
        churn = registry.model_of("churn-model")
        assert registry.model_of("fraud") is None
        aws.register_model("churn-model", _registration(threshold=0.95))
        aws.register_model("fraud", _registration(model_name="fraud"))
        now[0] += REGISTRATION_MAX_AGE_SECONDS - 1
        assert (registry.model_of("churn-model"), registry.model_of("fraud")) == (churn, None)
        assert calls == ["GetParameter", "GetParameter"]

        now[0] += 1  # a minute after the first reads
        changed, registered = registry.model_of("churn-model"), registry.model_of("fraud")

    assert calls == ["GetParameter"] * 4
    assert (churn, changed, registered) != (None, None, None)
    assert [model.threshold if model else None for model in (churn, changed)] == [0.8, 0.95]
    assert registered is not None
    assert registered.model_name == "fraud"


# --- Configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"MODEL_REGISTRY_PREFIX": ""},
        {"MODEL_REGISTRY_PREFIX": "mlops/models/"},
        {"MODEL_REGISTRY_PREFIX": "/mlops/models"},
        {"MODEL_REGISTRY_PREFIX": "/mlops models/"},
        {"MODEL_REGISTRY_PREFIX": "//"},
        {"ALERT_TOPIC_ARN": "mlops-alerts"},
        {"IDEMPOTENCY_TABLE_NAME": ""},
    ],
    ids=[
        "empty-prefix",
        "prefix-not-a-path",
        "prefix-not-a-folder",
        "prefix-not-a-parameter-path",
        "prefix-without-a-name",
        "topic-not-an-arn",
        "empty-table-name",
    ],
)
def test_a_bad_environment_fails_the_cold_start(change: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        GateSettings.from_env(GATE_ENVIRONMENT | change)


def test_the_environment_names_the_registry_and_no_model() -> None:
    settings = GateSettings.from_env(GATE_ENVIRONMENT)
    assert settings.model_registry_prefix == "/mlops/models/"
    assert "MODELS_CONFIG" not in GATE_ENVIRONMENT


def test_a_missing_variable_fails_the_cold_start() -> None:
    environment = dict(GATE_ENVIRONMENT)
    del environment["AUDIT_EVENT_BUS_NAME"]
    with pytest.raises(ValidationError, match="AUDIT_EVENT_BUS_NAME"):
        GateSettings.from_env(environment)


# --- Properties: no event shape and no AWS failure makes the handler crash uncontrolled ----------------

THRESHOLD = 0.8


EDITABLE_FIELDS = [
    ("id",),
    ("source",),
    ("detail-type",),
    ("detail",),
    ("detail", "ModelPackageGroupName"),
    ("detail", "ModelPackageArn"),
    ("detail", "ModelPackageVersion"),
    ("detail", "ModelApprovalStatus"),
    ("detail", "ApprovalDescription"),
    ("detail", "LastModifiedBy"),
    ("detail", "LastModifiedBy", "UserProfileName"),
    ("detail", "LastModifiedBy", "IamIdentity"),
]


@st.composite
def state_change_events(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible state change (valid, or of a missing package or an unknown group), then up to three
    fields deleted or replaced by any JSON value: every path of the gate, with random types."""
    event = plausible_event(
        group=draw(st.sampled_from(["churn-model", "demand-model", "unknown-model"])),
        arn=draw(st.sampled_from([KNOWN_ARN, KNOWN_ARN.replace("/1", "/99")])),
        version=draw(st.integers(1, 2)),
        status=draw(st.sampled_from(["Approved", "Rejected", "PendingManualApproval"])),
        description=draw(st.sampled_from(["looks good", f"{GATE_REJECTION_PREFIX} auc too low"])),
    )
    edits = st.tuples(st.sampled_from(EDITABLE_FIELDS), st.just(DELETE) | json_values)
    return apply_edits(event, draw(st.lists(edits, max_size=3)))


@PROPERTY_SETTINGS
@given(event=json_values)
def test_any_json_value_is_an_invalid_event_not_a_crash(
    aws: FakeAccount, lambda_context: LambdaContext, event: Any
) -> None:
    assert handler.handler(event, lambda_context)["result"] == "invalid"


@pytest.fixture
def approved_package(aws: FakeAccount) -> str:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    aws.set_status(arn, "Approved")
    assert arn == KNOWN_ARN
    return arn


@PROPERTY_SETTINGS
@given(event=state_change_events())
@example(event=plausible_event("churn-model", KNOWN_ARN, 1, "Approved", "looks good"))
@example(event=plausible_event("churn-model", KNOWN_ARN, 1, "Rejected", "looks bad"))
def test_any_state_change_shaped_event_ends_in_an_outcome(
    aws: FakeAccount, approved_package: str, lambda_context: LambdaContext, event: dict[str, Any]
) -> None:
    outcome = handler.handler(event, lambda_context)

    hypothesis_event(outcome["result"])
    assert outcome["result"] in set(Result)
    if outcome["result"] == Result.DEPLOY_STARTED:
        assert outcome["audit"]["model_package_arn"] == approved_package


def half_and_half(plausible: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Draw from each strategy half of the time (`|` would weigh every alternative of `anything` alike)."""
    return st.booleans().flatmap(lambda take_plausible: plausible if take_plausible else anything)


metric_values = half_and_half(
    st.floats(min_value=0.6, max_value=1),  # around the 0.8 threshold
    st.floats() | st.integers() | st.sampled_from([10**400, -(10**400)]) | json_values,
)
metrics_reports = st.builds(
    lambda section, value: {section: {"auc": {"value": value, "standard_deviation": "NaN"}}},
    st.sampled_from(["binary_classification_metrics", "regression_metrics", "custom_metrics"]),
    metric_values,
)
metrics_documents = st.dictionaries(
    st.sampled_from(["binary_classification_metrics", "custom_metrics", "auc"]) | st.text(max_size=6),
    st.dictionaries(
        st.sampled_from(["auc", "f1"]) | st.text(max_size=4),
        st.fixed_dictionaries({"value": metric_values}) | json_values,
        max_size=3,
    )
    | json_values,
    max_size=3,
)
metrics_files = half_and_half(
    metrics_reports.map(lambda report: json.dumps(report).encode()),
    (metrics_documents | json_values).map(lambda document: json.dumps(document).encode()) | st.binary(max_size=48),
)


@settings(PROPERTY_SETTINGS, max_examples=30)
@given(metrics_file=metrics_files)
def test_any_metrics_file_deploys_rejects_or_is_reported_and_only_a_passing_one_deploys(
    aws: FakeAccount, lambda_context: LambdaContext, metrics_file: bytes
) -> None:
    arn = aws.register_package("churn-model", metrics_file)
    started_before = aws.executions_started("churn-deploy")

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    started = aws.executions_started("churn-deploy") - started_before
    hypothesis_event(outcome["result"])
    status = aws.package(arn)["ModelApprovalStatus"]
    if outcome["result"] == Result.DEPLOY_STARTED:
        assert (outcome["audit"]["metric_value"] >= THRESHOLD, started, status) == (True, 1, "Approved")
    elif outcome["result"] == Result.REJECTED_BELOW_THRESHOLD:
        assert (outcome["audit"]["metric_value"] < THRESHOLD, started, status) == (True, 0, "Rejected")
    else:
        assert (outcome["result"], started, status) == (Result.INVALID, 0, "Approved")


FLOW_CALLS = [
    ("ssm", "GetParameter"),
    ("sagemaker", "DescribeEndpoint"),
    ("sagemaker", "DescribeModelPackage"),
    ("sagemaker", "UpdateModelPackage"),
    ("s3", "ListObjectVersions"),
    ("s3", "GetObject"),
    ("sns", "Publish"),
    ("events", "PutEvents"),
    ("codepipeline", "StartPipelineExecution"),
    ("dynamodb", "PutItem"),
    ("dynamodb", "UpdateItem"),
    ("dynamodb", "GetItem"),
]


@settings(PROPERTY_SETTINGS, max_examples=25)
@given(
    call=st.sampled_from(FLOW_CALLS),
    failure=st.sampled_from(ANY_AWS_FAILURE),
    status=st.sampled_from(["Approved", "Rejected"]),
    auc=st.sampled_from([0.5, 0.9]),
)
def test_any_aws_failure_ends_in_an_outcome_or_the_retryable_error(
    aws: FakeAccount,
    lambda_context: LambdaContext,
    call: tuple[str, str],
    failure: Exception,
    status: str,
    auc: float,
) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=auc))
    event = aws.set_status(arn, status)
    service, operation = call

    with failing(_flow_client(service), operation, failure):
        try:
            outcome = handler.handler(event, lambda_context)
        except RetryableError:
            hypothesis_event("raised RetryableError")
            return
    hypothesis_event(outcome["result"])
    assert outcome["result"] in set(Result)


# --- Governance: the model card and the bias report -------------------------------------------------


def bias_report(metrics_by_facet_value: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A Clarify analysis.json with post-training bias metrics for facet `age_over_60` (one entry per
    facet value: `bias_report({"1": {"DI": 0.7, "DPPL": -0.2}})`)."""
    return {
        "version": "1.0",
        "post_training_bias_metrics": {
            "label": "defaulted",
            "label_value_or_threshold": "1",
            "facets": {
                "age_over_60": [
                    {
                        "value_or_threshold": value,
                        "metrics": [
                            {"name": name, "description": name, "value": number} for name, number in metrics.items()
                        ]
                        + [{"name": "AD", "description": "accuracy difference: reported, not bounded", "value": 0.9}],
                    }
                    for value, metrics in metrics_by_facet_value.items()
                ]
            },
        },
    }


FAIR = bias_report({"1": {"DI": 0.93, "DPPL": -0.03}})
UNFAIR = bias_report({"1": {"DI": 0.71, "DPPL": -0.12}, "0": {"DI": 1.02, "DPPL": None}})


def test_a_package_without_a_model_card_is_rejected_and_says_why(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    # A package registered before builds wrote model cards: its metric passes, but it has no card.
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91), card=None)

    outcome = handler.handler(aws.set_status(arn, "Approved", by="approver-alice"), lambda_context)

    assert outcome["result"] == "rejected_governance"
    package = aws.package(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"].startswith(GATE_REJECTION_PREFIX)
    assert "no model card" in package["ApprovalDescription"]
    assert "ModelCard" not in package  # nothing to archive
    [alert] = aws.alerts()
    assert alert["Subject"] == "Rejected on governance: churn-model v1"
    assert "no model card" in alert["Message"]
    assert aws.deploy_executions("churn-deploy") == []
    [audit] = aws.audit_events()
    assert audit["detail"]["decision"] == "rejected_governance"
    assert audit["detail"]["model_card_status"] is None
    assert telemetry.metrics() == Counter({"ApprovalRejectedGovernance": 1})


def test_bias_outside_the_bounds_blocks_a_model_that_blocks_on_bias_and_archives_its_card(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    arn = aws.register_package("loans-model", churn_metrics(auc=0.91), bias_report=UNFAIR)

    outcome = handler.handler(aws.set_status(arn, "Approved", by="approver-alice"), lambda_context)

    assert outcome["result"] == "rejected_governance"
    assert aws.package(arn)["ModelApprovalStatus"] == "Rejected"
    assert aws.card_status(arn) == "Archived"
    violations = [
        "DI 0.71 for age_over_60=1 is outside [0.8, 1.25]",
        "DPPL -0.12 for age_over_60=1 is outside [-0.1, 0.1]",
    ]
    [alert] = aws.alerts()
    for violation in violations:
        assert violation in alert["Message"]
    assert "AD" not in alert["Message"]  # reported metrics without bounds are not violations
    [audit] = aws.audit_events()
    assert audit["detail"] | {"changed_by": None} == audit["detail"] | {
        "decision": "rejected_governance",
        "changed_by": None,
        "model_card_status": "Archived",
        "bias_policy": "block",
        "bias_violations": violations,
    }
    assert aws.deploy_executions("loans-deploy") == []


def test_bias_within_the_bounds_deploys_a_model_that_blocks_on_bias(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    arn = aws.register_package("loans-model", churn_metrics(auc=0.91), bias_report=FAIR)

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["result"] == "deploy_started"
    assert aws.card_status(arn) == "Approved"
    [audit] = aws.audit_events()
    assert (audit["detail"]["bias_policy"], audit["detail"]["bias_violations"]) == ("block", [])


def test_a_model_that_blocks_on_bias_needs_a_bias_report(aws: FakeAccount, lambda_context: LambdaContext) -> None:
    arn = aws.register_package("loans-model", churn_metrics(auc=0.91))

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["result"] == "rejected_governance"
    [alert] = aws.alerts()
    assert "no post-training bias report" in alert["Message"]


def test_a_model_that_reports_bias_deploys_and_records_the_violations(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    arn = aws.register_package("offers-model", churn_metrics(auc=0.91), bias_report=UNFAIR)

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["result"] == "deploy_started"
    assert "bias outside the bounds, reported: DI 0.71" in outcome["reason"]
    [audit] = aws.audit_events()
    assert audit["detail"]["bias_policy"] == "report"
    assert len(audit["detail"]["bias_violations"]) == 2
    assert aws.card_status(arn) == "Approved"


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (b"not json", "bias report s3://mlops-model-artifacts/loans-model/bias-1/analysis.json is not valid JSON"),
        ({"pre_training_bias_metrics": {}}, "is not a Clarify post-training bias report"),
        (bias_report({"1": {"DI": "high"}}), "DI is not a number"),
    ],
)
def test_a_bias_report_the_gate_cannot_read_as_one_is_alerted_and_not_deployed(
    aws: FakeAccount, lambda_context: LambdaContext, report: dict[str, Any] | bytes, expected: str
) -> None:
    arn = aws.register_package("loans-model", churn_metrics(auc=0.91), bias_report=report)

    outcome = handler.handler(aws.set_status(arn, "Approved"), lambda_context)

    assert outcome["result"] == "invalid"
    [alert] = aws.alerts()
    assert alert["Subject"] == "Approval not deployed: loans-model v1"
    assert expected in alert["Message"]
    assert aws.deploy_executions("loans-deploy") == []
    assert aws.card_status(arn) == "PendingReview"


def test_a_person_rejecting_a_package_archives_its_card(aws: FakeAccount, lambda_context: LambdaContext) -> None:
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))

    outcome = handler.handler(aws.set_status(arn, "Rejected", by="approver-bob", description="leaks"), lambda_context)

    assert outcome["result"] == "rejection_noted"
    assert aws.card_status(arn) == "Archived"
    [audit] = aws.audit_events()
    assert audit["detail"]["model_card_status"] == "Archived"
    assert aws.package(arn)["ApprovalDescription"] == "leaks"


def test_the_package_changes_the_gate_makes_come_back_and_are_ignored(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry
) -> None:
    """Approving the card changes the package: SageMaker announces it as an approval again, made by the
    gate's own role (its session named after the function). It must not deploy a second time."""
    arn = aws.register_package("churn-model", churn_metrics(auc=0.91))
    handler.handler(aws.set_status(arn, "Approved"), lambda_context)
    aws.audit_events()
    own_change = state_change_event(aws.package(arn), changed_by="approver-alice", event_id="event-2")
    own_change["detail"]["LastModifiedBy"] = {
        "IamIdentity": {
            "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-approval-ApprovalGateHandlerRole/approval-gate"
        }
    }
    own_change["detail"]["LastModifiedTime"] = "2026-01-01T00:05:00Z"

    outcome = handler.handler(own_change, lambda_context)

    assert (outcome["result"], outcome["reason"]) == ("ignored", "the gate's own model card update, already audited")
    assert len(aws.deploy_executions("churn-deploy")) == 1
    assert aws.audit_events() == []
    # A person's change, another role's session named after the gate (anyone may name a session), or
    # another function's (even one whose name starts with the gate's), is not the gate's.
    settings = GateSettings.from_env(GATE_ENVIRONMENT)
    for arn_of_someone_else in (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-approval-ApprovalGateHandlerRole/approval-gate-test",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/approver/approval-gate",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-approval-ApprovalGateHandlerRole-x/approval-gate",
        f"arn:aws:iam::{ACCOUNT}:user/approval-gate",
    ):
        own_change["detail"]["LastModifiedBy"]["IamIdentity"]["Arn"] = arn_of_someone_else
        change = handler.gate.ModelPackageStateChangeEvent.model_validate(own_change).detail
        assert not settings.is_own_change(change)


def test_re_approving_a_package_whose_card_the_gate_archived_is_rejected_with_the_reason_not_retried(
    aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    """SageMaker does not reopen an Archived card: the gate says so once, it does not retry forever."""
    arn = aws.register_package("churn-model", churn_metrics(auc=0.72))
    handler.handler(aws.set_status(arn, "Approved", by="approver-alice"), lambda_context)
    assert aws.card_status(arn) == "Archived"
    aws.alerts()
    # The threshold was lowered (the registration changed) and a person approves the package again.
    aws.register_model("churn-model", json.dumps(GATED_MODELS["churn-model"] | {"threshold": 0.7}))
    handler.REGISTRY.forget()
    event = aws.set_status(arn, "Approved", by="approver-bob")
    event["id"] = "event-2"

    outcome = handler.handler(event, lambda_context)

    assert outcome["result"] == "rejected_governance"
    assert aws.deploy_executions("churn-deploy") == []
    [alert] = aws.alerts()
    assert "Model Card is in Archived state" in alert["Message"]
    assert "register a new package" in alert["Message"]
    assert aws.package(arn)["ModelApprovalStatus"] == "Rejected"


# --- The evidence as registered: a package is judged on its documents as they were at its registration ---


def report_uri(aws: FakeAccount, arn: str, report: Report) -> str:
    section, kind = REPORTS[report]
    uri: str = aws.package(arn)["ModelMetrics"][section][kind]["S3Uri"]
    return uri


@pytest.mark.parametrize(
    ("group", "registered", "report", "written_again", "decision"),
    [
        # A passing package whose bias report is replaced by a failing one deploys: it is judged as registered.
        ("loans-model", (churn_metrics(0.91), FAIR), "bias", UNFAIR, "deploy_started"),
        # A failing one whose report is replaced by a passing one is still rejected.
        ("loans-model", (churn_metrics(0.91), UNFAIR), "bias", FAIR, "rejected_governance"),
        ("churn-model", (churn_metrics(0.72), None), "metrics", churn_metrics(0.95), "rejected_below_threshold"),
        # Deleted since: the registered version is still there, and judged.
        ("churn-model", (churn_metrics(0.91), None), "metrics", None, "deploy_started"),
    ],
    ids=["fair-made-unfair", "unfair-made-fair", "failing-metric-made-passing", "metrics-deleted"],
)
def test_a_document_written_again_after_registration_is_judged_as_registered_and_the_alert_says_so(
    aws: FakeAccount,
    lambda_context: LambdaContext,
    group: str,
    registered: tuple[dict[str, Any], dict[str, Any] | None],
    report: Report,
    written_again: dict[str, Any] | None,
    decision: str,
) -> None:
    metrics, bias = registered
    arn = aws.register_package(group, metrics, bias_report=bias)
    # A push between registration and approval: the model's build can write its pipeline outputs.
    aws.write_after_registration(arn, report, written_again)

    outcome = handler.handler(aws.set_status(arn, "Approved", by="approver-alice"), lambda_context)

    assert outcome["result"] == decision
    uri = report_uri(aws, arn, report)
    note = f"written again since registration: the registered version was judged ({uri})"
    assert note in outcome["reason"]
    [alert] = aws.alerts()
    assert note in alert["Message"]
    [audit] = aws.audit_events()
    assert audit["detail"]["written_since_registration"] == [uri]
    deployments = aws.deploy_executions(GATED_MODELS[group]["deploy_pipeline_name"])
    if decision == "deploy_started":
        assert alert["Subject"] == f"Deployed, evidence changed: {group} v1"
        assert len(deployments) == 1
    else:
        assert deployments == []
        assert note in aws.package(arn)["ApprovalDescription"]


@pytest.mark.parametrize(("report", "what"), [("metrics", "metrics file"), ("bias", "bias report")])
def test_a_document_written_only_after_registration_makes_the_package_invalid_alerted_not_retried(
    aws: FakeAccount, lambda_context: LambdaContext, telemetry: Telemetry, report: Report, what: str
) -> None:
    arn = aws.register_package(
        "loans-model", churn_metrics(0.91), bias_report=FAIR, written_after_registration=[report]
    )

    outcome = handler.handler(aws.set_status(arn, "Approved", by="approver-alice"), lambda_context)

    assert outcome["result"] == "invalid"
    expected = re.compile(
        rf"its {what} {re.escape(report_uri(aws, arn, report))} did not exist when the package was registered"
        r" \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\) \(it was written after\)"
    )
    assert expected.search(outcome["reason"])
    [alert] = aws.alerts()
    assert alert["Subject"] == "Approval not deployed: loans-model v1"
    assert expected.search(alert["Message"])
    assert telemetry.metrics() == Counter({"ApprovalInvalidEvent": 1})
    assert aws.audit_events() == aws.deploy_executions("loans-deploy") == []
    assert aws.package(arn)["ModelApprovalStatus"] == "Approved"


def test_an_unversioned_bucket_holds_one_version_judged_as_registered_until_it_is_overwritten(
    unversioned_aws: FakeAccount, lambda_context: LambdaContext
) -> None:
    aws = unversioned_aws
    passing = aws.register_package("loans-model", churn_metrics(0.91), bias_report=FAIR)
    overwritten = aws.register_package("loans-model", churn_metrics(0.91), bias_report=UNFAIR)
    aws.write_after_registration(overwritten, "bias", FAIR)

    deployed = handler.handler(aws.set_status(passing, "Approved"), lambda_context)
    invalid = handler.handler(aws.set_status(overwritten, "Approved"), lambda_context)

    assert deployed["result"] == "deploy_started"
    assert deployed["audit"]["written_since_registration"] == []
    # Without versions, an overwrite leaves only a document the package was not registered with.
    assert invalid["result"] == "invalid"
    assert "its bias report" in invalid["reason"]
    assert "did not exist when the package was registered" in invalid["reason"]
    assert len(aws.deploy_executions("loans-deploy")) == 1


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("ListObjectVersions", "AccessDenied", 403),
        ("GetObject", "AccessDenied", 403),
        # The version judged was deleted for good between the listing and the read.
        ("GetObject", "NoSuchVersion", 404),
    ],
)
def test_a_bias_report_the_gate_may_not_read_is_alerted_not_retried(
    aws: FakeAccount, lambda_context: LambdaContext, operation: str, code: str, status: int
) -> None:
    arn = aws.register_package("loans-model", churn_metrics(auc=0.91), bias_report=FAIR)
    event = aws.set_status(arn, "Approved")

    def of_the_bias_report(params: Mapping[str, Any]) -> bool:
        return "bias" in params.get("Key", params.get("Prefix", ""))

    with failing(handler.CLIENTS.s3, operation, aws_error(code, status), only=of_the_bias_report):
        outcome = handler.handler(event, lambda_context)

    assert outcome["result"] == "invalid"
    [alert] = aws.alerts()
    assert (
        f"bias report s3://mlops-model-artifacts/loans-model/bias-1/analysis.json cannot be read ({code})"
        in alert["Message"]
    )
    assert aws.deploy_executions("loans-deploy") == []


REGISTERED_AT = datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)


def second(offset: int) -> datetime:
    """S3's LastModified (whole seconds), `offset` seconds from the second of REGISTERED_AT."""
    return REGISTERED_AT.replace(microsecond=0) + timedelta(seconds=offset)


@pytest.mark.parametrize(
    ("history", "judged", "newer"),
    [
        ([ObjectVersion("v1", second(-60))], "v1", 0),
        # The second of the registration counts as registered (S3 keeps no finer time).
        ([ObjectVersion("v1", second(0))], "v1", 0),
        ([ObjectVersion("v2", second(60)), ObjectVersion("v1", second(-60))], "v1", 1),
        ([ObjectVersion("gone", second(60), deleted=True), ObjectVersion("v1", second(-60))], "v1", 1),
        # Deleted before the registration: nothing existed then.
        ([ObjectVersion("gone", second(-1), deleted=True), ObjectVersion("v1", second(-60))], None, 0),
        ([ObjectVersion("v1", second(1))], None, 1),
        ([], None, 0),
    ],
    ids=["before", "same-second", "overwritten", "deleted-since", "deleted-before", "written-after", "never"],
)
def test_the_version_judged_is_the_one_current_at_registration(
    history: list[ObjectVersion], judged: str | None, newer: int
) -> None:
    version, after = registered_version(history, REGISTERED_AT)

    assert (version.version_id if version else None, len(after)) == (judged, newer)


def test_a_keys_history_is_its_own_versions_and_deletions_newest_first(aws: FakeAccount) -> None:
    key = "churn-model/evaluation.json"
    for body in (b"1", b"2"):
        aws.s3.put_object(Bucket=METRICS_BUCKET, Key=key, Body=body)
    aws.s3.delete_object(Bucket=METRICS_BUCKET, Key=key)
    aws.s3.put_object(Bucket=METRICS_BUCKET, Key=f"{key}.bak", Body=b"3")  # another key the prefix matches

    history = object_history(handler.CLIENTS.s3, METRICS_BUCKET, key)

    assert [entry.deleted for entry in history] == [True, False, False]
    [second_body, first_body] = [
        aws.s3.get_object(Bucket=METRICS_BUCKET, Key=key, VersionId=entry.version_id)["Body"].read()
        for entry in history[1:]
    ]
    assert (second_body, first_body) == (b"2", b"1")
