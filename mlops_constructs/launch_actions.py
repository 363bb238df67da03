"""What CloudFormation does to a model project's resources as the launch role (mlops_constructs/launch_role.py):
one list, kept apart from the role's guardrails so each file does one job."""

from __future__ import annotations

# The create, read, update, delete and tag actions of the resource types a product's template holds
# (CloudFormation's resource handlers call them as the launch role).
PROJECT_RESOURCE_ACTIONS = [
    *(
        f"codecommit:{action}"
        for action in (
            "CreateRepository",
            "DeleteRepository",
            "GetRepository",
            "CreateCommit",
            "GetBranch",
            "GetRepositoryTriggers",
            "UpdateRepositoryDescription",
            "UpdateRepositoryEncryptionKey",
            "TagResource",
            "UntagResource",
            "ListTagsForResource",
        )
    ),
    *(
        f"codepipeline:{action}"
        for action in (
            "CreatePipeline",
            "UpdatePipeline",
            "DeletePipeline",
            "GetPipeline",
            "GetPipelineState",
            "TagResource",
            "UntagResource",
            "ListTagsForResource",
        )
    ),
    "codebuild:CreateProject",
    "codebuild:UpdateProject",
    "codebuild:DeleteProject",
    "codebuild:BatchGetProjects",
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:PutBucket*",
    "s3:GetBucket*",
    "s3:DeleteBucketPolicy",
    "s3:PutEncryptionConfiguration",
    "s3:GetEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:ListBucket",
    *(
        f"sagemaker:{action}"
        for action in (
            "CreateModelPackageGroup",
            "DeleteModelPackageGroup",
            "DescribeModelPackageGroup",
            "PutModelPackageGroupPolicy",
            "GetModelPackageGroupPolicy",
            "DeleteModelPackageGroupPolicy",
            "AddTags",
            "DeleteTags",
            "ListTags",
        )
    ),
    *(
        f"events:{action}"
        for action in (
            "PutRule",
            "DeleteRule",
            "DescribeRule",
            "EnableRule",
            "DisableRule",
            "PutTargets",
            "RemoveTargets",
            "ListTargetsByRule",
            "TagResource",
            "UntagResource",
            "ListTagsForResource",
        )
    ),
    *(
        f"sqs:{action}"
        for action in (
            "CreateQueue",
            "DeleteQueue",
            "GetQueueAttributes",
            "SetQueueAttributes",
            "GetQueueUrl",
            "TagQueue",
            "UntagQueue",
            "ListQueueTags",
        )
    ),
    *(
        f"lambda:{action}"
        for action in (
            "CreateFunction",
            "DeleteFunction",
            "GetFunction",
            "GetFunctionConfiguration",
            "GetFunctionCodeSigningConfig",
            "GetRuntimeManagementConfig",
            "GetFunctionRecursionConfig",
            "GetFunctionEventInvokeConfig",
            "GetPolicy",
            "UpdateFunctionCode",
            "UpdateFunctionConfiguration",
            "AddPermission",
            "RemovePermission",
            "PutFunctionEventInvokeConfig",
            "UpdateFunctionEventInvokeConfig",
            "DeleteFunctionEventInvokeConfig",
            "PutFunctionConcurrency",
            "DeleteFunctionConcurrency",
            "TagResource",
            "UntagResource",
            "ListTags",
        )
    ),
    *(
        f"logs:{action}"
        for action in (
            "CreateLogGroup",
            "DeleteLogGroup",
            "PutRetentionPolicy",
            "DeleteRetentionPolicy",
            "AssociateKmsKey",
            "DisassociateKmsKey",
            "GetDataProtectionPolicy",
            "TagResource",
            "UntagResource",
            "ListTagsForResource",
        )
    ),
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:TagResource",
    "cloudwatch:UntagResource",
    "cloudwatch:ListTagsForResource",
    *(
        f"dynamodb:{action}"
        for action in (
            "CreateTable",
            "DeleteTable",
            "DescribeTable",
            "UpdateTable",
            "DescribeContinuousBackups",
            "UpdateContinuousBackups",
            "DescribeTimeToLive",
            "UpdateTimeToLive",
            "TagResource",
            "UntagResource",
            "ListTagsOfResource",
        )
    ),
]
