"""GovernanceStack: every security property the platform promises, asserted on the template."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from config.schema import PlatformConfig
from lambdas.common.contracts import PLATFORM_PARAMETERS, audit_log_group_name, platform_parameter_name
from mlops_constructs.audit import AuditEventBus, covering_retention
from mlops_constructs.compliance import rule_packs
from stacks.governance_stack import GovernanceStack
from tests.conftest import cdk_json_context
from tests.iam_evaluation import Principal, key_policy, role_principal

ACCOUNT, REGION = "123456789012", "eu-west-1"
# Stateful resources keep these logical ids: a change would make CloudFormation replace them.
STATEFUL_LOGICAL_IDS = {
    "PlatformKey1C4A1A63": "AWS::KMS::Key",
    "AccessLogsBucketCD784A59": "AWS::S3::Bucket",
    "ArtifactsBucket88671897": "AWS::S3::Bucket",
    "AuditTrailBucketD1BBDD81": "AWS::S3::Bucket",
    "AuditLogGroup4CD660E1": "AWS::Logs::LogGroup",
    "AuditEventsDecisionLogE3E6233C": "AWS::Logs::LogGroup",
}
KEY = "PlatformKey1C4A1A63"
ACCESS_LOGS = "AccessLogsBucketCD784A59"
ARTIFACTS = "ArtifactsBucket88671897"
TRAIL_BUCKET = "AuditTrailBucketD1BBDD81"
DECISION_LOG = "AuditEventsDecisionLogE3E6233C"


def resources(template: Template, resource_type: str) -> Mapping[str, Any]:
    return template.find_resources(resource_type)


def logical_id(template: Template, resource_type: str, id_prefix: str) -> str:
    matches = [rid for rid in resources(template, resource_type) if rid.startswith(id_prefix)]
    assert len(matches) == 1, f"expected one {resource_type} named {id_prefix}*, found {matches}"
    return matches[0]


def key_statements(template: Template) -> dict[str, dict[str, Any]]:
    key = resources(template, "AWS::KMS::Key")[KEY]
    return {s.get("Sid", "root"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}


# --- stateful resources ---------------------------------------------------------------------------


@pytest.mark.parametrize(("resource_id", "resource_type"), STATEFUL_LOGICAL_IDS.items())
def test_stateful_resources_keep_their_id_and_are_retained(
    governance: Template, resource_id: str, resource_type: str
) -> None:
    resource = governance.to_json()["Resources"][resource_id]
    assert resource["Type"] == resource_type
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


# --- KMS ------------------------------------------------------------------------------------------


def test_key_rotates_yearly(governance: Template) -> None:
    governance.has_resource_properties(
        "AWS::KMS::Key", {"EnableKeyRotation": True, "RotationPeriodInDays": 365, "PendingWindowInDays": 30}
    )
    governance.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/mlops/platform"})


def test_key_policy_lets_only_the_named_services_use_the_key(governance: Template) -> None:
    statements = key_statements(governance)
    service_principals = {
        sid: statement["Principal"]["Service"]
        for sid, statement in statements.items()
        if "Service" in statement["Principal"]
    }
    assert service_principals == {
        "CloudTrailEncryptsThisAccountsTrails": "cloudtrail.amazonaws.com",
        "CloudTrailDescribesKey": "cloudtrail.amazonaws.com",
        "CloudWatchLogsEncryptsThisAccountsLogGroups": f"logs.{REGION}.amazonaws.com",
        "AlertPublishersUseEncryptedTopics": [
            "budgets.amazonaws.com",
            "cloudwatch.amazonaws.com",
            "events.amazonaws.com",
        ],
        "EventBridgeEncryptsTheAuditBusAndArchive": "events.amazonaws.com",
    }
    assert [sid for sid, statement in statements.items() if statement["Effect"] == "Deny"] == [
        "GrantsOnlyForAwsResources"
    ]
    # Every service statement is pinned to this account: no confused deputy across accounts.
    trail = statements["CloudTrailEncryptsThisAccountsTrails"]
    assert trail["Action"] == "kms:GenerateDataKey*"
    assert trail["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert trail["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"] == (
        f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"
    )
    logs_statement = statements["CloudWatchLogsEncryptsThisAccountsLogGroups"]
    assert logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:*"
    )
    publishers = statements["AlertPublishersUseEncryptedTopics"]
    assert sorted(publishers["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert publishers["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    audit_bus = statements["EventBridgeEncryptsTheAuditBusAndArchive"]
    assert audit_bus["Condition"]["StringEquals"]["aws:SourceArn"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/mlops-audit",
        f"arn:aws:events:{REGION}:{ACCOUNT}:archive/mlops-audit-archive",
    ]
    assert "kms:*" not in [a for s in statements.values() if "Service" in s["Principal"] for a in s["Action"]]


KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
FOR_AWS_RESOURCE = {"kms:GrantIsForAWSResource": "true"}
FOR_A_PRINCIPAL = {"kms:GrantIsForAWSResource": "false"}


def test_key_policy_denies_grants_that_are_not_for_aws_resources(governance: Template) -> None:
    """AWS Control Tower's CT.KMS.PR.3 statement, exactly: CreateGrant only, everyone, fail-closed."""
    assert key_statements(governance)["GrantsOnlyForAwsResources"] == {
        "Sid": "GrantsOnlyForAwsResources",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
    }


@pytest.fixture(scope="module")
def key_administrator() -> Principal:
    """Anyone in the account someone gave every KMS permission (an administrator, a careless policy)."""
    return Principal(
        identity_statements=[{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}], boundary_statements=None
    )


def test_an_identity_policy_cannot_create_grants_for_principals(
    governance: Template, key_administrator: Principal
) -> None:
    policy = key_policy(governance, KEY)
    # IAM alone would allow it: the key policy is what stops it.
    assert key_administrator.is_allowed("kms:CreateGrant", KEY_ARN, **FOR_A_PRINCIPAL)
    assert not key_administrator.is_allowed_on_key(policy, "kms:CreateGrant", KEY_ARN, **FOR_A_PRINCIPAL)
    assert not key_administrator.is_allowed_on_key(policy, "kms:CreateGrant", KEY_ARN)  # no key: fails closed
    assert key_administrator.is_allowed_on_key(policy, "kms:CreateGrant", KEY_ARN, **FOR_AWS_RESOURCE)


@pytest.mark.parametrize(
    "action",
    [
        "kms:PutKeyPolicy",
        "kms:EnableKeyRotation",
        "kms:ScheduleKeyDeletion",
        "kms:DescribeKey",
        "kms:ListGrants",
        "kms:RevokeGrant",
        "kms:RetireGrant",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    ],
)
def test_administrators_still_manage_the_key_and_its_grants(
    governance: Template, key_administrator: Principal, action: str
) -> None:
    assert key_administrator.is_allowed_on_key(key_policy(governance, KEY), action, KEY_ARN, **FOR_A_PRINCIPAL)


def test_roles_that_let_services_create_grants_still_can(governance: Template, churn_deploy: Template) -> None:
    """The deployment role lets SageMaker encrypt endpoint volumes with a grant: the deny must not break it."""
    imports = {
        output["Export"]["Name"]: KEY_ARN
        for output in governance.find_outputs("*").values()
        if "Export" in output and output["Value"] == {"Fn::GetAtt": [KEY, "Arn"]}
    }
    policy = key_policy(governance, KEY)
    granting = {}
    for role_id in resources(churn_deploy, "AWS::IAM::Role"):
        role = role_principal(churn_deploy, role_id, boundary_from=governance, imports=imports)
        if role.is_allowed("kms:CreateGrant", KEY_ARN, **FOR_AWS_RESOURCE):
            granting[role_id] = role
    assert [role_id for role_id in granting if role_id.startswith("DeployDeploymentRole")], granting
    for role_id, role in granting.items():
        assert role.is_allowed_on_key(policy, "kms:CreateGrant", KEY_ARN, **FOR_AWS_RESOURCE), role_id
        assert not role.is_allowed_on_key(policy, "kms:CreateGrant", KEY_ARN, **FOR_A_PRINCIPAL), role_id


# --- buckets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket_id", [ARTIFACTS, TRAIL_BUCKET])
def test_data_buckets_use_the_platform_key_versioning_and_access_logs(governance: Template, bucket_id: str) -> None:
    bucket = resources(governance, "AWS::S3::Bucket")[bucket_id]["Properties"]
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [KEY, "Arn"]},
    }
    assert encryption["BucketKeyEnabled"] is True
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": ACCESS_LOGS}


@pytest.mark.parametrize("bucket_id", [ARTIFACTS, TRAIL_BUCKET, ACCESS_LOGS])
def test_every_bucket_is_private_and_tls_only(governance: Template, bucket_id: str) -> None:
    bucket = resources(governance, "AWS::S3::Bucket")[bucket_id]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(governance, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert len(policies) == 1
    assert any(
        s["Effect"] == "Deny" and s["Action"] == "s3:*" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policies[0]
    )


def test_artifact_bucket_expires_old_versions_only(governance: Template, default_config: PlatformConfig) -> None:
    rules = resources(governance, "AWS::S3::Bucket")[ARTIFACTS]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules == [
        {
            "Id": "ExpireOldVersions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": default_config.retention.noncurrent_version_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    ]


def test_audit_files_are_archived_never_deleted(governance: Template) -> None:
    rules = resources(governance, "AWS::S3::Bucket")[TRAIL_BUCKET]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert len(rules) == 1
    assert rules[0]["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 90}]
    assert "ExpirationInDays" not in rules[0]
    assert "NoncurrentVersionExpiration" not in rules[0]


def test_trail_files_are_locked_for_the_configured_retention(
    governance: Template, default_config: PlatformConfig
) -> None:
    bucket = governance.to_json()["Resources"][TRAIL_BUCKET]
    assert bucket["Properties"]["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {
            "DefaultRetention": {
                "Mode": default_config.retention.trail_object_lock_mode,
                "Days": default_config.retention.trail_object_lock_days,
            }
        },
    }
    assert (default_config.retention.trail_object_lock_mode, default_config.retention.trail_object_lock_days) == (
        "GOVERNANCE",
        365,
    )
    # Object Lock needs versioning, and the bucket must survive both deletion and replacement.
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_enabling_the_lock_on_a_deployed_trail_bucket_does_not_replace_it(governance: Template) -> None:
    """CloudFormation replaces a bucket whose top-level ObjectLockEnabled changes ("Update requires:
    Replacement"); the nested ObjectLockConfiguration is updated in place. A deployed trail bucket
    must keep its logical id and must not get the top-level property, or its files would be left
    behind in a retained bucket the stack no longer manages."""
    trail_buckets = [
        bucket_id
        for bucket_id, bucket in resources(governance, "AWS::S3::Bucket").items()
        if "ObjectLockConfiguration" in bucket["Properties"]
    ]
    assert trail_buckets == [TRAIL_BUCKET]
    assert "ObjectLockEnabled" not in resources(governance, "AWS::S3::Bucket")[TRAIL_BUCKET]["Properties"]
    trail = next(iter(resources(governance, "AWS::CloudTrail::Trail").values()))["Properties"]
    assert trail["S3BucketName"] == {"Ref": TRAIL_BUCKET}


def test_configured_compliance_lock_reaches_the_trail_bucket(default_config: PlatformConfig) -> None:
    config = default_config.model_copy(
        update={
            "retention": default_config.retention.model_copy(
                update={"trail_object_lock_mode": "COMPLIANCE", "trail_object_lock_days": 2557}
            )
        }
    )
    stack = GovernanceStack(
        App(context=cdk_json_context()), "Locked", config=config, env=Environment(account=ACCOUNT, region=REGION)
    )
    bucket = Template.from_stack(stack).to_json()["Resources"][TRAIL_BUCKET]["Properties"]
    assert bucket["ObjectLockConfiguration"]["Rule"] == {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2557}}


def test_access_log_bucket_accepts_logs_from_s3_logging_service_only(governance: Template) -> None:
    bucket = resources(governance, "AWS::S3::Bucket")[ACCESS_LOGS]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365
    governance.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": ACCESS_LOGS},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
                            }
                        )
                    ]
                )
            },
        },
    )


# --- CloudTrail -----------------------------------------------------------------------------------


def test_trail_covers_all_regions_with_validated_encrypted_files(governance: Template) -> None:
    governance.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "IsMultiRegionTrail": True,
            "IncludeGlobalServiceEvents": True,
            "EnableLogFileValidation": True,
            "IsLogging": True,
            "KMSKeyId": {"Fn::GetAtt": [KEY, "Arn"]},
            "S3BucketName": {"Ref": TRAIL_BUCKET},
            "CloudWatchLogsLogGroupArn": {"Fn::GetAtt": ["AuditLogGroup4CD660E1", "Arn"]},
        },
    )


def test_trail_records_management_and_platform_s3_data_events(governance: Template) -> None:
    trail = next(iter(resources(governance, "AWS::CloudTrail::Trail").values()))["Properties"]
    assert "EventSelectors" not in trail
    selectors = {selector["Name"]: selector["FieldSelectors"] for selector in trail["AdvancedEventSelectors"]}
    assert selectors["ManagementEvents"] == [{"Field": "eventCategory", "Equals": ["Management"]}]
    data = {selector["Field"]: selector for selector in selectors["PlatformS3DataEvents"]}
    assert data["eventCategory"]["Equals"] == ["Data"]
    assert data["resources.type"]["Equals"] == ["AWS::S3::Object"]
    excluded = [part["Fn::Join"][1][0]["Fn::GetAtt"][0] for part in data["resources.ARN"]["NotStartsWith"]]
    assert excluded == [TRAIL_BUCKET, ACCESS_LOGS]


def test_trail_log_group_is_encrypted_with_explicit_retention(governance: Template) -> None:
    governance.has_resource_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": 365, "KmsKeyId": {"Fn::GetAtt": [KEY, "Arn"]}}
    )


# --- alerts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("topic_prefix", ["AlertsTopic", "ApprovalsTopic"])
def test_topics_are_encrypted_and_tls_only(governance: Template, topic_prefix: str) -> None:
    topic_id = logical_id(governance, "AWS::SNS::Topic", topic_prefix)
    assert resources(governance, "AWS::SNS::Topic")[topic_id]["Properties"]["KmsMasterKeyId"] == {
        "Fn::GetAtt": [KEY, "Arn"]
    }
    (policy,) = [
        p["Properties"]
        for p in resources(governance, "AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    statements = policy["PolicyDocument"]["Statement"]
    assert {
        "Sid": "AllowPublishThroughSSLOnly",
        "Effect": "Deny",
        "Action": "sns:Publish",
        "Principal": "*",
        "Resource": {"Ref": topic_id},
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    } in statements
    publishers = next(s for s in statements if s.get("Sid") == "AlertPublishingServices")
    assert publishers["Action"] == "sns:Publish"
    assert publishers["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert sorted(publishers["Principal"]["Service"]) == [
        "budgets.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
    ]


def test_default_config_subscribes_no_email(governance: Template) -> None:
    governance.resource_count_is("AWS::SNS::Subscription", 0)


def test_configured_emails_are_subscribed(default_config: PlatformConfig) -> None:
    config = default_config.model_copy(
        update={"alerts": default_config.alerts.model_copy(update={"emails": ["ops@example.com", "ml@example.com"]})}
    )
    env = Environment(account=ACCOUNT, region=REGION)
    stack = GovernanceStack(App(context=cdk_json_context()), "Emails", config=config, env=env)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Subscription", 2)
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})


# --- audit events -------------------------------------------------------------------------------


def test_audit_bus_is_encrypted_and_archives_every_platform_decision(governance: Template) -> None:
    governance.has_resource_properties(
        "AWS::Events::EventBus", {"Name": "mlops-audit", "KmsKeyIdentifier": {"Fn::GetAtt": [KEY, "Arn"]}}
    )
    archive = next(iter(resources(governance, "AWS::Events::Archive").values()))["Properties"]
    assert archive["ArchiveName"] == "mlops-audit-archive"
    assert archive["EventPattern"] == {"source": [{"prefix": "mlops."}]}
    assert archive["RetentionDays"] == 730
    assert archive["KmsKeyIdentifier"] == {"Fn::GetAtt": [KEY, "Arn"]}


def decision_log_rule(template: Template) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]
        for rid, r in resources(template, "AWS::Events::Rule").items()
        if rid.startswith("AuditEventsToDecisionLog")
    ]
    return rule


def test_every_platform_decision_is_logged_where_it_can_be_queried(governance: Template) -> None:
    """The approval gate's decisions (who approved what) are read back by the lineage tool from here."""
    log_group = resources(governance, "AWS::Logs::LogGroup")[DECISION_LOG]["Properties"]
    assert {key: value for key, value in log_group.items() if key != "Tags"} == {
        "LogGroupName": audit_log_group_name("mlops"),
        "KmsKeyId": {"Fn::GetAtt": [KEY, "Arn"]},
        "RetentionInDays": 731,  # audit_event_days 730, rounded up to a CloudWatch Logs retention
    }
    rule = decision_log_rule(governance)
    bus_id = logical_id(governance, "AWS::Events::EventBus", "AuditEventsBus")
    assert json.dumps(bus_id) in json.dumps(rule["EventBusName"])  # the audit bus, not the default one
    assert rule["EventPattern"] == {"source": [{"prefix": "mlops."}]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::Join": ["", [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:", {"Ref": DECISION_LOG}]]}
    assert not {"Input", "InputPath", "InputTransformer"} & set(target)  # the whole event is logged
    assert "RoleArn" not in target  # CloudWatch Logs targets are authorized by the log group's policy
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 8}
    dead_letters = logical_id(governance, "AWS::SQS::Queue", "EventDeliveryDeadLettersQueue")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dead_letters, "Arn"]}}


def test_only_the_audit_rule_writes_to_the_decision_log(governance: Template) -> None:
    rule_id = logical_id(governance, "AWS::Events::Rule", "AuditEventsToDecisionLog")
    (policy,) = resources(governance, "AWS::Logs::ResourcePolicy").values()
    # The document is a JSON string joined around attributes: each reads `<LogicalId.Attribute>` here.
    parts = policy["Properties"]["PolicyDocument"]["Fn::Join"][1]
    document = json.loads("".join(p if isinstance(p, str) else "<{}.{}>".format(*p["Fn::GetAtt"]) for p in parts))
    statements = {statement["Sid"]: statement for statement in document["Statement"]}
    assert set(statements) == {"EventBridgeCreatesStreams", "TheAuditRuleWritesDecisions", "LogsDeliveryForThisAccount"}
    delivery = statements.pop("LogsDeliveryForThisAccount")
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert delivery["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert delivery["Resource"] == f"<{DECISION_LOG}.Arn>"
    assert all(s["Principal"] == {"Service": "events.amazonaws.com"} for s in statements.values())
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert all(s["Resource"] == f"<{DECISION_LOG}.Arn>" for s in statements.values())
    assert statements["EventBridgeCreatesStreams"]["Action"] == "logs:CreateLogStream"
    writes = statements["TheAuditRuleWritesDecisions"]
    assert writes["Action"] == "logs:PutLogEvents"
    assert writes["Condition"] == {"ArnEquals": {"aws:SourceArn": f"<{rule_id}.Arn>"}}
    # What the rule cannot deliver reaches the stack's dead letters, which accept this rule's events.
    (queue_policy,) = resources(governance, "AWS::SQS::QueuePolicy").values()
    assert {"Fn::GetAtt": [rule_id, "Arn"]} in [
        s.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
        for s in queue_policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_key_policy_lets_cloudwatch_logs_encrypt_the_decision_log(governance: Template) -> None:
    statement = key_statements(governance)["CloudWatchLogsEncryptsThisAccountsLogGroups"]
    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(statement["Action"])
    pattern = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    decision_log_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{audit_log_group_name('mlops')}"
    assert fnmatch.fnmatchcase(decision_log_arn, pattern)


@pytest.mark.parametrize(
    ("days", "retention"),
    [
        (1, logs.RetentionDays.ONE_DAY),
        (365, logs.RetentionDays.ONE_YEAR),
        (366, logs.RetentionDays.THIRTEEN_MONTHS),
        (730, logs.RetentionDays.TWO_YEARS),
        (3653, logs.RetentionDays.TEN_YEARS),
        (3654, logs.RetentionDays.INFINITE),
    ],
)
def test_the_decision_log_keeps_events_at_least_as_long_as_the_archive(
    days: int, retention: logs.RetentionDays
) -> None:
    assert covering_retention(days) == retention


def test_a_decision_log_kept_forever_passes_the_rule_packs() -> None:
    """Past ten years no CloudWatch Logs retention is long enough: the log group keeps events until a
    person deletes them, which NIST's retention rule flags and the construct acknowledges."""
    app = App()
    stack = Stack(app, "ForeverAudit", env=Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    topic = sns.Topic(stack, "Topic", master_key=key, enforce_ssl=True)
    AuditEventBus(
        stack,
        "AuditEvents",
        bus_name="forever-audit",
        log_group_name="/forever/audit-decisions",
        encryption_key=key,
        retention_days=5000,
        alert_topic=topic,
    )
    template = Template.from_stack(stack)
    (log_group,) = resources(template, "AWS::Logs::LogGroup").values()
    assert "RetentionInDays" not in log_group["Properties"]
    findings = [
        f"{violation.rule_name} at {resource.construct_path}"
        for pack in rule_packs(app)
        for violation in pack.validate_scope(app).violations
        for resource in violation.violating_resources
    ]
    assert not [finding for finding in findings if "/AuditEvents/" in finding]


def test_failed_or_violating_monitor_executions_alert_the_topic(governance: Template) -> None:
    (rule,) = [
        r["Properties"]
        for r in resources(governance, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("source") == ["aws.sagemaker"]
    ]
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {
            "ProcessingJobName": [{"anything-but": {"prefix": "pipelines-"}}],
            "$or": [{"ProcessingJobStatus": ["Failed"]}, {"ExitMessage": [{"prefix": "CompletedWithViolations"}]}],
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": logical_id(governance, "AWS::SNS::Topic", "AlertsTopic")}
    assert "Model Monitor execution <detail-ProcessingJobName>" in target["InputTransformer"]["InputTemplate"]


# --- budget ---------------------------------------------------------------------------------------


def test_monthly_budget_alerts_the_topic(governance: Template, default_config: PlatformConfig) -> None:
    budget = next(iter(resources(governance, "AWS::Budgets::Budget").values()))["Properties"]
    assert budget["Budget"] == {
        "BudgetType": "COST",
        "TimeUnit": "MONTHLY",
        "BudgetLimit": {"Amount": default_config.budget.monthly_limit_usd, "Unit": "USD"},
    }
    topic_id = logical_id(governance, "AWS::SNS::Topic", "AlertsTopic")
    notifications = [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"], n["Subscribers"])
        for n in budget["NotificationsWithSubscribers"]
    ]
    subscribers = [{"SubscriptionType": "SNS", "Address": {"Ref": topic_id}}]
    assert notifications == [
        ("ACTUAL", 80, subscribers),
        ("ACTUAL", 100, subscribers),
        ("FORECASTED", 100, subscribers),
    ]


# --- personas and separation of duties ------------------------------------------------------------

PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/3"
PIPELINE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/churn-build"


@pytest.fixture(scope="module")
def data_scientist(governance: Template):
    return role_principal(governance, logical_id(governance, "AWS::IAM::Role", "PersonasDataScientist"))


@pytest.fixture(scope="module")
def approver(governance: Template):
    return role_principal(governance, logical_id(governance, "AWS::IAM::Role", "PersonasModelApprover"))


def test_data_scientist_runs_pipelines_and_registers_pending_packages(data_scientist) -> None:
    assert data_scientist.is_allowed("sagemaker:StartPipelineExecution", PIPELINE)
    assert data_scientist.is_allowed(
        "sagemaker:CreateModelPackage", PACKAGE, **{"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    )
    assert data_scientist.is_allowed("sagemaker:DescribeModelPackage", PACKAGE)


def test_data_scientist_cannot_approve(data_scientist) -> None:
    assert not data_scientist.is_allowed("sagemaker:UpdateModelPackage", PACKAGE)
    assert not data_scientist.is_allowed(
        "sagemaker:CreateModelPackage", PACKAGE, **{"sagemaker:ModelApprovalStatus": "Approved"}
    )


def test_approver_is_the_only_persona_that_changes_approval_status(approver) -> None:
    assert approver.tags == {"mlops:model-approver": "true", "mlops:platform": "mlops"}
    assert approver.is_allowed("sagemaker:UpdateModelPackage", PACKAGE)
    assert not approver.is_allowed("sagemaker:StartPipelineExecution", PIPELINE)
    assert not approver.is_allowed("sagemaker:CreateModelPackage", PACKAGE)


def test_boundary_denies_approval_even_to_an_over_broad_identity_policy(data_scientist) -> None:
    """A role under the boundary that someone granted `*` still cannot approve without the tag."""
    over_broad = type(data_scientist)(
        identity_statements=[{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        boundary_statements=data_scientist.boundary_statements,
    )
    assert not over_broad.is_allowed("sagemaker:UpdateModelPackage", PACKAGE)
    assert not over_broad.is_allowed("iam:DeleteRolePermissionsBoundary", "*")
    assert not over_broad.is_allowed("iam:TagRole", "*")
    assert not over_broad.is_allowed("cloudtrail:StopLogging", "*")
    assert not over_broad.is_allowed("kms:ScheduleKeyDeletion", "*")
    assert over_broad.is_allowed("s3:GetObject", "arn:aws:s3:::bucket/key")


def test_both_personas_carry_the_boundary(governance: Template) -> None:
    boundary_id = logical_id(governance, "AWS::IAM::ManagedPolicy", "PersonasWorkloadBoundary")
    roles = resources(governance, "AWS::IAM::Role")
    for prefix in ("PersonasDataScientist", "PersonasModelApprover"):
        role = roles[logical_id(governance, "AWS::IAM::Role", prefix)]["Properties"]
        assert role["PermissionsBoundary"] == {"Ref": boundary_id}


def test_no_aws_managed_full_access_policies(governance: Template) -> None:
    for role in resources(governance, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


# --- outputs --------------------------------------------------------------------------------------


def test_outputs_name_what_later_stacks_and_people_need(governance: Template) -> None:
    named_outputs = {name for name in governance.find_outputs("*") if not name.startswith("ExportsOutput")}
    assert named_outputs == {
        "PlatformKeyArn",
        "ArtifactBucketName",
        "AlertTopicArn",
        "ApprovalTopicArn",
        "AuditEventBusName",
        "DataScientistRoleArn",
        "ModelApproverRoleArn",
    }


def test_the_platforms_shared_values_are_published_for_what_this_app_does_not_deploy(
    governance: Template,
) -> None:
    """A SageMaker Projects product or another account's stack reads them from SSM, not from exports."""
    parameters = {
        resource["Properties"]["Name"]: resource["Properties"]["Value"]
        for resource in governance.find_resources("AWS::SSM::Parameter").values()
    }
    # The approval stack publishes its gate's role (tests/unit/test_projects.py), the experiments stack its
    # artifact bucket (tests/unit/test_experiments.py); the governance stack the rest.
    elsewhere = {"approval-gate-role-name", "mlflow-artifact-bucket"}
    assert sorted(parameters) == sorted(
        platform_parameter_name("mlops", key) for key in PLATFORM_PARAMETERS if key not in elsewhere
    )
    key_id = next(iter(governance.find_resources("AWS::KMS::Key")))
    assert parameters["/mlops/platform/key-arn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert parameters["/mlops/platform/log-retention-days"] == "365"
    boundary_id = logical_id(governance, "AWS::IAM::ManagedPolicy", "PersonasWorkloadBoundary")
    assert parameters["/mlops/platform/permissions-boundary-arn"] == {"Ref": boundary_id}


def test_publishing_takes_platform_values_only() -> None:
    from mlops_constructs.platform_parameters import publish_platform_values

    values = {key: "x" for key in PLATFORM_PARAMETERS if key != "log-retention-days"} | {"extra": "x"}
    with pytest.raises(ValueError, match=r"unknown \['extra'\]"):
        publish_platform_values(Stack(App(), "Probe"), platform_name="mlops", values=values)
    with pytest.raises(ValueError, match="publish some of"):
        publish_platform_values(Stack(App(), "Empty"), platform_name="mlops", values={})
    with pytest.raises(ValueError, match="is not a published platform value"):
        platform_parameter_name("mlops", "data-bucket")


def test_no_platform_role_may_write_the_platforms_parameters(governance: Template) -> None:
    """Registrations and published values are written by CloudFormation only (the boundary denies the rest)."""
    boundary = governance.find_resources("AWS::IAM::ManagedPolicy")[
        logical_id(governance, "AWS::IAM::ManagedPolicy", "PersonasWorkloadBoundary")
    ]
    [deny] = [
        statement
        for statement in boundary["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "NoWritesToThePlatformsParameters"
    ]
    assert deny["Effect"] == "Deny"
    assert {"ssm:PutParameter", "ssm:DeleteParameter", "ssm:DeleteParameters"} <= set(deny["Action"])
    assert deny["Resource"] == "arn:aws:ssm:eu-west-1:123456789012:parameter/mlops/*"
