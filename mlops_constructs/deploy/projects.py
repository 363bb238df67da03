"""The deploy pipeline's CodeBuild actions: the staging check (a real-time model's smoke test, a batch
model's batch check) and the production champion resolution.

Each runs a Python module of the deploy bundle (`mlops_constructs/deploy/bundle.py`) with the boto3
their tests run with; none holds logic of its own in the buildspec. The checks read the approved
package's own inference contract and sample payloads; the model's configured contract is their
fallback for packages that record none (built before packages carried one).
"""

from __future__ import annotations

import dataclasses
import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import (
    CHAMPION_VARIABLES,
    SERVING_ROLE_ARN_ENV,
    ToolingRoleKind,
    model_package_group_name,
    tooling_role_name,
)
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.deploy.bundle import BATCH_CHECK_MODULE, RESOLVE_CHAMPION_MODULE, SMOKE_TEST_MODULE
from mlops_constructs.deploy.roles import ServingNames
from mlops_constructs.pipelines import build_project

# The boto3 the bundle's scripts run with in CodeBuild: the one their tests run with (requirements-dev.txt).
BUNDLE_BOTO3 = "1.44.5"
CHAMPION_ENV_FILE = "champion.env"
INSTALL = {"runtime-versions": {"python": "3.12"}, "commands": [f"pip install --quiet boto3=={BUNDLE_BOTO3}"]}


def fallback_contract(model: ModelConfig) -> str:
    """The model's configured inference contract, as the checks' `--fallback-contract` JSON."""
    return json.dumps(dataclasses.asdict(model.contract), sort_keys=True)


def smoke_test_project(
    scope: Construct,
    *,
    model: ModelConfig,
    names: ServingNames,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
    serving: ServingAccount | None = None,
) -> codebuild.PipelineProject:
    """Calls the staging endpoint with the package's sample payloads; answers checked per its contract.

    The pipeline sets NEW_PACKAGE_ARN; the model's build stack grants reading the sample payloads.
    `serving`: staging's own account, whose operations role the test assumes to reach the endpoint.
    """
    stack = Stack.of(scope)
    staging = names.stages["staging"]
    project = build_project(
        scope,
        "SmokeTest",
        description=f"Smoke test of the '{model.name}' staging endpoint",
        build_spec=codebuild.BuildSpec.from_object(
            {
                "version": "0.2",
                "phases": {
                    "install": INSTALL,
                    "build": {
                        "commands": [
                            f"python -m {SMOKE_TEST_MODULE} --endpoint-name $ENDPOINT_NAME"
                            ' --model-package-arn $NEW_PACKAGE_ARN --fallback-contract "$FALLBACK_CONTRACT"'
                            " --max-p95-latency-ms $MAX_P95_LATENCY_MS --rounds 5"
                        ]
                    },
                },
            }
        ),
        timeout=Duration.minutes(20),
        encryption_key=encryption_key,
        log_retention=log_retention,
        environment={
            "ENDPOINT_NAME": staging,
            "MAX_P95_LATENCY_MS": str(model.serving.smoke_test_max_p95_ms),
            "FALLBACK_CONTRACT": fallback_contract(model),
            **_serving_account_variables(serving, names),
        },
        role_name=_trusted_role_name(serving, names, "check"),
    )
    if not _assume_the_operations_role(project, serving, names):
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeTheStagingEndpoint",
                actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[stack.format_arn(service="sagemaker", resource="endpoint", resource_name=staging)],
            )
        )
    _read_packages(project, names)
    return project


def batch_check_project(
    scope: Construct,
    *,
    model: ModelConfig,
    names: ServingNames,
    data_bucket_parameter: str,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
) -> codebuild.PipelineProject:
    """Runs the staging transform pipeline on the package's sample payloads and checks every answer.

    The pipeline sets NEW_PACKAGE_ARN; the model's build stack grants the staging prefix of its data
    bucket and reading the sample payloads; the bucket's name comes from its SSM parameter.
    """
    stack = Stack.of(scope)
    staging = names.stages["staging"]
    timeout_minutes = model.batch.max_runtime_minutes
    project = build_project(
        scope,
        "BatchCheck",
        description=f"Batch check of the '{model.name}' staging transform",
        build_spec=codebuild.BuildSpec.from_object(
            {
                "version": "0.2",
                "env": {"parameter-store": {"DATA_BUCKET": data_bucket_parameter}},
                "phases": {
                    "install": INSTALL,
                    "build": {
                        "commands": [
                            f"python -m {BATCH_CHECK_MODULE} --pipeline-name $PIPELINE_NAME"
                            " --model-package-arn $NEW_PACKAGE_ARN --bucket $DATA_BUCKET --kms-key-arn $KMS_KEY_ARN"
                            ' --fallback-contract "$FALLBACK_CONTRACT" --timeout-minutes $TIMEOUT_MINUTES'
                        ]
                    },
                },
            }
        ),
        # The check waits for the transform, and stops it when its own time runs out first.
        timeout=Duration.minutes(timeout_minutes + 15),
        encryption_key=encryption_key,
        log_retention=log_retention,
        environment={
            "PIPELINE_NAME": staging,
            "KMS_KEY_ARN": encryption_key.key_arn,
            "TIMEOUT_MINUTES": str(timeout_minutes),
            "FALLBACK_CONTRACT": fallback_contract(model),
        },
    )
    pipeline = stack.format_arn(service="sagemaker", resource="pipeline", resource_name=staging)
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="RunTheStagingTransform",
            actions=[
                "sagemaker:StartPipelineExecution",
                "sagemaker:DescribePipelineExecution",
                "sagemaker:ListPipelineExecutionSteps",
                "sagemaker:StopPipelineExecution",
            ],
            resources=[pipeline, f"{pipeline}/execution/*"],
        )
    )
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadTheDataBucketName",
            actions=["ssm:GetParameters"],
            resources=[
                stack.format_arn(service="ssm", resource="parameter", resource_name=data_bucket_parameter.lstrip("/"))
            ],
        )
    )
    _read_packages(project, names)
    _acknowledge(
        project,
        [
            (
                f"AwsSolutions-IAM5[Resource::{pipeline}/execution/*]",
                "Execution ids are generated at start; the scope is this model's staging transform pipeline.",
            )
        ],
    )
    return project


def _read_packages(project: codebuild.PipelineProject, names: ServingNames) -> None:
    """The checks read the package's contract and sample payload location (DescribeModelPackage)."""
    packages = Stack.of(project).format_arn(
        service="sagemaker", resource="model-package", resource_name=f"{model_package_group_name(names.model_name)}/*"
    )
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadThisModelsPackages", actions=["sagemaker:DescribeModelPackage"], resources=[packages]
        )
    )
    _acknowledge(
        project,
        [
            (
                f"AwsSolutions-IAM5[Resource::{packages}]",
                "Package versions are numbered at registration; the scope is this model's group.",
            )
        ],
    )


def resolve_champion_project(
    scope: Construct,
    *,
    names: ServingNames,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
    serving: ServingAccount | None = None,
) -> codebuild.PipelineProject:
    """Exports the production champion, challenger and the champion's monitoring baselines (data quality,
    Clarify's explainability and bias: `contracts.CHAMPION_VARIABLES`; `tools/resolve_champion.py`; a
    failure to read production fails the action). `serving`: production's own account, whose operations
    role the resolution assumes to read the stack and endpoint there (and write the analysis config)."""
    stack = Stack.of(scope)
    production = names.production
    project = build_project(
        scope,
        "ResolveChampion",
        description=f"Reads the current production champion of model '{names.model_name}'",
        build_spec=codebuild.BuildSpec.from_object(
            {
                "version": "0.2",
                "env": {"shell": "bash", "exported-variables": list(CHAMPION_VARIABLES)},
                "phases": {
                    "install": INSTALL,
                    "build": {
                        "commands": [
                            f"python -m {RESOLVE_CHAMPION_MODULE} --stack-name $PRODUCTION_STACK"
                            # A batch model has no endpoint and no A/B: the new package replaces the champion.
                            + (" --replace" if names.batch else " --endpoint-name $PRODUCTION_ENDPOINT")
                            + f" --new-package-arn $NEW_PACKAGE_ARN --output {CHAMPION_ENV_FILE}",
                            f". ./{CHAMPION_ENV_FILE}",
                        ]
                    },
                },
            }
        ),
        timeout=Duration.minutes(10),
        encryption_key=encryption_key,
        log_retention=log_retention,
        # Stack, endpoint and dashboard of a stage share one name.
        environment={"PRODUCTION_STACK": production}
        | ({} if names.batch else {"PRODUCTION_ENDPOINT": production})
        | _serving_account_variables(serving, names),
        role_name=_trusted_role_name(serving, names, "champion"),
    )
    if _assume_the_operations_role(project, serving, names):
        _read_packages(project, names)
        return project
    production_stack = stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{production}/*")
    if not names.batch:
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadTheProductionEndpoint",
                actions=["sagemaker:DescribeEndpoint"],
                resources=[stack.format_arn(service="sagemaker", resource="endpoint", resource_name=production)],
            )
        )
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadTheProductionStack", actions=["cloudformation:DescribeStacks"], resources=[production_stack]
        )
    )
    _read_packages(project, names)
    _acknowledge(
        project,
        [
            (
                f"AwsSolutions-IAM5[Resource::{production_stack}]",
                "A stack ARN ends in a generated id; the name is this model's production stack.",
            )
        ],
    )
    return project


def _serving_account_variables(serving: ServingAccount | None, names: ServingNames) -> dict[str, str]:
    """The operations role the script assumes for its calls to the stage's account (none: this account)."""
    if serving is None:
        return {}
    return {SERVING_ROLE_ARN_ENV: serving.role_arn(names.model_name, "ops")}


def _trusted_role_name(serving: ServingAccount | None, names: ServingNames, kind: ToolingRoleKind) -> str | None:
    """The project role's name that the stage account's operations role trusts (none: generated)."""
    return None if serving is None else tooling_role_name(serving.platform_name, names.model_name, kind)


def _assume_the_operations_role(
    project: codebuild.PipelineProject, serving: ServingAccount | None, names: ServingNames
) -> bool:
    """Let the project assume the stage account's operations role (the serving calls' only grant there)."""
    if serving is None:
        return False
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReachTheServingAccount",
            actions=["sts:AssumeRole"],
            resources=[serving.role_arn(names.model_name, "ops")],
        )
    )
    return True


def _acknowledge(project: codebuild.PipelineProject, reasons: list[tuple[str, str]]) -> None:
    """Acknowledge on the project and, where it has a role of its own making (a named one), on that role."""
    acknowledge_each(project, reasons)
    role = project.role
    if role is not None and not role.node.path.startswith(f"{project.node.path}/"):
        acknowledge_each(role, reasons)
