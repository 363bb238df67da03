"""The rollback tool (tools/rollback.py) in a fake account: the model registry, the serving stack and
the audit bus in moto.

moto models what the rollback reads and changes: model packages, the stack with its parameters and
outputs (UsePreviousTemplate and UsePreviousValue included), STS and the audit bus (read through a
rule that forwards to a queue). botocore's Stubber stands in for CloudFormation where moto cannot
answer as AWS does: the stack's Capabilities and service role (moto keeps neither), the exact
UpdateStack request, a stack in progress or failed, an update that CloudFormation rolls back, with its
stack events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from botocore.stub import Stubber

from config import ConfigError
from lambdas.common.contracts import (
    DATA_BUCKET_PARAMETER,
    INFERENCE_INSTANCE_TYPE_PARAMETER,
    METRIC_THRESHOLD_PARAMETER,
    MODEL_NAME_PARAMETER,
)
from lambdas.common.serving_state import ClarifyDeployment, champion_baselines, package_baselines
from tests.conftest import Synthesized
from tests.sqs_queues import drain, rule_queue
from tests.tools.conftest import ACCOUNT, PLATFORM, REGION, client
from tests.tools.test_resolve_champion import BIAS_DOCUMENT, CONTRACT, EXPLAINABILITY_DOCUMENT, FEATURE_NAMES
from tools import rollback
from tools.rollback import AwsClients, RollbackFailed, RollbackRefused, Target

STACK = f"{PLATFORM}-churn-production"
TOKEN = "rollback-test-token"
MOTO_CALLER = f"arn:aws:sts::{ACCOUNT}:user/moto"


def package_arn(group: str, version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/{version}"


# The churn registry: version 1 is the known-good package to return to, 2 the champion in production,
# 3 the challenger (still pending: the deploy pipeline can serve a challenger under evaluation), 4 rejected.
KNOWN_GOOD, CHAMPION, CHALLENGER, REJECTED = (package_arn("churn", v) for v in (1, 2, 3, 4))
OTHER_MODELS_PACKAGE = package_arn("fraud", 1)

# The parameters the serving stack keeps through a rollback, NoEcho included: the model's settings too
# (its inference instance type, and its gate's threshold, a Number, which CloudFormation keeps as a string).
KEPT_PARAMETERS = {
    "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-churn-serving",
    "DataCaptureS3Uri": "s3://mlops-data-capture/churn/production",
    "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "AlertTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-alerts",
    "InferenceInstanceType": "ml.m5.large",
    "MetricThreshold": "0.75",
}
NUMBERS = {"MetricThreshold"}

# The serving stack as far as moto models it: the same parameters and output as the real template.
SERVING_TEMPLATE = {
    "Parameters": {
        "ChampionModelPackageArn": {"Type": "String"},
        "ChallengerModelPackageArn": {"Type": "String", "Default": ""},
        **{name: {"Type": "Number" if name in NUMBERS else "String"} for name in KEPT_PARAMETERS},
    },
    "Resources": {
        "Champion": {
            "Type": "AWS::SageMaker::Model",
            "Properties": {
                "ExecutionRoleArn": {"Ref": "ExecutionRoleArn"},
                "PrimaryContainer": {"ModelPackageName": {"Ref": "ChampionModelPackageArn"}},
            },
        },
        "EndpointConfig": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {
                "KmsKeyId": {"Ref": "KmsKeyArn"},
                "ProductionVariants": [
                    {
                        "VariantName": "champion",
                        "ModelName": {"Fn::GetAtt": ["Champion", "ModelName"]},
                        "InitialInstanceCount": 1,
                        "InstanceType": {"Ref": "InferenceInstanceType"},
                        "InitialVariantWeight": 1,
                    }
                ],
            },
        },
        "Endpoint": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]}},
        },
    },
    "Outputs": {"EndpointName": {"Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}}},
}


@dataclass
class FakeAccount:
    """The rollback's surroundings in moto."""

    audit_queue: str = ""
    stack_id: str = ""
    prompts: list[str] = field(default_factory=list)

    @property
    def clients(self) -> AwsClients:
        return AwsClients(
            cloudformation=client("cloudformation"),
            sagemaker=client("sagemaker"),
            events=client("events"),
            sts=client("sts"),
            s3=client("s3"),
        )

    def build(self) -> FakeAccount:
        sagemaker = client("sagemaker")
        for group, statuses in {
            "churn": ["Approved", "Approved", "PendingManualApproval", "Rejected"],
            "fraud": ["Approved"],
        }.items():
            sagemaker.create_model_package_group(ModelPackageGroupName=group)
            for status in statuses:
                sagemaker.create_model_package(
                    ModelPackageGroupName=group,
                    ModelApprovalStatus=status,
                    InferenceSpecification={
                        "Containers": [{"Image": f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sklearn:1.2-1"}],
                        "SupportedContentTypes": ["application/json"],
                        "SupportedResponseMIMETypes": ["application/json"],
                    },
                )
        self.deploy_serving_stack(champion=CHAMPION, challenger=CHALLENGER)
        events = client("events")
        bus = f"{PLATFORM}-audit"
        events.create_event_bus(Name=bus)
        self.audit_queue = rule_queue(
            events, client("sqs"), bus=bus, rule="rollbacks", pattern={"source": ["mlops.rollback"]}, queue="audit"
        )
        return self

    def deploy_serving_stack(self, *, champion: str, challenger: str) -> None:
        """What the deploy pipeline does."""
        parameters = {"ChampionModelPackageArn": champion, "ChallengerModelPackageArn": challenger, **KEPT_PARAMETERS}
        self.stack_id = client("cloudformation").create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(SERVING_TEMPLATE),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        )["StackId"]

    def stack(self) -> dict[str, Any]:
        stack: dict[str, Any] = client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        return stack

    def parameters(self) -> dict[str, str]:
        return {p["ParameterKey"]: p["ParameterValue"] for p in self.stack()["Parameters"]}

    def audit_events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in drain(client("sqs"), self.audit_queue)]

    def confirm(self, answer: bool) -> Any:
        def confirm(change: str) -> bool:
            self.prompts.append(change)
            return answer

        return confirm

    def assert_untouched(self) -> None:
        assert self.stack()["StackStatus"] == "CREATE_COMPLETE"
        assert self.parameters() == {
            "ChampionModelPackageArn": CHAMPION,
            "ChallengerModelPackageArn": CHALLENGER,
            **KEPT_PARAMETERS,
        }
        assert self.audit_events() == []


@pytest.fixture
def account(aws: None) -> FakeAccount:
    return FakeAccount().build()


def target(package: str = KNOWN_GOOD, *, model: str = "churn") -> Target:
    return Target(platform_name=PLATFORM, model=model, stage="production", package_arn=package)


class TestRollback:
    def test_the_known_good_package_is_served_alone_and_audited(self, account: FakeAccount) -> None:
        endpoint_before = account.stack()["Outputs"]

        done = rollback.rollback(account.clients, target(), confirm=account.confirm(True), request_token=TOKEN)

        assert done == f"{STACK} now serves {KNOWN_GOOD} alone (audit event on {PLATFORM}-audit)"
        assert account.stack()["StackStatus"] == "UPDATE_COMPLETE"
        # The package as champion, the challenger cleared, every other parameter as it was.
        assert account.parameters() == {
            "ChampionModelPackageArn": KNOWN_GOOD,
            "ChallengerModelPackageArn": "",
            **KEPT_PARAMETERS,
        }
        assert account.stack()["Outputs"] == endpoint_before
        [audit] = account.audit_events()
        assert (audit["source"], audit["detail-type"]) == ("mlops.rollback", "Model Rollback")
        assert audit["resources"] == [KNOWN_GOOD, account.stack_id]
        assert audit["detail"] == {
            "model_name": "churn",
            "stage": "production",
            "stack_name": STACK,
            "from_champion_package_arn": CHAMPION,
            "from_challenger_package_arn": CHALLENGER,
            "to_model_package_arn": KNOWN_GOOD,
            "rolled_back_by": {"arn": MOTO_CALLER, "account": ACCOUNT, "user_id": "AKIAIOSFODNN7EXAMPLE"},
            "client_request_token": TOKEN,
        }

    def test_the_confirmation_shows_the_change(self, account: FakeAccount) -> None:
        rollback.rollback(account.clients, target(), confirm=account.confirm(True), request_token=TOKEN)

        [prompt] = account.prompts
        assert prompt.splitlines() == [
            f"Roll back {STACK} (CREATE_COMPLETE) as {MOTO_CALLER}:",
            f"  champion:   {CHAMPION}",
            f"          ->  {KNOWN_GOOD}",
            f"  challenger: {CHALLENGER}",
            "          ->  (none)",
            "  unchanged:  template and parameters ExecutionRoleArn, DataCaptureS3Uri, KmsKeyArn, AlertTopicArn,"
            " InferenceInstanceType, MetricThreshold",
            "  CloudFormation acts with your credentials (the stack has no service role)",
        ]

    def test_a_declined_confirmation_changes_nothing(self, account: FakeAccount) -> None:
        with pytest.raises(RollbackRefused, match="declined: nothing changed"):
            rollback.rollback(account.clients, target(), confirm=account.confirm(False), request_token=TOKEN)

        assert len(account.prompts) == 1
        account.assert_untouched()

    def test_staging_which_has_no_challenger_gets_the_package_as_its_one_model(self, account: FakeAccount) -> None:
        staging = f"{PLATFORM}-churn-staging"
        template = json.loads(json.dumps(SERVING_TEMPLATE))
        del template["Parameters"]["ChallengerModelPackageArn"]
        client("cloudformation").create_stack(
            StackName=staging,
            TemplateBody=json.dumps(template),
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v}
                for k, v in {"ChampionModelPackageArn": CHAMPION, **KEPT_PARAMETERS}.items()
            ],
        )
        stage = Target(platform_name=PLATFORM, model="churn", stage="staging", package_arn=KNOWN_GOOD)

        rollback.rollback(account.clients, stage, confirm=account.confirm(True), request_token=TOKEN)

        described = client("cloudformation").describe_stacks(StackName=staging)["Stacks"][0]
        assert described["StackStatus"] == "UPDATE_COMPLETE"
        assert {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]} == {
            "ChampionModelPackageArn": KNOWN_GOOD,
            **KEPT_PARAMETERS,
        }
        assert "challenger" not in account.prompts[0]
        [audit] = account.audit_events()
        assert audit["detail"]["stage"] == "staging"
        assert audit["detail"]["from_challenger_package_arn"] is None

    def test_rolling_back_a_challenger_only_clears_it(self, account: FakeAccount) -> None:
        rollback.rollback(account.clients, target(CHAMPION), confirm=None, request_token=TOKEN)

        assert account.parameters()["ChampionModelPackageArn"] == CHAMPION
        assert account.parameters()["ChallengerModelPackageArn"] == ""
        [audit] = account.audit_events()
        assert audit["detail"]["from_challenger_package_arn"] == CHALLENGER

    def test_nothing_to_change_updates_nothing(self, aws: None) -> None:
        account = FakeAccount().build()
        client("cloudformation").delete_stack(StackName=STACK)
        account.deploy_serving_stack(champion=KNOWN_GOOD, challenger="")

        done = rollback.rollback(account.clients, target(), confirm=account.confirm(True), request_token=TOKEN)

        assert done == f"{STACK} already serves {KNOWN_GOOD} alone: nothing to change"
        assert account.prompts == []
        assert account.stack()["StackStatus"] == "CREATE_COMPLETE"
        assert account.audit_events() == []

    def test_a_rejected_audit_entry_is_a_failure_after_the_rollback(self, account: FakeAccount) -> None:
        # PutEvents answers 200 with the entry rejected, e.g. when the bus's KMS key is unusable.
        with Stubber(client("events")) as events:
            events.add_response(
                "put_events",
                {
                    "FailedEntryCount": 1,
                    "Entries": [{"ErrorCode": "KMSAccessDeniedException", "ErrorMessage": "denied"}],
                },
            )
            with pytest.raises(RollbackFailed, match="KMSAccessDeniedException") as failed:
                rollback.rollback(account.clients, target(), confirm=None, request_token=TOKEN)

        assert f"{STACK} now serves {KNOWN_GOOD} alone, but the audit event could not be put" in str(failed.value)
        assert account.parameters()["ChampionModelPackageArn"] == KNOWN_GOOD

    def test_an_audit_failure_after_the_update_says_the_rollback_happened(self, account: FakeAccount) -> None:
        client("events").delete_event_bus(Name=f"{PLATFORM}-audit")

        with pytest.raises(
            RollbackFailed, match=r"now serves .* alone, but the audit event could not be put"
        ) as failed:
            rollback.rollback(account.clients, target(), confirm=None, request_token=TOKEN)

        assert "Record the rollback by hand" in str(failed.value)
        assert account.parameters()["ChampionModelPackageArn"] == KNOWN_GOOD


class TestRefusals:
    @pytest.mark.parametrize(
        ("package", "reason"),
        [
            (OTHER_MODELS_PACKAGE, "belongs to group 'fraud', not to model 'churn'"),
            (CHALLENGER, "is PendingManualApproval, not Approved"),
            (REJECTED, "is Rejected, not Approved"),
            (package_arn("churn", 99), "not found"),
        ],
    )
    def test_a_package_that_may_not_be_served_is_refused(self, account: FakeAccount, package: str, reason: str) -> None:
        with pytest.raises(RollbackRefused, match=reason):
            rollback.rollback(account.clients, target(package), confirm=account.confirm(True), request_token=TOKEN)

        assert account.prompts == []
        account.assert_untouched()

    @pytest.mark.parametrize(
        "arn",
        [
            "",
            "churn/1",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn",  # unversioned: in no group
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/churn",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/mlops-churn-production",
            f"arn:aws:sagemaker:{REGION}:12345:model-package/churn/1",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/0",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/1 ",
            f"arn:aws:s3:::{REGION}-{ACCOUNT}/model-package/churn/1",
        ],
    )
    def test_a_malformed_arn_is_refused_before_any_aws_call(self, arn: str) -> None:
        stubbed = [Stubber(client(service)) for service in ("cloudformation", "sagemaker", "events", "sts")]
        for stubber in stubbed:  # no response queued: any call would raise
            stubber.activate()
        try:
            with pytest.raises(RollbackRefused, match="is not a versioned model package ARN"):
                rollback.rollback(FakeAccount().clients, target(arn), confirm=None, request_token=TOKEN)
        finally:
            for stubber in stubbed:
                stubber.deactivate()

    def test_a_missing_stack_is_refused(self, account: FakeAccount) -> None:
        with pytest.raises(RollbackRefused, match=f"stack {PLATFORM}-churn-staging does not exist"):
            rollback.rollback(
                account.clients,
                Target(platform_name=PLATFORM, model="churn", stage="staging", package_arn=KNOWN_GOOD),
                confirm=None,
                request_token=TOKEN,
            )

    @pytest.mark.parametrize(
        ("status", "hint"),
        [
            ("UPDATE_IN_PROGRESS", "wait for the operation in progress"),
            ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "wait for the operation in progress"),
            ("UPDATE_ROLLBACK_IN_PROGRESS", "wait for the operation in progress"),
            ("CREATE_IN_PROGRESS", "wait for the operation in progress"),
            ("DELETE_IN_PROGRESS", "wait for the operation in progress"),
            ("REVIEW_IN_PROGRESS", "wait for the operation in progress"),
            ("UPDATE_ROLLBACK_FAILED", "it needs attention in the CloudFormation console"),
            ("ROLLBACK_COMPLETE", "its first deployment failed and nothing is served: delete the stack"),
            ("DELETE_FAILED", "it needs attention in the CloudFormation console"),
        ],
    )
    def test_a_stack_not_in_a_stable_state_is_refused(
        self, account: FakeAccount, cloudformation: Stubber, status: str, hint: str
    ) -> None:
        cloudformation.add_response("describe_stacks", described_stack(status), {"StackName": STACK})

        with pytest.raises(RollbackRefused, match=f"stack {STACK} is {status}: {hint}"):
            rollback.rollback(account.clients, target(), confirm=account.confirm(True), request_token=TOKEN)

        assert account.prompts == []

    def test_a_stack_without_the_serving_parameters_is_refused(
        self, account: FakeAccount, cloudformation: Stubber
    ) -> None:
        stack = described_stack("UPDATE_COMPLETE")
        stack["Stacks"][0]["Parameters"] = [{"ParameterKey": "BucketName", "ParameterValue": "data"}]
        cloudformation.add_response("describe_stacks", stack, {"StackName": STACK})

        with pytest.raises(RollbackRefused, match="no parameter ChampionModelPackageArn: not a serving stack"):
            rollback.rollback(account.clients, target(), confirm=None, request_token=TOKEN)


@pytest.fixture
def cloudformation() -> Iterator[Stubber]:
    """The CloudFormation client, stubbed: every call must be queued and is asserted exactly."""
    stubber = Stubber(client("cloudformation"))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-churn-deploy-cfn"


def described_stack(status: str, *, reason: str | None = None) -> dict[str, Any]:
    """DescribeStacks as CloudFormation answers for the pipeline-deployed stack (moto keeps neither
    Capabilities nor RoleARN). Parameters in the template's order, NoEcho values masked."""
    stack: dict[str, Any] = {
        "StackId": STACK_ID,
        "StackName": STACK,
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "StackStatus": status,
        "Parameters": [
            {"ParameterKey": "AlertTopicArn", "ParameterValue": KEPT_PARAMETERS["AlertTopicArn"]},
            {"ParameterKey": "ChallengerModelPackageArn", "ParameterValue": CHALLENGER},
            {"ParameterKey": "ChampionModelPackageArn", "ParameterValue": CHAMPION},
            {"ParameterKey": "DataCaptureS3Uri", "ParameterValue": "****"},
            {"ParameterKey": "ExecutionRoleArn", "ParameterValue": KEPT_PARAMETERS["ExecutionRoleArn"]},
            {"ParameterKey": "InferenceInstanceType", "ParameterValue": KEPT_PARAMETERS["InferenceInstanceType"]},
            {"ParameterKey": "MetricThreshold", "ParameterValue": KEPT_PARAMETERS["MetricThreshold"]},
        ],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        "RoleARN": DEPLOY_ROLE,
    }
    if reason:
        stack["StackStatusReason"] = reason
    return {"Stacks": [stack]}


EXPECTED_UPDATE: dict[str, Any] = {
    "StackName": STACK_ID,
    "UsePreviousTemplate": True,
    "Parameters": [
        {"ParameterKey": "ChampionModelPackageArn", "ParameterValue": KNOWN_GOOD},
        {"ParameterKey": "ChallengerModelPackageArn", "ParameterValue": ""},
        {"ParameterKey": "AlertTopicArn", "UsePreviousValue": True},
        {"ParameterKey": "DataCaptureS3Uri", "UsePreviousValue": True},
        {"ParameterKey": "ExecutionRoleArn", "UsePreviousValue": True},
        {"ParameterKey": "InferenceInstanceType", "UsePreviousValue": True},
        {"ParameterKey": "MetricThreshold", "UsePreviousValue": True},
    ],
    "ClientRequestToken": TOKEN,
    "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
}


def stack_event(
    number: int, logical_id: str, resource_type: str, status: str, reason: str = "", token: str = TOKEN
) -> dict[str, Any]:
    event = {
        "StackId": STACK_ID,
        "EventId": f"event-{number}",
        "StackName": STACK,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "Timestamp": datetime(2026, 1, 1, 12, 0, number, tzinfo=UTC),
        "ResourceStatus": status,
        "ClientRequestToken": token,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


class TestUpdate:
    def test_the_update_request_is_exactly_the_package_no_challenger_and_everything_else_kept(
        self, account: FakeAccount, cloudformation: Stubber
    ) -> None:
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_COMPLETE"), {"StackName": STACK})
        cloudformation.add_response("update_stack", {"StackId": STACK_ID}, EXPECTED_UPDATE)
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_IN_PROGRESS"), {"StackName": STACK_ID})
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_COMPLETE"), {"StackName": STACK_ID})

        rollback.rollback(
            account.clients, target(), confirm=account.confirm(True), request_token=TOKEN, waiter_delay_seconds=0
        )

        assert f"CloudFormation acts as {DEPLOY_ROLE}" in account.prompts[0]
        assert len(account.audit_events()) == 1

    def test_a_stack_without_a_challenger_parameter_is_sent_none(
        self, account: FakeAccount, cloudformation: Stubber
    ) -> None:
        # CloudFormation rejects a parameter the template does not declare; moto ignores it.
        staging = described_stack("UPDATE_COMPLETE")
        staging["Stacks"][0]["Parameters"] = [
            p for p in staging["Stacks"][0]["Parameters"] if p["ParameterKey"] != "ChallengerModelPackageArn"
        ]
        cloudformation.add_response("describe_stacks", staging, {"StackName": STACK})
        expected_parameters = [
            p for p in EXPECTED_UPDATE["Parameters"] if p["ParameterKey"] != "ChallengerModelPackageArn"
        ]
        cloudformation.add_response(
            "update_stack", {"StackId": STACK_ID}, {**EXPECTED_UPDATE, "Parameters": expected_parameters}
        )
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_COMPLETE"), {"StackName": STACK_ID})

        rollback.rollback(account.clients, target(), confirm=None, request_token=TOKEN)

    def test_a_rolled_back_update_fails_with_the_reasons_of_this_update_first_cause_first(
        self, account: FakeAccount, cloudformation: Stubber
    ) -> None:
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_COMPLETE"), {"StackName": STACK})
        cloudformation.add_response("update_stack", {"StackId": STACK_ID}, EXPECTED_UPDATE)
        cloudformation.add_response(
            "describe_stacks", described_stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK_ID}
        )
        stack_type, endpoint_type = "AWS::CloudFormation::Stack", "AWS::SageMaker::Endpoint"
        cloudformation.add_response(
            "describe_stack_events",
            {
                "StackEvents": [  # newest first, as CloudFormation lists them
                    stack_event(9, STACK, stack_type, "UPDATE_ROLLBACK_COMPLETE"),
                    stack_event(8, "Endpoint", endpoint_type, "UPDATE_COMPLETE"),
                    stack_event(
                        7,
                        STACK,
                        stack_type,
                        "UPDATE_ROLLBACK_IN_PROGRESS",
                        "The following resource(s) failed to update: [Endpoint].",
                    ),
                    stack_event(
                        6,
                        "EndpointConfig",
                        "AWS::SageMaker::EndpointConfig",
                        "UPDATE_FAILED",
                        "Resource update cancelled",
                    ),
                    stack_event(
                        5,
                        "Endpoint",
                        endpoint_type,
                        "UPDATE_FAILED",
                        "Endpoint went into Failed: the model failed its ping health check",
                    ),
                ],
                "NextToken": "older",
            },
            {"StackName": STACK_ID},
        )
        # The start of this update, then an earlier operation's failure that must not be reported. The
        # page after it (NextToken "oldest") must not be read: it is not queued, reading it would fail.
        cloudformation.add_response(
            "describe_stack_events",
            {
                "StackEvents": [
                    stack_event(4, STACK, stack_type, "UPDATE_IN_PROGRESS", "User Initiated"),
                    stack_event(
                        3, "Endpoint", endpoint_type, "UPDATE_FAILED", "an earlier deployment", token="pipeline-run"
                    ),
                ],
                "NextToken": "oldest",
            },
            {"StackName": STACK_ID, "NextToken": "older"},
        )

        with pytest.raises(RollbackFailed) as failed:
            rollback.rollback(account.clients, target(), confirm=None, request_token=TOKEN)

        assert str(failed.value).splitlines() == [
            f"the update of {STACK} failed (UPDATE_ROLLBACK_COMPLETE); CloudFormation rolled the update back: "
            "the endpoint serves what it served before. Reasons, first cause first:",
            "  Endpoint: Endpoint went into Failed: the model failed its ping health check",
            "  EndpointConfig: Resource update cancelled",
        ]
        assert account.audit_events() == []

    def test_only_the_failures_of_this_update_are_reasons(self, cloudformation: Stubber) -> None:
        # The start of this update is not among the events read (CloudFormation lists at most 100 a
        # page): the token still keeps an earlier operation's failures out.
        cloudformation.add_response(
            "describe_stack_events",
            {
                "StackEvents": [
                    stack_event(5, "Endpoint", "AWS::SageMaker::Endpoint", "UPDATE_FAILED", "this update"),
                    stack_event(3, "Model", "AWS::SageMaker::Model", "CREATE_FAILED", "an earlier run", token="other"),
                ]
            },
            {"StackName": STACK_ID},
        )

        assert rollback.failure_reasons(client("cloudformation"), STACK_ID, TOKEN) == ["Endpoint: this update"]

    def test_an_update_refused_by_cloudformation_fails(self, account: FakeAccount, cloudformation: Stubber) -> None:
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_COMPLETE"), {"StackName": STACK})
        cloudformation.add_client_error(
            "update_stack", "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"
        )

        with pytest.raises(RollbackFailed, match=r"CloudFormation refused the update .*CAPABILITY_NAMED_IAM"):
            rollback.rollback(account.clients, target(), confirm=None, request_token=TOKEN)
        assert account.audit_events() == []

    def test_an_update_still_running_at_the_timeout_fails_without_an_audit_event(
        self, account: FakeAccount, cloudformation: Stubber
    ) -> None:
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_COMPLETE"), {"StackName": STACK})
        cloudformation.add_response("update_stack", {"StackId": STACK_ID}, EXPECTED_UPDATE)
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_IN_PROGRESS"), {"StackName": STACK_ID})

        with pytest.raises(RollbackFailed, match="still UPDATE_IN_PROGRESS after 1 minutes; CloudFormation carries on"):
            # One attempt a minute for one minute: the waiter gives up after its first look, without sleeping.
            rollback.rollback(
                account.clients, target(), confirm=None, request_token=TOKEN, timeout_minutes=1, waiter_delay_seconds=60
            )
        assert account.audit_events() == []


@pytest.fixture
def main_clients(account: FakeAccount, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """`main` on the fake account's clients (creating clients is slow); the regions it asked for."""
    regions: list[str | None] = []

    def make_clients(region: str | None) -> AwsClients:
        regions.append(region)
        return account.clients

    monkeypatch.setattr(rollback, "make_clients", make_clients)
    return regions


class TestMain:
    def test_defaults_come_from_the_platform_configuration(
        self, account: FakeAccount, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # No --platform-name and no --region: both from config/platform.yaml, as the fake account is.
        code = rollback.main(["--model", "churn", "--package-arn", KNOWN_GOOD, "--yes"])

        assert code == 0
        assert capsys.readouterr().out == f"{STACK} now serves {KNOWN_GOOD} alone (audit event on {PLATFORM}-audit)\n"
        assert account.parameters()["ChampionModelPackageArn"] == KNOWN_GOOD
        [audit] = account.audit_events()
        assert audit["detail"]["client_request_token"].startswith("rollback-")

    def test_a_refusal_exits_1_with_the_reason(
        self, account: FakeAccount, main_clients: list[str | None], capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = rollback.main(
            ["--model", "churn", "--package-arn", REJECTED, "--yes", "--platform-name", PLATFORM, "--region", REGION]
        )

        assert code == 1
        assert main_clients == [REGION]
        assert (
            capsys.readouterr().err
            == f"refused: model package {REJECTED} is Rejected, not Approved: only approved packages are served\n"
        )
        account.assert_untouched()

    def test_a_failed_update_exits_1_with_the_reason(
        self,
        account: FakeAccount,
        main_clients: list[str | None],
        cloudformation: Stubber,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(rollback, "new_request_token", lambda: TOKEN)
        cloudformation.add_response("describe_stacks", described_stack("UPDATE_COMPLETE"), {"StackName": STACK})
        cloudformation.add_response("update_stack", {"StackId": STACK_ID}, EXPECTED_UPDATE)
        cloudformation.add_response(
            "describe_stacks", described_stack("UPDATE_ROLLBACK_FAILED"), {"StackName": STACK_ID}
        )
        cloudformation.add_response(
            "describe_stack_events",
            {
                "StackEvents": [
                    stack_event(2, "Endpoint", "AWS::SageMaker::Endpoint", "UPDATE_FAILED", "Access denied"),
                    stack_event(1, STACK, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS"),
                ]
            },
            {"StackName": STACK_ID},
        )

        code = rollback.main(["--model", "churn", "--package-arn", KNOWN_GOOD, "--yes"])

        assert code == 1
        err = capsys.readouterr().err
        assert err.startswith(
            f"FAILED: the update of {STACK} failed (UPDATE_ROLLBACK_FAILED); the stack needs attention"
        )
        assert err.endswith("first cause first:\n  Endpoint: Access denied\n")
        assert account.audit_events() == []

    @pytest.mark.parametrize(("answer", "updated"), [("y", True), ("yes", True), ("n", False), ("", False)])
    def test_without_yes_the_engineer_is_asked(
        self,
        account: FakeAccount,
        main_clients: list[str | None],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        answer: str,
        updated: bool,
    ) -> None:
        monkeypatch.setattr("builtins.input", lambda prompt: answer)

        code = rollback.main(["--model", "churn", "--package-arn", KNOWN_GOOD])

        assert code == (0 if updated else 1)
        assert f"  champion:   {CHAMPION}" in capsys.readouterr().out
        assert (account.parameters()["ChampionModelPackageArn"] == KNOWN_GOOD) is updated

    def test_no_answer_is_a_no(
        self, account: FakeAccount, main_clients: list[str | None], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def end_of_input(prompt: str) -> str:
            raise EOFError

        monkeypatch.setattr("builtins.input", end_of_input)
        assert rollback.main(["--model", "churn", "--package-arn", KNOWN_GOOD]) == 1
        account.assert_untouched()

    def test_a_model_not_in_the_configuration_exits_2(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(rollback, "make_clients", _no_clients)
        assert rollback.main(["--model", "no-such-model", "--package-arn", package_arn("no-such-model", 1)]) == 2
        assert "model 'no-such-model' is not in the configuration: ['churn'" in capsys.readouterr().err

    def test_an_invalid_configuration_exits_2(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def invalid() -> None:
            raise ConfigError("invalid platform configuration:\n  config/platform.yaml: name: too long")

        monkeypatch.setattr(rollback, "load_config", invalid)
        monkeypatch.setattr(rollback, "make_clients", _no_clients)
        assert rollback.main(["--model", "churn", "--package-arn", KNOWN_GOOD]) == 2
        assert "config/platform.yaml: name: too long" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "arguments",
        [
            ["--model", "Churn", "--package-arn", KNOWN_GOOD],
            ["--model", "churn", "--package-arn", KNOWN_GOOD, "--stage", "prod"],
            ["--model", "churn"],
            ["--model", "churn", "--package-arn", KNOWN_GOOD, "--timeout-minutes", "0"],
        ],
    )
    def test_bad_arguments_exit_2(self, arguments: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(rollback, "make_clients", _no_clients)
        with pytest.raises(SystemExit) as exited:
            rollback.main(arguments)
        assert exited.value.code == 2


def _no_clients(region: str | None) -> AwsClients:
    raise AssertionError("no AWS client may be created")


CLARIFY_BASELINES = {
    "Bias": {
        "ConfigFile": {"ContentType": "application/json", "S3Uri": "s3://data/e5/bias/analysis_config.json"},
        "PreTrainingConstraints": {"ContentType": "application/json", "S3Uri": "s3://data/e5/bias/pre.json"},
        "PostTrainingConstraints": {"ContentType": "application/json", "S3Uri": "s3://data/e5/bias/post.json"},
    },
    "Explainability": {
        "ConfigFile": {"ContentType": "application/json", "S3Uri": "s3://data/e5/shap/analysis_config.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://data/e5/shap/analysis.json"},
    },
}
DATA_QUALITY_BASELINE = {
    "ModelDataQuality": {
        "Statistics": {
            "ContentType": "application/json",
            "S3Uri": "s3://data/churn/pipelines/e5/baseline/statistics.json",
        },
        "Constraints": {
            "ContentType": "application/json",
            "S3Uri": "s3://data/churn/pipelines/e5/baseline/constraints.json",
        },
    }
}
NO_CLARIFY_BASELINES = {
    "BiasAnalysisConfigS3Uri": "",
    "BiasConstraintsS3Uri": "",
    "ExplainabilityAnalysisConfigS3Uri": "",
    "ExplainabilityConstraintsS3Uri": "",
}


class TestBaselines:
    """Model Monitor and Clarify compare production with the champion's baselines: a rollback brings the
    package's own."""

    STATISTICS = "s3://data/churn/pipelines/e5/baseline/statistics.json"
    CONSTRAINTS = "s3://data/churn/pipelines/e5/baseline/constraints.json"

    def test_the_packages_baseline_is_read_from_its_drift_check_baselines(self) -> None:
        """A package registered before its build ran Clarify's checks has no Clarify baselines: empty."""
        assert package_baselines({"DriftCheckBaselines": DATA_QUALITY_BASELINE}) == {
            "BaselineStatisticsS3Uri": self.STATISTICS,
            "BaselineConstraintsS3Uri": self.CONSTRAINTS,
            **NO_CLARIFY_BASELINES,
        }
        assert package_baselines({}) == {
            "BaselineStatisticsS3Uri": "",
            "BaselineConstraintsS3Uri": "",
            **NO_CLARIFY_BASELINES,
        }

    def test_the_packages_clarify_baselines_are_its_analysis_configs_and_post_training_constraints(self) -> None:
        package = {"DriftCheckBaselines": DATA_QUALITY_BASELINE | CLARIFY_BASELINES}
        assert package_baselines(package) == {
            "BaselineStatisticsS3Uri": self.STATISTICS,
            "BaselineConstraintsS3Uri": self.CONSTRAINTS,
            "BiasAnalysisConfigS3Uri": "s3://data/e5/bias/analysis_config.json",
            # Production's predictions are judged on post-training bias; pre-training bias is the data's.
            "BiasConstraintsS3Uri": "s3://data/e5/bias/post.json",
            "ExplainabilityAnalysisConfigS3Uri": "s3://data/e5/shap/analysis_config.json",
            "ExplainabilityConstraintsS3Uri": "s3://data/e5/shap/analysis.json",
        }

    MONITORING_OUTPUT = "s3://mlops-churn-captures/churn/monitoring"
    WRITTEN = f"{MONITORING_OUTPUT}/clarify-configs/model-explainability-1.json"

    def monitored_account(self, *, contract: dict[str, str] | None = None) -> tuple[AwsClients, str]:
        """In moto: the package registered with its data-quality and Clarify baselines (and their analysis
        configs in its data bucket), its inference contract and instance types; a monitored stack whose
        baselines are the serving champion's. The clients, and the platform key's ARN."""
        s3 = client("s3")
        for bucket in ("data", "mlops-churn-captures"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for key, document in (
            ("e5/bias/analysis_config.json", BIAS_DOCUMENT),
            ("e5/shap/analysis_config.json", EXPLAINABILITY_DOCUMENT),
        ):
            s3.put_object(Bucket="data", Key=key, Body=json.dumps(document).encode())
        key_arn = client("kms").create_key(Description="platform")["KeyMetadata"]["Arn"]
        sagemaker = client("sagemaker")
        sagemaker.create_model_package_group(ModelPackageGroupName="churn")
        sagemaker.create_model_package(
            ModelPackageGroupName="churn",
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sklearn:1.2-1"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            },
            DriftCheckBaselines=DATA_QUALITY_BASELINE | CLARIFY_BASELINES,
            CustomerMetadataProperties=CONTRACT.to_properties() if contract is None else contract,
        )
        events = client("events")
        events.create_event_bus(Name=f"{PLATFORM}-audit")
        # The serving champion's baselines, in a template that monitors with every kind of baseline.
        serving_champions = {name: f"s3://data/e1/{name}.json" for name in package_baselines({})}
        monitoring = {"MonitoringOutputS3Uri": self.MONITORING_OUTPUT, "ClarifyFeatureNames": "old"}
        declared = cast(dict[str, Any], SERVING_TEMPLATE["Parameters"])
        parameters = declared | {name: {"Type": "String"} for name in {**serving_champions, **monitoring}}
        monitored = {**SERVING_TEMPLATE, "Parameters": parameters}
        client("cloudformation").create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(monitored),
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in {
                    "ChampionModelPackageArn": CHAMPION,
                    **KEPT_PARAMETERS,
                    "KmsKeyArn": key_arn,
                    **serving_champions,
                    **monitoring,
                }.items()
            ],
        )
        clients = AwsClients(
            cloudformation=client("cloudformation"), sagemaker=sagemaker, events=events, sts=client("sts"), s3=s3
        )
        return clients, key_arn

    def stack_parameters(self) -> dict[str, str]:
        described = client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        return {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}

    def test_a_rollback_monitors_production_against_the_packages_own_baselines(self, aws: None) -> None:
        """After the rollback each baseline is the package's: the explainability monitor's config written
        for it, as the champion resolution writes it (lambdas/common/serving_state.py), naming its model."""
        clients, key_arn = self.monitored_account()

        rollback.rollback(clients, target(), confirm=None, request_token=TOKEN)

        parameters = self.stack_parameters()
        assert {name: parameters[name] for name in package_baselines({})} == {
            "BaselineStatisticsS3Uri": self.STATISTICS,
            "BaselineConstraintsS3Uri": self.CONSTRAINTS,
            "BiasAnalysisConfigS3Uri": "s3://data/e5/bias/analysis_config.json",
            "BiasConstraintsS3Uri": "s3://data/e5/bias/post.json",
            "ExplainabilityAnalysisConfigS3Uri": self.WRITTEN,
            "ExplainabilityConstraintsS3Uri": "s3://data/e5/shap/analysis.json",
        }
        assert parameters["ClarifyFeatureNames"] == FEATURE_NAMES
        assert parameters["ChampionModelPackageArn"] == KNOWN_GOOD
        written = client("s3").get_object(
            Bucket="mlops-churn-captures", Key="churn/monitoring/clarify-configs/model-explainability-1.json"
        )
        assert (written["ServerSideEncryption"], written["SSEKMSKeyId"]) == ("aws:kms", key_arn)
        predictor = json.loads(written["Body"].read())["predictor"]
        assert (predictor["model_name"], predictor["endpoint_name_prefix"]) == (
            "mlops-churn-production-clarify-1",
            "mlops-churn-production-clarify",
        )

    def test_a_package_whose_clarify_baseline_cannot_be_run_is_refused_before_any_change(self, aws: None) -> None:
        clients, _ = self.monitored_account(contract={"mlops:note": "no contract"})
        before = self.stack_parameters()

        with pytest.raises(RollbackRefused, match="records no inference contract"):
            rollback.rollback(clients, target(), confirm=None, request_token=TOKEN)

        assert self.stack_parameters() == before
        assert client("s3").list_objects_v2(Bucket="mlops-churn-captures").get("KeyCount") == 0

    def test_a_declined_rollback_writes_no_config(self, aws: None) -> None:
        clients, _ = self.monitored_account()

        with pytest.raises(RollbackRefused, match="declined"):
            rollback.rollback(clients, target(), confirm=lambda change: False, request_token=TOKEN)

        assert client("s3").list_objects_v2(Bucket="mlops-churn-captures").get("KeyCount") == 0

    def test_a_monitored_stack_gets_the_packages_baseline_and_keeps_the_rest(self) -> None:
        stack = rollback.ServingStack(
            name=STACK,
            stack_id=STACK_ID,
            status="UPDATE_COMPLETE",
            parameters={
                "ChampionModelPackageArn": CHAMPION,
                "ChallengerModelPackageArn": CHALLENGER,
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/serving",
                "BaselineStatisticsS3Uri": "",
                "BaselineConstraintsS3Uri": "",
            },
        )
        baselines = {"BaselineStatisticsS3Uri": self.STATISTICS, "BaselineConstraintsS3Uri": self.CONSTRAINTS}
        assert rollback.update_parameters(stack, "arn:package", baselines) == [
            {"ParameterKey": "ChampionModelPackageArn", "ParameterValue": "arn:package"},
            {"ParameterKey": "ChallengerModelPackageArn", "ParameterValue": ""},
            {"ParameterKey": "ExecutionRoleArn", "UsePreviousValue": True},
            {"ParameterKey": "BaselineStatisticsS3Uri", "ParameterValue": self.STATISTICS},
            {"ParameterKey": "BaselineConstraintsS3Uri", "ParameterValue": self.CONSTRAINTS},
        ]


def test_a_batch_models_production_stack_rolls_back_to_the_package_alone(any_model: Synthesized) -> None:
    """The batch template (a scheduled transform) has no challenger: the package replaces the champion,
    gets its own baseline, and every other parameter (model name, roles, data bucket, queue) is kept."""
    template = any_model.platform.model_deploys["renewals"].deploy.templates["production"]
    stack = rollback.ServingStack(
        name="mlops-renewals-production",
        stack_id=STACK_ID,
        status="UPDATE_COMPLETE",
        parameters={name: "previous" for name in template["Parameters"]},
    )
    baselines = champion_baselines(
        {"DriftCheckBaselines": {**CLARIFY_BASELINES, "ModelDataQuality": {"Constraints": {"S3Uri": "s3://b/c.json"}}}},
        ClarifyDeployment(feature_names=FEATURE_NAMES),
    )
    updates = rollback.update_parameters(stack, CHAMPION, baselines)
    assert updates[0] == {"ParameterKey": "ChampionModelPackageArn", "ParameterValue": CHAMPION}
    assert {u["ParameterKey"] for u in updates} == set(template["Parameters"])
    assert "ChallengerModelPackageArn" not in template["Parameters"]
    # Every baseline the template monitors with (renewals has ground truth: bias too), the package's own,
    # and the names by which Clarify finds a JSON request's features (renewals' requests are JSON lines).
    assert set(baselines) <= set(template["Parameters"])
    assert baselines["ClarifyFeatureNames"] == FEATURE_NAMES
    assert {u["ParameterKey"]: u["ParameterValue"] for u in updates[1:] if "ParameterValue" in u} == baselines
    assert baselines["BiasConstraintsS3Uri"] == "s3://data/e5/bias/post.json"
    kept = {u["ParameterKey"] for u in updates if u.get("UsePreviousValue")}
    assert {MODEL_NAME_PARAMETER, DATA_BUCKET_PARAMETER, METRIC_THRESHOLD_PARAMETER} <= kept, (
        "the stack stays the same model's, with the same gate"
    )


def test_a_real_time_models_stack_keeps_its_settings_through_a_rollback(any_model: Synthesized) -> None:
    """The production template of a monitored real-time model takes the model's gate threshold and
    inference instance type as parameters: a rollback keeps them, with every parameter but the packages."""
    template = any_model.platform.model_deploys["demand"].deploy.templates["production"]
    stack = rollback.ServingStack(
        name="mlops-demand-production",
        stack_id=STACK_ID,
        status="UPDATE_COMPLETE",
        parameters={name: "previous" for name in template["Parameters"]},
    )
    updates = rollback.update_parameters(stack, CHAMPION, {})
    assert {u["ParameterKey"] for u in updates} == set(template["Parameters"])
    assert [u for u in updates if "ParameterValue" in u] == [
        {"ParameterKey": "ChampionModelPackageArn", "ParameterValue": CHAMPION},
        {"ParameterKey": "ChallengerModelPackageArn", "ParameterValue": ""},
    ]
    kept = {u["ParameterKey"] for u in updates if u.get("UsePreviousValue")}
    assert {MODEL_NAME_PARAMETER, METRIC_THRESHOLD_PARAMETER, INFERENCE_INSTANCE_TYPE_PARAMETER} <= kept


def described_package(card_status: str | None) -> dict[str, Any]:
    """An Approved churn package as DescribeModelPackage answers, with a card of `card_status` (None: no card)."""
    answer: dict[str, Any] = {
        "ModelPackageName": "churn",
        "ModelPackageGroupName": "churn",
        "ModelPackageVersion": 7,
        "ModelPackageArn": package_arn("churn", 7),
        "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "Approved",
    }
    if card_status is not None:
        answer["ModelCard"] = {"ModelCardContent": "{}", "ModelCardStatus": card_status}
    return answer


@pytest.mark.parametrize("card_status", ["PendingReview", "Archived", "Draft"])
def test_an_approved_package_whose_card_the_gate_never_approved_is_refused(card_status: str) -> None:
    """moto keeps no model card: the package's description is stubbed."""
    sagemaker, arn = client("sagemaker"), package_arn("churn", 7)
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_model_package", described_package(card_status), {"ModelPackageName": arn})
        with pytest.raises(RollbackRefused, match=f"has a {card_status} model card, not Approved"):
            rollback.check_package(sagemaker, arn, "churn")


@pytest.mark.parametrize("card_status", ["Approved", None])
def test_an_approved_package_with_an_approved_card_or_none_may_be_served(card_status: str | None) -> None:
    sagemaker, arn = client("sagemaker"), package_arn("churn", 7)
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_model_package", described_package(card_status), {"ModelPackageName": arn})
        assert rollback.check_package(sagemaker, arn, "churn")["ModelApprovalStatus"] == "Approved"
