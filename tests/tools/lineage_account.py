"""The account the lineage tool's tests read: a churn model's production endpoint with two variants,
and for each package what SageMaker, CloudWatch Logs and S3 know of it (tests/tools/lineage_stubs.py
queues these answers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdas.common.contracts import APPROVAL_GATE_DETAIL_TYPE, APPROVAL_GATE_SOURCE, audit_log_group_name
from tests.tools.conftest import ACCOUNT, PLATFORM, REGION

ENDPOINT = f"{PLATFORM}-churn-production"
ENDPOINT_CONFIG = f"{ENDPOINT}-config-7"
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
CHAMPION, CHALLENGER = f"{ARN}:model-package/churn/2", f"{ARN}:model-package/churn/3"
PIPELINE = f"{ARN}:pipeline/churn-build/execution"
EXECUTION_2, EXECUTION_3 = f"{PIPELINE}/a1b2c3", f"{PIPELINE}/d4e5f6"
JOB_2, JOB_3 = f"{ARN}:training-job/pipelines-a1b2c3-train", f"{ARN}:training-job/pipelines-d4e5f6-train"
ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/approver/alice"
BOB = "approver-bob"  # a Studio user profile
GATE_ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/{PLATFORM}-approval-gate/gate"
DATA = "s3://mlops-churn-data"
RAW = "s3://acme-raw-exports/churn"  # an unversioned bucket
# The champion's build logged to the platform's MLflow server; the challenger's predates it.
TRACKING_SERVER = f"{ARN}:mlflow-tracking-server/{PLATFORM}-mlflow"
MLFLOW_RUN = "8c1d3e5f7a9b4c2d8e0f1a2b3c4d5e6f"
AUDIT_LOG = audit_log_group_name(PLATFORM)
CREATED = datetime(2026, 11, 1, tzinfo=UTC)
DENIED = "User: arn:aws:sts::123456789012:assumed-role/auditor/carol is not authorized to perform this action"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# --- answers --------------------------------------------------------------------------------------


def card_content(*, bias_assessed: bool) -> str:
    """A model card as the seed's build writes it (SageMaker's model package card schema)."""
    metric = {"name": "DI", "type": "number", "value": 0.93}
    bias = (
        {"name": "Post-training bias", "metric_groups": [{"name": "senior_citizen=1", "metric_data": [metric]}]}
        if bias_assessed
        else {"name": "Bias", "evaluation_observation": "Bias was not assessed.", "metric_groups": []}
    )
    return json.dumps(
        {
            "model_overview": {"model_creator": "Churn team <churn@acme.example>"},
            "intended_uses": {
                "intended_uses": "Rank customers by churn risk for retention offers; not for pricing or credit.",
                "risk_rating": "Medium",
            },
            "evaluation_details": [
                {"name": "Test split metrics", "metric_groups": [{"name": "binary", "metric_data": []}]},
                bias,
            ],
        }
    )


def version(key: str, version_id: str, written: datetime, *, latest: bool = False) -> dict[str, Any]:
    return {
        "Key": key,
        "VersionId": version_id,
        "IsLatest": latest,
        "LastModified": written,
        "ETag": '"0f343b0931126a20f133d67c2b018a3b"',
        "Size": 1024,
        "StorageClass": "STANDARD",
    }


def marker(key: str, version_id: str, written: datetime) -> dict[str, Any]:
    return {"Key": key, "VersionId": version_id, "IsLatest": True, "LastModified": written}


def decision_event(package_arn: str, *, decision: str, by: str, time: str, **detail: Any) -> dict[str, Any]:
    """A log event of the audit log group: the whole EventBridge event, as the audit rule delivers it."""
    group, number = package_arn.rsplit("/", 2)[1:]
    event = {
        "version": "0",
        "id": f"e-{number}-{decision}",
        "detail-type": APPROVAL_GATE_DETAIL_TYPE,
        "source": APPROVAL_GATE_SOURCE,
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [package_arn],
        "detail": {
            "decision": decision,
            "changed_by": by,
            "model_package_arn": package_arn,
            "model_package_group_name": group,
            "model_package_version": int(number),
            "model_name": group,
            **detail,
        },
    }
    stamp = int(datetime.fromisoformat(time).timestamp() * 1000)
    return {
        "logStreamName": "stream",
        "timestamp": stamp,
        "ingestionTime": stamp + 200,
        "eventId": event["id"],
        "message": json.dumps(event),
    }


@dataclass
class PackageCase:
    """One package and everything the tool reads about it."""

    arn: str
    execution: str | None
    job: str
    day: int  # the day its training job ran
    commit: str
    description: str  # the approver's
    card: str | None
    metadata: dict[str, str]
    decisions: list[list[dict[str, Any]]] | None  # pages of log events; None: no audit log group
    objects: dict[str, list[dict[str, Any]]]  # S3 URI -> its versions and delete markers, one page
    artifact: str | None  # the package's lineage artifact; None: SageMaker has none
    ascendants: list[list[dict[str, Any]]] = field(default_factory=list)  # pages of QueryLineage vertices

    @property
    def channels(self) -> dict[str, str]:
        return {"train": f"{DATA}/train/{self.day}/", "validation": f"{DATA}/validation/{self.day}/"}

    @property
    def started(self) -> datetime:
        return at(self.day, 9)


CHAMPION_CASE = PackageCase(
    arn=CHAMPION,
    execution=EXECUTION_2,
    job=JOB_2,
    day=19,
    commit="3f2c1a9",
    description="AUC 0.86 beats the threshold 0.75",
    card=card_content(bias_assessed=True),
    metadata={
        "dataset_version": "2026-11",
        "training_data_s3_uri": f"{RAW}/2026-11-19/",
        "feature_group_name": "churn-features",
        "event_time_from": "2026-10-01T00:00:00Z",
        "event_time_to": "2026-11-01T00:00:00Z",
        "mlflow_run_id": MLFLOW_RUN,
        "mlflow_tracking_server_arn": TRACKING_SERVER,
    },
    decisions=[
        [
            decision_event(
                CHAMPION,
                decision="deploy_started",
                by=ALICE,
                time="2026-11-20T10:30:04Z",
                metric_name="auc",
                metric_value=0.86,
                threshold=0.75,
                metric_direction="higher_is_better",
                model_card_status="Approved",
                bias_policy="block",
                bias_violations=[],
                deploy_pipeline_name="churn-deploy",
                pipeline_execution_id="7c1e0d",
            )
        ]
    ],
    objects={
        # part-0 was rewritten after the job started, part-1 deleted since: the job read v1 of both.
        f"{DATA}/train/19/": [
            version("train/19/part-0.csv", "p0-v2", at(21, 8), latest=True),
            version("train/19/part-0.csv", "p0-v1", at(18, 22)),
            version("train/19/part-1.csv", "p1-v1", at(18, 22)),
            marker("train/19/part-1.csv", "p1-deleted", at(25, 7)),
        ],
        f"{DATA}/validation/19/": [version("validation/19/part-0.csv", "v0-v1", at(18, 22), latest=True)],
        f"{RAW}/2026-11-19/": [version("churn/2026-11-19/customers.csv", "null", at(19, 6), latest=True)],
    },
    artifact=f"{ARN}:artifact/0c1f7d9e2a",
    ascendants=[
        [
            {"Arn": f"{ARN}:artifact/5d2b8e", "Type": "DataSet", "LineageType": "Artifact"},
            {"Arn": f"{ARN}:artifact/91aa04", "Type": "Image", "LineageType": "Artifact"},
        ],
        [
            {
                "Arn": f"{ARN}:experiment-trial-component/pipelines-a1b2c3-train-aws-training-job",
                "Type": "SageMakerTrainingJob",
                "LineageType": "TrialComponent",
            },
            {"Arn": f"{ARN}:artifact/5d2b8e", "Type": "DataSet", "LineageType": "Artifact"},  # on both pages
        ],
    ],
)

CHALLENGER_CASE = PackageCase(
    arn=CHALLENGER,
    execution=EXECUTION_3,
    job=JOB_3,
    day=25,
    commit="9e8d7c6",
    description="AUC 0.74: the threshold is 0.70 since CHURN-42",
    card=card_content(bias_assessed=False),
    metadata={"dataset_version": "2026-11", "training_data_s3_uri": f"{RAW}/2026-11-25/"},
    decisions=[
        [
            decision_event(
                CHALLENGER,
                decision="deploy_started",
                by=BOB,
                time="2026-11-26T08:00:00Z",
                metric_name="auc",
                metric_value=0.74,
                threshold=0.7,
                metric_direction="higher_is_better",
                model_card_status="Approved",
                bias_policy="report",
                bias_violations=["DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]"],
                deploy_pipeline_name="churn-deploy",
                pipeline_execution_id="5e2a71",
            )
        ],
        [  # the next page: approved again after that deployment failed its smoke test
            decision_event(
                CHALLENGER,
                decision="deploy_started",
                by=BOB,
                time="2026-11-27T15:12:09Z",
                metric_name="auc",
                metric_value=0.74,
                threshold=0.7,
                metric_direction="higher_is_better",
                model_card_status="Approved",
                bias_policy="report",
                bias_violations=["DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]"],
                deploy_pipeline_name="churn-deploy",
                pipeline_execution_id="9b0f3a",
            )
        ],
    ],
    objects={
        f"{DATA}/train/25/": [version("train/25/part-0.csv", "t25-v1", at(24, 22), latest=True)],
        f"{DATA}/validation/25/": [version("validation/25/part-0.csv", "v25-v1", at(24, 22), latest=True)],
        f"{RAW}/2026-11-25/": [
            version("churn/2026-11-25/customers.csv", "null", at(25, 6), latest=True),
            version("churn/2026-11-25/late.csv", "null", at(26, 6), latest=True),  # written after the job started
        ],
    },
    artifact=None,
)


def package_answer(case: PackageCase) -> dict[str, Any]:
    """DescribeModelPackage's answer. Its LastModifiedBy is the approval gate: it moved the card last."""
    answer: dict[str, Any] = {
        "ModelPackageName": "churn",
        "ModelPackageGroupName": "churn",
        "ModelPackageVersion": int(case.arn.rsplit("/", 1)[1]),
        "ModelPackageArn": case.arn,
        "CreationTime": at(case.day, 10),
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "Approved",
        "LastModifiedTime": at(case.day + 1, 10, 30),
        "LastModifiedBy": {"IamIdentity": {"Arn": GATE_ROLE}},
        "ApprovalDescription": case.description,
        "CustomerMetadataProperties": case.metadata,
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"{DATA}/evaluation/{case.commit}.json"}
            }
        },
    }
    if case.execution:
        answer["MetadataProperties"] = {
            "CommitId": case.commit,
            "Repository": "https://github.com/acme/churn",
            "GeneratedBy": case.execution,
        }
    if case.card is not None:
        answer["ModelCard"] = {"ModelCardStatus": "Approved", "ModelCardContent": case.card}
    return answer
