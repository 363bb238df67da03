"""The roles only a batch model has: the one its transform pipelines run as, and the one EventBridge
Scheduler starts the production transform as. Like every serving role (roles.py), they reach only
this model's resources: its exactly named pipeline, and transform jobs carrying its tag."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from lambdas.common.contracts import MODEL_TAG
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.deploy.roles import SCHEDULER_SERVICE, ServingNames
from mlops_constructs.model_tags import tagged_for, tagging_for


def transform_pipeline_role(scope: Construct, *, names: ServingNames, encryption_key: kms.IKey) -> iam.Role:
    """The role a batch model's transform pipelines run as: start and follow this model's transform jobs
    (which run as the serving role: it reads the input and writes the output)."""
    stack = Stack.of(scope)
    model_name = names.model_name
    role = iam.Role(
        scope,
        "TransformPipeline",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"Transform pipelines of model '{model_name}'",
    )
    # Pipelines name their jobs pipelines-<execution>-<step>-<id>: the model's tag says whose they are.
    jobs = stack.format_arn(service="sagemaker", resource="transform-job", resource_name="pipelines-*")
    policy = iam.ManagedPolicy(
        scope,
        "TransformPipelinePolicy",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                sid="RunThisModelsTaggedTransforms",
                actions=["sagemaker:CreateTransformJob", "sagemaker:AddTags"],
                resources=[jobs],
                conditions=tagging_for(model_name),
            ),
            iam.PolicyStatement(
                sid="FollowThisModelsTaggedTransforms",
                actions=["sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
                resources=[jobs],
                conditions=tagged_for(model_name),
            ),
            iam.PolicyStatement(
                sid="EncryptOutputsAndVolumes",
                actions=["kms:CreateGrant", "kms:DescribeKey"],
                resources=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
        ],
    )
    acknowledge_each(
        policy,
        [
            (
                f"AwsSolutions-IAM5[Resource::{jobs}]",
                f"SageMaker Pipelines name their jobs per execution; only jobs tagged {MODEL_TAG} for this model.",
            )
        ],
    )
    return role


def scheduler_role(scope: Construct, *, names: ServingNames) -> iam.Role:
    """The role EventBridge Scheduler starts a batch model's production transform pipeline as (the deploy
    stack lets it send what it could not start to its encrypted dead-letter queue)."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "TransformScheduler",
        assumed_by=iam.ServicePrincipal(
            SCHEDULER_SERVICE, conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
        ),
        description=f"EventBridge Scheduler runs the production transform of model '{names.model_name}'",
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="StartTheProductionTransform",
            actions=["sagemaker:StartPipelineExecution"],
            resources=[stack.format_arn(service="sagemaker", resource="pipeline", resource_name=names.production)],
        )
    )
    acknowledge_each(
        role,
        [
            ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "L2 grant on the platform key: the encrypted DLQ."),
            ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "L2 grant on the platform key: the encrypted DLQ."),
            (
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "The KMS and SQS L2 grants attach their resource-scoped statements as the role's default policy.",
            ),
        ],
    )
    return role
