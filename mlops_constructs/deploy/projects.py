"""The deploy pipeline's CodeBuild actions: the staging smoke test and the production champion resolution.

Both run Python modules of the deploy bundle (`mlops_constructs/deploy/bundle.py`) with the boto3
their tests run with; neither holds logic of its own in the buildspec.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.schema import ModelConfig
from lambdas.common.contracts import CHAMPION_VARIABLES, model_package_group_name
from mlops_constructs.compliance import acknowledge_each
from mlops_constructs.deploy.bundle import RESOLVE_CHAMPION_MODULE, SAMPLE_PAYLOADS, SMOKE_TEST_MODULE
from mlops_constructs.deploy.roles import ServingNames
from mlops_constructs.pipelines import build_project

# The boto3 the bundle's scripts run with in CodeBuild: the one their tests run with (requirements-dev.txt).
BUNDLE_BOTO3 = "1.44.5"
CHAMPION_ENV_FILE = "champion.env"
INSTALL = {"runtime-versions": {"python": "3.12"}, "commands": [f"pip install --quiet boto3=={BUNDLE_BOTO3}"]}


def smoke_test_project(
    scope: Construct,
    *,
    model: ModelConfig,
    names: ServingNames,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
) -> codebuild.PipelineProject:
    stack = Stack.of(scope)
    staging = names.endpoints["staging"]
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
                            f"python -m {SMOKE_TEST_MODULE} --endpoint-name $ENDPOINT_NAME --payloads {SAMPLE_PAYLOADS.name}"
                            " --max-p95-latency-ms $MAX_P95_LATENCY_MS --rounds 5"
                        ]
                    },
                },
            }
        ),
        timeout=Duration.minutes(20),
        encryption_key=encryption_key,
        log_retention=log_retention,
        environment={"ENDPOINT_NAME": staging, "MAX_P95_LATENCY_MS": str(model.serving.smoke_test_max_p95_ms)},
    )
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="InvokeTheStagingEndpoint",
            actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
            resources=[stack.format_arn(service="sagemaker", resource="endpoint", resource_name=staging)],
        )
    )
    return project


def resolve_champion_project(
    scope: Construct,
    *,
    names: ServingNames,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
) -> codebuild.PipelineProject:
    """Exports the production champion, challenger and the champion's monitoring baseline
    (`tools/resolve_champion.py`; a failure to read production fails the action)."""
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
                            " --endpoint-name $PRODUCTION_ENDPOINT --new-package-arn $NEW_PACKAGE_ARN"
                            f" --output {CHAMPION_ENV_FILE}",
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
        environment={"PRODUCTION_STACK": production, "PRODUCTION_ENDPOINT": production},
    )
    packages = stack.format_arn(
        service="sagemaker", resource="model-package", resource_name=f"{model_package_group_name(names.model_name)}/*"
    )
    production_stack = stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{production}/*")
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadTheProductionEndpointAndPackages",
            actions=["sagemaker:DescribeEndpoint", "sagemaker:DescribeModelPackage"],
            resources=[stack.format_arn(service="sagemaker", resource="endpoint", resource_name=production), packages],
        )
    )
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadTheProductionStack", actions=["cloudformation:DescribeStacks"], resources=[production_stack]
        )
    )
    acknowledge_each(
        project,
        [
            (
                f"AwsSolutions-IAM5[Resource::{production_stack}]",
                "A stack ARN ends in a generated id; the name is this model's production stack.",
            ),
            (
                f"AwsSolutions-IAM5[Resource::{packages}]",
                "Package versions are numbered at registration; the scope is this model's group.",
            ),
        ],
    )
    return project
