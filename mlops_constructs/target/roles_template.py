"""The template of a project-created model's roles in a stage account: `ModelTargetRoles`, standalone.

A SageMaker Projects product's StackSet deploys it into the stage's account
(mlops_constructs/project_accounts.py), as the account's provisioner role (mlops_constructs/target/
provisioner.py). It cannot refer to the target stack's constructs, so it takes, instead of them:
- the model's name as its `MODEL_NAME_PARAMETER` (nothing of the name `model` comes with enters it);
- the key's and the permissions boundary's ARNs (generated in that account) from the SSM parameters the
  target stack publishes (`contracts.serving_parameter_name`), as defaults of parameters of SSM type;
- the serving bucket by its name (encrypted with that key), and the record preprocessor by its URL (both computed from names).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnParameter, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    MODEL_NAME_PARAMETER,
    MODEL_NAME_PATTERN,
    PLATFORM_TAG,
    ServingParameterKey,
    serving_parameter_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.serving.template import model_name_length
from mlops_constructs.target.model_roles import ModelTargetRoles
from mlops_constructs.target_account import bootstrap_qualifier, record_preprocessor_url

# The template's parameters of what the target stack publishes; their defaults name its SSM parameters.
KEY_ARN_PARAMETER = "ServingKeyArn"
BOUNDARY_ARN_PARAMETER = "PermissionsBoundaryArn"
PUBLISHED: dict[ServingParameterKey, str] = {
    "key-arn": "the ARN of the stage account's serving key",
    "boundary-arn": "the ARN of the stage account's permissions boundary",
}


class ModelRolesTemplateStack(Stack):
    """One project-created model's roles in `account` (its stage's), under its account's boundary."""

    def __init__(
        self, scope: Construct, construct_id: str, *, account: ServingAccount, model: ModelConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        lengths = model_name_length()
        model_name = CfnParameter(
            self,
            MODEL_NAME_PARAMETER,
            type="String",
            description="Name of the model whose roles these are (<platform>-<model>-<stage code>-<kind>)",
            allowed_pattern=f"^{MODEL_NAME_PATTERN}$",
            min_length=lengths.get("min_length"),
            max_length=lengths.get("max_length"),
        ).value_as_string
        # As the app tags the target stack's roles of config models.
        Tags.of(self).add(PLATFORM_TAG, account.platform_name)
        boundary = iam.ManagedPolicy.from_managed_policy_arn(
            self, "PermissionsBoundary", self._published(account, BOUNDARY_ARN_PARAMETER, "boundary-arn")
        )
        iam.PermissionsBoundary.of(self).apply(boundary)
        encryption_key = kms.Key.from_key_arn(
            self, "ServingKey", self._published(account, KEY_ARN_PARAMETER, "key-arn")
        )
        # With its key: the bucket's grants include the key's use, as the target stack's own bucket's do.
        serving_bucket = s3.Bucket.from_bucket_attributes(
            self, "ServingBucket", bucket_name=account.bucket_name, encryption_key=encryption_key
        )
        self.roles = ModelTargetRoles(
            self,
            "Model",
            account=account,
            model=model.model_copy(update={"name": model_name}),
            encryption_key=encryption_key,
            serving_bucket=serving_bucket,
            record_preprocessor_url=record_preprocessor_url(account, qualifier=bootstrap_qualifier(self)),
        )

    def _published(self, account: ServingAccount, name: str, key: ServingParameterKey) -> str:
        return CfnParameter(
            self,
            name,
            type="AWS::SSM::Parameter::Value<String>",
            default=serving_parameter_name(account.platform_name, key),
            description=f"SSM parameter holding {PUBLISHED[key]} (published by the stage account's target stack)",
        ).value_as_string
